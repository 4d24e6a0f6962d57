// View: resolution of paths in the layered view, as overlayfs would resolve
// them, performed on the real layers relative to layer-root descriptors.
//
// A path is walked component by component (like the kernel's
// link_path_walk): `..`, symlinks (relative and absolute, 40 at most, then
// ELOOP), trailing slashes and `.`. Outside the view root the walk is a plain
// walk of the host filesystem; it switches to the view when it reaches the
// view root, whatever way it gets there (an absolute path, `..`, a symlink).
// Inside /proc, `self` and `thread-self` name the traced program, and magic
// links (fd/N, cwd, exe) are followed by the kernel and mapped back to the
// view when they land on a layer.
//
// Thread-safe. Directories of the view are cached by their path below the
// view root (bounded; overlayfs, too, assumes the layers do not change
// underneath it); InvalidateDir() drops entries after a change.
#ifndef OVLBOX_OVERLAY_VIEW_H_
#define OVLBOX_OVERLAY_VIEW_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "overlay/layers.h"
#include "overlay/origin.h"
#include "overlay/sys_result.h"
#include "overlay/unique_fd.h"

namespace ovlbox {

// One real directory of a view directory.
struct LayerDir {
  int layer = -1;
  UniqueFd fd;               // O_PATH | O_DIRECTORY
  bool xwhiteouts = false;   // user.overlay.opaque = "x": may hold xattr whiteouts
};

// A directory of the view: its path below the view root and the real
// directories that make it up, top first (stopping at an opaque one).
struct ViewDir {
  std::string rel;
  std::vector<LayerDir> stack;
  struct stat st;  // lstat of the top real directory
  // The number the view reports for this directory: the topmost lower
  // directory's, as overlayfs does, so it stays the same when the directory
  // is copied up (tree walkers compare it before and after entering).
  dev_t stable_dev = 0;
  ino_t stable_ino = 0;
  // The real paths of `stack`'s directories, each ending in a NUL, read
  // once on first use (the preload service lists them); empty when one
  // could not be read.
  mutable std::once_flag real_paths_once;
  mutable std::string real_paths;
  // The device and inode of each real directory, top first (with
  // real_paths).
  mutable std::vector<std::pair<uint64_t, uint64_t>> real_ids;
  // Whether the top real directory holds only regular files, directories
  // and symlinks, by the types its listing gives; worked out once on
  // first use (the preload service lists it with a directory of one
  // lower alone).
  mutable std::once_flag plain_once;
  mutable bool plain = false;
  bool merged() const { return stack.size() > 1; }
  int top_fd() const { return stack.front().fd.get(); }
  int top_layer() const { return stack.front().layer; }
  // Whether one of its real directories lies in `layer`.
  bool HasLayer(int layer) const {
    for (const LayerDir& ld : stack) {
      if (ld.layer == layer) return true;
    }
    return false;
  }
};
using ViewDirPtr = std::shared_ptr<const ViewDir>;

// A starting directory for a relative path.
struct Base {
  ViewDirPtr view;  // in the view, or
  std::shared_ptr<UniqueFd> host;  // a host directory (O_PATH)
};

// Who is asking: `self` in /proc means this process. A tgid of 0 is looked
// up from the tid when a path needs it.
struct Caller {
  pid_t tgid = 0;
  pid_t tid = 0;
};

// The thread group of a thread (from /proc/TID/status); the tid itself
// when it cannot be read.
pid_t TgidOfThread(pid_t tid);

enum class LastKind { kNormal, kDot, kDotDot, kRoot };

// The O_PATH descriptor of a Target's object. A lookup may leave it to be
// opened on first use (most calls, stat, readlink, access, open by name,
// never need it): `Defer` records the directory holding the object and its
// name, and keeps whatever owns that directory descriptor alive.
class ObjectFd {
 public:
  ObjectFd() = default;
  ObjectFd(UniqueFd fd) : fd_(std::move(fd)) {}  // NOLINT: implicit on purpose
  ObjectFd(ObjectFd&&) = default;
  ObjectFd& operator=(ObjectFd&&) = default;
  ObjectFd& operator=(UniqueFd&& fd) {
    fd_ = std::move(fd);
    Forget();
    return *this;
  }

