// The private xattrs of overlayfs in its `userxattr` format, and how the
// program's own `user.overlay.*` xattrs are escaped.
#ifndef OVLBOX_OVERLAY_XATTR_NAMES_H_
#define OVLBOX_OVERLAY_XATTR_NAMES_H_

#include <string>
#include <string_view>

namespace ovlbox {

inline constexpr char kOverlayXattrPrefix[] = "user.overlay.";
inline constexpr char kOpaqueXattr[] = "user.overlay.opaque";
inline constexpr char kWhiteoutXattr[] = "user.overlay.whiteout";
// On an upper directory that may hold copies keeping their lower identity
// (overlayfs' "impure"): listings map inode numbers there.
inline constexpr char kImpureXattr[] = "user.overlay.impure";
inline constexpr char kEscapedPrefix[] = "user.overlay.overlay.";

// Whether `name` is private to the overlay (never shown, never copied up).
bool IsPrivateXattr(std::string_view name);
// The name stored in a layer for a name the program uses: the program's
// `user.overlay.X` is stored as `user.overlay.overlay.X`.
std::string EscapeXattr(std::string_view name);
// The name the program sees for a stored name; empty when it is private.
std::string UnescapeXattr(std::string_view stored);
// Filters a listxattr buffer (NUL-separated names) to what the program sees.
std::string FilterXattrList(std::string_view list);
// Whether `dirfd/name` is an xattr whiteout (a file carrying
// user.overlay.whiteout in a directory whose opaque xattr is "x").
bool IsXattrWhiteout(int dirfd, const std::string& name);

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_XATTR_NAMES_H_
