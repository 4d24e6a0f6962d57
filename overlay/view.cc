#include "overlay/view.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "overlay/creds.h"
#include "overlay/proc_status.h"
#include "overlay/xattr_names.h"

namespace ovlbox {
namespace {

constexpr int kMaxSymlinks = 40;  // the kernel's MAXSYMLINKS
constexpr char kDeleted[] = " (deleted)";

// Whether two stats are of the same directory, with the same mode and owner.
bool SameDirAttrs(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_mode == b.st_mode &&
         a.st_uid == b.st_uid && a.st_gid == b.st_gid;
}

// Splits a path into components, dropping empty ones ("a//b" is "a/b").
void PushComponents(std::string_view path, std::deque<std::string>* pending) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) pending->push_front(*it);
}

// Whether an absolute path's directory part can be opened in one step
// without changing what it names: no ".", ".." or empty components (the
// kernel is then asked to refuse symlinks on the way, see Walk).
bool PlainPath(std::string_view dir) {
  size_t i = 1;
  while (i < dir.size()) {
    size_t j = dir.find('/', i);
    if (j == std::string_view::npos) j = dir.size();
    std::string_view part = dir.substr(i, j - i);
    if (part.empty() || part == "." || part == "..") return false;
    i = j + 1;
  }
  return dir.size() > 1 && dir.back() != '/';
}

// Opens a directory of a layer: readable when permitted (so its xattrs can
// be read with fgetxattr), else O_PATH.
SysResult<UniqueFd> OpenLayerDir(int dirfd, const char* name) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Errno{errno};
  return UniqueFd(fd);
}

SysResult<UniqueFd> OpenPath(int dirfd, const char* name, int extra = O_NOFOLLOW) {
  int fd = openat(dirfd, name, O_PATH | O_CLOEXEC | extra);
  if (fd < 0) return Errno{errno};
  return UniqueFd(fd);
}

SysResult<std::string> ReadLinkAt(int dirfd, const char* name) {
  char buf[PATH_MAX + 1];
  ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf));
  if (n < 0) return Errno{errno};
  if (n > PATH_MAX) return Errno{ENAMETOOLONG};
  return std::string(buf, n);
}

// With an upper, a directory reports its topmost lower directory's numbers
// (the upper's when it has none); the root keeps the upper root's, as
// overlayfs does. Without an upper: the topmost layer's.
void SetStableIno(ViewDir* dir, bool has_upper) {
  dir->stable_dev = dir->st.st_dev;
  dir->stable_ino = dir->st.st_ino;
  if (!has_upper || dir->rel.empty()) return;
  if (dir->stack.front().layer != 0 || dir->stack.size() < 2) return;
  struct stat st;
  if (fstat(dir->stack[1].fd.get(), &st) == 0) {
    dir->stable_dev = st.st_dev;
    dir->stable_ino = st.st_ino;
  }
}

// Filesystem types that are kernel interfaces rather than files: where one
// is mounted inside a lower, the host's stays visible.
bool IsPseudoFsType(const std::string& type) {
  static const char* const kTypes[] = {
      "proc",      "sysfs",   "devtmpfs", "devpts",     "cgroup",   "cgroup2",
      "debugfs",   "tracefs", "securityfs", "bpf",      "mqueue",   "pstore",
      "configfs",  "fusectl", "hugetlbfs", "binfmt_misc", "efivarfs", "autofs",
      "rpc_pipefs", "nsfs"};
  for (const char* t : kTypes) {
    if (type == t) return true;
  }
  return false;
}

struct Mount {
  dev_t dev;
  std::string point;
  bool pseudo;
  bool proc;
};

// This process's mount table (/proc/self/mountinfo).
std::vector<Mount> ReadMounts() {
  std::vector<Mount> mounts;
  FILE* f = fopen("/proc/self/mountinfo", "re");
  if (f == nullptr) return mounts;
  char* line = nullptr;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    // ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE ...
    unsigned major, minor;
    char point[4096];
    if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &major, &minor, point) != 3) continue;
    const char* dash = strstr(line, " - ");
    char type[64];
    if (dash == nullptr || sscanf(dash + 3, "%63s", type) != 1) continue;
    mounts.push_back({makedev(major, minor), point, IsPseudoFsType(type),
                      strcmp(type, "proc") == 0});
  }
  free(line);
  fclose(f);
  return mounts;
}

// The devices of the pseudo filesystems mounted inside one of `roots`, and
// of every filesystem mounted below one of those (/dev/shm below /dev).
std::vector<dev_t> PassthroughDevices(const std::vector<Mount>& mounts,
                                      const std::vector<std::string>& roots) {
  std::vector<dev_t> devs;
  for (const Mount& m : mounts) {
    bool inside_layer = false;
    for (const std::string& root : roots) inside_layer = inside_layer || PathBelow(m.point, root);
    if (!inside_layer) continue;
    bool passthrough = m.pseudo;
    for (const Mount& p : mounts) passthrough = passthrough || (p.pseudo && PathBelow(m.point, p.point));
    if (passthrough) devs.push_back(m.dev);
  }
  return devs;
}

}  // namespace

pid_t TgidOfThread(pid_t tid) {
  // Most callers lead their thread group (a single-threaded program
  // always does): then tgkill(tid, tid, 0) succeeds, one system call where
  // /proc/TID/status costs an open, a formatted read and a close. Any
  // failure (another thread's tid, no right to signal it) asks /proc.
  if (syscall(SYS_tgkill, tid, tid, 0) == 0) return tid;
  auto status = ReadProcStatus(tid);
  if (!status.ok()) return tid;
  std::string tgid = StatusField(*status, "Tgid");
  return tgid.empty() ? tid : static_cast<pid_t>(atoi(tgid.c_str()));
}

bool IsWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

std::string FdPath(int fd) {
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char buf[PATH_MAX + 1];
  ssize_t n = readlink(link, buf, sizeof(buf) - 1);
  if (n < 0) return errno == ENAMETOOLONG ? LongDirPath(fd) : std::string();
  return std::string(buf, n);
}

namespace {

// The name of the entry of directory `parent` that is `child` (a directory
// whose stat is `child`); empty when there is none (`child` was removed).
std::string NameOfChild(int parent, const struct stat& parent_st, const struct stat& child) {
  int fd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::string();
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return std::string();
  }
  // Across a mount the listing shows the inode the mount covers: every
  // directory is then checked by its stat.
  bool mount = parent_st.st_dev != child.st_dev;
  std::string found;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (!mount && e->d_ino != child.st_ino) continue;
    if (mount && e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == child.st_dev &&
        st.st_ino == child.st_ino) {
      found = e->d_name;
      break;
    }
  }
  closedir(d);
  return found;
}

}  // namespace