  void Defer(std::shared_ptr<const void> owner, int dirfd, std::string name) {
    fd_.reset();
    owner_ = std::move(owner);
    dirfd_ = dirfd;
    name_ = std::move(name);
  }
  // The descriptor, opened now if it was deferred (-1 with errno set when
  // that fails).
  int get() const;
  bool valid() const { return get() >= 0; }
  // A new read-only, non-blocking descriptor of the object: opened by
  // name (not following a symlink) when deferred, so that the O_PATH one
  // is never needed, else reopened through /proc/self/fd. -1 with errno
  // set on failure.
  int OpenReadOnly() const;
  explicit operator bool() const { return valid(); }
  // Gives up ownership (opening it first if deferred).
  int release() {
    get();
    Forget();
    return fd_.release();
  }
  void reset(int fd = -1) {
    fd_.reset(fd);
    Forget();
  }

 private:
  void Forget() {
    owner_.reset();
    dirfd_ = -1;
    name_.clear();
  }
  mutable UniqueFd fd_;
  std::shared_ptr<const void> owner_;
  int dirfd_ = -1;
  std::string name_;
};

// What a path names.
struct Target {
  bool in_view = false;
  bool exists = false;
  LastKind last = LastKind::kNormal;
  bool trailing_slash = false;
  // The directory that holds the final component (for creating, removing).
  ViewDirPtr parent;                    // in_view; null for the view root
  std::shared_ptr<UniqueFd> host_parent;  // !in_view; null for "/"
  std::string name;                     // final component
  // The object itself, when it exists.
  int layer = -1;   // in_view: the layer that holds it
  std::string rel;  // in_view: its path below the view root
  struct stat st {};
  ObjectFd fd;      // O_PATH | O_NOFOLLOW
  ViewDirPtr dir;   // in_view directories: the merged directory
  std::string proc_link;  // /proc/self and /proc/thread-self: the caller's target
  bool via_view = false;  // the walk passed through the view (a symlink in it may lead out)
  // The view root named from outside (a path ending in its name): for the
  // kernel that is a mount point in the parent mount.
  bool view_root = false;
  // LastKind::kDotDot: the ".." was taken in a directory of the view (the
  // kernel's rename judges the mount of that directory, not of where ".."
  // leads: from the view's root that is outside the view).
  bool dotdot_in_view = false;
  // A lower's directory the view no longer has, held as the caller's cwd
  // or a descriptor (!in_view, `fd` the lower's own directory): a change
  // to it is overlayfs' change to an unlinked copy, which nobody sees, and
  // must never reach the lower; `removed_uncopied` when overlayfs had no
  // copy of it (removed at once, empty) and refuses the change.
  bool removed_lower = false;
  bool removed_uncopied = false;
  // A directory removed from the view while in use, named as "." or ".."
  // from a removed directory (!in_view): a path that the kernel resolves
  // to it in the caller's own context (through /proc), for chdir. Also set
  // (to the removed directory's) for a name in such a directory, which
  // does not exist (!exists, kNormal).
  std::string removed_path;

  bool is_dir() const { return exists && S_ISDIR(st.st_mode); }
  // A name in a directory removed from the view while in use.
  bool in_removed_dir() const {
    return !in_view && !exists && last == LastKind::kNormal && !removed_path.empty();
  }
  bool is_symlink() const { return exists && S_ISLNK(st.st_mode); }
};

struct ResolveOptions {
  bool follow = true;  // follow a symlink in the final component
  // A trailing slash makes the final component follow symlinks and be a
  // directory (ENOTDIR otherwise), as for lookups. Calls that name an entry
  // to create or remove (mkdir, unlink, rename...) look the final component
  // up as it is and judge the slash themselves: set false.
  bool trailing_follows = true;
  // When set: a lookup that fails because a name on the way (not the last)
  // is missing in a view directory stores that directory here.
  ViewDirPtr* missing_in = nullptr;
  // openat2's RESOLVE_BENEATH, RESOLVE_IN_ROOT, RESOLVE_NO_SYMLINKS,
  // RESOLVE_NO_MAGICLINKS and RESOLVE_NO_XDEV, judged in the view as the
  // kernel judges them on its overlay (the view is one mount).
  uint64_t resolve = 0;
};

class View {
 public:
  explicit View(const LayerSet* layers);

