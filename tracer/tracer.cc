#include "tracer/tracer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tracer/exec_rewrite.h"
#include "tracer/tracee.h"

namespace ovlbox {
namespace {

constexpr int kOpen = 2;
constexpr int kOpenat = 257;
constexpr int kExecve = 59;
constexpr int kChdir = 80;
constexpr int kExecveat = 322;
constexpr uint64_t kRedZone = 128;

// Builds data below the tracee's stack pointer (past the red zone): the
// thread is stopped at a system call, so nothing else uses that memory
// before the call reads it.
class StackScratch {
 public:
  explicit StackScratch(uint64_t rsp) : top_(rsp - kRedZone) {}
  // Appends bytes; returns their address in the tracee.
  uint64_t Add(const void* data, size_t len) {
    size_t at = buf_.size();
    buf_.insert(buf_.end(), static_cast<const char*>(data), static_cast<const char*>(data) + len);
    offsets_.push_back(at);
    return at;  // relative until Commit
  }
  uint64_t AddString(const std::string& s) { return Add(s.c_str(), s.size() + 1); }
  void Align() {
    while (buf_.size() % 16) buf_.push_back(0);
  }
  size_t size() const { return buf_.size(); }
  uint64_t base() const { return (top_ - buf_.size()) & ~uint64_t{15}; }
  std::vector<char>& bytes() { return buf_; }
  int Commit(Tracee& tracee) { return tracee.Write(base(), buf_.data(), buf_.size()); }

