#include "tracer/tracer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <iterator>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
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
// The kernel's "restart this call, whatever the signal", and what a wait
// for the answer that a signal interrupted returns (neither is in the uapi
// headers).
constexpr int64_t kErestartNoIntr = 513;
constexpr int64_t kErestartSys = 512;
// How long a changed call may take to come back (it comes back at once
// unless a signal handler runs first).
constexpr int64_t kRestartWindowNs = 2'000'000'000;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The six argument registers of a call, in order.
std::array<uint64_t, 6> ArgsOf(const user_regs_struct& regs) {
  return {regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9};
}

void SetArgs(user_regs_struct& regs, const std::array<uint64_t, 6>& args) {
  regs.rdi = args[0];
  regs.rsi = args[1];
  regs.rdx = args[2];
  regs.r10 = args[3];
  regs.r8 = args[4];
  regs.r9 = args[5];
}

// Data built below the tracee's stack pointer (past the red zone).
class StackScratch {
 public:
  explicit StackScratch(uint64_t rsp) : top_(rsp - kRedZone) {}
  // Appends bytes; returns their offset (an address once `base()` is known).
  uint64_t Add(const void* data, size_t len) {
    size_t at = buf_.size();
    buf_.insert(buf_.end(), static_cast<const char*>(data), static_cast<const char*>(data) + len);
    return at;
  }
  uint64_t AddString(const std::string& s) { return Add(s.c_str(), s.size() + 1); }
  void Align() {
    while (buf_.size() % 16) buf_.push_back(0);
  }
  size_t size() const { return buf_.size(); }
  uint64_t base() const { return (top_ - buf_.size()) & ~uint64_t{15}; }
  std::vector<char>& bytes() { return buf_; }

 private:
  uint64_t top_;
  std::vector<char> buf_;
};

// Whether a signal the thread does not block is pending for it.
bool SignalPending(pid_t tid) {
  uint64_t blocked = 0;
  if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(blocked), &blocked) != 0) return true;
  for (unsigned flags : {0u, static_cast<unsigned>(PTRACE_PEEKSIGINFO_SHARED)}) {
    siginfo_t info[8];
    __ptrace_peeksiginfo_args args{0, flags, 8};
    long n = ptrace(PTRACE_PEEKSIGINFO, tid, &args, info);
    if (n < 0) return true;
    for (long i = 0; i < n; ++i) {
      int sig = info[i].si_signo;
      if (sig < 1 || sig > 64 || !(blocked & (uint64_t{1} << (sig - 1)))) return true;
    }
    if (n == 8) return true;  // more than we looked at
  }
  return false;
}

// `real` (an absolute path of PATH_MAX bytes or more, which no call
// takes) as a path relative to the real directory `cwd`, when that is
// short enough; empty otherwise.
std::string RelativeTo(const std::string& cwd, const std::string& real) {
  std::vector<absl::string_view> from = absl::StrSplit(cwd, '/', absl::SkipEmpty());
  std::vector<absl::string_view> to = absl::StrSplit(real, '/', absl::SkipEmpty());
  size_t common = 0;
  while (common < from.size() && common < to.size() && from[common] == to[common]) ++common;
  std::vector<absl::string_view> steps(from.size() - common, "..");
  steps.insert(steps.end(), to.begin() + static_cast<long>(common), to.end());
  std::string rel = steps.empty() ? "." : absl::StrJoin(steps, "/");
  return rel.size() < PATH_MAX ? rel : std::string();
}

}  // namespace

// What a call becomes: an error, itself, or a call with other arguments
// (built at the thread's stop, where its stack pointer is known).
struct Tracer::Change {
  int error = 0;
  bool unchanged = false;
  int nr = 0;                // the call to make instead
  std::string path;          // its path
  int open_flags = 0;        // open: the flags
  bool script = false;       // exec: argv is replaced
  std::vector<std::string> argv_prefix;
  uint64_t argv_addr = 0;    // exec: the program's argv and envp
  uint64_t envp_addr = 0;
};

