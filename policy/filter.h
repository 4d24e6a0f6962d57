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
// With a nonzero `cookie`, the calls the preload library (preload/preload.c)
// makes itself are let through unseen when their sixth argument register
// holds it, whatever their other arguments: its lookups (newfstatat,
// statx, readlinkat, faccessat2, fgetxattr, getdents64, openat, openat2)
// and the changes it makes in the upper (mkdirat, unlinkat, utimensat,
// fchmod, fchown, fchownat, fchmodat2), and fchdir (CookiePrefix). With
// `kept` ids, the no-op id calls KeptIds describes run unseen too.
struct KeptIds;
absl::StatusOr<std::vector<sock_filter>> BuildFilter(uint64_t cookie, const KeptIds& kept);

// With a nonzero cookie, fstat of descriptor kLoaderFd (newfstatat with
// exactly AT_EMPTY_PATH) is let through too: the supervisor gives the
// dynamic loader the files it opens under that number, and the loader's
// fstat of them is the kernel's to answer (docs/design.md, "The loader's
// files"). 1000 lies below the usual limit of open files (1024).
inline constexpr int kLoaderFd = 1000;

// The cookie's part of FilterPrefix (every path through it that does not
// allow the call ends where the rest starts).
std::vector<sock_filter> CookiePrefix(uint64_t cookie);

// The effective ids the program starts with, when its filesystem ids are
// the same (kNoKeptId where they are not): with them the filter lets
// setresuid(-1, uid, -1) and setresgid(-1, gid, -1) run unseen (GNU
// make's, and posix_spawn's POSIX_SPAWN_RESETIDS, before every command).
// Such a call changes nothing as long as no thread has changed its
// credentials, and every change passes a notified call first (a setresuid
// with other arguments, setuid, setfsuid, setgroups, capset...;
// NO_NEW_PRIVS keeps execve from changing them), from which point the
// supervisor reads each caller's ids anyway (supervisor/credentials.h).
inline constexpr uint32_t kNoKeptId = 0xffffffffu;
struct KeptIds {
  uint32_t uid = kNoKeptId;
  uint32_t gid = kNoKeptId;
};
// The calling process's own, as the program it forks will start with them.
KeptIds OwnKeptIds();

// The part of the filter in front of libseccomp's program: the cookie's
// (above, when `cookie` is nonzero), then the kept ids' (KeptIdsPrefix).
// Every path through it that does not allow the call ends where that
// program starts; BuildFilter and PrebuiltFilter put it there.
std::vector<sock_filter> FilterPrefix(uint64_t cookie, const KeptIds& kept);

// The kept ids' part alone (empty without any): only the low halves of
// the arguments are compared, as the kernel reads them; every other call
// passes through by its number alone (the kernel's action cache stays).
std::vector<sock_filter> KeptIdsPrefix(const KeptIds& kept);

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
