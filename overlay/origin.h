// Copy-up origins: how a copied-up file keeps the identity (st_dev,
// st_ino) it had in its lower layer, as overlayfs keeps it.
//
// On copy-up overlayfs stores the lower object's file handle in the copy's
// "user.overlay.origin" xattr (struct ovl_fb: version 0, magic 0xfb,
// length, flags, handle type, the lower filesystem's uuid, then the handle
// itself) and reports the lower inode number for the copy. ovlbox writes
// the same bytes (so the kernel, mounting the upper, finds the same origin)
// and maps a copy back to its lower object by that handle.
#ifndef OVLBOX_OVERLAY_ORIGIN_H_
#define OVLBOX_OVERLAY_ORIGIN_H_

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace ovlbox {

inline constexpr char kOriginXattr[] = "user.overlay.origin";

using FsUuid = std::array<uint8_t, 16>;

// The uuid the kernel knows the filesystem of `dir_path` by (FS_IOC_GETFSUUID);
// all zeros where the kernel cannot say.
FsUuid FilesystemUuid(const std::string& dir_path);

// The origin xattr value overlayfs would store for the object `name` in
// `dirfd` ("" with AT_EMPTY_PATH semantics: the object `dirfd` itself), on a
// filesystem with `uuid`. Empty (a "null" origin) when the filesystem cannot
// make file handles.
std::string EncodeOrigin(int dirfd, const char* name, const FsUuid& uuid);

// Whether two origin values name the same object (same handle type and
// handle; the uuid is not compared: the caller knows the layer).
bool SameOrigin(const std::string& a, const std::string& b);

// What a copied-up file reports: its lower object's device and inode.
struct OriginId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool valid() const { return dev != 0 || ino != 0; }
};

// A bounded, thread-safe memory of copied-up files of the upper:
//  - by upper inode and ctime (any change to the file moves its ctime, so a
//    reused inode number or a rewritten origin is never taken for the old
//    one): the identity to report, or none;
//  - by origin handle: the lower identity recorded at copy-up, for copies
//    renamed since.
class OriginCache {
 public:
  bool Find(ino_t upper_ino, const timespec& ctime, OriginId* out) const;
  void Put(ino_t upper_ino, const timespec& ctime, OriginId id);
  bool FindHandle(const std::string& origin, OriginId* out) const;
  void PutHandle(const std::string& origin, OriginId id);

 private:
  struct Entry {
    timespec ctime;
    OriginId id;
  };
  static constexpr size_t kLimit = 1 << 16;
  mutable std::mutex mu_;
  absl::flat_hash_map<ino_t, Entry> by_ino_;
  absl::flat_hash_map<std::string, OriginId> by_handle_;
};

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_ORIGIN_H_