std::string LongDirPath(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) return std::string();
  std::vector<std::string> names;  // from the bottom up
  UniqueFd cur;
  int at = fd;
  // Each step goes one level up; a path of N bytes has fewer than N/2
  // levels.
  for (int level = 0; level < (1 << 20); ++level) {
    UniqueFd parent(openat(at, "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!parent) return std::string();
    struct stat pst;
    if (fstat(parent.get(), &pst) != 0) return std::string();
    if (pst.st_dev == st.st_dev && pst.st_ino == st.st_ino) return std::string();  // the root
    std::string name = NameOfChild(parent.get(), pst, st);
    if (name.empty()) return std::string();
    names.push_back(std::move(name));
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", parent.get());
    char buf[PATH_MAX + 1];
    ssize_t n = readlink(link, buf, sizeof(buf) - 1);
    if (n > 0 && buf[0] == '/') {
      std::string path(buf, n);
      if (path == "/") path.clear();
      for (auto it = names.rbegin(); it != names.rend(); ++it) absl::StrAppend(&path, "/", *it);
      return path;
    }
    if (n < 0 && errno != ENAMETOOLONG) return std::string();
    cur = std::move(parent);
    at = cur.get();
    st = pst;
  }
  return std::string();
}

std::string TargetRealPath(const Target& t) {
  std::string path = FdPath(t.fd.get());
  if (!path.empty() || t.name.empty() || t.last != LastKind::kNormal) return path;
  int parent = -1;
  if (t.in_view && t.parent) {
    for (const LayerDir& ld : t.parent->stack) {
      if (ld.layer == t.layer) parent = ld.fd.get();
    }
  } else if (!t.in_view && t.host_parent) {
    parent = t.host_parent->get();
  }
  std::string dir = parent >= 0 ? FdPath(parent) : std::string();
  return dir.empty() ? dir : absl::StrCat(dir == "/" ? "" : dir, "/", t.name);
}

bool DirHoldsNames(int dirfd, const char* name) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return false;
  }
  bool names = false;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      names = true;
      break;
    }
  }
  closedir(d);
  return names;
}

ssize_t FdGetXattr(int fd, const char* name, void* value, size_t size) {
  ssize_t n = fgetxattr(fd, name, value, size);
  if (n >= 0 || errno != EBADF) return n;
  char link[64];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  return getxattr(link, name, value, size);
}

namespace {

// Raises *at to `now`, never lowering it.
void RaiseTo(uint64_t* at, uint64_t now) {
  uint64_t seen = __atomic_load_n(at, __ATOMIC_ACQUIRE);
  while (seen < now && !__atomic_compare_exchange_n(at, &seen, now, false, __ATOMIC_ACQ_REL,
                                                    __ATOMIC_ACQUIRE)) {
  }
}

}  // namespace

void View::Changed(bool layout) const {
  uint64_t now = generation_.fetch_add(1, std::memory_order_acq_rel) + 2;
  if (mirror_ == nullptr) return;
  // The layout first: a reader that sees the new generation sees it too
  // (preload/config.h).
  if (layout && layout_mirror_ != nullptr) RaiseTo(layout_mirror_, now);
  RaiseTo(mirror_, now);
}

bool View::HoldsMount(dev_t dev, ino_t ino) const {
  for (const auto& [d, i] : mount_holders_) {
    if (d == dev && i == ino) return true;
  }
  return false;
}

bool View::IsPassthrough(dev_t dev) const {
  for (dev_t d : passthrough_devs_) {
    if (d == dev) return true;
  }
  return false;
}

View::View(const LayerSet* layers) : layers_(layers) {
  std::vector<std::string> roots;
  for (const Layer& layer : layers_->layers()) roots.push_back(layer.path);
  std::vector<Mount> mounts = ReadMounts();
  std::vector<std::string> all_roots = roots;
  if (!layers_->work_dir().empty()) all_roots.push_back(layers_->work_dir());
  for (const Mount& m : mounts) {
    if (m.proc) procfs_devs_.push_back(m.dev);
    bool in_lower = false;
    for (size_t i = 0; i < all_roots.size(); ++i) {
      if (!PathBelow(m.point, all_roots[i])) continue;
      // The upper (layer 0 when there is one) or the work dir (last).
      bool upper = layers_->has_upper() && (i == 0 || i == roots.size());
      (upper ? mounts_in_upper_ : in_lower) = true;
    }
    mounts_in_layers_ = mounts_in_layers_ || in_lower || mounts_in_upper_;
    if (!in_lower) continue;
    // Inside a pseudo filesystem (/proc/sys/fs/binfmt_misc), nothing is
    // the view's anyway.
    bool in_pseudo = false;
    for (const Mount& p : mounts) in_pseudo = in_pseudo || (p.pseudo && PathBelow(m.point, p.point));
    if (in_pseudo) continue;
    // The directory that holds the mount point, as the layer shows it.
    std::string parent = m.point.substr(0, m.point.rfind('/'));
    struct stat st;
    if (stat(parent.empty() ? "/" : parent.c_str(), &st) == 0) {
      mount_holders_.push_back({st.st_dev, st.st_ino});
    }
  }
  for (dev_t dev : PassthroughDevices(mounts, roots)) {
    bool is_layer = false;
    for (const Layer& layer : layers_->layers()) is_layer = is_layer || layer.dev == dev;
    if (!is_layer) passthrough_devs_.push_back(dev);
  }
  // The cache holds up to one descriptor per layer for each directory:
  // at most half of the descriptors this process may open.
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    size_t per_dir = static_cast<size_t>(layers_->size()) + 1;
    size_t budget = lim.rlim_cur > 256 ? (lim.rlim_cur - 256) / 2 / per_dir : 16;
    cache_limit_ = std::max<size_t>(16, std::min<size_t>(cache_limit_, budget));
  }
  struct stat st;
  if (stat("/proc", &st) == 0) {
    proc_dev_ = st.st_dev;
    proc_root_ino_ = st.st_ino;
    // Where the host's /proc is mounted (and bind-mounted).
    for (const Mount& m : mounts) {
      if (m.dev == proc_dev_) proc_mounts_.push_back(m.point);
    }
  }
  int root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd >= 0) {
    host_root_ = std::make_shared<UniqueFd>(root_fd);
    fstat(root_fd, &host_root_st_);
  }
  std::vector<LayerDir> stack;
  for (int i = 0; i < layers_->size(); ++i) {
    int fd = openat(layers_->layer(i).root.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fd = fcntl(layers_->layer(i).root.get(), F_DUPFD_CLOEXEC, 0);
    LayerDir ld;
    ld.layer = i;
    ld.fd.reset(fd);
    char v[2];
    ld.xwhiteouts = FdGetXattr(fd, kOpaqueXattr, v, sizeof(v)) == 1 && v[0] == 'x';
    stack.push_back(std::move(ld));
  }
  struct stat root_st {};
  fstat(stack.front().fd.get(), &root_st);
  auto dir = std::make_shared<ViewDir>();
  dir->stack = std::move(stack);
  dir->st = root_st;
  SetStableIno(dir.get(), layers_->has_upper());
  root_ = std::move(dir);
}

