// LoaderFds: the files the dynamic loader opens are given to it as
// descriptor kLoaderFd (policy/filter.h), whose fstat the filter lets
// through: the loader checks each file it opens (the preload list, the
// library, ld.so.cache, every library) with an fstat, and those were
// two fifths of what reached the supervisor in a build (docs/design.md,
// "The loader's files").
//
// The loader is known by the instruction that makes the call. When a
// thread opens the served /etc/ld.so.preload (the first file the loader
// reads, before any library is mapped), the executable segment of its
// program interpreter is found from its auxiliary vector (AT_BASE) and the
// interpreter's own ELF program headers, read from the thread's memory;
// the opens made from inside that segment are the loader's until the
// thread opens a file from anywhere else (the preload library's first
// open of a view file, usually) or calls execve. The loader holds one such file at a time, and the number is
// checked free in the thread's table of descriptors before each use (an
// inherited descriptor keeps it, and the open gets the lowest number).
#ifndef OVLBOX_SUPERVISOR_LOADER_FDS_H_
#define OVLBOX_SUPERVISOR_LOADER_FDS_H_

#include <sys/types.h>

#include <cstdint>

#include "supervisor/call.h"

namespace ovlbox {

class LoaderFds {
 public:
  // Thread `tid` opens the served /etc/ld.so.preload from instruction
  // `ip`: when that is inside its program interpreter, the loading starts.
  static void Begin(pid_t tid, uint64_t ip);
  // Whether the call from instruction `ip` of thread `tid` is made by its
  // program interpreter (its executable segment holds `ip`). The segment
  // found is kept for the thread's next call and its Begin.
  static bool FromLoader(pid_t tid, uint64_t ip);
  // The thread calls execve: the loading is over.
  static void End(pid_t tid);
  // For an open by thread `tid` from instruction `ip` answered with a
  // descriptor (r->kind == kFd): sets r->target_fd when the loader made it;
  // ends the loading when the open came from elsewhere.
  static void Place(pid_t tid, uint64_t ip, Response* r);
};

// Whether descriptor `fd` is free in thread `tid` (an lstat of its
// /proc entry).
bool FdFree(pid_t tid, int fd);

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_LOADER_FDS_H_
