// Builds and installs the program's seccomp filter (with libseccomp).
#ifndef OVLBOX_POLICY_FILTER_H_
#define OVLBOX_POLICY_FILTER_H_

#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace ovlbox {

// The filter for SyscallRules() as a BPF program. Foreign architectures
// (i386, x32) kill the process.
//
// With a nonzero `cookie`, a few calls that cannot change anything are let
// through unseen when their sixth argument register holds it: newfstatat, statx,
// readlinkat, faccessat2, fgetxattr, getdents64, and openat whose flags ask for
// neither writing (O_WRONLY, O_RDWR, O_TRUNC) nor creating (O_CREAT, O_TMPFILE). The
// preload library (preload/preload.c) makes its calls on host files that
// way.
absl::StatusOr<std::vector<sock_filter>> BuildFilter(uint64_t cookie = 0);

// With a nonzero cookie, fstat of descriptor kLoaderFd (newfstatat with
// exactly AT_EMPTY_PATH) is let through too: the supervisor gives the
// dynamic loader the files it opens under that number, and the loader's
// fstat of them is the kernel's to answer (docs/design.md, "The loader's
// files"). 1000 lies below the usual limit of open files (1024).
inline constexpr int kLoaderFd = 1000;

// The part BuildFilter puts in front of libseccomp's program for `cookie`
// (every path through it that does not allow the call ends where that
// program starts).
std::vector<sock_filter> CookiePrefix(uint64_t cookie);

// A part to put in front of the filter that lets setresuid(-1, uid, -1)
// and setresgid(-1, gid, -1) run unseen (GNU make's, and posix_spawn's
// POSIX_SPAWN_RESETIDS, before every command): with `uid` and `gid` the
// effective and filesystem ids the program starts with, such a call
// changes nothing as long as no thread has changed its credentials, and
// every change passes a notified call first (a setresuid with other
// arguments, setuid, setfsuid, setgroups, capset...; NO_NEW_PRIVS keeps
// execve from changing them), from which point the supervisor reads each
// caller's ids anyway (supervisor/credentials.h). Either id may be
// kNoKeptId: that call is always notified. Only the low halves of the
// arguments are compared, as the kernel reads them; every other call
// passes through by its number alone (the kernel's action cache stays).
inline constexpr uint32_t kNoKeptId = 0xffffffffu;
std::vector<sock_filter> KeptIdsPrefix(uint32_t uid, uint32_t gid);

// Installs `program` on the calling thread (which must have set
// PR_SET_NO_NEW_PRIVS or hold CAP_SYS_ADMIN) with a user-notification
// listener, asking for killable waits where the kernel offers them (5.19).
// Returns the listener fd. Async-signal-safe: meant for the child between
// fork and exec.
int InstallFilter(const std::vector<sock_filter>& program);

// Asks the kernel to wake the answering thread on the notifying thread's
// CPU and the notifying thread on the answering one's
// (SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, Linux 6.6+). false where the kernel
// has no such mode; nothing else changes then.
bool RequestSyncWakeUp(int listener);

// Whether the running kernel offers seccomp user notification, and if not,
// which feature is missing (for the user's error message).
absl::Status CheckKernelSupport();

}  // namespace ovlbox

#endif  // OVLBOX_POLICY_FILTER_H_