SysResult<ViewDirPtr> View::Root() const { return root_; }

SysResult<ViewDirPtr> View::MakeDir(std::string rel, std::vector<LayerDir> stack,
                                    const struct stat& st) const {
  auto dir = std::make_shared<ViewDir>();
  dir->rel = std::move(rel);
  dir->stack = std::move(stack);
  dir->st = st;
  SetStableIno(dir.get(), layers_->has_upper());
  return ViewDirPtr(std::move(dir));
}

// Collects the real directories named `name` below `parent`, starting with
// the one already found in parent->stack[from], down to an opaque one or an
// entry that is not a directory.
SysResult<std::vector<LayerDir>> View::BuildStack(const ViewDir& parent, size_t from,
                                                  const std::string& name, UniqueFd top_fd,
                                                  int top_layer) const {
  std::vector<LayerDir> stack;
  auto check_opaque = [&](LayerDir& ld, bool last) {
    char v[2];
    ssize_t n = FdGetXattr(ld.fd.get(), kOpaqueXattr, v, sizeof(v));
    if (n == 1 && v[0] == 'x') ld.xwhiteouts = true;
    return !last && n == 1 && v[0] == 'y';
  };
  LayerDir top;
  top.layer = top_layer;
  top.fd = std::move(top_fd);
  bool last = from + 1 >= parent.stack.size();
  bool opaque = check_opaque(top, last);
  stack.push_back(std::move(top));
  if (opaque) return stack;
  for (size_t j = from + 1; j < parent.stack.size(); ++j) {
    const LayerDir& below = parent.stack[j];
    struct stat st;
    if (fstatat(below.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return Errno{errno};
    }
    if (!S_ISDIR(st.st_mode)) break;  // a whiteout or a non-directory ends the merge
    if (layers_->IsHidden(st.st_dev, st.st_ino)) continue;
    OVL_ASSIGN_OR_RETURN(UniqueFd fd, OpenLayerDir(below.fd.get(), name.c_str()));
    LayerDir ld;
    ld.layer = below.layer;
    ld.fd = std::move(fd);
    bool stop = check_opaque(ld, j + 1 >= parent.stack.size());
    stack.push_back(std::move(ld));
    if (stop) break;
  }
  return stack;
}

int ObjectFd::get() const {
  if (!fd_ && dirfd_ >= 0) {
    fd_.reset(openat(dirfd_, name_.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  }
  return fd_.get();
}

int ObjectFd::OpenReadOnly() const {
  // O_NONBLOCK: a FIFO put in its place meanwhile does not hold the worker.
  constexpr int kFlags = O_RDONLY | O_NONBLOCK | O_CLOEXEC;
  if (!fd_ && dirfd_ >= 0) return openat(dirfd_, name_.c_str(), kFlags | O_NOFOLLOW);
  if (!fd_) {
    errno = EBADF;
    return -1;
  }
  return open(absl::StrCat("/proc/self/fd/", fd_.get()).c_str(), kFlags);
}

SysResult<Target> View::Lookup(const ViewDirPtr& dir, const std::string& name) const {
  Target t;
  t.in_view = true;
  t.parent = dir;
  t.name = name;
  t.rel = JoinRel(dir->rel, name);
  for (size_t i = 0; i < dir->stack.size(); ++i) {
    const LayerDir& ld = dir->stack[i];
    struct stat st;
    if (fstatat(ld.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return Errno{errno};
    }
    if (IsWhiteout(st)) return t;
    if (S_ISDIR(st.st_mode) && layers_->IsHidden(st.st_dev, st.st_ino)) return t;
    if (ld.xwhiteouts && S_ISREG(st.st_mode) && st.st_size == 0 &&
        IsXattrWhiteout(ld.fd.get(), name)) {
      return t;
    }
    t.exists = true;
    t.layer = ld.layer;
    t.st = st;
    if (!S_ISDIR(st.st_mode)) {
      t.fd.Defer(dir, ld.fd.get(), name);
      return t;
    }
    OVL_ASSIGN_OR_RETURN(UniqueFd fd, OpenPath(ld.fd.get(), name.c_str()));
    {
      // The cached directory, if it is still the one found here, as it is
      // now (the preload library changes and removes directories of the
      // upper alone itself: CachedDir).
      ViewDirPtr cached = CachedEntry(t.rel);
      if (cached && cached->stack.front().layer == ld.layer && SameDirAttrs(cached->st, st)) {
        t.dir = std::move(cached);
      } else {
        OVL_ASSIGN_OR_RETURN(UniqueFd dirfd, OpenLayerDir(ld.fd.get(), name.c_str()));
        OVL_ASSIGN_OR_RETURN(std::vector<LayerDir> stack,
                             BuildStack(*dir, i, name, std::move(dirfd), ld.layer));
        OVL_ASSIGN_OR_RETURN(t.dir, MakeDir(t.rel, std::move(stack), st));
        CacheDir(t.dir);
      }
    }
    t.fd = std::move(fd);
    return t;
  }
  return t;
}

SysResult<ViewDirPtr> View::DirAt(const std::string& rel) const {
  if (rel.empty()) return root_;
  if (ViewDirPtr cached = CachedDir(rel)) return cached;
  OVL_ASSIGN_OR_RETURN(ViewDirPtr parent, DirAt(ParentRel(rel)));
  size_t slash = rel.rfind('/');
  std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  if (name == "." || name == ".." || name.empty()) return Errno{ENOENT};
  OVL_ASSIGN_OR_RETURN(Target t, Lookup(parent, name));
  if (!t.exists) return Errno{ENOENT};
  if (!t.is_dir()) return Errno{ENOTDIR};
  return t.dir;
}

ViewDirPtr View::CachedEntry(const std::string& rel) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_.find(rel);
  return it == cache_.end() ? nullptr : it->second;
}

ViewDirPtr View::CachedDir(const std::string& rel) const {
  ViewDirPtr dir = CachedEntry(rel);
  if (!dir || !UpperAlone(*dir)) return dir;
  // A directory of the upper alone: the preload library changes its
  // attributes and removes it (empty) itself, without the supervisor
  // (docs/design.md, "Changes the library makes"). What the cache keeps of
  // it is checked against the directory: one removed since is looked up
  // again, one whose mode or owner changed is kept with its new stat.
  struct stat st;
  if (fstat(dir->top_fd(), &st) != 0 || st.st_nlink == 0) {
    DropCached(dir);
    return nullptr;
  }
  if (SameDirAttrs(st, dir->st)) return dir;
  int fd = fcntl(dir->top_fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {
    DropCached(dir);
    return nullptr;
  }
  std::vector<LayerDir> stack(1);
  stack[0].layer = dir->top_layer();
  stack[0].fd.reset(fd);
  stack[0].xwhiteouts = dir->stack.front().xwhiteouts;
  auto fresh = MakeDir(dir->rel, std::move(stack), st);
  if (!fresh.ok()) return nullptr;
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_.find(rel);
  if (it != cache_.end() && it->second == dir) it->second = *fresh;
  return *fresh;
}

bool View::UpperAlone(const ViewDir& dir) const {
  return layers_->has_upper() && !dir.rel.empty() && dir.stack.size() == 1 &&
         dir.top_layer() == 0;
}

void View::DropCached(const ViewDirPtr& dir) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_.find(dir->rel);
  if (it != cache_.end() && it->second == dir) cache_.erase(it);
}

void View::CacheDir(const ViewDirPtr& dir) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  // Bounded: each entry holds a descriptor per layer directory.
  if (cache_.size() >= cache_limit_) cache_.clear();
  cache_.insert_or_assign(dir->rel, dir);
}

void View::AddAlias(const std::string& real_path, const std::string& rel) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  aliases_[real_path] = rel;
}

bool View::AliasOf(const std::string& real_path, std::string* rel) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = aliases_.find(real_path);
  if (it == aliases_.end()) return false;
  *rel = it->second;
  return true;
}