  const LayerSet& layers() const { return *layers_; }
  bool writable() const { return layers_->has_upper(); }

  // The view root directory.
  SysResult<ViewDirPtr> Root() const;
  // The view directory at `rel` (walked from the root without following
  // symlinks; ENOENT/ENOTDIR when it is not a directory of the view now).
  SysResult<ViewDirPtr> DirAt(const std::string& rel) const;
  // The view directory a real directory found at `loc` (in a layer) still
  // belongs to; ENOENT when it was removed from the view while in use
  // (whited out, or a lower's that an opaque directory replaced).
  SysResult<ViewDirPtr> DirOfReal(const RealLocation& loc) const;

  // Resolves `path` from `base` (ignored for absolute paths).
  SysResult<Target> Resolve(const Caller& caller, const Base& base,
                            std::string_view path, ResolveOptions options) const;

  // Opens the absolute `path` on the host with `flags`, when the kernel's
  // walk of it from "/" stays outside the view: each name on the way is a
  // plain name (no "." or ".."), and no prefix lies at or below the view
  // root, a layer, the work dir or a proc mount. A host symlink on the way
  // is read and replaced by its target, which must be such a path again.
  // nullopt when the walk could enter the view (or the kernel's answer
  // needs the view's walk: a symlink not followed, an openat2-only error);
  // otherwise the descriptor or the kernel's errno, as the view answers.
  std::optional<SysResult<UniqueFd>> OpenOnHost(std::string path, int flags, bool follow) const;
  // Whether the absolute `path` is a plain host path in that sense.
  bool PlainHostPath(std::string_view path) const;

  // The base for a real directory (a cwd or a dirfd of the program), given
  // the path the kernel shows for it and a way to open it: the view
  // directory it backs, or the directory itself outside the view (and in a
  // pseudo filesystem that stays the host's). ENOENT for a layer directory
  // removed while in use ("(deleted)", or gone from the view); ENOTDIR for
  // a host object that is not a directory.
  SysResult<Base> BaseForRealDir(const std::string& real_path,
                                 const std::function<SysResult<UniqueFd>()>& open_dir) const;

  // The view path (absolute) for a real path, or the real path unchanged when
  // it is outside every layer. Keeps a " (deleted)" suffix.
  std::string ViewPathOfReal(const std::string& real_path) const;
  std::string AbsoluteViewPath(const std::string& rel) const;

  // Looks up one name in a view directory, as overlayfs does: the upper-most
  // entry wins; whiteouts hide; directories merge down to an opaque one.
  SysResult<Target> Lookup(const ViewDirPtr& dir, const std::string& name) const;

  // Whether `dev` is a pseudo filesystem (proc, sysfs, devtmpfs, devpts,
  // cgroup...) mounted inside a lower: such mounts stay the host's (with
  // `--lower /`, /proc, /sys and /dev are the host's own).
  bool IsPassthrough(dev_t dev) const;
  bool HasPassthrough() const { return !passthrough_devs_.empty(); }

  // The devices of every proc filesystem mounted on the host.
  const std::vector<dev_t>& procfs_devs() const { return procfs_devs_; }
  // Whether some filesystem is mounted below a layer root or the work dir
  // (then st_dev alone cannot tell that an object lies outside the layers).
  bool mounts_in_layers() const { return mounts_in_layers_; }
  // Whether a mount point lies inside the upper or the work dir.
  bool mounts_in_upper() const { return mounts_in_upper_; }
  // Whether the real directory (dev, ino) holds a mount point of a lower.
  bool HoldsMount(dev_t dev, ino_t ino) const;
  const std::vector<std::pair<dev_t, ino_t>>& mount_holders() const { return mount_holders_; }