// A real path the changed call can take: `*real` itself, or, when it is
// PATH_MAX bytes or longer (a directory tree deeper than a path can name),
// the same path relative to the thread's cwd, or else through a chain of
// symlinks (SymlinkChain). 0, or ENAMETOOLONG when none works.
int Tracer::Shorten(Tracee& tracee, std::string* real) const {
  if (real->size() < PATH_MAX) return 0;
  auto cwd = tracee.CwdRealPath();
  if (cwd.ok() && !cwd->empty() && (*cwd)[0] == '/') {
    if (std::string rel = RelativeTo(*cwd, *real); !rel.empty()) {
      *real = std::move(rel);
      return 0;
    }
  }
  std::string chained = SymlinkChain(*real);
  if (chained.empty()) return ENAMETOOLONG;
  *real = std::move(chained);
  return 0;
}

// `real` (an absolute path too long for one call) as a short path the
// kernel resolves to the same place: symlinks in the runtime dir, the first
// to the path's first piece, each next one to the one before and the next
// piece; the path is the last symlink and the final name (so that
// O_NOFOLLOW still applies to that name alone). The kernel follows at most
// 40 symlinks in one lookup, so this reaches about 150 KB deep. The chains
// stay for a minute (the changed call resolves its path after the
// supervisor lets it run), and go with the runtime dir. Empty when it
// cannot be made.
std::string Tracer::SymlinkChain(const std::string& real) const {
  constexpr int kMaxLinks = 40;
  constexpr int64_t kKeepNs = 60'000'000'000;
  if (!runtime_dir_) return std::string();
  std::string dir = runtime_dir_();
  if (dir.empty()) return std::string();
  size_t slash = real.rfind('/');
  if (slash == std::string::npos || slash == 0) return std::string();
  std::string parent = real.substr(0, slash), last = real.substr(slash + 1);
  if (last.empty()) return std::string();
  // Each target: the previous link's path, "/", then a piece of whole names.
  const size_t room = PATH_MAX - 1 - dir.size() - 64;
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = NowNs();
  for (auto it = chains_.begin(); it != chains_.end();) {
    if (now - it->first < kKeepNs) {
      ++it;
      continue;
    }
    for (const std::string& link : it->second) unlink(link.c_str());
    it = chains_.erase(it);
  }
  std::vector<std::string> links;
  auto fail = [&] {
    for (const std::string& link : links) unlink(link.c_str());
    return std::string();
  };
  uint64_t id = ++chains_made_;
  std::string prev;  // the previous link's path
  size_t at = 0;     // the start of the rest of `parent`
  while (at < parent.size()) {
    if (links.size() >= static_cast<size_t>(kMaxLinks)) return fail();
    size_t end = parent.size();
    if (end - at > room) {
      end = parent.rfind('/', at + room);
      if (end == std::string::npos || end <= at) return fail();  // a name longer than a piece
    }
    std::string target = prev.empty() ? parent.substr(at, end - at)
                                      : prev + parent.substr(at, end - at);
    char name[64];
    snprintf(name, sizeof(name), "/long-%llu-%zu", static_cast<unsigned long long>(id),
             links.size());
    std::string link = dir + name;
    if (symlink(target.c_str(), link.c_str()) != 0) return fail();
    links.push_back(link);
    prev = link;
    at = end;
  }
  chains_.emplace_back(now, links);
  return prev + "/" + last;
}