void View::InvalidateDir(const std::string& rel, bool subtree) const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (rel.empty() && subtree) {
    cache_.clear();
    return;
  }
  cache_.erase(rel);
  if (!subtree) return;
  std::string prefix = rel + "/";
  absl::erase_if(cache_, [&](const auto& entry) { return entry.first.starts_with(prefix); });
}


std::string View::AbsoluteViewPath(const std::string& rel) const {
  const std::string& root = layers_->view_root();
  if (rel.empty()) return root;
  if (root == "/") return absl::StrCat("/", rel);
  return absl::StrCat(root, "/", rel);
}

std::string View::ViewPathOfReal(const std::string& real_path) const {
  std::string path = real_path;
  std::string suffix;
  if (path.ends_with(kDeleted)) {
    path.resize(path.size() - strlen(kDeleted));
    suffix = kDeleted;
  }
  if (path.empty() || path[0] != '/') return real_path;
  std::string alias;
  if (AliasOf(path, &alias)) return AbsoluteViewPath(alias) + suffix;
  RealLocation loc = layers_->Locate(path);
  if (loc.layer < 0) return real_path;
  return AbsoluteViewPath(loc.rel) + suffix;
}

SysResult<ViewDirPtr> View::DirOfReal(const RealLocation& loc) const {
  OVL_ASSIGN_OR_RETURN(ViewDirPtr dir, DirAt(loc.rel));
  if (!dir->HasLayer(loc.layer)) return Errno{ENOENT};
  return dir;
}

SysResult<Base> View::BaseForRealDir(
    const std::string& real_path, const std::function<SysResult<UniqueFd>()>& open_dir) const {
  std::string real = real_path;
  bool deleted = real.ends_with(kDeleted);
  if (deleted) real.resize(real.size() - strlen(kDeleted));
  Base base;
  UniqueFd opened;
  RealLocation loc = real.starts_with("/") ? layers_->Locate(real) : RealLocation();
  if (loc.layer >= 0 && HasPassthrough()) {
    // Inside /proc, /sys or /dev of a `--lower /`: the host's.
    OVL_ASSIGN_OR_RETURN(opened, open_dir());
    struct stat st;
    if (fstat(opened.get(), &st) == 0 && IsPassthrough(st.st_dev)) loc.layer = -1;
  }
  if (loc.layer >= 0) {
    // A directory of a layer removed while in use is no base for lookups
    // (the caller knows what ".." and "." still mean there).
    if (deleted) return Errno{ENOENT};
    OVL_ASSIGN_OR_RETURN(base.view, DirOfReal(loc));
    return base;
  }
  if (!opened) {
    OVL_ASSIGN_OR_RETURN(opened, open_dir());
  }
  struct stat st;
  if (fstat(opened.get(), &st) != 0) return Errno{errno};
  if (!S_ISDIR(st.st_mode)) return Errno{ENOTDIR};
  base.host = std::make_shared<UniqueFd>(std::move(opened));
  return base;
}

void View::FixStat(const Target& t, struct stat* st) const {
  if (!t.in_view) return;
  if (!t.dir) {
    if (t.layer == 0 && !S_ISREG(st->st_mode)) {
      if (!AnySpecialCopy() || !t.parent || t.name.empty() || t.last != LastKind::kNormal) return;
      OriginId id = SpecialCopyOrigin(*st, t.parent->top_fd(), t.name.c_str());
      if (id.valid()) {
        st->st_dev = id.dev;
        st->st_ino = id.ino;
      }
      return;
    }
    if (t.layer == 0 && S_ISREG(st->st_mode) && layers_->has_upper()) {
      OriginId id = CopyOrigin(
          *st, [&](char* buf, size_t size) { return FdGetXattr(t.fd.get(), kOriginXattr, buf, size); },
          [&] { return t.rel; });
      if (id.valid()) {
        st->st_dev = id.dev;
        st->st_ino = id.ino;
      }
    }
    return;
  }
  if (t.dir->merged()) st->st_nlink = 1;
  if (layers_->has_upper()) {
    st->st_dev = t.dir->stable_dev;
    st->st_ino = t.dir->stable_ino;
  }
  layers_->MapDirId(&st->st_dev, &st->st_ino);
}

