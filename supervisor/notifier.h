// Notifier: a small pool of threads serving the seccomp listener.
//
// Each worker receives a notification, runs the handler for its syscall and
// answers it: a value or an errno (SECCOMP_IOCTL_NOTIF_SEND), or an fd
// injected as the call's result (SECCOMP_IOCTL_NOTIF_ADDFD with
// SECCOMP_ADDFD_FLAG_SEND). Buffers are sized with SECCOMP_GET_NOTIF_SIZES.
// A notification whose thread died meanwhile is dropped (ENOENT).
#ifndef OVLBOX_SUPERVISOR_NOTIFIER_H_
#define OVLBOX_SUPERVISOR_NOTIFIER_H_

#include <semaphore>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "overlay/view.h"
#include "overlay/writer.h"
#include "tracer/tracer.h"

namespace ovlbox {

class Notifier {
 public:
  // `tracer` serves the calls that GoesToTracer (policy/syscall_table.h).
  Notifier(int listener, const View* view, Writer* writer, const Tracer* tracer)
      : listener_(listener), view_(view), writer_(writer), tracer_(tracer) {}

  // Asks for synchronous wake-ups (Linux 6.6+) where the kernel offers them
  // and starts `workers` threads. The threads run until the process exits.
  absl::Status Start(int workers);

 private:
  void Serve();
  int listener_;
  const View* view_;
  Writer* writer_;
  const Tracer* tracer_;
  std::vector<std::thread> threads_;
  // Every thread waiting in SECCOMP_IOCTL_NOTIF_RECV is woken by each
  // notification, onto the caller's CPU (the waiters are not exclusive),
  // and all but one go back to sleep: 1-2.5 us per extra waiter, on the
  // caller's critical path (bench/notify_floor). So at most kReceivers
  // threads wait there; the others wait here until one of them has
  // received its notification. With no more workers than that the gate is
  // left out: libstdc++'s release() makes a futex system call each time,
  // waiters or not.
  static constexpr int kReceivers = 2;
  std::counting_semaphore<kReceivers> receivers_{kReceivers};
  bool gated_ = false;
};

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_NOTIFIER_H_
