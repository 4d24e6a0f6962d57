// Tracer: the ptrace side of the supervisor.
//
// A few calls must change the program's own state, which no seccomp answer
// can do:
//   chdir   - the path is resolved in the view and the call is pointed at
//             the real directory backing it;
//   execve, execveat - the program is resolved in the view; a `#!` script's
//             interpreter is resolved in the view too and executed directly
//             with the argv the kernel would have built;
//   open, openat with O_PATH - the kernel opens the real file.
// They reach the supervisor as notifications like any path call, and the
// program is traced only while one of them is changed: when the call names
// nothing in the view (a compiler in /usr/bin), it runs as it is; when it
// does, the worker that received it attaches to the calling thread
// (PTRACE_SEIZE), answers the notification so that the thread stops as the
// call returns (PTRACE_INTERRUPT), writes the real path below the thread's
// stack, has the kernel restart the call with the new arguments and
// detaches. The restarted call comes back as a notification, is recognised
// (same thread, same arguments, same bytes where they point) and runs. Forks,
// signals and exits of the program never stop in ovlbox.
#ifndef OVLBOX_TRACER_TRACER_H_
#define OVLBOX_TRACER_TRACER_H_

#include <linux/seccomp.h>
#include <sys/types.h>
#include <sys/user.h>

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>
#include <unordered_map>
#include <utility>

#include "overlay/view.h"

namespace ovlbox {

class Tracee;

class Tracer {
 public:
  // `before_chdir`, if set, runs at every chdir before it is changed or
  // run; `before_exec`, at every execve or execveat, with the thread's id.
  // `runtime_dir` gives a private directory of the supervisor's (made on
  // first use), where a path too long for one call is spelled as a chain
  // of symlinks.
  explicit Tracer(const View* view, std::function<void()> before_chdir = {},
                  std::function<void(pid_t)> before_exec = {},
                  std::function<std::string()> runtime_dir = {})
      : view_(view),
        before_chdir_(std::move(before_chdir)),
        before_exec_(std::move(before_exec)),
        runtime_dir_(std::move(runtime_dir)) {}

  // Answers a notification: with -err, or (cont) by letting the call run.
  using Answer = std::function<void(int err, bool cont)>;

  // Serves `call`, which thread `tid` made and which GoesToTracer
  // (policy/syscall_table.h); `answer` is called exactly once. Safe to call
  // from several threads at once (each for its own thread of the program).
  void Serve(pid_t tid, const seccomp_data& call, const Answer& answer) const;

  // Whether ptrace works on `pid`, a process not traced yet that waits in
  // a blocking call: attaches, stops it and detaches. 0 or the errno.
  static int Probe(pid_t pid);

 private:
  struct Change;
  // A call the tracer made a thread make instead of its own.
  struct Pending {
    int nr = 0;
    std::array<uint64_t, 6> args{};      // as changed
    int original_nr = 0;                 // the program's own call
    std::array<uint64_t, 6> original{};
    uint64_t addr = 0;                   // what the tracer wrote, and where
    std::vector<char> bytes;
    int64_t made_ns = 0;
  };
  Change Plan(pid_t tid, const seccomp_data& call) const;
  int Shorten(Tracee& tracee, std::string* real) const;
  std::string SymlinkChain(const std::string& real) const;
  int Apply(pid_t tid, const Change& c, user_regs_struct& regs, Pending* pending) const;
  bool Defer(pid_t tid) const;
  void Restart(pid_t tid, const seccomp_data& call, const Answer& answer, const Pending* redo,
               const Change* change = nullptr) const;

  const View* view_;
  std::function<void()> before_chdir_;
  std::function<void(pid_t)> before_exec_;
  mutable std::mutex mu_;
  mutable std::unordered_map<pid_t, Pending> pending_;
  // Per thread: rounds deferred for a signal in a row, and when last.
  mutable std::unordered_map<pid_t, std::pair<int, int64_t>> deferred_;
  std::function<std::string()> runtime_dir_;
  // The symlink chains made (SymlinkChain): when, and their paths.
  mutable std::vector<std::pair<int64_t, std::vector<std::string>>> chains_;
  mutable uint64_t chains_made_ = 0;
};

}  // namespace ovlbox

#endif  // OVLBOX_TRACER_TRACER_H_