OriginId View::CopyOrigin(const struct stat& upper,
                          const std::function<ssize_t(char*, size_t)>& read_origin,
                          const std::function<std::string()>& rel) const {
  OriginId id;
  if (origins_.Find(upper.st_ino, upper.st_ctim, &id)) return id;
  char buf[256];
  ssize_t n = read_origin(buf, sizeof(buf));
  if (n > 0) {
    std::string origin(buf, n);
    if (!origins_.FindHandle(origin, &id)) {
      // Copied up by an earlier run (or by the kernel): the lower file at
      // the same path, if that is the one the handle names.
      std::string path = rel();
      for (int i = layers_->first_lower(); !path.empty() && i < layers_->size(); i++) {
        const Layer& layer = layers_->layer(i);
        struct stat st;
        if (fstatat(layer.root.get(), path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISREG(st.st_mode) && st.st_nlink == 1 &&
            SameOrigin(EncodeOrigin(layer.root.get(), path.c_str(), layer.uuid), origin)) {
          id = OriginId{st.st_dev, st.st_ino};
          break;
        }
      }
    }
  }
  origins_.Put(upper.st_ino, upper.st_ctim, id);
  return id;
}

void View::RecordCopyUp(const struct stat& upper, const struct stat& lower,
                        const std::string& origin) const {
  OriginId id{lower.st_dev, lower.st_ino};
  origins_.Put(upper.st_ino, upper.st_ctim, id);
  if (!origin.empty()) origins_.PutHandle(origin, id);
}

namespace {

// The birth time of `name` in `dirfd`; false where the filesystem keeps
// none.
bool BirthTime(int dirfd, const char* name, struct statx_timestamp* out) {
  struct statx stx;
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &stx) != 0 ||
      !(stx.stx_mask & STATX_BTIME)) {
    return false;
  }
  *out = stx.stx_btime;
  return true;
}

constexpr size_t kMaxSpecialCopies = 1 << 16;

}  // namespace

void View::RecordSpecialCopy(int parent_fd, const std::string& name,
                             const struct stat& lower) const {
  struct stat up, parent;
  struct statx_timestamp born;
  if (fstatat(parent_fd, name.c_str(), &up, AT_SYMLINK_NOFOLLOW) != 0 ||
      fstat(parent_fd, &parent) != 0 || !BirthTime(parent_fd, name.c_str(), &born)) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(special_mu_);
    if (special_copies_.size() >= kMaxSpecialCopies) special_copies_.clear();
    special_copies_[up.st_ino] = {OriginId{lower.st_dev, lower.st_ino}, born.tv_sec, born.tv_nsec,
                                  parent.st_dev, parent.st_ino, name};
  }
  any_special_copy_.store(true, std::memory_order_release);
  if (special_counter_ != nullptr) __atomic_add_fetch(special_counter_, 1, __ATOMIC_RELEASE);
}

// The record of the copy with inode `ino`, known by `was_name` in
// `was_dir`, now knows it by `now_name` in `now_dir`. special_mu_ held.
void View::RenameSpecialLocked(ino_t ino, const struct stat& was_dir, const std::string& was_name,
                               const struct stat& now_dir, const std::string& now_name) const {
  auto it = special_copies_.find(ino);
  if (it == special_copies_.end() || it->second.parent_dev != was_dir.st_dev ||
      it->second.parent_ino != was_dir.st_ino || it->second.name != was_name) {
    return;
  }
  it->second.parent_dev = now_dir.st_dev;
  it->second.parent_ino = now_dir.st_ino;
  it->second.name = now_name;
}

void View::MoveSpecialCopy(int from_fd, const std::string& from_name, int to_fd,
                           const std::string& to_name) const {
  if (!AnySpecialCopy()) return;
  struct stat moved, from, to;
  if (fstatat(to_fd, to_name.c_str(), &moved, AT_SYMLINK_NOFOLLOW) != 0 ||
      fstat(from_fd, &from) != 0 || fstat(to_fd, &to) != 0) {
    return;
  }
  std::lock_guard<std::mutex> lock(special_mu_);
  RenameSpecialLocked(moved.st_ino, from, from_name, to, to_name);
}

void View::SwapSpecialCopies(int a_fd, const std::string& a_name, int b_fd,
                             const std::string& b_name) const {
  if (!AnySpecialCopy()) return;
  struct stat at_a, at_b, dir_a, dir_b;
  if (fstatat(a_fd, a_name.c_str(), &at_a, AT_SYMLINK_NOFOLLOW) != 0 ||
      fstatat(b_fd, b_name.c_str(), &at_b, AT_SYMLINK_NOFOLLOW) != 0 || fstat(a_fd, &dir_a) != 0 ||
      fstat(b_fd, &dir_b) != 0) {
    return;
  }
  std::lock_guard<std::mutex> lock(special_mu_);
  // What is at a's name now was at b's, and the other way round.
  RenameSpecialLocked(at_a.st_ino, dir_b, b_name, dir_a, a_name);
  RenameSpecialLocked(at_b.st_ino, dir_a, a_name, dir_b, b_name);
}

OriginId View::SpecialCopyOrigin(const struct stat& upper, int dirfd, const char* name) const {
  if (S_ISREG(upper.st_mode) || S_ISDIR(upper.st_mode) || !layers_->has_upper() ||
      upper.st_dev != layers_->layer(0).dev || !AnySpecialCopy()) {
    return OriginId{};
  }
  SpecialCopy copy;
  {
    std::lock_guard<std::mutex> lock(special_mu_);
    auto it = special_copies_.find(upper.st_ino);
    if (it == special_copies_.end()) return OriginId{};
    copy = it->second;
  }
  struct stat parent;
  if (name != copy.name || fstat(dirfd, &parent) != 0 || parent.st_dev != copy.parent_dev ||
      parent.st_ino != copy.parent_ino) {
    return OriginId{};
  }
  // The same inode number, but perhaps a new object since (numbers are
  // reused): only the copy itself, born when it was.
  struct statx_timestamp born;
  if (!BirthTime(dirfd, name, &born) || born.tv_sec != copy.btime_sec ||
      born.tv_nsec != copy.btime_nsec) {
    return OriginId{};
  }
  return copy.lower;
}

bool View::PlainHostPath(std::string_view path) const {
  const std::string& view_root = layers_->view_root();
  if (view_root == "/" || path.empty() || path[0] != '/' || !PlainPath(path)) return false;
  auto within = [&](std::string_view top) {
    return path.starts_with(top) && (path.size() == top.size() || path[top.size()] == '/');
  };
  if (within(view_root) || within("/proc")) return false;
  for (const std::string& point : proc_mounts_) {
    if (within(point)) return false;
  }
  const std::string& work = layers_->work_dir();
  return layers_->Locate(std::string(path)).layer < 0 && (work.empty() || !within(work));
}

