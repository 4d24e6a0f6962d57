// Notifier: a small pool of threads serving the seccomp listener.
//
// Each worker receives a notification, runs the handler for its syscall and
// answers it: a value or an errno (SECCOMP_IOCTL_NOTIF_SEND), or an fd
// injected as the call's result (SECCOMP_IOCTL_NOTIF_ADDFD with
// SECCOMP_ADDFD_FLAG_SEND). Buffers are sized with SECCOMP_GET_NOTIF_SIZES.
// A notification whose thread died meanwhile is dropped (ENOENT).
#ifndef OVLBOX_SUPERVISOR_NOTIFIER_H_
#define OVLBOX_SUPERVISOR_NOTIFIER_H_

#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "overlay/view.h"
#include "overlay/writer.h"

namespace ovlbox {

class Notifier {
 public:
  Notifier(int listener, const View* view, Writer* writer)
      : listener_(listener), view_(view), writer_(writer) {}

  // Asks for synchronous wake-ups (Linux 6.6+) where the kernel offers them
  // and starts `workers` threads. The threads run until the process exits.
  absl::Status Start(int workers);

 private:
  void Serve();
  int listener_;
  const View* view_;
  Writer* writer_;
  std::vector<std::thread> threads_;
};

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_NOTIFIER_H_
