#include "supervisor/launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "policy/fd_passing.h"
#include "policy/filter.h"
#include "supervisor/call.h"
#include "supervisor/cli.h"
#include "supervisor/loader_fds.h"
#include "supervisor/notifier.h"
#include "supervisor/preload.h"
#include "tracer/tracer.h"

namespace ovlbox {
namespace {

std::atomic<pid_t> g_program{0};

// SIGINT, SIGTERM, SIGHUP, SIGQUIT sent to ovlbox go to the program. Those a
// terminal sends reach the program by themselves (it is in the same process
// group), so they are not sent twice.
void ForwardSignal(int sig, siginfo_t* info, void*) {
  pid_t pid = g_program.load();
  if (pid > 0 && info->si_code != SI_KERNEL) kill(pid, sig);
}

void InstallForwarding() {
  struct sigaction sa {};
  sa.sa_sigaction = ForwardSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(sig, &sa, nullptr);
}

// The child: tells the supervisor its pid and waits while the supervisor
// checks that it can trace it, installs the filter, hands the listener to
// the supervisor, then executes the program (the PATH search goes through
// the supervisor, so the program is found in the view).
[[noreturn]] void RunChild(int sock, const std::vector<sock_filter>& filter,
                           const std::vector<std::string>& argv, const struct rlimit& nofile,
                           const sigset_t& mask) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  setrlimit(RLIMIT_NOFILE, &nofile);
  pid_t self = getpid();
  if (send(sock, &self, sizeof(self), 0) != sizeof(self)) _exit(kExitOwnFailure);
  char byte;
  if (read(sock, &byte, 1) != 1) _exit(kExitOwnFailure);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    int err = errno;
    send(sock, &err, sizeof(err), 0);
    _exit(kExitOwnFailure);
  }
  int listener = InstallFilter(filter);
  if (listener < 0) {
    int err = errno;
    send(sock, &err, sizeof(err), 0);
    _exit(kExitOwnFailure);
  }
  if (!SendFd(sock, listener)) _exit(kExitOwnFailure);
  close(listener);
  if (read(sock, &byte, 1) != 1) _exit(kExitOwnFailure);
  close(sock);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execvp(args[0], args.data());
  int err = errno;
  dprintf(STDERR_FILENO, "ovlbox: %s: %s\n", argv[0].c_str(), strerror(err));
  _exit(err == ENOENT || err == ENOTDIR ? kExitNotFound : kExitNotExecutable);
}

// Every descendant of the calling process, parents before their children
// (read from /proc/*/stat).
std::vector<pid_t> Descendants() {
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // (ppid, pid)
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      char* end;
      long pid = strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 0) continue;
      char path[64], buf[512];
      snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ssize_t n = read(fd, buf, sizeof(buf) - 1);
      close(fd);
      if (n <= 0) continue;
      buf[n] = '\0';
      // pid (comm) state ppid: comm may hold anything but ends at the last ')'.
      const char* close_paren = strrchr(buf, ')');
      if (close_paren == nullptr) continue;
      char state;
      long ppid;
      if (sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2) continue;
      parent_of.emplace_back(static_cast<pid_t>(ppid), static_cast<pid_t>(pid));
    }
    closedir(d);
  }
  std::vector<pid_t> out{getpid()};
  for (size_t i = 0; i < out.size(); ++i) {
    for (const auto& [ppid, pid] : parent_of) {
      if (ppid == out[i]) out.push_back(pid);
    }
  }
  out.erase(out.begin());
  return out;
}

// The keeper: the program's parent, and the subreaper of everything it
// starts. It outlives the program until its last descendant has exited and
// then exits with the program's status (128+N for signal N). When the
// supervisor dies (SIGKILL included), the keeper kills every descendant:
// nothing the program started goes on without the supervisor. The program
// is not traced (tracer/tracer.h), so this takes a process of its own.
[[noreturn]] void RunKeeper(pid_t supervisor, int sock, const std::vector<sock_filter>& filter,
                            const std::vector<std::string>& argv, const struct rlimit& nofile) {
  // The keeper waits for its children and for its parent's death; the
  // signals ovlbox passes to the program (SIGINT...) reach the program from
  // the supervisor or the terminal, and must not end the keeper.
  sigset_t original, blocked, waited;
  sigemptyset(&blocked);
  for (int sig : {SIGCHLD, SIGUSR2, SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&blocked, sig);
  sigprocmask(SIG_BLOCK, &blocked, &original);
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  sigaddset(&waited, SIGUSR2);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_PDEATHSIG, SIGUSR2);
  if (getppid() != supervisor) _exit(kExitOwnFailure);
  pid_t program = fork();
  if (program < 0) _exit(kExitOwnFailure);
  if (program == 0) RunChild(sock, filter, argv, nofile, original);
  close(sock);
  // The keeper holds nothing of the supervisor's: the program must not
  // reach the layers through /proc/KEEPER/fd (the supervisor's own
  // descriptors are close-on-exec; those ovlbox was started with are the
  // program's too). Not dumpable either, like the supervisor (after the
  // fork: the program's first process must stay traceable until its exec).
  prctl(PR_SET_DUMPABLE, 0);
  std::vector<int> own;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      int fd = atoi(e->d_name);
      if (e->d_name[0] == '.' || fd < 3 || fd == dirfd(d)) continue;
      int flags = fcntl(fd, F_GETFD);
      if (flags >= 0 && (flags & FD_CLOEXEC)) own.push_back(fd);
    }
    closedir(d);
  }
  for (int fd : own) close(fd);
  int program_status = 0;
  bool supervisor_gone = false;
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, __WALL | WNOHANG);
    if (pid > 0) {
      if (pid == program) program_status = status;
      continue;
    }
    if (pid < 0 && errno == ECHILD) break;
    if (supervisor_gone) {
      for (pid_t p : Descendants()) kill(p, SIGKILL);
    }
    siginfo_t info;
    int sig = sigwaitinfo(&waited, &info);
    if (sig == SIGUSR2 && getppid() != supervisor) supervisor_gone = true;
  }
  if (WIFSIGNALED(program_status)) _exit(128 + WTERMSIG(program_status));
  _exit(WEXITSTATUS(program_status));
}

