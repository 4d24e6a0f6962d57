#include "supervisor/call.h"

#include <signal.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace ovlbox {

bool Call::StillValid() {
  return ioctl(listener_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id_) == 0;
}

SysResult<std::string> Call::ReadPath(uint64_t addr) {
  auto path = tracee_.ReadPath(addr);
  if (!StillValid()) return Errno{ESRCH};
  return path;
}

SysResult<std::string> Call::ReadString(uint64_t addr, size_t max) {
  auto s = tracee_.ReadString(addr, max);
  if (!StillValid()) return Errno{ESRCH};
  return s;
}

int Call::Read(uint64_t addr, void* buf, size_t len) {
  int err = tracee_.Read(addr, buf, len);
  if (!StillValid()) return ESRCH;
  return err;
}

SysResult<Target> Call::ResolveArg(int dirfd, uint64_t path_addr, ResolveOptions options,
                                   bool empty_path) {
  std::string path;
  if (!(empty_path && path_addr == 0)) {
    OVL_ASSIGN_OR_RETURN(path, ReadPath(path_addr));
  }
  return tracee_.Resolve(view_, dirfd, path, options, empty_path);
}

void SendResponse(int listener, uint64_t id, Response r) {
  if (r.kind == Response::Kind::kDeferred) return;
  if (r.kind == Response::Kind::kFd) {
    seccomp_notif_addfd addfd{};
    addfd.id = id;
    addfd.flags = SECCOMP_ADDFD_FLAG_SEND;
    addfd.srcfd = static_cast<uint32_t>(r.fd.get());
    addfd.newfd_flags = r.cloexec ? O_CLOEXEC : 0;
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) >= 0) return;
    if (errno == ENOENT) return;  // the thread is gone
    // The descriptor could not be installed (EMFILE...): answer the error.
    r = Response::Error(errno == EBUSY ? EMFILE : errno);
  }
  seccomp_notif_resp resp;
  memset(&resp, 0, sizeof(resp));
  resp.id = id;
  switch (r.kind) {
    case Response::Kind::kValue:
      resp.val = r.value;
      break;
    case Response::Kind::kError:
      resp.error = -r.error;
      break;
    case Response::Kind::kContinue:
      resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      break;
    default:
      break;
  }
  ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

Response Call::AnswerLater(std::function<Response()> work) {
  int listener = listener_;
  uint64_t id = id_;
  std::thread([listener, id, work = std::move(work)] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    SendResponse(listener, id, work());
  }).detach();
  return Response::Deferred();
}

namespace {
std::atomic<bool> g_runtime_dir_made{false};
}  // namespace

bool Call::RuntimeDirMade() { return g_runtime_dir_made.load(); }

const std::string& Call::RuntimeDir() {
  static const std::string* dir = [] {
    g_runtime_dir_made = true;
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ovlbox-run.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    return new std::string(mkdtemp(buf.data()) ? buf.data() : "");
  }();
  return *dir;
}

int Call::AdoptUmask() {
  auto mask = tracee_.Umask();
  if (!mask.ok()) return mask.error();
  umask(*mask);
  return 0;
}

}  // namespace ovlbox
