#include "supervisor/call.h"

#include <signal.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <pthread.h>

#include "overlay/proc_status.h"
#include "supervisor/preload.h"
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
  return ResolvePath(dirfd, path, options, empty_path);
}

SysResult<Target> Call::ResolvePath(int dirfd, const std::string& path, ResolveOptions options,
                                    bool empty_path) {
  uint64_t generation = view_.generation();
  ViewDirPtr missing_in;
  options.missing_in = &missing_in;
  SysResult<Target> t = tracee_.Resolve(view_, dirfd, path, options, empty_path);
  // What this lookup learnt about directories that come from one lower
  // alone, for the preload library's own lookups (docs/design.md): the
  // directory it ended in, its parent, and the directories above them up to
  // the first one listed already (the library's walks pass through them).
  // A lookup that failed on the way, at a name missing in a directory,
  // teaches that directory, where the library's walk stops too.
  const PreloadService* preload = PreloadService::Get();
  if (preload == nullptr) return t;
  auto note_up = [&](ViewDirPtr dir) {
    while (dir && preload->NoteDir(view_, *dir, generation) && !dir->rel.empty()) {
      auto up = view_.DirAt(ParentRel(dir->rel));
      dir = up.ok() ? *up : nullptr;
    }
  };
  if (t.ok() && t->in_view) {
    if (t->dir) preload->NoteDir(view_, *t->dir, generation);
    note_up(t->parent);
  } else if (!t.ok() && t.error() == ENOENT && missing_in) {
    note_up(std::move(missing_in));
  }
  return t;
}

void Call::NoteDir(const ViewDir& dir, uint64_t generation) const {
  if (const PreloadService* preload = PreloadService::Get()) preload->NoteDir(view_, dir, generation);
}

void SendResponse(int listener, uint64_t id, Response r) {
  if (r.kind == Response::Kind::kDeferred) return;
  if (r.kind == Response::Kind::kFd) {
    if (r.extra_fd && r.extra_target >= 0) {
      seccomp_notif_addfd extra{};
      extra.id = id;
      extra.flags = SECCOMP_ADDFD_FLAG_SETFD;
      extra.srcfd = static_cast<uint32_t>(r.extra_fd.get());
      extra.newfd = static_cast<uint32_t>(r.extra_target);
      extra.newfd_flags = O_CLOEXEC;
      ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &extra);  // best effort
      r.extra_fd.reset();
    }
    seccomp_notif_addfd addfd{};
    addfd.id = id;
    addfd.flags = r.drop_before_return ? 0 : SECCOMP_ADDFD_FLAG_SEND;
    addfd.srcfd = static_cast<uint32_t>(r.fd.get());
    addfd.newfd_flags = r.cloexec ? O_CLOEXEC : 0;
    int installed = -1;
    if (r.target_fd >= 0) {
      seccomp_notif_addfd at = addfd;
      at.flags |= SECCOMP_ADDFD_FLAG_SETFD;
      at.newfd = static_cast<uint32_t>(r.target_fd);
      installed = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &at);
      // Above the caller's limit of open files (EBADF, EMFILE): the lowest.
      if (installed < 0 && errno != ENOENT && errno != EINPROGRESS) {
        installed = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
      }
    } else {
      installed = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
    }
    if (installed >= 0 && !r.drop_before_return) return;
    if (installed < 0 && errno == ENOENT) return;  // the thread is gone
    if (installed >= 0) {
      r.fd.reset();
      r = Response::Value(installed);
    } else {
      // The descriptor could not be installed (EMFILE...): answer the error.
      r = Response::Error(errno == EBUSY ? EMFILE : errno);
    }
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

namespace {

std::atomic<bool> g_runtime_dir_made{false};

constexpr int kErestartsys = 512;  // the kernel's ERESTARTSYS

// Signal used to interrupt a supervisor thread blocked on the caller's
// behalf; its handler does nothing (and has no SA_RESTART).
int WakeSignal() { return SIGRTMIN + 3; }

void InstallWakeHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sigaction(WakeSignal(), &sa, nullptr);
  });
}

// Whether thread `tid` has a signal pending that it does not block.
bool SignalPending(pid_t tid) {
  auto status = ReadProcStatus(tid);
  if (!status.ok()) return true;  // gone
  auto mask = [&](const char* name) {
    return strtoull(StatusField(*status, name).c_str(), nullptr, 16);
  };
  return ((mask("SigPnd") | mask("ShdPnd")) & ~mask("SigBlk")) != 0;
}

}  // namespace

Response Call::AnswerInterruptibly(std::function<Response()> open_fn) {
  InstallWakeHandler();
  int listener = listener_;
  uint64_t id = id_;
  pid_t tid = tracee_.tid();
  std::thread([listener, id, tid, open_fn = std::move(open_fn)] {
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, WakeSignal());
    pthread_sigmask(SIG_SETMASK, &all, nullptr);
    std::atomic<bool> done{false};
    std::atomic<bool> interrupted{false};
    pthread_t self = pthread_self();
    std::thread watch([&] {
      while (!done.load()) {
        usleep(20000);
        if (done.load()) break;
        bool valid = ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
        if (!valid || SignalPending(tid)) {
          interrupted = true;
          while (!done.load()) {
            pthread_kill(self, WakeSignal());
            usleep(5000);
          }
        }
      }
    });
    Response r = open_fn();
    done = true;
    watch.join();
    if (interrupted && r.kind == Response::Kind::kError && r.error == EINTR) {
      r = Response::Error(kErestartsys);
    }
    SendResponse(listener, id, std::move(r));
  }).detach();
  return Response::Deferred();
}

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