Tracer::Change Tracer::Plan(pid_t tid, const seccomp_data& call) const {
  Tracee tracee(tid);
  Change c;
  auto fail = [&](int err) {
    c.error = err;
    return c;
  };
  const uint64_t* a = reinterpret_cast<const uint64_t*>(call.args);
  switch (call.nr) {
    case kChdir: {
      auto path = tracee.ReadPath(a[0]);
      if (!path.ok()) return fail(path.error());
      auto t = tracee.Resolve(*view_, AT_FDCWD, *path, ResolveOptions{});
      if (!t.ok()) return fail(t.error());
      if (!t->exists) return fail(ENOENT);
      if (!S_ISDIR(t->st.st_mode)) return fail(ENOTDIR);
      // A directory removed from the view while in use has no path of its
      // own: the kernel reaches it through the caller's /proc entries.
      std::string real = !t->removed_path.empty()
                             ? t->removed_path
                             : FdPath(t->in_view ? t->dir->top_fd() : t->fd.get());
      if (real.empty() || real[0] != '/') return fail(ENOENT);
      if (int err = Shorten(tracee, &real)) return fail(err);
      c.unchanged = !t->in_view && !t->via_view && real == *path;
      c.nr = kChdir;
      c.path = std::move(real);
      return c;
    }
    case kOpen:
    case kOpenat: {
      bool at = call.nr == kOpenat;
      int dirfd = at ? static_cast<int>(a[0]) : AT_FDCWD;
      int flags = static_cast<int>(at ? a[2] : a[1]);
      auto path = tracee.ReadPath(at ? a[1] : a[0]);
      if (!path.ok()) return fail(path.error());
      auto t = tracee.Resolve(*view_, dirfd, *path, ResolveOptions{.follow = !(flags & O_NOFOLLOW)});
      if (!t.ok()) return fail(t.error());
      if (!t->exists) return fail(ENOENT);
      if ((flags & O_DIRECTORY) && !S_ISDIR(t->st.st_mode)) return fail(ENOTDIR);
      std::string real = TargetRealPath(*t);
      if (real.empty() || real[0] != '/') return fail(ENOENT);
      if (int err = Shorten(tracee, &real)) return fail(err);
      c.unchanged = !t->in_view && !t->via_view && real == *path;
      // openat(AT_FDCWD, real, flags | O_NOFOLLOW): the real path is final.
      c.nr = kOpenat;
      c.path = std::move(real);
      c.open_flags = flags | O_NOFOLLOW;
      return c;
    }
    case kExecve:
    case kExecveat: {
      bool at = call.nr == kExecveat;
      int dirfd = at ? static_cast<int>(a[0]) : AT_FDCWD;
      auto path = tracee.ReadPath(at ? a[1] : a[0]);
      if (!path.ok()) return fail(path.error());
      auto plan = PlanExec(*view_, tracee, dirfd, *path, at ? static_cast<int>(a[4]) : 0);
      if (!plan.ok()) return fail(plan.error());
      c.unchanged = !plan->rewrite;
      c.nr = kExecve;
      c.path = std::move(plan->real_path);
      if (!c.unchanged) {
        if (int err = Shorten(tracee, &c.path)) return fail(err);
      }
      c.script = plan->script;
      c.argv_prefix = std::move(plan->argv_prefix);
      c.argv_addr = at ? a[2] : a[1];
      c.envp_addr = at ? a[3] : a[2];
      return c;
    }
    default:
      return fail(ENOSYS);
  }
}

