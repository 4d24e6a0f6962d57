// One intercepted system call: its arguments, the thread that made it, and
// the answer the supervisor gives.
#ifndef OVLBOX_SUPERVISOR_CALL_H_
#define OVLBOX_SUPERVISOR_CALL_H_

#include <linux/seccomp.h>

#include <cstdint>
#include <functional>
#include <string>

#include "overlay/sys_result.h"
#include "overlay/unique_fd.h"
#include "overlay/view.h"
#include "overlay/writer.h"
#include "tracer/tracee.h"

namespace ovlbox {

// The answer to one notification.
struct Response {
  // kDeferred: the handler arranged for the answer to be sent later (a
  // call that blocks, such as opening a fifo, runs on a thread of its own).
  enum class Kind { kValue, kError, kFd, kContinue, kDeferred };
  Kind kind = Kind::kError;
  int64_t value = 0;
  int error = ENOSYS;
  UniqueFd fd;
  bool cloexec = false;
  // kFd: install the descriptor, drop the supervisor's copy, then let the
  // call return (a fifo end must not be held open by the supervisor once
  // the program runs on).
  bool drop_before_return = false;
  // kFd: the descriptor number to install it as in the caller (>= 0, free
  // there), rather than the lowest free one; where that fails, the lowest.
  int target_fd = -1;
  // kFd: a descriptor to install first as `extra_target` (close-on-exec),
  // where that number is free; nothing is answered for it.
  UniqueFd extra_fd;
  int extra_target = -1;

  static Response Value(int64_t v) {
    Response r;
    r.kind = Kind::kValue;
    r.value = v;
    return r;
  }
  static Response Error(int err) {
    Response r;
    r.kind = Kind::kError;
    r.error = err;
    return r;
  }
  static Response Fd(UniqueFd fd, bool cloexec) {
    Response r;
    r.kind = Kind::kFd;
    r.fd = std::move(fd);
    r.cloexec = cloexec;
    return r;
  }
  // Only for calls that are not path calls and whose arguments the kernel
  // reads by value (documented at each use).
  static Response Continue() {
    Response r;
    r.kind = Kind::kContinue;
    return r;
  }
  static Response Deferred() {
    Response r;
    r.kind = Kind::kDeferred;
    return r;
  }
};

// Sends `r` as the answer to notification `id` on `listener`.
void SendResponse(int listener, uint64_t id, Response r);

// Turns a failed SysResult into the error answer.
#define OVL_TRY(lhs, expr) \
  OVL_TRY_IMPL(OVL_CONCAT(ovl_try_, __LINE__), lhs, expr)
#define OVL_TRY_IMPL(tmp, lhs, expr)                    \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return ::ovlbox::Response::Error(tmp.error()); \
  lhs = std::move(*tmp)

class Call {
 public:
  Call(const seccomp_data& data, pid_t tid, const View& view, Writer* writer, int listener,
       uint64_t id)
      : data_(data), tracee_(tid), view_(view), writer_(writer), listener_(listener), id_(id) {}

  int nr() const { return data_.nr; }
  uint64_t instruction_pointer() const { return data_.instruction_pointer; }
  uint64_t arg(int i) const { return data_.args[i]; }
  // Integer arguments arrive zero-extended: compare them as int.
  int arg_int(int i) const { return static_cast<int>(data_.args[i]); }
  Tracee& tracee() { return tracee_; }
  const View& view() const { return view_; }
  // Null when the view is read-only (no --upper).
  Writer* writer() const { return writer_; }
  // Runs `open_fn` (a blocking open) on a thread of its own; when the
  // caller gets a signal or goes away meanwhile, the open is interrupted
  // and the call answered ERESTARTSYS, so the kernel restarts it or fails
  // it with EINTR as it would a blocking open of its own.
  Response AnswerInterruptibly(std::function<Response()> open_fn);

  // For long copy-ups: true once the calling thread is gone.
  CancelCheck Cancelled() {
    return [this] { return !StillValid(); };
  }

  // Reads a path argument; the notification is re-validated after the read,
  // so what was read belongs to the thread that made the call.
  SysResult<std::string> ReadPath(uint64_t addr);
  SysResult<std::string> ReadString(uint64_t addr, size_t max);
  int Read(uint64_t addr, void* buf, size_t len);
  int Write(uint64_t addr, const void* buf, size_t len) { return tracee_.Write(addr, buf, len); }

  // Reads the path at `path_addr` and resolves it relative to `dirfd`.
  // `empty_path`: AT_EMPTY_PATH (a NULL or empty path names dirfd itself).
  SysResult<Target> ResolveArg(int dirfd, uint64_t path_addr, ResolveOptions options,
                               bool empty_path = false);
  // The same for a path already read (ReadPath).
  SysResult<Target> ResolvePath(int dirfd, const std::string& path, ResolveOptions options,
                                bool empty_path = false);
  // Records `dir` for the preload library, as seen at `generation` (read
  // before it was looked up); ResolveArg does this for its own lookups.
  void NoteDir(const ViewDir& dir, uint64_t generation) const;

  // Sets this worker thread's umask to the program's, before creating a
  // file on its behalf.
  int AdoptUmask();

  // The supervisor's private directory (for fifo stand-ins), or "" when it
  // could not be made.
  static const std::string& RuntimeDir();
  static bool RuntimeDirMade();

 private:
  bool StillValid();
  const seccomp_data& data_;
  Tracee tracee_;
  const View& view_;
  Writer* writer_;
  int listener_;
  uint64_t id_;
};

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_CALL_H_