  // Whether a host directory stat is the view root.
  bool IsViewRoot(const struct stat& st) const {
    return st.st_dev == layers_->view_root_dev() && st.st_ino == layers_->view_root_ino();
  }

  // Adjusts a real stat of a view object to what overlayfs reports.
  void FixStat(const Target& t, struct stat* st) const;

  // The identity a regular file of the upper reports (st_dev, st_ino): the
  // lower file it was copied up from, when that had one link (overlayfs'
  // "origin"); none for a file made in the upper. `upper` is its real
  // stat; on a cache miss `read_origin` reads its origin xattr (as
  // getxattr) and `rel` names its path below the layer roots, for finding
  // the lower file.
  OriginId CopyOrigin(const struct stat& upper,
                      const std::function<ssize_t(char*, size_t)>& read_origin,
                      const std::function<std::string()>& rel) const;
  // Records a copy-up just made: the upper file `upper` was copied from the
  // lower file `lower`, whose origin handle is `origin`.
  void RecordCopyUp(const struct stat& upper, const struct stat& lower,
                    const std::string& origin) const;
  // A symlink, fifo, socket or device copied up in this run (no user.*
  // xattr can record its origin) as `name` in the upper directory
  // `parent_fd`: by that name, and the names a rename gives it, it keeps
  // reporting its lower object's identity, as overlayfs' cached dentry
  // does (not by a name a link adds, which overlayfs looks up afresh),
  // while the upper object is the same one (its inode and birth time).
  void RecordSpecialCopy(int parent_fd, const std::string& name, const struct stat& lower) const;
  // The copy named `from_name` in `from_fd` is now `to_name` in `to_fd`.
  void MoveSpecialCopy(int from_fd, const std::string& from_name, int to_fd,
                       const std::string& to_name) const;
  // The objects named `a_name` in `a_fd` and `b_name` in `b_fd` were just
  // exchanged (RENAME_EXCHANGE).
  void SwapSpecialCopies(int a_fd, const std::string& a_name, int b_fd,
                         const std::string& b_name) const;
  // The lower identity of such a copy, named `name` in the upper directory
  // `dirfd` (lstat `upper`); none for anything else.
  OriginId SpecialCopyOrigin(const struct stat& upper, int dirfd, const char* name) const;
  bool AnySpecialCopy() const { return any_special_copy_.load(std::memory_order_acquire); }
  // Where RecordSpecialCopy counts the copies it records, for the preload
  // library (which then leaves the upper's symlinks to the supervisor).
  void CountSpecialCopiesIn(uint64_t* counter) { special_counter_ = counter; }

  // Stand-ins: real files that serve a view object (the fifos the
  // supervisor opens in place of a layer's fifo). Their real paths map back
  // to the view object's path.
  void AddAlias(const std::string& real_path, const std::string& rel) const;
  // The view-relative path of a stand-in, or false.
  bool AliasOf(const std::string& real_path, std::string* rel) const;

  // A number that grows with every change to the view (the Writer calls
  // Changed once a change is made): what was computed from the view at one
  // generation is still right while it stays the same. `layout`: the
  // change made, removed, moved or changed a directory (or copied one up),
  // not only other objects in directories that have their upper already.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  void Changed(bool layout) const;
  // Where Changed also publishes generation() + 1 (never lowering it), for
  // readers in other processes (supervisor/preload.h), and, for a change
  // of the layout, the same number to `layout` first. Set once, before the
  // program starts.
  void MirrorGenerationTo(uint64_t* mirror, uint64_t* layout) {
    mirror_ = mirror;
    layout_mirror_ = layout;
  }

  // Forgets the cached directory `rel` and, with `subtree`, every directory
  // below it (after it was copied up, removed, renamed; "" with `subtree`:
  // all of them).
  void InvalidateDir(const std::string& rel, bool subtree) const;

