// Merged directory listings, as overlayfs shows them: the names of every
// layer directory of a view directory, upper-most first, without duplicates,
// whiteouts, xattr whiteouts and hidden (upper/work) directories.
//
// The cursor is a stable per-name cookie (a 63-bit hash of the name, "." is
// 1 and ".." is 2) kept as the file position of the program's open
// directory, so a listing survives entries being removed while it is read
// (`rm -rf` does exactly that): entries are returned in cookie order, and
// each entry's d_off is its own cookie.
#ifndef OVLBOX_OVERLAY_DIRLIST_H_
#define OVLBOX_OVERLAY_DIRLIST_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "overlay/name_cookie.h"
#include "overlay/sys_result.h"
#include "overlay/view.h"

namespace ovlbox {

struct DirEntry {
  uint64_t cookie = 0;
  ino_t ino = 0;
  unsigned char type = 0;  // DT_*
  std::string name;
};

inline constexpr uint64_t kDirEof = OVLBOX_DIR_EOF;

// ovlbox_name_cookie (overlay/name_cookie.h).
uint64_t NameCookie(std::string_view name);

// Whether listing `dir` needs merging (more than one layer, or a layer dir
// that holds a hidden upper/work dir); otherwise the kernel's own listing of
// the top real directory is the view's.
bool NeedsMergedListing(const View& view, const ViewDir& dir);

// The merged listing sorted by cookie. `parent_ino` is d_ino for "..".
// With `as_readdir`, a directory that needs no merging (NeedsMergedListing)
// is listed as its one real directory is, whiteouts included, as overlayfs
// passes such a directory through to readdir; in cookie order all the same,
// so that a listing that goes on after the directory was copied up (and so
// became merged) keeps its place. Without it (emptiness checks), whiteouts
// are never entries.
SysResult<std::vector<DirEntry>> ListMerged(const View& view, const ViewDir& dir,
                                            ino_t parent_ino, bool as_readdir = false);

// The d_ino of ".." in the view's listing of `dir`, as overlayfs gives it.
ino_t DotDotIno(const View& view, const ViewDir& dir);

// Serialises entries with cookie > pos as linux_dirent64 records (or the
// legacy linux_dirent when `legacy`) into buf. Returns the bytes written
// (0 at the end) and sets *new_pos to the cookie of the last entry written;
// EINVAL when not even one entry fits.
SysResult<size_t> FillDirents(const std::vector<DirEntry>& entries, uint64_t pos,
                              bool legacy, char* buf, size_t size, uint64_t* new_pos);

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_DIRLIST_H_
