#include "overlay/origin.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "overlay/unique_fd.h"

namespace ovlbox {
namespace {

// FS_IOC_GETFSUUID (Linux 6.5); older headers do not have it.
struct FsUuid2 {
  uint8_t len;
  uint8_t uuid[16];
};
constexpr unsigned long kGetFsUuid = _IOR(0x15, 0, FsUuid2);

// struct ovl_fb, as stored: version, magic, len, flags, type, uuid[16], fid.
constexpr size_t kHeader = 5 + 16;
constexpr uint8_t kVersion = 0;
constexpr uint8_t kMagic = 0xfb;
constexpr size_t kMaxHandle = 128;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr uint8_t kFlags = 1;  // OVL_FH_FLAG_BIG_ENDIAN
#else
constexpr uint8_t kFlags = 0;
#endif

bool Parse(const std::string& v, uint8_t* type, std::string_view* fid) {
  if (v.size() < kHeader || v[0] != kVersion || static_cast<uint8_t>(v[1]) != kMagic ||
      static_cast<uint8_t>(v[2]) != v.size()) {
    return false;
  }
  *type = static_cast<uint8_t>(v[4]);
  *fid = std::string_view(v).substr(kHeader);
  return true;
}

}  // namespace

FsUuid FilesystemUuid(const std::string& dir_path) {
  FsUuid out{};
  UniqueFd fd(open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  FsUuid2 u{};
  if (fd && ioctl(fd.get(), kGetFsUuid, &u) == 0 && u.len == sizeof(out)) {
    memcpy(out.data(), u.uuid, sizeof(out));
  }
  return out;
}

std::string EncodeOrigin(int dirfd, const char* name, const FsUuid& uuid) {
  struct {
    file_handle fh;
    unsigned char bytes[kMaxHandle];
  } h;
  h.fh.handle_bytes = kMaxHandle;
  int mount_id;
  int flags = name[0] == '\0' ? AT_EMPTY_PATH : 0;
  if (name_to_handle_at(dirfd, name, &h.fh, &mount_id, flags) != 0 ||
      kHeader + h.fh.handle_bytes > 255) {
    return "";
  }
  std::string v(kHeader, '\0');
  v[0] = static_cast<char>(kVersion);
  v[1] = static_cast<char>(kMagic);
  v[2] = static_cast<char>(kHeader + h.fh.handle_bytes);
  v[3] = static_cast<char>(kFlags);
  v[4] = static_cast<char>(h.fh.handle_type);
  memcpy(v.data() + 5, uuid.data(), uuid.size());
  v.append(reinterpret_cast<const char*>(h.fh.f_handle), h.fh.handle_bytes);
  return v;
}

bool SameOrigin(const std::string& a, const std::string& b) {
  uint8_t ta, tb;
  std::string_view fa, fb;
  return Parse(a, &ta, &fa) && Parse(b, &tb, &fb) && ta == tb && fa == fb;
}

bool OriginCache::Find(ino_t upper_ino, const timespec& ctime, OriginId* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_ino_.find(upper_ino);
  if (it == by_ino_.end() || it->second.ctime.tv_sec != ctime.tv_sec ||
      it->second.ctime.tv_nsec != ctime.tv_nsec) {
    return false;
  }
  *out = it->second.id;
  return true;
}

void OriginCache::Put(ino_t upper_ino, const timespec& ctime, OriginId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (by_ino_.size() >= kLimit) by_ino_.clear();
  by_ino_[upper_ino] = Entry{ctime, id};
}

bool OriginCache::FindHandle(const std::string& origin, OriginId* out) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_handle_.find(origin);
  if (it == by_handle_.end()) return false;
  *out = it->second;
  return true;
}

void OriginCache::PutHandle(const std::string& origin, OriginId id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (by_handle_.size() >= kLimit) by_handle_.clear();
  by_handle_[origin] = id;
}

}  // namespace ovlbox
