// Tracee: one thread of the traced program, seen from the supervisor.
//
// Reads and writes its memory (process_vm_readv/writev), finds what its cwd
// and its descriptors are (/proc/TID/cwd and /proc/TID/fd/N, mapped back to
// the view by the layer they lie in), borrows its open files (pidfd_getfd)
// and resolves its paths in the view. Holds no state across calls: a cwd or
// a dirfd is always what the kernel says it is now, which keeps fork, threads
// and fd passing free of bookkeeping.
#ifndef OVLBOX_TRACER_TRACEE_H_
#define OVLBOX_TRACER_TRACEE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "overlay/sys_result.h"
#include "overlay/unique_fd.h"
#include "overlay/view.h"

namespace ovlbox {

class Tracee {
 public:
  explicit Tracee(pid_t tid) : tid_(tid) {}

  pid_t tid() const { return tid_; }
  // The thread group (process) id, read from /proc once.
  pid_t Tgid();
  Caller AsCaller() const { return Caller{tgid_, tid_}; }

  // A NUL-terminated path from the tracee: EFAULT on a bad pointer,
  // ENAMETOOLONG when no NUL comes within PATH_MAX bytes.
  SysResult<std::string> ReadPath(uint64_t addr);
  // A NUL-terminated string of at most `max` bytes (ERANGE when longer).
  SysResult<std::string> ReadString(uint64_t addr, size_t max);
  // Returns 0 or an errno (EFAULT for a bad address).
  int Read(uint64_t addr, void* buf, size_t len);
  int Write(uint64_t addr, const void* buf, size_t len);

  // The real path of the cwd, or of descriptor `fd`, as the kernel shows it.
  SysResult<std::string> CwdRealPath();
  SysResult<std::string> FdRealPath(int fd);
  // An O_PATH descriptor of the object descriptor `fd` refers to.
  SysResult<UniqueFd> OpenFdObject(int fd);
  // The tracee's own open file (shares offset and flags): pidfd_getfd.
  SysResult<UniqueFd> GetFd(int fd);
  // The process umask (for files the supervisor creates on its behalf).
  SysResult<mode_t> Umask();

  // The starting directory for a path relative to `dirfd` (AT_FDCWD or a
  // descriptor): its view directory, or itself outside the view.
  SysResult<Base> BaseFor(const View& view, int dirfd);
  // What descriptor `fd` refers to, as a view target when it is in a layer.
  SysResult<Target> TargetForFd(const View& view, int fd);
  // Resolves (dirfd, path) in the view. An empty path names `dirfd` itself
  // when `empty_path` is set (AT_EMPTY_PATH), else gives ENOENT.
  SysResult<Target> Resolve(const View& view, int dirfd, const std::string& path,
                            ResolveOptions options, bool empty_path = false);

 private:
  pid_t tid_;
  pid_t tgid_ = 0;
};

}  // namespace ovlbox

#endif  // OVLBOX_TRACER_TRACEE_H_
