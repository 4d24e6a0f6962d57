// Merged directory listings, as overlayfs shows them: the names of every
// layer directory of a view directory, upper-most first, without duplicates,
// whiteouts, xattr whiteouts and hidden (upper/work) directories.
//
// Entries come in overlayfs' order: a directory of one layer as its real
// directory lists itself; a merged one with the lowest layer's names first
// (".", ".." and the names the layers above share with it among them), in
// that layer's order, then the other names of the layers above, top layer
// first, each in its layer's order. The cursor, kept as the file position
// of the program's open directory, names the next entry by its index and
// its name's hash (ovlbox_dir_pos), so a listing survives entries being
// removed while it is read (`rm -rf` does exactly that) and keeps its place
// when the directory is copied up meanwhile.
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

// The merged listing, in overlayfs' order. `parent_ino` is d_ino for "..".
// With `as_readdir`, a directory that needs no merging (NeedsMergedListing)
// is listed as its one real directory is, whiteouts included, as overlayfs
// passes such a directory through to readdir. Without it (emptiness
// checks), whiteouts are never entries. "." and ".." are always there.
SysResult<std::vector<DirEntry>> ListMerged(const View& view, const ViewDir& dir,
                                            ino_t parent_ino, bool as_readdir = false);

// The d_ino of ".." in the view's listing of `dir`, as overlayfs gives it.
ino_t DotDotIno(const View& view, const ViewDir& dir);

// Where a listing goes on from the position `pos` (ovlbox_dir_pos): the
// entry it names when it is still at that index, else the entry of that
// name nearest to it, else the same index (the named entry was removed).
size_t ResumeIndex(const std::vector<DirEntry>& entries, uint64_t pos);

// Serialises the entries from the position `pos` on as linux_dirent64
// records (or the legacy linux_dirent when `legacy`) into buf, each with
// the position of the entry after it as d_off. Returns the bytes written
// (0 at the end) and sets *new_pos to the last entry's d_off; EINVAL when
// not even one entry fits.
SysResult<size_t> FillDirents(const std::vector<DirEntry>& entries, uint64_t pos,
                              bool legacy, char* buf, size_t size, uint64_t* new_pos);

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_DIRLIST_H_