// Removes the supervisor's runtime dir (fifo stand-ins), if it was made.
void RemoveRuntimeDir() {
  if (!Call::RuntimeDirMade()) return;
  const std::string& dir = Call::RuntimeDir();
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

}  // namespace

int RunProgram(const View& view, Writer* writer, const std::vector<sock_filter>& filter,
               const std::vector<std::string>& argv,
               const struct rlimit& nofile, const std::function<bool()>& prepare) {
  int socks[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) != 0) {
    fprintf(stderr, "ovlbox: socketpair: %s\n", strerror(errno));
    return kExitOwnFailure;
  }
  pid_t supervisor = getpid();
  pid_t keeper = fork();
  if (keeper < 0) {
    fprintf(stderr, "ovlbox: fork: %s\n", strerror(errno));
    return kExitOwnFailure;
  }
  if (keeper == 0) {
    close(socks[0]);
    RunKeeper(supervisor, socks[1], filter, argv, nofile);
  }
  close(socks[1]);
  // The supervisor cannot be traced or have its memory read by the program.
  prctl(PR_SET_DUMPABLE, 0);
  auto wait_keeper = [&]() {
    int status = 0;
    while (waitpid(keeper, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  };
  pid_t pid = 0;
  if (recv(socks[0], &pid, sizeof(pid), 0) != sizeof(pid) || pid <= 0) {
    fprintf(stderr, "ovlbox: starting the program: %s\n", strerror(errno ? errno : ECHILD));
    kill(keeper, SIGKILL);
    wait_keeper();
    return kExitOwnFailure;
  }
  g_program = pid;
  auto stop = [&]() {
    kill(pid, SIGKILL);
    wait_keeper();
    return kExitOwnFailure;
  };
  auto fail = [&](const char* what, int err) {
    fprintf(stderr, "ovlbox: %s: %s\n", what, strerror(err));
    return stop();
  };
  if (int err = Tracer::Probe(pid); err != 0) {
    fprintf(stderr,
            "ovlbox: cannot trace the program (ptrace: %s); ptrace is needed for chdir and "
            "execve in the view, and is not available under another tracer or inside ovlbox\n",
            strerror(err));
    return stop();
  }
  char go = 'G';
  if (write(socks[0], &go, 1) != 1) return fail("starting the program", errno);
  if (!prepare()) return stop();
  int err = 0;
  int listener = ReceiveFd(socks[0], &err);
  if (listener < 0) {
    if (err == EBUSY) {
      fprintf(stderr,
              "ovlbox: cannot install the seccomp listener: another seccomp user-notification "
              "filter is already in place (ovlbox inside ovlbox is not supported)\n");
      return stop();
    }
    return fail("installing the seccomp filter", err);
  }
  // A chdir moves the cwd the preload library may be keeping the identity
  // of (preload/config.h, cwd_epoch). An execve ends what was known of the
  // thread's dynamic loader. Both live as long as the workers.
  static const Tracer* tracer = new Tracer(
      &view,
      [] {
        if (const PreloadService* preload = PreloadService::Get()) preload->NoteCwdChange();
      },
      [](pid_t tid) { LoaderFds::End(tid); }, [] { return Call::RuntimeDir(); });
  static Notifier* notifier = new Notifier(listener, &view, writer, tracer);
  unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  if (auto status = notifier->Start(static_cast<int>(std::min(cores, 8u))); !status.ok()) {
    return fail("starting the supervisor", EAGAIN);
  }
  InstallForwarding();
  if (write(socks[0], &go, 1) != 1) return fail("starting the program", errno);
  close(socks[0]);
  int status = wait_keeper();
  RemoveRuntimeDir();
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace ovlbox
