#include "supervisor/launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

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

int SendFd(int sock, int fd) {
  char byte = 'L';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

// Receives the listener fd, or the child's errno when it could not install
// the filter.
int ReceiveFd(int sock, int* err) {
  int payload = 0;
  iovec iov{&payload, sizeof(payload)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) {
    *err = n == 0 ? ECHILD : errno;
    return -1;
  }
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == nullptr || cmsg->cmsg_type != SCM_RIGHTS) {
    *err = payload;
    return -1;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
  return fd;
}

// The child: waits to be traced, installs the filter, hands the listener
// to the supervisor, then executes the program (through the tracer, so the
// program is found in the view).
[[noreturn]] void RunChild(int sock, const std::vector<sock_filter>& filter,
                           const std::vector<std::string>& argv, const struct rlimit& nofile) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  setrlimit(RLIMIT_NOFILE, &nofile);
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
  if (SendFd(sock, listener) != 0) _exit(kExitOwnFailure);
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
               const std::vector<std::string>& argv, const struct rlimit& nofile,
               const std::function<bool()>& prepare) {
  int socks[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, socks) != 0) {
    fprintf(stderr, "ovlbox: socketpair: %s\n", strerror(errno));
    return kExitOwnFailure;
  }
  // Orphaned descendants are reparented to ovlbox, so it sees them exit.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "ovlbox: fork: %s\n", strerror(errno));
    return kExitOwnFailure;
  }
  if (pid == 0) {
    close(socks[0]);
    RunChild(socks[1], filter, argv, nofile);
  }
  close(socks[1]);
  g_program = pid;
  // The supervisor cannot be traced or have its memory read by the program.
  prctl(PR_SET_DUMPABLE, 0);
  auto fail = [&](const char* what, int err) {
    fprintf(stderr, "ovlbox: %s: %s\n", what, strerror(err));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, __WALL);
    return kExitOwnFailure;
  };
  if (ptrace(PTRACE_SEIZE, pid, nullptr, TracerOptions()) != 0) {
    int err = errno;
    fprintf(stderr,
            "ovlbox: cannot trace the program (ptrace: %s); ptrace is needed for chdir and "
            "execve in the view, and is not available under another tracer or inside ovlbox\n",
            strerror(err));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, __WALL);
    return kExitOwnFailure;
  }
  char go = 'G';
  if (write(socks[0], &go, 1) != 1) return fail("starting the program", errno);
  if (!prepare()) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, __WALL);
    return kExitOwnFailure;
  }
  int err = 0;
  int listener = ReceiveFd(socks[0], &err);
  if (listener < 0) {
    if (err == EBUSY) {
      fprintf(stderr,
              "ovlbox: cannot install the seccomp listener: another seccomp user-notification "
              "filter is already in place (ovlbox inside ovlbox is not supported)\n");
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, __WALL);
      return kExitOwnFailure;
    }
    return fail("installing the seccomp filter", err);
  }
  Notifier notifier(listener, &view, writer);
  unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  if (auto status = notifier.Start(static_cast<int>(std::min(cores, 8u))); !status.ok()) {
    return fail("starting the supervisor", EAGAIN);
  }
  InstallForwarding();
  if (write(socks[0], &go, 1) != 1) return fail("starting the program", errno);
  close(socks[0]);

  // A chdir moves the cwd the preload library may be keeping the identity
  // of (preload/config.h, cwd_epoch).
  // An execve ends what was known of the thread's dynamic loader.
  Tracer tracer(
      &view,
      [] {
        if (const PreloadService* preload = PreloadService::Get()) preload->NoteCwdChange();
      },
      [](pid_t tid) { LoaderFds::End(tid); });
  int status = tracer.Run(pid);
  RemoveRuntimeDir();
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace ovlbox
