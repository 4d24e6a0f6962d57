#include "supervisor/call.h"

#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>

namespace ovlbox {

bool Call::StillValid() {
  return ioctl(listener_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id_) == 0;
}

SysResult<std::string> Call::ReadPath(uint64_t addr) {
  auto path = tracee_.ReadPath(addr);
  if (!StillValid()) return Errno{ESRCH};
  return path;
}

SysResult<std::string> Call::ReadString(uint64_t addr, size_t max) {
  auto s = tracee_.ReadString(addr, max);
  if (!StillValid()) return Errno{ESRCH};
  return s;
}

int Call::Read(uint64_t addr, void* buf, size_t len) {
  int err = tracee_.Read(addr, buf, len);
  if (!StillValid()) return ESRCH;
  return err;
}

SysResult<Target> Call::ResolveArg(int dirfd, uint64_t path_addr, ResolveOptions options,
                                   bool empty_path) {
  std::string path;
  if (!(empty_path && path_addr == 0)) {
    OVL_ASSIGN_OR_RETURN(path, ReadPath(path_addr));
  }
  return tracee_.Resolve(view_, dirfd, path, options, empty_path);
}

int Call::AdoptUmask() {
  auto mask = tracee_.Umask();
  if (!mask.ok()) return mask.error();
  umask(*mask);
  return 0;
}

}  // namespace ovlbox
