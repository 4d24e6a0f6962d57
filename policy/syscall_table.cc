#include "policy/syscall_table.h"

#include <fcntl.h>

#include <cerrno>

namespace ovlbox {
namespace {

using A = SyscallAction;

std::vector<SyscallRule> BuildRules() {
  return {
      // Path calls: answered by the supervisor on the layered view.
      {2, "open", A::kNotify, 0, 1, O_PATH},
      {4, "stat", A::kNotify},
      {6, "lstat", A::kNotify},
      {21, "access", A::kNotify},
      {76, "truncate", A::kNotify},
      {82, "rename", A::kNotify},
      {83, "mkdir", A::kNotify},
      {84, "rmdir", A::kNotify},
      {85, "creat", A::kNotify},
      {86, "link", A::kNotify},
      {87, "unlink", A::kNotify},
      {88, "symlink", A::kNotify},
      {89, "readlink", A::kNotify},
      {90, "chmod", A::kNotify},
      {92, "chown", A::kNotify},
      {94, "lchown", A::kNotify},
      {132, "utime", A::kNotify},
      {133, "mknod", A::kNotify},
      {137, "statfs", A::kNotify},
      {188, "setxattr", A::kNotify},
      {189, "lsetxattr", A::kNotify},
      {191, "getxattr", A::kNotify},
      {192, "lgetxattr", A::kNotify},
      {194, "listxattr", A::kNotify},
      {195, "llistxattr", A::kNotify},
      {197, "removexattr", A::kNotify},
      {198, "lremovexattr", A::kNotify},
      {235, "utimes", A::kNotify},
      {254, "inotify_add_watch", A::kNotify},
      {257, "openat", A::kNotify, 0, 2, O_PATH},
      {258, "mkdirat", A::kNotify},
      {259, "mknodat", A::kNotify},
      {260, "fchownat", A::kNotify},
      {261, "futimesat", A::kNotify},
      {262, "newfstatat", A::kNotify},
      {263, "unlinkat", A::kNotify},
      {264, "renameat", A::kNotify},
      {265, "linkat", A::kNotify},
      {266, "symlinkat", A::kNotify},
      {267, "readlinkat", A::kNotify},
      {268, "fchmodat", A::kNotify},
      {269, "faccessat", A::kNotify},
      {280, "utimensat", A::kNotify},
      {301, "fanotify_mark", A::kNotify},
      {316, "renameat2", A::kNotify},
      {332, "statx", A::kNotify},
      {437, "openat2", A::kNotify},
      {439, "faccessat2", A::kNotify},
      {452, "fchmodat2", A::kNotify},
      {463, "setxattrat", A::kNotify},
      {464, "getxattrat", A::kNotify},
      {465, "listxattrat", A::kNotify},
      {466, "removexattrat", A::kNotify},
      {468, "file_getattr", A::kNotify},
      {469, "file_setattr", A::kNotify},
      // Answers that reveal real paths, and fd calls whose answer is the
      // view's (stat of merged directories, listings, hidden xattrs) or that
      // would change a lower file through an fd.
      {5, "fstat", A::kNotify},
      {79, "getcwd", A::kNotify},
      {78, "getdents", A::kNotify},
      {217, "getdents64", A::kNotify},
      {138, "fstatfs", A::kNotify},
      {91, "fchmod", A::kNotify},
      {93, "fchown", A::kNotify},
      {190, "fsetxattr", A::kNotify},
      {193, "fgetxattr", A::kNotify},
      {196, "flistxattr", A::kNotify},
      {199, "fremovexattr", A::kNotify},
      // AF_UNIX socket paths.
      {42, "connect", A::kNotify},
      {49, "bind", A::kNotify},
      {44, "sendto", A::kNotify, 0, -1, 0, 4},  // with a destination address
      // A socket bound in the view answers with the name the program gave.
      {51, "getsockname", A::kNotify},
      {52, "getpeername", A::kNotify},
      // Credential changes: they run unchanged, but from then on the
      // supervisor takes on each caller's credentials (supervisor/credentials.h).
      {105, "setuid", A::kNotify},
      {106, "setgid", A::kNotify},
      {113, "setreuid", A::kNotify},
      {114, "setregid", A::kNotify},
      {116, "setgroups", A::kNotify},
      {117, "setresuid", A::kNotify},
      {119, "setresgid", A::kNotify},
      {122, "setfsuid", A::kNotify},
      {123, "setfsgid", A::kNotify},
      {126, "capset", A::kNotify},
      // The program's own state: served through the tracer (tracer/tracer.h).
      {80, "chdir", A::kTrace},
      // They move a working directory: counted (the preload library keeps
      // its cwd's identity while nothing can have moved it), then run
      // unchanged. The library's own fchdir passes with the cookie.
      {81, "fchdir", A::kNotify},
      {308, "setns", A::kNotify},
      {59, "execve", A::kTrace},
      {322, "execveat", A::kTrace},
      // Would bypass the view.
      {425, "io_uring_setup", A::kErrno, ENOSYS},
      {426, "io_uring_enter", A::kErrno, ENOSYS},
      {427, "io_uring_register", A::kErrno, ENOSYS},
      {303, "name_to_handle_at", A::kErrno, ENOSYS},
      {304, "open_by_handle_at", A::kErrno, EPERM},
      {134, "uselib", A::kErrno, ENOSYS},
      {155, "pivot_root", A::kErrno, EPERM},
      {161, "chroot", A::kErrno, EPERM},
      {163, "acct", A::kErrno, EPERM},
      {165, "mount", A::kErrno, EPERM},
      {166, "umount2", A::kErrno, EPERM},
      {167, "swapon", A::kErrno, EPERM},
      {168, "swapoff", A::kErrno, EPERM},
      {179, "quotactl", A::kErrno, EPERM},
      {443, "quotactl_fd", A::kErrno, EPERM},
      {428, "open_tree", A::kErrno, EPERM},
      {429, "move_mount", A::kErrno, EPERM},
      {430, "fsopen", A::kErrno, EPERM},
      {431, "fsconfig", A::kErrno, EPERM},
      {432, "fsmount", A::kErrno, EPERM},
      {433, "fspick", A::kErrno, EPERM},
      {442, "mount_setattr", A::kErrno, EPERM},
      {467, "open_tree_attr", A::kErrno, EPERM},
      // Tracing the supervisor, or another process outside the sandbox.
      {101, "ptrace", A::kErrno, EPERM},
      {311, "process_vm_writev", A::kErrno, EPERM},
  };
}

}  // namespace

const std::vector<SyscallRule>& SyscallRules() {
  static const std::vector<SyscallRule>* rules = new std::vector<SyscallRule>(BuildRules());
  return *rules;
}

bool GoesToTracer(int nr, const uint64_t args[6]) {
  struct Entry {
    bool always = false;
    int arg = -1;
    unsigned long mask = 0;
  };
  static const std::vector<Entry>* table = [] {
    auto* t = new std::vector<Entry>(kMaxKnownSyscall + 1);
    for (const SyscallRule& rule : SyscallRules()) {
      if (rule.nr < 0 || rule.nr > kMaxKnownSyscall) continue;
      (*t)[rule.nr] = Entry{rule.action == A::kTrace, rule.trace_arg, rule.trace_mask};
    }
    return t;
  }();
  if (nr < 0 || nr > kMaxKnownSyscall) return false;
  const Entry& e = (*table)[nr];
  return e.always || (e.arg >= 0 && (args[e.arg] & e.mask) != 0);
}

SyscallRule RuleFor(int nr) {
  if (nr < 0 || nr > kMaxKnownSyscall) return {nr, "", A::kErrno, ENOSYS};
  for (const SyscallRule& rule : SyscallRules()) {
    if (rule.nr == nr) return rule;
  }
  return {nr, "", A::kAllow};
}

}  // namespace ovlbox
