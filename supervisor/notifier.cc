#include "supervisor/notifier.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "supervisor/call.h"
#include "supervisor/credentials.h"
#include "supervisor/handlers.h"
#include "supervisor/loader_fds.h"
#include "policy/filter.h"
#include "policy/syscall_table.h"

namespace ovlbox {

absl::Status Notifier::Start(int workers) {
  // Best effort: older kernels (before 6.6) have no such mode.
  RequestSyncWakeUp(listener_);
  gated_ = workers > kReceivers;
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Serve(); });
  for (std::thread& t : threads_) t.detach();
  return absl::OkStatus();
}

void Notifier::Serve() {
  // Signals for the program are handled by the main thread.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  // A private fs context, so that this thread can take on the program's
  // umask while it creates files on its behalf.
  unshare(CLONE_FS);

  seccomp_notif_sizes sizes{};
  if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return;
  std::vector<char> req_buf(std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
  auto* req = reinterpret_cast<seccomp_notif*>(req_buf.data());

  for (;;) {
    memset(req_buf.data(), 0, req_buf.size());
    if (gated_) receivers_.acquire();
    int received = ioctl(listener_, SECCOMP_IOCTL_NOTIF_RECV, req);
    if (gated_) receivers_.release();
    if (received != 0) {
      if (errno == EINTR) continue;
      if (errno == ENOENT) {
        // A caller killed before its call was read, or no program left
        // at all: then the kernel answers every RECV at once with ENOENT,
        // and the listener polls as hung up. Stop serving then, rather
        // than spin until ovlbox exits.
        struct pollfd p = {listener_, POLLIN, 0};
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP)) return;
        continue;
      }
      return;  // the listener is gone
    }
    if (GoesToTracer(req->data.nr, reinterpret_cast<const uint64_t*>(req->data.args))) {
      // Not under the caller's credentials: attaching takes the
      // supervisor's own, and the kernel checks the caller's rights itself
      // when the changed call runs.
      uint64_t id = req->id;
      tracer_->Serve(static_cast<pid_t>(req->pid), req->data, [&](int err, bool cont) {
        SendResponse(listener_, id, cont ? Response::Continue() : Response::Error(err));
      });
      continue;
    }
    Call call(req->data, static_cast<pid_t>(req->pid), *view_, writer_, listener_, req->id);
    Response r;
    {
      CredentialScope as_caller(static_cast<pid_t>(req->pid));
      r = HandlerFor(req->data.nr)(call);
    }
    if (r.kind == Response::Kind::kFd && (req->data.nr == SYS_openat || req->data.nr == SYS_open)) {
      LoaderFds::Place(static_cast<pid_t>(req->pid), req->data.instruction_pointer, &r);
    }

    SendResponse(listener_, req->id, std::move(r));
  }
}

}  // namespace ovlbox
