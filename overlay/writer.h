// Writer: changes to the view, written into the upper layer in the on-disk
// format of overlayfs with `userxattr`, so that the kernel can mount the
// upper later and show the same view:
//   - whiteout: a character device 0/0 named as the hidden entry;
//   - opaque directory: xattr user.overlay.opaque = "y".
//
// Copy-up copies parent directories first (with their metadata), then the
// object: data (FICLONE where the filesystem can, else copy_file_range,
// holes kept), owner where permitted, mode, xattrs except the private
// user.overlay.* ones, times to the nanosecond. It is built in the work dir
// and moved into place in one step (linkat of an O_TMPFILE file, or a
// rename), so no partial file ever appears in the upper. Lowers are never
// written.
//
// Every change holds one mutex (changes are serialised; lookups are not),
// and drops the view's directory cache afterwards.
#ifndef OVLBOX_OVERLAY_WRITER_H_
#define OVLBOX_OVERLAY_WRITER_H_

#include <sys/types.h>

#include <functional>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "overlay/sys_result.h"
#include "overlay/unique_fd.h"
#include "overlay/view.h"

namespace ovlbox {

// Asked between chunks of a long copy; returning true stops it (ECANCELED):
// the program that caused the copy-up is gone.
using CancelCheck = std::function<bool()>;

// Creates one entry at (dirfd, name); returns 0 or an errno. `fd_out` may
// receive an open descriptor (open with O_CREAT).
using MakeEntry = std::function<int(int dirfd, const char* name, UniqueFd* fd_out)>;

class Writer {
 public:
  // `view` must have an upper layer and a work dir.
  explicit Writer(const View* view);

  // Opens the work dir and removes what a previous run left in it.
  absl::Status Init();

  // Ensures the object `t` names (in the view, existing) is in the upper and
  // returns it looked up again. `with_data`: false when the data will be
  // thrown away (O_TRUNC, truncate to 0).
  SysResult<Target> CopyUp(const Target& t, bool with_data, const CancelCheck& cancel);

  // Ensures the view directory `dir` exists in the upper (parents first).
  SysResult<ViewDirPtr> CopyUpDir(const ViewDirPtr& dir);

  // Creates the missing entry `t` (in the view) with `make`: in the upper
  // directory, copied up first; over a whiteout it is built in the work dir
  // and moved over it (a directory made there becomes opaque). `is_dir`:
  // what `make` creates.
  int Create(const Target& t, bool is_dir, const MakeEntry& make, UniqueFd* fd_out);

  // unlink (is_dir false) or rmdir (is_dir true) of the existing `t`:
  // ENOTEMPTY when a directory is not empty in the view; leaves a whiteout
  // when the name exists in a lower.
  int Remove(const Target& t, bool is_dir);

  // rename/renameat2 within the view. flags: RENAME_NOREPLACE,
  // RENAME_EXCHANGE. The caller has made the VFS's checks (existence,
  // types, ancestry); this makes overlayfs' own: EXDEV for a directory
  // with lower content, ENOTEMPTY for a target directory not empty in the
  // view.
  int Rename(const Target& from, const Target& to, unsigned flags);

  // link: copies `from` up and links it in the upper.
  int Link(const Target& from, const Target& to);

  // Runs an attribute change on the upper copy of `t` (copied up first):
  // `apply` gets an O_PATH descriptor of the upper object, its parent dir
  // and its name.
  int Modify(const Target& t, bool with_data,
             const std::function<int(int obj_fd, int parent_fd, const char* name)>& apply,
             const CancelCheck& cancel);

 private:
  // The caller holds mu_.
  SysResult<ViewDirPtr> CopyUpDirLocked(const ViewDirPtr& dir);
  SysResult<Target> CopyUpLocked(const Target& t, bool with_data, const CancelCheck& cancel);
  int CopyUpFile(const Target& t, int upper_parent, bool with_data, const CancelCheck& cancel);
  // Whether a lower layer below the upper has a visible `name` under `dir`.
  bool LowerHas(const ViewDir& dir, const std::string& name) const;
  int Whiteout(int upper_parent, const std::string& name, bool replace_dir);
  // Gives `tmp`, made in the work dir to replace a whiteout in the upper
  // directory `parent`, the owner, group and set-group-ID bit it would have
  // had if made in `parent` itself.
  void InheritAsMadeIn(int parent, const std::string& tmp);
  int RemoveWhiteouts(int dirfd);
  std::string TempName();
  SysResult<Target> Relookup(const Target& t) const;

  const View* view_;
  UniqueFd work_;  // <work dir>/work, where copies are built
  std::mutex mu_;
  uint64_t counter_ = 0;
  // Set (under mu_) when the change in progress makes, removes, moves or
  // changes a directory: View::Changed(layout) when it is done.
  bool layout_ = false;
};

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_WRITER_H_
