// The floor under every intercepted call on this machine: the round trip
// of a seccomp user notification answered at once, with nothing looked up,
// against the same system call made natively.
//
// A child installs a filter that sends getppid() to a listener (and allows
// everything else) and passes the listener to the parent over a socket;
// the parent answers each notification with 0 from `waiters` threads that
// all wait in SECCOMP_IOCTL_NOTIF_RECV, as ovlbox's workers do, with or
// without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP. The child times its calls.
// No ovlbox code is involved but the handing over of the listener and the
// request for synchronous wake-ups:
// whatever a notified call under ovlbox costs above this line is ovlbox's
// own work.
//
// Usage: notify_floor [CALLS]   (as any user; prints a markdown table)

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "policy/fd_passing.h"
#include "policy/filter.h"

namespace {

double NowUs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

struct Stats {
  double median = 0, p10 = 0, p90 = 0;
};

// `calls` getppid() calls, each timed: median, 10th and 90th percentiles.
Stats TimeCalls(int calls) {
  std::vector<double> us(calls);
  for (int i = 0; i < calls; ++i) {
    double a = NowUs();
    syscall(SYS_getppid);
    us[i] = NowUs() - a;
  }
  std::sort(us.begin(), us.end());
  return Stats{us[calls / 2], us[calls / 10], us[calls * 9 / 10]};
}

// Answers until the child is gone: then RECV fails at once with ENOENT
// and the listener polls as hung up (a thread that went on receiving would
// spin on a CPU through the runs that follow).
void Answer(int listener) {
  seccomp_notif req;
  seccomp_notif_resp resp;
  for (;;) {
    memset(&req, 0, sizeof(req));
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
      if (errno == EINTR) continue;
      if (errno == ENOENT) {
        pollfd p = {listener, POLLIN, 0};
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP)) return;
        continue;  // a call whose caller died before it was received
      }
      return;
    }
    memset(&resp, 0, sizeof(resp));
    resp.id = req.id;
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }
}

// One run: the child's stats, through a pipe. false when seccomp refused.
bool Run(int calls, int waiters, bool sync, Stats* out) {
  int sv[2], result[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || pipe(result) != 0) {
    return false;
  }
  pid_t child = fork();
  if (child == 0) {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int listener = static_cast<int>(
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
    if (listener < 0 || !ovlbox::SendFd(sv[0], listener)) _exit(1);
    close(listener);
    char go;
    if (read(sv[0], &go, 1) != 1) _exit(1);
    Stats s = TimeCalls(calls);
    _exit(write(result[1], &s, sizeof(s)) == sizeof(s) ? 0 : 1);
  }
  close(sv[0]);
  close(result[1]);
  int err;
  int listener = ovlbox::ReceiveFd(sv[1], &err);
  std::vector<std::thread> answerers;
  bool ok = listener >= 0;
  if (ok) {
    if (sync) ok = ovlbox::RequestSyncWakeUp(listener);
    for (int i = 0; ok && i < waiters; ++i) answerers.emplace_back(Answer, listener);
    ok = ok && write(sv[1], "g", 1) == 1;
    ok = ok && read(result[0], out, sizeof(*out)) == sizeof(*out);
  }
  close(sv[1]);
  close(result[0]);
  int status;
  waitpid(child, &status, 0);
  // The child is gone: the answering threads see the listener hung up.
  for (std::thread& t : answerers) t.join();
  if (listener >= 0) close(listener);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = argc > 1 ? atoi(argv[1]) : 20000;
  if (calls < 10) calls = 10;
  Stats native = TimeCalls(calls);
  printf("| getppid() | median | p10 | p90 |\n|---|---:|---:|---:|\n");
  printf("| native | %.2f µs | %.2f µs | %.2f µs |\n", native.median, native.p10, native.p90);
  for (bool sync : {true, false}) {
    for (int waiters : {1, 2}) {
      Stats s;
      if (!Run(calls, waiters, sync, &s)) {
        printf("| notified, %d waiter%s, %s | (not available here) | | |\n", waiters,
               waiters == 1 ? "" : "s", sync ? "sync wake-up" : "plain wake-up");
        continue;
      }
      printf("| notified, %d waiter%s, %s | %.1f µs | %.1f µs | %.1f µs |\n", waiters,
             waiters == 1 ? "" : "s", sync ? "sync wake-up" : "plain wake-up", s.median, s.p10,
             s.p90);
    }
  }
  return 0;
}
