// Tracer: the ptrace side of the supervisor.
//
// It is attached (PTRACE_SEIZE) to the program from the start and, through
// PTRACE_O_TRACECLONE/FORK/VFORK, to everything it starts. The seccomp filter
// sends it the few calls that must change the program's own state and that
// no seccomp answer can perform (SECCOMP_RET_TRACE):
//   chdir   - the path is resolved in the view and the call is pointed at
//             the real directory backing it;
//   execve, execveat - the program is resolved in the view; a `#!` script's
//             interpreter is resolved in the view too and executed directly
//             with the argv the kernel would have built.
// Everything else the tracer sees (group stops, signals, forks, exits) is
// passed on unchanged. PTRACE_O_EXITKILL kills every traced process if the
// supervisor dies, so none of them can go on unsupervised.
//
// Must run on the thread that attached (ptrace is per thread).
#ifndef OVLBOX_TRACER_TRACER_H_
#define OVLBOX_TRACER_TRACER_H_

#include <sys/types.h>

#include <functional>
#include <utility>

#include "overlay/view.h"

namespace ovlbox {

// The ptrace options ovlbox attaches with.
long TracerOptions();

class Tracer {
 public:
  // `before_chdir`, if set, runs at every chdir stop before the call is
  // changed or run; `before_exec`, at every execve or execveat stop, with
  // the thread's id.
  explicit Tracer(const View* view, std::function<void()> before_chdir = {},
                  std::function<void(pid_t)> before_exec = {})
      : view_(view),
        before_chdir_(std::move(before_chdir)),
        before_exec_(std::move(before_exec)) {}

  // Serves ptrace stops until no traced process is left. Returns the wait
  // status of `main_pid`.
  int Run(pid_t main_pid);

 private:
  void OnSeccompStop(pid_t tid);
  const View* view_;
  std::function<void()> before_chdir_;
  std::function<void(pid_t)> before_exec_;
};

}  // namespace ovlbox

#endif  // OVLBOX_TRACER_TRACER_H_