// Builds the changed call below the stack pointer and points the
// registers at it. Returns 0 or an errno for the call.
int Tracer::Apply(pid_t tid, const Change& c, user_regs_struct& regs, Pending* pending) const {
  Tracee tracee(tid);
  StackScratch scratch(regs.rsp);
  uint64_t path_off = scratch.AddString(c.path);
  std::array<uint64_t, 6> args{};
  if (c.nr == kExecve && c.script) {
    // The new argv: the script prefix, then the program's argv[1..]; the
    // program's own strings are reused where they are.
    std::vector<uint64_t> old;
    for (uint64_t addr = c.argv_addr; addr != 0; addr += 8) {
      uint64_t p;
      if (int err = tracee.Read(addr, &p, sizeof(p))) return err;
      if (p == 0) break;
      old.push_back(p);
      if (old.size() > (1u << 20)) return E2BIG;
    }
    std::vector<uint64_t> rel;
    for (const std::string& s : c.argv_prefix) rel.push_back(scratch.AddString(s));
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
    args = {base + path_off, base + array_off, c.envp_addr, 0, 0, 0};
  } else if (c.nr == kExecve) {
    args = {scratch.base() + path_off, c.argv_addr, c.envp_addr, 0, 0, 0};
  } else if (c.nr == kOpenat) {
    args = {static_cast<uint64_t>(static_cast<int64_t>(AT_FDCWD)), scratch.base() + path_off,
            static_cast<uint64_t>(c.open_flags), regs.r10, 0, 0};
  } else {
    args = {scratch.base() + path_off, 0, 0, 0, 0, 0};
  }
  // Registers the call does not take keep the program's values.
  std::array<uint64_t, 6> own = ArgsOf(regs);
  int taken = c.nr == kOpenat ? 4 : c.nr == kExecve ? 3 : 1;
  for (int i = taken; i < 6; ++i) args[i] = own[i];
  if (int err = tracee.Write(scratch.base(), scratch.bytes().data(), scratch.size())) {
    return err == EFAULT && c.script ? E2BIG : err;
  }
  pending->nr = c.nr;
  pending->args = args;
  pending->addr = scratch.base();
  pending->bytes = std::move(scratch.bytes());
  regs.orig_rax = static_cast<uint64_t>(c.nr);
  SetArgs(regs, args);
  return 0;
}

void Tracer::Serve(pid_t tid, const seccomp_data& call, const Answer& answer) const {
  const uint64_t* a = reinterpret_cast<const uint64_t*>(call.args);
  const std::array<uint64_t, 6> args = {a[0], a[1], a[2], a[3], a[4], a[5]};
  // The call this thread was just made to make instead?
  Pending pending;
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pending_.find(tid);
    if (it != pending_.end() && it->second.nr == call.nr && it->second.args == args) {
      pending = std::move(it->second);
      pending_.erase(it);
      found = true;
    }
  }
  if (found) {
    std::vector<char> now(pending.bytes.size());
    bool same = NowNs() - pending.made_ns < kRestartWindowNs &&
                Tracee(tid).Read(pending.addr, now.data(), now.size()) == 0 &&
                now == pending.bytes;
    if (same) {
      // The arguments the tracer wrote, unchanged: real files, resolved.
      answer(0, true);
      return;
    }
    // Its arguments were overwritten meanwhile (a signal handler's frame):
    // the program's own call is made again from the start.
    Restart(tid, call, answer, &pending);
    return;
  }
  if (call.nr == kChdir && before_chdir_) before_chdir_();
  if ((call.nr == kExecve || call.nr == kExecveat) && before_exec_) before_exec_(tid);
  Change change = Plan(tid, call);
  if (change.error != 0) return answer(change.error, false);
  // Nothing of the view in it: the kernel makes the call as it is (it reads
  // the same path again, as it did after a tracer's stop).
  if (change.unchanged) return answer(0, true);
  Restart(tid, call, answer, nullptr, &change);
}