std::optional<SysResult<UniqueFd>> View::OpenOnHost(std::string path, int flags,
                                                    bool follow) const {
  for (int links = 0;;) {
    if (!PlainHostPath(path)) return std::nullopt;
    struct open_how how {};
    how.flags = static_cast<uint64_t>(static_cast<unsigned>(flags | O_CLOEXEC));
    how.resolve = RESOLVE_NO_SYMLINKS;
    int fd = static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how)));
    if (fd >= 0) return SysResult<UniqueFd>(UniqueFd(fd));
    int err = errno;
    if (err == EINVAL || err == E2BIG || err == ENOSYS || err == EXDEV || err == EAGAIN) {
      return std::nullopt;  // openat2's own refusals: the view's walk answers
    }
    if (err != ELOOP) return SysResult<UniqueFd>(Errno{err});
    // A symlink on the way: the first one the kernel's walk meets, read
    // only once every name before it is known to be no symlink (a link read
    // through another one could be a lower's, which the view may hide).
    // The last name first when its directory opens with no symlink on the
    // way (library sonames are links), else each prefix from the root
    // down: one that is no symlink reads as EINVAL.
    if (++links > kMaxSymlinks) return std::nullopt;
    char target[PATH_MAX];
    ssize_t n = -1;
    size_t end = path.size();
    if (follow) {
      size_t slash = path.rfind('/');
      struct open_how dir_how {};
      dir_how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
      dir_how.resolve = RESOLVE_NO_SYMLINKS;
      std::string parent = slash == 0 ? "/" : path.substr(0, slash);
      UniqueFd dir(static_cast<int>(
          syscall(SYS_openat2, AT_FDCWD, parent.c_str(), &dir_how, sizeof(dir_how))));
      if (dir) n = readlinkat(dir.get(), path.c_str() + slash + 1, target, sizeof(target));
    }
    for (size_t at = 1; n < 0 && (at = path.find('/', at)) != std::string::npos; ++at) {
      n = readlink(path.substr(0, at).c_str(), target, sizeof(target));
      if (n < 0 && errno != EINVAL) return std::nullopt;
      end = at;
    }
    if (n <= 0 || static_cast<size_t>(n) >= sizeof(target)) return std::nullopt;
    std::string link(target, static_cast<size_t>(n));
    std::string rest = path.substr(end);
    if (link[0] == '/') {
      path = link + rest;
    } else {
      path = path.substr(0, path.rfind('/', end - 1)) + "/" + link + rest;
    }
  }
}

SysResult<Target> View::Resolve(const Caller& caller, const Base& base, std::string_view path,
                                ResolveOptions options) const {
  bool via_view = base.view != nullptr && !path.empty() && path[0] != '/';
  auto result = Walk(caller, base, path, options, &via_view);
  if (result.ok()) result->via_view = result->via_view || via_view || result->in_view;
  return result;
}