 private:
  SysResult<Target> Walk(const Caller& caller, const Base& base, std::string_view path,
                         ResolveOptions options, bool* via_view) const;
  SysResult<ViewDirPtr> MakeDir(std::string rel, std::vector<LayerDir> stack,
                                const struct stat& st) const;
  SysResult<std::vector<LayerDir>> BuildStack(const ViewDir& parent, size_t from,
                                              const std::string& name,
                                              UniqueFd top_fd, int top_layer) const;

  // The cached directory at `rel`, checked against the directory when
  // it is one of the upper alone (docs/design.md, "The view").
  ViewDirPtr CachedDir(const std::string& rel) const;
  // The cache's entry at `rel` as it is.
  ViewDirPtr CachedEntry(const std::string& rel) const;
  void CacheDir(const ViewDirPtr& dir) const;
  // Whether `dir` is a directory of the upper alone (below the root), the
  // only kind the preload library changes or removes itself.
  bool UpperAlone(const ViewDir& dir) const;
  // Forgets `dir` if the cache still holds it at its path.
  void DropCached(const ViewDirPtr& dir) const;

  const LayerSet* layers_;
  mutable std::mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, ViewDirPtr> cache_;
  mutable absl::flat_hash_map<std::string, std::string> aliases_;
  mutable OriginCache origins_;
  struct SpecialCopy {
    OriginId lower;
    int64_t btime_sec = 0;
    uint32_t btime_nsec = 0;
    uint64_t parent_dev = 0, parent_ino = 0;  // the name that knows it
    std::string name;
  };
  void RenameSpecialLocked(ino_t ino, const struct stat& was_dir, const std::string& was_name,
                           const struct stat& now_dir, const std::string& now_name) const;
  mutable std::mutex special_mu_;
  mutable std::unordered_map<uint64_t, SpecialCopy> special_copies_;  // by upper inode
  mutable std::atomic<bool> any_special_copy_{false};
  uint64_t* special_counter_ = nullptr;
  mutable std::atomic<uint64_t> generation_{0};
  uint64_t* mirror_ = nullptr;
  uint64_t* layout_mirror_ = nullptr;
  size_t cache_limit_ = 4096;
  dev_t proc_dev_ = 0;
  ino_t proc_root_ino_ = 0;
  std::vector<std::string> proc_mounts_;  // where the host's /proc is mounted
  ViewDirPtr root_;
  // The host's root directory (programs cannot chroot).
  std::shared_ptr<UniqueFd> host_root_;
  struct stat host_root_st_ {};
  std::vector<dev_t> passthrough_devs_;
  std::vector<dev_t> procfs_devs_;
  bool mounts_in_layers_ = false;
  bool mounts_in_upper_ = false;
  std::vector<std::pair<dev_t, ino_t>> mount_holders_;
};

// Reads an xattr of an open file (O_PATH descriptors too). Returns the value
// length or -1 with errno set.
ssize_t FdGetXattr(int fd, const char* name, void* value, size_t size);
bool IsWhiteout(const struct stat& st);
// The path of the object an fd refers to, as the kernel reports it; for a
// directory deeper than /proc can report (a path of PATH_MAX bytes or
// more), the path worked out by LongDirPath. Empty when neither works.
std::string FdPath(int fd);
// The absolute path of directory `fd`, of any length: the names found
// walking up through "..", each by its inode in its parent's listing,
// until a directory whose path /proc reports. Empty when it cannot be
// worked out (a directory removed, a parent that cannot be listed).
std::string LongDirPath(int fd);
// The real path of the object `t` names: FdPath of it, or, for one deeper
// than /proc can report that is no directory, its real parent
// directory's path and its name. Empty when neither works.
std::string TargetRealPath(const Target& t);
// Whether `name` in `dirfd` is a directory that holds any entry besides
// "." and ".." (false when it is no directory, or cannot be read).
bool DirHoldsNames(int dirfd, const char* name);

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_VIEW_H_