 private:
  uint64_t top_;
  std::vector<char> buf_;
  std::vector<size_t> offsets_;
};

void SkipWithErrno(pid_t tid, user_regs_struct& regs, int err) {
  regs.orig_rax = static_cast<uint64_t>(-1);
  regs.rax = static_cast<uint64_t>(-static_cast<int64_t>(err));
  ptrace(PTRACE_SETREGS, tid, nullptr, &regs);
}

void HandleChdir(const View& view, pid_t tid, user_regs_struct& regs) {
  Tracee tracee(tid);
  auto path = tracee.ReadPath(regs.rdi);
  if (!path.ok()) return SkipWithErrno(tid, regs, path.error());
  auto t = tracee.Resolve(view, AT_FDCWD, *path, ResolveOptions{});
  if (!t.ok()) return SkipWithErrno(tid, regs, t.error());
  if (!t->exists) return SkipWithErrno(tid, regs, ENOENT);
  if (!S_ISDIR(t->st.st_mode)) return SkipWithErrno(tid, regs, ENOTDIR);
  // A directory removed from the view while in use has no path of its
  // own: the kernel reaches it through the caller's /proc entries.
  std::string real = !t->removed_path.empty() ? t->removed_path
                                                : FdPath(t->in_view ? t->dir->top_fd() : t->fd.get());
  if (real.empty() || real[0] != '/') return SkipWithErrno(tid, regs, ENOENT);
  StackScratch scratch(regs.rsp);
  scratch.AddString(real);
  if (int err = scratch.Commit(tracee)) return SkipWithErrno(tid, regs, err);
  regs.rdi = scratch.base();
  ptrace(PTRACE_SETREGS, tid, nullptr, &regs);
}

// open/openat with O_PATH: the kernel opens the real file the view path
// resolves to (an O_PATH descriptor cannot be injected through seccomp).
void HandleOpenPath(const View& view, pid_t tid, user_regs_struct& regs) {
  Tracee tracee(tid);
  bool at = regs.orig_rax == kOpenat;
  int dirfd = at ? static_cast<int>(regs.rdi) : AT_FDCWD;
  uint64_t path_addr = at ? regs.rsi : regs.rdi;
  int flags = static_cast<int>(at ? regs.rdx : regs.rsi);
  auto path = tracee.ReadPath(path_addr);
  if (!path.ok()) return SkipWithErrno(tid, regs, path.error());
  auto t = tracee.Resolve(view, dirfd, *path, ResolveOptions{.follow = !(flags & O_NOFOLLOW)});
  if (!t.ok()) return SkipWithErrno(tid, regs, t.error());
  if (!t->exists) return SkipWithErrno(tid, regs, ENOENT);
  if ((flags & O_DIRECTORY) && !S_ISDIR(t->st.st_mode)) return SkipWithErrno(tid, regs, ENOTDIR);
  std::string real = FdPath(t->fd.get());
  if (real.empty() || real[0] != '/') return SkipWithErrno(tid, regs, ENOENT);
  StackScratch scratch(regs.rsp);
  scratch.AddString(real);
  if (int err = scratch.Commit(tracee)) return SkipWithErrno(tid, regs, err);
  // openat(AT_FDCWD, real, flags | O_NOFOLLOW): the real path is final.
  regs.orig_rax = kOpenat;
  regs.rdi = static_cast<uint64_t>(static_cast<int64_t>(AT_FDCWD));
  regs.rsi = scratch.base();
  regs.rdx = static_cast<uint64_t>(flags | O_NOFOLLOW);
  ptrace(PTRACE_SETREGS, tid, nullptr, &regs);
}

void HandleExec(const View& view, pid_t tid, user_regs_struct& regs) {
  Tracee tracee(tid);
  bool at = regs.orig_rax == kExecveat;
  int dirfd = at ? static_cast<int>(regs.rdi) : AT_FDCWD;
  uint64_t path_addr = at ? regs.rsi : regs.rdi;
  uint64_t argv_addr = at ? regs.rdx : regs.rsi;
  uint64_t envp_addr = at ? regs.r10 : regs.rdx;
  int flags = at ? static_cast<int>(regs.r8) : 0;
  auto path = tracee.ReadPath(path_addr);
  if (!path.ok()) return SkipWithErrno(tid, regs, path.error());
  auto plan = PlanExec(view, tracee, dirfd, *path, flags);
  if (!plan.ok()) return SkipWithErrno(tid, regs, plan.error());
  if (!plan->rewrite) return;

  // The new argv: the script prefix, then the program's argv[1..]; the
  // program's own strings are reused where they are.
  std::vector<uint64_t> argv;
  if (plan->script) {
    std::vector<uint64_t> old;
    for (uint64_t addr = argv_addr; addr != 0; addr += 8) {
      uint64_t p;
      if (int err = tracee.Read(addr, &p, sizeof(p))) return SkipWithErrno(tid, regs, err);
      if (p == 0) break;
      old.push_back(p);
      if (old.size() > (1u << 20)) return SkipWithErrno(tid, regs, E2BIG);
    }
    StackScratch scratch(regs.rsp);
    std::vector<uint64_t> rel;
    uint64_t path_off = scratch.AddString(plan->real_path);
    for (const std::string& s : plan->argv_prefix) rel.push_back(scratch.AddString(s));
    scratch.Align();
    size_t array_off = scratch.size();
    size_t count = rel.size() + (old.empty() ? 0 : old.size() - 1) + 1;
    scratch.bytes().resize(scratch.size() + count * 8);
    uint64_t base = scratch.base();
    auto* slots = reinterpret_cast<uint64_t*>(scratch.bytes().data() + array_off);
    size_t k = 0;
    for (uint64_t off : rel) slots[k++] = base + off;
    for (size_t i = 1; i < old.size(); ++i) slots[k++] = old[i];
    slots[k] = 0;
    if (int err = scratch.Commit(tracee)) return SkipWithErrno(tid, regs, err == EFAULT ? E2BIG : err);
    regs.orig_rax = kExecve;
    regs.rdi = base + path_off;
    regs.rsi = base + array_off;
    regs.rdx = envp_addr;
  } else {
    StackScratch scratch(regs.rsp);
    scratch.AddString(plan->real_path);
    if (int err = scratch.Commit(tracee)) return SkipWithErrno(tid, regs, err);
    regs.orig_rax = kExecve;
    regs.rdi = scratch.base();
    regs.rsi = argv_addr;
    regs.rdx = envp_addr;
  }
  ptrace(PTRACE_SETREGS, tid, nullptr, &regs);
}

}  // namespace

long TracerOptions() {
  return PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
         PTRACE_O_TRACEVFORK | PTRACE_O_EXITKILL;
}

void Tracer::OnSeccompStop(pid_t tid) {
  user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) return;
  switch (static_cast<int>(regs.orig_rax)) {
    case kChdir:
      if (before_chdir_) before_chdir_();
      HandleChdir(*view_, tid, regs);
      break;
    case kExecve:
    case kExecveat:
      if (before_exec_) before_exec_(tid);
      HandleExec(*view_, tid, regs);
      break;
    case kOpen:
    case kOpenat:
      HandleOpenPath(*view_, tid, regs);
      break;
    default:
      // The filter traces nothing else; refuse rather than let it pass.
      SkipWithErrno(tid, regs, ENOSYS);
      break;
  }
}

int Tracer::Run(pid_t main_pid) {
  int main_status = 0;
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, __WALL);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: nothing left
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      if (pid == main_pid) main_status = status;
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    switch (event) {
      case PTRACE_EVENT_SECCOMP:
        OnSeccompStop(pid);
        ptrace(PTRACE_CONT, pid, nullptr, nullptr);
        break;
      case PTRACE_EVENT_STOP:
        if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
          // A group stop: stay stopped until SIGCONT, as without a tracer.
          ptrace(PTRACE_LISTEN, pid, nullptr, nullptr);
        } else {
          ptrace(PTRACE_CONT, pid, nullptr, nullptr);
        }
        break;
      case PTRACE_EVENT_CLONE:
      case PTRACE_EVENT_FORK:
      case PTRACE_EVENT_VFORK:
      case PTRACE_EVENT_VFORK_DONE:
      case PTRACE_EVENT_EXEC:
      case PTRACE_EVENT_EXIT:
        ptrace(PTRACE_CONT, pid, nullptr, nullptr);
        break;
      default:
        // A signal on its way to the program: deliver it.
        ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
        break;
    }
  }
  return main_status;
}

}  // namespace ovlbox