SysResult<Target> View::Walk(const Caller& caller, const Base& base, std::string_view path,
                             ResolveOptions options, bool* via_view) const {
  if (path.empty()) return Errno{ENOENT};
  if (path.size() >= PATH_MAX) return Errno{ENAMETOOLONG};

  // The walk's current directory: a view directory or a host directory.
  ViewDirPtr view;
  std::shared_ptr<UniqueFd> host;
  struct stat host_st {};
  auto go_host_root = [&]() -> int {
    if (layers_->view_root() == "/") {
      view = root_;
      host.reset();
      *via_view = true;
      return 0;
    }
    if (!host_root_) return EACCES;
    host = host_root_;
    host_st = host_root_st_;
    view.reset();
    return 0;
  };
  // Enters a host directory, switching to the view at the view root.
  auto enter_host = [&](UniqueFd fd, const struct stat& st) {
    if (IsViewRoot(st)) {
      view = root_;
      host.reset();
      *via_view = true;
    } else {
      host = std::make_shared<UniqueFd>(std::move(fd));
      host_st = st;
      view.reset();
    }
  };

  const uint64_t resolve = options.resolve;
  const bool beneath = (resolve & RESOLVE_BENEATH) != 0;
  const bool in_root = (resolve & RESOLVE_IN_ROOT) != 0;
  const bool scoped = beneath || in_root;
  const bool no_symlinks = (resolve & RESOLVE_NO_SYMLINKS) != 0;
  const bool no_magiclinks = (resolve & (RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)) != 0 || scoped;
  const bool no_xdev = (resolve & RESOLVE_NO_XDEV) != 0;
  if (scoped && path[0] == '/') {
    // Below the starting directory only: an absolute path escapes it
    // (BENEATH), or starts at it (IN_ROOT).
    if (beneath) return Errno{EXDEV};
    size_t first = path.find_first_not_of('/');
    path = first == std::string_view::npos ? std::string_view(".") : path.substr(first);
  }

  const std::string& view_root = layers_->view_root();
  if (resolve != 0 && path[0] == '/') {
    // Walked from the root name by name, where every step is judged.
    if (int err = go_host_root()) return Errno{err};
  } else if (path[0] == '/' && view_root != "/" && path.size() > view_root.size() + 1 &&
      path.starts_with(view_root) && path[view_root.size()] == '/' &&
      path.find_first_not_of('/', view_root.size()) != std::string_view::npos) {
    // Below the view root by its canonical path (no symlinks on the way, so
    // the walk through the host would end there): start in the view.
    view = root_;
    *via_view = true;
    path.remove_prefix(view_root.size());
  } else if (path[0] == '/') {
    // Outside the view: open the directory part in one step when no
    // symlink, "." or ".." is on the way and it is neither in the view nor
    // in /proc (whose "self" and magic links the walk maps); the last
    // component then goes through the walk as usual. Anything else (or any
    // error) walks from the root, component by component.
    size_t slash = path.rfind('/');
    std::string_view dir = path.substr(0, slash);
    std::string_view last = path.substr(slash + 1);
    bool fast = slash > 0 && !last.empty() && last != "." && last != "..";
    if (fast) {
      // Host symlinks on the way (/lib of a merged /usr) are followed as
      // long as they lead to such paths again (OpenOnHost).
      auto opened = OpenOnHost(std::string(dir), O_PATH | O_DIRECTORY, true);
      fast = opened.has_value() && opened->ok();
      if (fast) {
        // Not in the view, not in /proc: its stat is not needed (host_st
        // stays unknown, st_ino 0, until it is).
        host = std::make_shared<UniqueFd>(std::move(**opened));
        host_st = {};
        path.remove_prefix(slash);
      }
    }
    if (!fast) {
      if (int err = go_host_root()) return Errno{err};
    }
  } else if (base.view) {
    view = base.view;
  } else if (base.host) {
    host = base.host;
    if (fstat(host->get(), &host_st) != 0) return Errno{errno};
  } else {
    return Errno{EBADF};
  }

  std::deque<std::string> pending;
  PushComponents(path, &pending);
  bool trailing = path.back() == '/';
  int links = 0;
  // RESOLVE_BENEATH / IN_ROOT: where the walk started, and how many
  // directories below it the walk is.
  const ViewDirPtr start_view = scoped ? view : nullptr;
  const std::shared_ptr<UniqueFd> start_host = scoped ? host : nullptr;
  const struct stat start_host_st = host_st;
  int depth = 0;
  // RESOLVE_NO_XDEV: the walk stays where it started, in the view or on
  // one host filesystem.
  const bool started_in_view = view != nullptr;
  auto crossed = [&]() {
    if (!no_xdev) return false;
    if ((view != nullptr) != started_in_view) return true;
    return !view && start_host_st.st_ino != 0 && host_st.st_ino != 0 &&
           host_st.st_dev != start_host_st.st_dev;
  };

  // Target for "the current directory itself" (".", "..", "/").
  auto current_as_target = [&](LastKind kind) -> SysResult<Target> {
    Target t;
    t.last = kind;
    t.exists = true;
    t.name = kind == LastKind::kDotDot ? ".." : kind == LastKind::kDot ? "." : "";
    if (view) {
      t.in_view = true;
      t.dir = view;
      t.rel = view->rel;
      t.layer = view->top_layer();
      int fd = fcntl(view->top_fd(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) return Errno{errno};
      t.fd.reset(fd);
      if (fstat(fd, &t.st) != 0) return Errno{errno};
      if (!view->rel.empty()) {
        OVL_ASSIGN_OR_RETURN(t.parent, DirAt(ParentRel(view->rel)));
        if (kind == LastKind::kRoot) t.last = LastKind::kNormal;
        size_t slash = view->rel.rfind('/');
        if (kind != LastKind::kDot && kind != LastKind::kDotDot) {
          t.name = slash == std::string::npos ? view->rel : view->rel.substr(slash + 1);
        }
      }
    } else {
      int fd = fcntl(host->get(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) return Errno{errno};
      t.fd.reset(fd);
      if (host_st.st_ino == 0 && fstat(fd, &host_st) != 0) return Errno{errno};
      t.st = host_st;
    }
    return t;
  };

  if (pending.empty()) return current_as_target(LastKind::kRoot);

  while (!pending.empty()) {
    std::string name = std::move(pending.front());
    pending.pop_front();
    bool last = pending.empty();
    if (name.size() > NAME_MAX) return Errno{ENAMETOOLONG};

    if (name == ".") {
      if (last) return current_as_target(LastKind::kDot);
      continue;
    }
    if (name == "..") {
      const bool from_view = view != nullptr;
      if (scoped && depth == 0) {
        // Above the starting directory: an escape (BENEATH), or the
        // starting directory itself, as "/" is its own parent (IN_ROOT).
        if (beneath) return Errno{EXDEV};
        if (last) return current_as_target(LastKind::kDotDot);
        continue;
      }
      if (scoped) --depth;
      if (view) {
        if (view->rel.empty()) {
          if (layers_->view_root() != "/") {
            OVL_ASSIGN_OR_RETURN(UniqueFd up, OpenPath(layers_->top_lower().root.get(), "..", 0));
            struct stat st;
            if (fstat(up.get(), &st) != 0) return Errno{errno};
            enter_host(std::move(up), st);
          }
        } else {
          OVL_ASSIGN_OR_RETURN(view, DirAt(ParentRel(view->rel)));
        }
      } else {
        OVL_ASSIGN_OR_RETURN(UniqueFd up, OpenPath(host->get(), "..", 0));
        struct stat st;
        if (fstat(up.get(), &st) != 0) return Errno{errno};
        enter_host(std::move(up), st);
      }
      if (crossed()) return Errno{EXDEV};
      if (last) {
        OVL_ASSIGN_OR_RETURN(Target t, current_as_target(LastKind::kDotDot));
        t.dotdot_in_view = from_view;
        return t;
      }
      continue;
    }

    Target child;
    if (view && !last && CallerMaySearch(view->st)) {
      // A directory on the way that is already known (every change to the
      // view drops what it touches from the cache), in a directory the
      // caller may search by its mode bits: no lookup needed.
      ViewDirPtr known = CachedDir(JoinRel(view->rel, name));
      if (known && !IsPassthrough(known->st.st_dev)) {
        view = std::move(known);
        if (scoped) ++depth;
        continue;
      }
    }
    if (view) {
      OVL_ASSIGN_OR_RETURN(child, Lookup(view, name));
      if (child.exists && S_ISDIR(child.st.st_mode) && IsPassthrough(child.st.st_dev)) {
        // A pseudo filesystem mounted in a lower (/proc, /sys, /dev): the
        // host's, from here on.
        int parent_fd = child.parent->top_fd();
        for (const LayerDir& ld : child.parent->stack) {
          if (ld.layer == child.layer) parent_fd = ld.fd.get();
        }
        int dup = fcntl(parent_fd, F_DUPFD_CLOEXEC, 0);
        if (dup < 0) return Errno{errno};
        child.in_view = false;
        child.dir.reset();
        child.parent.reset();
        child.layer = -1;
        child.rel.clear();
        child.host_parent = std::make_shared<UniqueFd>(dup);
        if (no_xdev) return Errno{EXDEV};  // a mount inside the view
        if (last) {
          child.trailing_slash = trailing;
          return child;
        }
        enter_host(UniqueFd(child.fd.release()), child.st);
        if (scoped) ++depth;
        continue;
      }
    } else {
      bool in_proc = proc_dev_ != 0 && host_st.st_dev == proc_dev_;
      if (in_proc && host_st.st_ino == proc_root_ino_ &&
          (name == "self" || name == "thread-self") && caller.tid > 0) {
        // /proc/self is the traced program, not the supervisor.
        pid_t tgid = caller.tgid > 0 ? caller.tgid : TgidOfThread(caller.tid);
        std::string link = name == "self" ? std::to_string(tgid)
                                          : absl::StrCat(tgid, "/task/", caller.tid);
        if (last && !options.follow && !trailing) {
          Target t;
          t.exists = true;
          t.host_parent = host;
          t.name = name;
          OVL_ASSIGN_OR_RETURN(t.fd, OpenPath(host->get(), name.c_str()));
          if (fstat(t.fd.get(), &t.st) != 0) return Errno{errno};
          t.proc_link = std::move(link);
          return t;
        }
        if (no_symlinks) return Errno{ELOOP};
        if (++links > kMaxSymlinks) return Errno{ELOOP};
        PushComponents(link, &pending);
        continue;
      }
      child.host_parent = host;
      child.name = name;
      if (last && !in_proc) {
        // The last component: its stat now, its descriptor when needed.
        if (fstatat(host->get(), name.c_str(), &child.st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno != ENOENT) return Errno{errno};
          child.exists = false;
        } else {
          child.exists = true;
          child.fd.Defer(host, host->get(), name);
        }
      } else if (auto fd = OpenPath(host->get(), name.c_str()); !fd.ok()) {
        if (fd.error() != ENOENT) return Errno{fd.error()};
        if (!last) return Errno{ENOENT};
        child.exists = false;
      } else {
        child.fd = std::move(*fd);
        if (fstat(child.fd.get(), &child.st) != 0) return Errno{errno};
        child.exists = true;
        if (in_proc && host_st.st_ino != proc_root_ino_ && S_ISLNK(child.st.st_mode) &&
            (!last || options.follow || trailing)) {
          // A magic link (fd/N, cwd, exe, root): the kernel follows it to the
          // object itself; map that object back to the view when it is in a
          // layer.
          if (no_magiclinks) return Errno{ELOOP};
          if (++links > kMaxSymlinks) return Errno{ELOOP};
          auto obj = OpenPath(host->get(), name.c_str(), 0);
          if (!obj.ok()) return Errno{obj.error()};
          struct stat st;
          if (fstat(obj->get(), &st) != 0) return Errno{errno};
          std::string real = FdPath(obj->get());
          RealLocation loc = layers_->Locate(real);
          if (S_ISDIR(st.st_mode) && !pending.empty() &&
              (pending.front() == ".." || pending.front() == ".")) {
            // A directory of the view followed by "..", perhaps removed
            // from it while in use: ".." is its parent in the view, as for
            // overlayfs' unhashed dentry, whatever its real directory's ".."
            // is (a removed upper directory's leads on through the upper).
            // Where that parent is gone too, the kernel's removed parent
            // (below) stands for it.
            bool deleted = real.ends_with(kDeleted);
            RealLocation at =
                deleted ? layers_->Locate(real.substr(0, real.size() - strlen(kDeleted))) : loc;
            std::string rel = at.rel;
            size_t used = 0;
            bool up = false;
            LastKind kind = LastKind::kDotDot;
            for (const std::string& c : pending) {
              if (c == "..") {
                if (rel.empty()) break;  // the root's ".." is the walk's own
                rel = ParentRel(rel);
                up = true;
                kind = LastKind::kDotDot;
              } else if (c == ".") {
                kind = LastKind::kDot;
              } else {
                break;
              }
              ++used;
            }
            auto dir = at.layer >= 0 && up ? DirAt(rel) : SysResult<ViewDirPtr>(Errno{ENOENT});
            if (dir.ok()) {
              pending.erase(pending.begin(), pending.begin() + static_cast<long>(used));
              view = std::move(*dir);
              host.reset();
              *via_view = true;
              if (pending.empty()) return current_as_target(kind);
              continue;
            }
          }
          if (loc.layer >= 0 && !real.ends_with(kDeleted)) {
            view = root_;
            host.reset();
            *via_view = true;
            PushComponents(loc.rel, &pending);
            if (pending.empty()) {
              if (trailing || last) return current_as_target(LastKind::kRoot);
            }
            continue;
          }
          if (S_ISDIR(st.st_mode)) {
            enter_host(std::move(*obj), st);
            if (last) return current_as_target(LastKind::kNormal);
            continue;
          }
          if (!last) return Errno{ENOTDIR};
          // The object itself (a pipe, a socket, a file outside the view):
          // no parent and no name, so it is reopened through its own
          // descriptor, as the kernel reopens what the link points at.
          Target t;
          t.exists = true;
          t.st = st;
          t.fd = std::move(*obj);
          return t;
        }
      }
    }

    if (!child.exists) {
      if (!last) {
        if (view && options.missing_in != nullptr) *options.missing_in = view;
        return Errno{ENOENT};
      }
      child.trailing_slash = trailing;
      return child;
    }
    bool slash_follows = trailing && options.trailing_follows;
    // A final name with a slash, for a caller that judges the slash itself
    // (open with O_CREAT: EISDIR whatever the name is), is not followed.
    bool follow_last = options.follow && !(trailing && !options.trailing_follows);
    if (S_ISLNK(child.st.st_mode) && (!last || follow_last || slash_follows)) {
      if (no_symlinks) return Errno{ELOOP};
      if (++links > kMaxSymlinks) return Errno{ELOOP};
      int dirfd = view ? child.parent->stack.front().fd.get() : host->get();
      if (view) {
        // The symlink lives in the layer that holds the entry.
        for (const LayerDir& ld : child.parent->stack) {
          if (ld.layer == child.layer) dirfd = ld.fd.get();
        }
      }
      OVL_ASSIGN_OR_RETURN(std::string target, ReadLinkAt(dirfd, name.c_str()));
      if (target.empty()) return Errno{ENOENT};
      if (last && target.back() == '/') trailing = true;
      if (target[0] == '/' && scoped) {
        // An absolute target escapes (BENEATH), or starts again at the
        // starting directory (IN_ROOT).
        if (beneath) return Errno{EXDEV};
        view = start_view;
        host = start_host;
        host_st = start_host_st;
        depth = 0;
      } else if (target[0] == '/') {
        if (int err = go_host_root()) return Errno{err};
        if (crossed()) return Errno{EXDEV};
      }
      size_t before = pending.size();
      PushComponents(target, &pending);
      if (pending.size() == before) {
        // The link pointed at "/" itself.
        if (last) return current_as_target(LastKind::kRoot);
      }
      continue;
    }
    if (S_ISDIR(child.st.st_mode)) {
      if (last) {
        if (!view && IsViewRoot(child.st)) {
          view = root_;
          host.reset();
          *via_view = true;
          auto root = current_as_target(LastKind::kRoot);
          if (root.ok()) {
            // Named from outside: for the kernel a normal name in the
            // parent mount that is a mount point.
            root->view_root = true;
            root->last = LastKind::kNormal;
            root->name = name;
            root->trailing_slash = trailing;
          }
          return root;
        }
        child.trailing_slash = trailing;
        return child;
      }
      if (view) {
        view = child.dir;
      } else {
        enter_host(UniqueFd(child.fd.release()), child.st);
        if (crossed()) return Errno{EXDEV};
      }
      if (scoped) ++depth;
      continue;
    }
    if (!last || slash_follows) return Errno{ENOTDIR};
    child.trailing_slash = trailing;
    return child;
  }
  // Only reached when the last component was a symlink to "." or "..".
  return current_as_target(LastKind::kNormal);
}

}  // namespace ovlbox
