// What the filter does with every x86_64 system call, as data.
//
// Path calls and the fd calls whose answer depends on the view go to the
// supervisor (kNotify); the few calls that must change the program's own
// state (its cwd, its executable) go to the supervisor too, which serves
// them by attaching to the caller with ptrace (kTrace); calls that
// would bypass the view are refused (kErrno). Every other call number the
// table knows runs natively; a number beyond the table (a syscall newer than
// ovlbox) gets ENOSYS, never a silent pass.
#ifndef OVLBOX_POLICY_SYSCALL_TABLE_H_
#define OVLBOX_POLICY_SYSCALL_TABLE_H_

#include <cstdint>
#include <string_view>
#include <vector>

namespace ovlbox {

enum class SyscallAction { kAllow, kNotify, kTrace, kErrno };

struct SyscallRule {
  int nr;
  std::string_view name;
  SyscallAction action;
  int err = 0;  // for kErrno
  // When >= 0: calls whose argument `trace_arg` has a bit of `trace_mask`
  // set are served like kTrace (O_PATH opens: seccomp cannot inject an
  // O_PATH descriptor, so the kernel opens the real file at a ptrace stop).
  int trace_arg = -1;
  unsigned long trace_mask = 0;
  // When >= 0 (kNotify only): the call is notified only when its argument
  // `notify_if_arg` is not 0, and runs natively otherwise (sendto with a
  // destination address: a send on a connected socket names no file).
  int notify_if_arg = -1;
};

// The x86_64 numbers this ovlbox knows: everything at or below this runs
// natively unless a rule says otherwise.
inline constexpr int kMaxKnownSyscall = 469;  // file_setattr (Linux 6.17)

// The rules for the calls that do not simply run natively.
const std::vector<SyscallRule>& SyscallRules();

// The rule for one call number (kAllow when none; kErrno/ENOSYS beyond
// kMaxKnownSyscall).
SyscallRule RuleFor(int nr);

// Whether a notified call with these arguments is served through the
// tracer (kTrace, or its trace_arg has a bit of trace_mask set). Cheap:
// asked for every notification.
bool GoesToTracer(int nr, const uint64_t args[6]);

}  // namespace ovlbox

#endif  // OVLBOX_POLICY_SYSCALL_TABLE_H_