// Stops the calling thread as its call returns and has the kernel make the
// call again: as `change` says, or with the arguments `redo` records as
// the program's own, or unchanged.
void Tracer::Restart(pid_t tid, const seccomp_data& call, const Answer& answer,
                     const Pending* redo, const Change* change) const {
  if (ptrace(PTRACE_SEIZE, tid, nullptr, PTRACE_O_EXITKILL) != 0) {
    int err = errno;
    if (err != ESRCH) {
      static std::atomic<bool> said{false};
      if (!said.exchange(true)) {
        fprintf(stderr,
                "ovlbox: cannot trace process %d (ptrace: %s); its chdir, execve and O_PATH "
                "opens in the view fail with EPERM\n",
                static_cast<int>(tid), strerror(err));
      }
    }
    return answer(EPERM, false);
  }
  // The thread stops as soon as the call returns: it runs none of the
  // program's code in between.
  ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
  answer(EINTR, false);
  const uint64_t answered = static_cast<uint64_t>(-static_cast<int64_t>(EINTR));
  const uint64_t interrupted = static_cast<uint64_t>(-kErestartSys);
  const uint64_t restart = static_cast<uint64_t>(-kErestartNoIntr);
  for (;;) {
    int status;
    if (waitpid(tid, &status, __WALL) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (!WIFSTOPPED(status)) return;  // the thread is gone
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) return;
    // Where the listener lacks killable waits (before Linux 5.19), the
    // interrupt ends the wait for the answer instead.
    bool ours = regs.orig_rax == static_cast<uint64_t>(call.nr) &&
                (regs.rax == answered || regs.rax == interrupted);
    long deliver = 0;
    if (ours && event == PTRACE_EVENT_STOP && sig == SIGTRAP) {
      // The interrupt: the call has returned, the program has not run on.
      if (redo != nullptr) {
        regs.orig_rax = static_cast<uint64_t>(redo->original_nr);
        SetArgs(regs, redo->original);
      } else if (change != nullptr && !Defer(tid)) {
        // The kernel's own restart (as after a signal with no handler)
        // makes the changed call, which comes back to Serve at once.
        Pending next;
        next.original_nr = call.nr;
        next.original = ArgsOf(regs);
        if (int err = Apply(tid, *change, regs, &next); err != 0) {
          regs.rax = static_cast<uint64_t>(-static_cast<int64_t>(err));
          ptrace(PTRACE_SETREGS, tid, nullptr, &regs);
          ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
          return;
        }
        next.made_ns = NowNs();
        std::lock_guard<std::mutex> lock(mu_);
        if (pending_.size() >= 256) {
          // Threads that died before their call came back.
          for (auto it = pending_.begin(); it != pending_.end();) {
            it = next.made_ns - it->second.made_ns >= kRestartWindowNs ? pending_.erase(it)
                                                                         : std::next(it);
          }
        }
        pending_[tid] = std::move(next);
      }
      // A signal waiting (Defer): it is handled first, and the program's
      // own call comes back afterwards.
    } else if (event == 0) {
      deliver = sig;  // a signal on its way (before the interrupt)
    }
    // Any other stop (a group stop, a signal) before the call was made
    // again: the program's call is made again once the thread goes on.
    if (ours) regs.rax = restart;
    ptrace(PTRACE_SETREGS, tid, nullptr, &regs);
    ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(deliver));
    return;
  }
}

// Whether to let a signal waiting for the thread be handled before its
// call is changed: a handler's frame would go where the changed arguments
// are written. A thread that gets signals all the time has its call
// changed after a few rounds anyway (an overwritten call is made again).
bool Tracer::Defer(pid_t tid) const {
  constexpr int kMaxRounds = 8;
  bool pending = SignalPending(tid);
  std::lock_guard<std::mutex> lock(mu_);
  if (!pending) {
    deferred_.erase(tid);
    return false;
  }
  int64_t now = NowNs();
  if (deferred_.size() >= 256) {
    for (auto it = deferred_.begin(); it != deferred_.end();) {
      it = now - it->second.second >= kRestartWindowNs ? deferred_.erase(it) : std::next(it);
    }
  }
  auto& [rounds, last] = deferred_[tid];
  if (now - last >= kRestartWindowNs) rounds = 0;
  last = now;
  if (++rounds > kMaxRounds) {
    deferred_.erase(tid);
    return false;
  }
  return true;
}

int Tracer::Probe(pid_t pid) {
  if (ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) return errno;
  ptrace(PTRACE_INTERRUPT, pid, nullptr, nullptr);
  int status;
  while (waitpid(pid, &status, __WALL) < 0) {
    if (errno != EINTR) return errno;
  }
  if (WIFSTOPPED(status)) ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  return 0;
}

}  // namespace ovlbox
