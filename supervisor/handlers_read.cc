// Handlers that answer from the view without changing it: open (read-only
// access, or anything outside the view), stat, access, readlink, getcwd,
// listings, statfs, getxattr/listxattr.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "overlay/dirlist.h"
#include "overlay/xattr_names.h"
#include "supervisor/handlers.h"
#include "supervisor/loader_fds.h"
#include "supervisor/preload.h"

namespace ovlbox {
namespace {

constexpr long kOverlayfsMagic = 0x794c7630;

constexpr long kProcMagic = 0x9fa0;

// A fifo of the view is never opened in its layer: data written through it
// would change the layer file's times. Every opener of the same fifo gets a
// stand-in fifo in the supervisor's runtime dir instead (as overlayfs serves
// fifos from its own inode), so readers and writers still meet. An open that
// may block (no O_NONBLOCK) waits on a thread of its own.
Response OpenFifo(Call& c, const Target& t, int flags, bool cloexec) {
  int acc = flags & O_ACCMODE;
  int want = acc == O_RDONLY ? R_OK : acc == O_WRONLY ? W_OK : R_OK | W_OK;
  if (syscall(SYS_faccessat2, t.fd.get(), "", want, AT_EMPTY_PATH | AT_EACCESS) != 0) {
    return Response::Error(errno);
  }
  const std::string& dir = Call::RuntimeDir();
  if (dir.empty()) return Response::Error(EIO);
  std::string stand_in = dir + "/fifo-" + std::to_string(t.st.st_dev) + "-" +
                         std::to_string(t.st.st_ino);
  if (mkfifo(stand_in.c_str(), 0600) != 0 && errno != EEXIST) return Response::Error(errno);
  c.view().AddAlias(stand_in, t.rel);
  int open_flags = (flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOFOLLOW)) | O_CLOEXEC;
  auto open_it = [stand_in, open_flags, cloexec]() -> Response {
    int fd = open(stand_in.c_str(), open_flags);
    if (fd < 0) return Response::Error(errno);
    Response r = Response::Fd(UniqueFd(fd), cloexec);
    r.drop_before_return = true;
    return r;
  };
  if (flags & O_NONBLOCK) return open_it();
  return c.AnswerInterruptibly(open_it);
}

// /proc/PID/maps and smaps name mapped files by their real paths; the
// program sees view paths (a snapshot taken at open, in a memfd).
bool IsProcMaps(const Target& t) {
  if (t.in_view || !t.exists || !S_ISREG(t.st.st_mode) || !t.host_parent) return false;
  if (t.name != "maps" && t.name != "smaps") return false;
  struct statfs sfs;
  return fstatfs(t.host_parent->get(), &sfs) == 0 && sfs.f_type == kProcMagic;
}

Response OpenProcMaps(Call& c, const Target& t, bool cloexec) {
  OVL_TRY(UniqueFd src, OpenTarget(t, O_RDONLY));
  std::string content;
  char buf[65536];
  for (;;) {
    ssize_t n = read(src.get(), buf, sizeof(buf));
    if (n < 0) return Response::Error(errno);
    if (n == 0) break;
    content.append(buf, n);
  }
  std::string out;
  size_t i = 0;
  while (i < content.size()) {
    size_t end = content.find('\n', i);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(i, end - i);
    size_t slash = line.find(" /");
    if (slash != std::string::npos) {
      line = line.substr(0, slash + 1) + c.view().ViewPathOfReal(line.substr(slash + 1));
    }
    out += line;
    if (end < content.size()) out.push_back('\n');
    i = end + 1;
  }
  int fd = memfd_create(t.name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return Response::Error(errno);
  UniqueFd mem(fd);
  if (write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
    return Response::Error(EIO);
  }
  lseek(fd, 0, SEEK_SET);
  return Response::Fd(std::move(mem), cloexec);
}

// A write into the read-only view (regular files, directories and symlinks
// only: devices and fifos stay writable, as on a read-only mount).
bool RejectsWrite(const View& view, const Target& t) {
  if (!t.in_view || view.writable()) return false;
  if (!t.exists) return true;
  mode_t type = t.st.st_mode & S_IFMT;
  return type == S_IFREG || type == S_IFDIR || type == S_IFLNK;
}

// What openat2 refuses in `how` before any lookup, as the kernel's
// build_open_flags does (open and openat ignore the same things).
int CheckOpenHow(const open_how& how) {
  constexpr uint64_t kValidResolve = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS |
                                     RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT |
                                     RESOLVE_CACHED;
  constexpr uint64_t kValidFlags =
      O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC |
      FASYNC | O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC |
      O_PATH | O_SYNC | O_TMPFILE;
  constexpr uint64_t kPathFlags = O_DIRECTORY | O_NOFOLLOW | O_PATH | O_CLOEXEC;
  if (how.flags & ~kValidFlags) return EINVAL;
  if (how.resolve & ~kValidResolve) return EINVAL;
  if ((how.resolve & RESOLVE_BENEATH) && (how.resolve & RESOLVE_IN_ROOT)) return EINVAL;
  if (how.flags & (O_CREAT | (O_TMPFILE & ~O_DIRECTORY))) {
    if (how.mode & ~uint64_t{07777}) return EINVAL;
  } else if (how.mode != 0) {
    return EINVAL;
  }
  if ((how.flags & O_PATH) && (how.flags & ~kPathFlags)) return EINVAL;
  return 0;
}

Response OpenCommon(Call& c, int dirfd, uint64_t path_addr, uint64_t flags64, mode_t mode,
                    uint64_t resolve) {
  int flags = static_cast<int>(flags64);
  if (resolve & RESOLVE_CACHED) return Response::Error(EAGAIN);
  bool tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
  bool creat = (flags & O_CREAT) != 0 && !tmpfile;
  ResolveOptions options;
  options.resolve = resolve;
  options.follow = !(flags & O_NOFOLLOW) && !(creat && (flags & O_EXCL));
  if (tmpfile) options.follow = true;
  // With O_CREAT a trailing slash is EISDIR, whatever the name is.
  if (creat) options.trailing_follows = false;
  bool cloexec = (flags & O_CLOEXEC) != 0;
  OVL_TRY(std::string path, c.ReadPath(path_addr));
  if (resolve == 0 && !creat && !tmpfile && !(flags & O_PATH) && path.starts_with("/") &&
      !PreloadService::Serves(path)) {
    // A host path of plain names (the loader's libraries, locale files):
    // opened in one step when its walk stays outside the view.
    if (auto opened = c.view().OpenOnHost(path, flags & ~O_CLOEXEC, !(flags & O_NOFOLLOW))) {
      if (!opened->ok()) return Response::Error(opened->error());
      return Response::Fd(std::move(**opened), cloexec);
    }
  }
  OVL_TRY(Target t, c.ResolvePath(dirfd, path, options));
  if (creat && t.trailing_slash) return Response::Error(EISDIR);
  int acc = flags & O_ACCMODE;
  if (const PreloadService* preload = PreloadService::Get();
      preload != nullptr && acc == O_RDONLY && !(flags & (O_CREAT | O_PATH | O_DIRECTORY))) {
    // The dynamic loader reading /etc/ld.so.preload, then the library.
    PreloadService::File file = preload->Which(t);
    if (preload->ServedTo(t, file, c.tracee().tid(), c.instruction_pointer()) &&
        (file != PreloadService::File::kList || preload->WantedBy(c.tracee().tid()))) {
      OVL_TRY(UniqueFd fd, preload->OpenFor(t, file));
      // The list is the loader's first file (its loading ends at its
      // first open from elsewhere: LoaderFds::Place).
      if (file == PreloadService::File::kList) {
        LoaderFds::Begin(c.tracee().tid(), c.instruction_pointer());
      }
      Response r = Response::Fd(std::move(fd), cloexec);
      // With the library, the shared state at the number its constructor
      // looks at: one notification less per process (preload/config.h).
      if (file == PreloadService::File::kLibrary &&
          FdFree(c.tracee().tid(), OVLBOX_PRELOAD_STATE_FD)) {
        auto state = preload->Open(PreloadService::File::kState);
        if (state.ok()) {
          r.extra_fd = std::move(*state);
          r.extra_target = OVLBOX_PRELOAD_STATE_FD;
        }
      }
      return r;
    }
  }

  if (!t.exists) {
    if (!creat || tmpfile) return Response::Error(ENOENT);
    if (t.trailing_slash) return Response::Error(EISDIR);
    if (t.in_view && !c.writer()) return Response::Error(EROFS);
    if (int err = c.AdoptUmask()) return Response::Error(err);
    if (t.in_view) {
      UniqueFd fd;
      int err = c.writer()->Create(
          t, false,
          [flags, mode](int dir, const char* name, UniqueFd* out) {
            int fd = openat(dir, name, flags | O_CREAT | O_EXCL | O_CLOEXEC, mode);
            if (fd < 0) return errno;
            out->reset(fd);
            return 0;
          },
          &fd);
      if (err != 0) return Response::Error(err);
      return Response::Fd(std::move(fd), cloexec);
    }
    int parent = ParentFdOf(t);
    if (parent < 0) return Response::Error(ENOENT);
    int fd = openat(parent, t.name.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return Response::Error(errno);
    return Response::Fd(UniqueFd(fd), cloexec);
  }
  if (creat && (flags & O_EXCL)) return Response::Error(EEXIST);
  bool is_dir = S_ISDIR(t.st.st_mode);
  if (tmpfile) {
    if (!is_dir) return Response::Error(ENOTDIR);
    if (t.in_view && !c.writer()) return Response::Error(EROFS);
    if (int err = c.AdoptUmask()) return Response::Error(err);
    int dirfd = t.fd.get();
    ViewDirPtr up;
    if (t.in_view) {
      OVL_TRY(up, c.writer()->CopyUpDir(t.dir));
      dirfd = up->top_fd();
    }
    int fd = openat(dirfd, ".", flags | O_CLOEXEC, mode);
    if (fd < 0) return Response::Error(errno);
    return Response::Fd(UniqueFd(fd), cloexec);
  }
  if (S_ISLNK(t.st.st_mode) && !(flags & O_PATH)) return Response::Error(ELOOP);
  if ((flags & O_DIRECTORY) && !is_dir && !S_ISLNK(t.st.st_mode)) {
    return Response::Error(ENOTDIR);
  }
  if (!(flags & O_PATH)) {
    if (is_dir && (acc != O_RDONLY || creat)) return Response::Error(EISDIR);
    bool writes = acc != O_RDONLY || (flags & O_TRUNC);
    if (writes && RejectsWrite(c.view(), t)) return Response::Error(EROFS);
    if (writes && t.in_view && c.writer() && S_ISREG(t.st.st_mode) && t.layer != 0) {
      // Opening a lower file for writing copies it up first (without its
      // data when O_TRUNC throws it away), once the caller may write it.
      if (syscall(SYS_faccessat2, t.fd.get(), "", W_OK, AT_EMPTY_PATH | AT_EACCESS) != 0) {
        return Response::Error(errno);
      }
      OVL_TRY(Target up, c.writer()->CopyUp(t, !(flags & O_TRUNC), c.Cancelled()));
      OVL_TRY(UniqueFd fd, OpenTarget(up, flags & ~(O_CREAT | O_EXCL)));
      return Response::Fd(std::move(fd), cloexec);
    }
  }
  if (!(flags & O_PATH) && t.in_view && S_ISFIFO(t.st.st_mode)) {
    return OpenFifo(c, t, flags, cloexec);
  }
  if (acc == O_RDONLY && !(flags & O_PATH) && IsProcMaps(t)) return OpenProcMaps(c, t, cloexec);
  if (flags & O_PATH) {
    // Only openat2 gets here (open and openat with O_PATH go to the tracer):
    // seccomp cannot inject an O_PATH descriptor, so a read-only one stands
    // in for it (docs/design.md, "O_PATH").
    if (S_ISLNK(t.st.st_mode)) return Response::Error(ELOOP);
    flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | (is_dir ? O_DIRECTORY : 0);
  }
  OVL_TRY(UniqueFd fd, OpenTarget(t, flags & ~(O_CREAT | O_EXCL)));
  return Response::Fd(std::move(fd), cloexec);
}

Response WriteStat(Call& c, const View& view, const Target& t, uint64_t buf) {
  struct stat st = t.st;
  view.FixStat(t, &st);
  if (c.Write(buf, &st, sizeof(st)) != 0) return Response::Error(EFAULT);
  return Response::Value(0);
}

// For a regular file the tracee holds open as `proc_path`
// (/proc/TID/fd/N) with real stat `st`: the identity it keeps from its
// lower file when it is a copy-up in the upper.
OriginId FdCopyOrigin(Call& c, const char* proc_path, const struct stat& st) {
  const View& view = c.view();
  if (!view.writable() || st.st_dev != view.layers().layer(0).dev) return {};
  return view.CopyOrigin(
      st, [&](char* buf, size_t size) { return getxattr(proc_path, kOriginXattr, buf, size); },
      [&]() -> std::string {
        char real[PATH_MAX];
        ssize_t n = readlink(proc_path, real, sizeof(real) - 1);
        if (n <= 0) return "";
        RealLocation loc = view.layers().Locate(std::string(real, n));
        return loc.layer == 0 ? loc.rel : "";
      });
}

// The stat of what tracee descriptor `fd` refers to.
Response StatFd(Call& c, int fd, uint64_t buf) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd/%d", c.tracee().tid(), fd);
  struct stat st;
  if (fd < 0 || stat(path, &st) != 0) return Response::Error(EBADF);
  if (S_ISDIR(st.st_mode) || S_ISFIFO(st.st_mode)) {
    // Merged directories report overlayfs' link count; a fifo stand-in
    // reports the view's fifo.
    uint64_t generation = c.view().generation();
    OVL_TRY(Target t, c.tracee().TargetForFd(c.view(), fd));
    // A program that checks a directory it opened usually lists it next
    // (fts, find): recorded, the library lists it itself.
    if (t.in_view && t.dir) c.NoteDir(*t.dir, generation);
    return WriteStat(c, c.view(), t, buf);
  }
  if (S_ISREG(st.st_mode)) {
    OriginId id = FdCopyOrigin(c, path, st);
    if (id.valid()) {
      st.st_dev = id.dev;
      st.st_ino = id.ino;
    }
  }
  if (c.Write(buf, &st, sizeof(st)) != 0) return Response::Error(EFAULT);
  return Response::Value(0);
}

// The fstatfs of a real object, as the view reports it.
int ViewStatfs(const View& view, const Target& t, struct statfs* out) {
  int fd = t.in_view ? view.Root().ok() ? (*view.Root())->top_fd() : -1 : t.fd.get();
  if (fstatfs(fd, out) != 0) return errno;
  if (t.in_view) {
    out->f_type = kOverlayfsMagic;
    out->f_namelen = NAME_MAX;
    memset(&out->f_fsid, 0, sizeof(out->f_fsid));
    if (!view.writable()) out->f_flags |= ST_RDONLY;
  }
  return 0;
}

// Whether a real directory lies in a pseudo filesystem that stays the
// host's (/proc, /sys, /dev of `--lower /`).
bool IsHostDir(Call& c, const std::string& real) {
  struct stat st;
  return stat(real.c_str(), &st) == 0 && c.view().IsPassthrough(st.st_dev);
}

}  // namespace

std::string SelfFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

int ParentFdOf(const Target& t) {
  if (t.last != LastKind::kNormal || t.name.empty()) return -1;
  if (t.in_view) {
    if (!t.parent) return -1;
    if (!t.exists) return t.parent->top_fd();
    for (const LayerDir& ld : t.parent->stack) {
      if (ld.layer == t.layer) return ld.fd.get();
    }
    return -1;
  }
  return t.host_parent ? t.host_parent->get() : -1;
}

SysResult<UniqueFd> OpenTarget(const Target& t, int flags) {
  int fd;
  if (flags & O_PATH) {
    fd = fcntl(t.fd.get(), F_DUPFD_CLOEXEC, 0);
  } else if (S_ISDIR(t.st.st_mode)) {
    fd = openat(t.fd.get(), ".", flags | O_CLOEXEC);
    // Looking up "." needs search permission on the directory, which
    // opening it does not: one its caller may read but not search opens
    // through the descriptor's own link, as the kernel opens it.
    if (fd < 0 && errno == EACCES) fd = open(SelfFdPath(t.fd.get()).c_str(), flags | O_CLOEXEC);
  } else if (int parent = ParentFdOf(t); parent >= 0) {
    fd = openat(parent, t.name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  } else {
    fd = open(SelfFdPath(t.fd.get()).c_str(), flags | O_CLOEXEC);
  }
  if (fd < 0) return Errno{errno};
  return UniqueFd(fd);
}

Response HandleOpen(Call& c) {
  switch (c.nr()) {
    case SYS_open:
      return OpenCommon(c, AT_FDCWD, c.arg(0), c.arg(1), c.arg(2), 0);
    case SYS_creat:
      return OpenCommon(c, AT_FDCWD, c.arg(0), O_CREAT | O_WRONLY | O_TRUNC, c.arg(1), 0);
    case SYS_openat:
      return OpenCommon(c, c.arg_int(0), c.arg(1), c.arg(2), c.arg(3), 0);
    case SYS_openat2: {
      open_how how{};
      size_t size = c.arg(3);
      if (size < sizeof(how)) return Response::Error(EINVAL);
      if (size > 4096) return Response::Error(E2BIG);
      if (c.Read(c.arg(2), &how, sizeof(how)) != 0) return Response::Error(EFAULT);
      if (size > sizeof(how)) {
        // A larger struct from a newer program: its extra bytes must be 0.
        std::vector<char> tail(size - sizeof(how));
        if (c.Read(c.arg(2) + sizeof(how), tail.data(), tail.size()) != 0) {
          return Response::Error(EFAULT);
        }
        for (char b : tail) {
          if (b != 0) return Response::Error(E2BIG);
        }
      }
      if (int err = CheckOpenHow(how)) return Response::Error(err);
      return OpenCommon(c, c.arg_int(0), c.arg(1), how.flags, how.mode, how.resolve);
    }
  }
  return Response::Error(ENOSYS);
}

Response HandleStat(Call& c) {
  int dirfd = AT_FDCWD, flags = 0;
  uint64_t path = c.arg(0), buf = c.arg(1);
  switch (c.nr()) {
    case SYS_stat:
      break;
    case SYS_lstat:
      flags = AT_SYMLINK_NOFOLLOW;
      break;
    case SYS_newfstatat:
      dirfd = c.arg_int(0);
      path = c.arg(1);
      buf = c.arg(2);
      flags = c.arg_int(3);
      break;
  }
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT)) {
    return Response::Error(EINVAL);
  }
  if (flags & AT_EMPTY_PATH) {
    // fstat(), as glibc implements it: the path is usually empty.
    std::string p;
    if (path != 0) {
      OVL_TRY(p, c.ReadPath(path));
    }
    if (p.empty()) {
      if (dirfd == AT_FDCWD) {
        OVL_TRY(Target t, c.tracee().Resolve(c.view(), AT_FDCWD, "", {}, true));
        return WriteStat(c, c.view(), t, buf);
      }
      return StatFd(c, dirfd, buf);
    }
  }
  ResolveOptions options;
  options.follow = !(flags & AT_SYMLINK_NOFOLLOW);
  OVL_TRY(Target t, c.ResolveArg(dirfd, path, options));
  if (!t.exists) return Response::Error(ENOENT);
  return WriteStat(c, c.view(), t, buf);
}

Response HandleFstat(Call& c) { return StatFd(c, c.arg_int(0), c.arg(1)); }

void SetStatxIdentity(OriginId id, struct statx* stx) {
  if (!id.valid()) return;
  stx->stx_dev_major = major(id.dev);
  stx->stx_dev_minor = minor(id.dev);
  stx->stx_ino = id.ino;
}

Response HandleStatx(Call& c) {
  int dirfd = c.arg_int(0);
  int flags = c.arg_int(2);
  unsigned mask = static_cast<unsigned>(c.arg(3));
  uint64_t buf = c.arg(4);
  int sync = flags & AT_STATX_SYNC_TYPE;
  struct statx stx;
  Target t;
  bool have_target = false;
  std::string p;
  if (!((flags & AT_EMPTY_PATH) && c.arg(1) == 0)) {
    OVL_TRY(p, c.ReadPath(c.arg(1)));
  }
  if (p.empty() && (flags & AT_EMPTY_PATH) && dirfd != AT_FDCWD) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", c.tracee().tid(), dirfd);
    if (dirfd < 0 || statx(AT_FDCWD, path, sync, mask | STATX_CTIME, &stx) != 0) return Response::Error(EBADF);
    if (S_ISDIR(stx.stx_mode)) {
      OVL_TRY(t, c.tracee().TargetForFd(c.view(), dirfd));
      have_target = true;
    } else if (S_ISREG(stx.stx_mode) && (stx.stx_mask & STATX_CTIME)) {
      struct stat st {};
      st.st_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
      st.st_ino = stx.stx_ino;
      st.st_ctim = {stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec};
      SetStatxIdentity(FdCopyOrigin(c, path, st), &stx);
    }
  } else {
    ResolveOptions options;
    options.follow = !(flags & AT_SYMLINK_NOFOLLOW);
    OVL_TRY(t, c.tracee().Resolve(c.view(), dirfd, p, options, (flags & AT_EMPTY_PATH) != 0));
    if (!t.exists) return Response::Error(ENOENT);
    have_target = true;
  }
  if (have_target) {
    if (statx(t.fd.get(), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | sync, mask | STATX_CTIME, &stx) != 0) {
      return Response::Error(errno);
    }
    // What stat reports (merged link count, stable directory numbers, a
    // copy's lower identity), in statx's fields.
    struct stat st = t.st;
    st.st_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    st.st_ino = stx.stx_ino;
    st.st_nlink = stx.stx_nlink;
    st.st_ctim = {stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec};
    c.view().FixStat(t, &st);
    stx.stx_nlink = st.st_nlink;
    SetStatxIdentity(OriginId{st.st_dev, st.st_ino}, &stx);
  }
  if (c.Write(buf, &stx, sizeof(stx)) != 0) return Response::Error(EFAULT);
  return Response::Value(0);
}

Response HandleAccess(Call& c) {
  int dirfd = AT_FDCWD, flags = 0, mode;
  uint64_t path;
  if (c.nr() == SYS_access) {
    path = c.arg(0);
    mode = c.arg_int(1);
  } else {
    dirfd = c.arg_int(0);
    path = c.arg(1);
    mode = c.arg_int(2);
    if (c.nr() == SYS_faccessat2) flags = c.arg_int(3);
  }
  if (mode & ~(R_OK | W_OK | X_OK)) return Response::Error(EINVAL);
  if (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Response::Error(EINVAL);
  ResolveOptions options;
  options.follow = !(flags & AT_SYMLINK_NOFOLLOW);
  OVL_TRY(Target t, c.ResolveArg(dirfd, path, options, (flags & AT_EMPTY_PATH) != 0));
  if (const PreloadService* preload = PreloadService::Get();
      preload != nullptr &&
      preload->ServedTo(t, preload->Which(t), c.tracee().tid(), c.instruction_pointer())) {
    // Read-only files of the supervisor's (the loader asks for R_OK).
    // Whether this program gets the list is decided when it opens it: a
    // list it cannot open is one the loader goes without.
    return (mode & W_OK) ? Response::Error(EACCES) : Response::Value(0);
  }
  if (!t.exists) return Response::Error(ENOENT);
  if ((mode & W_OK) && RejectsWrite(c.view(), t)) return Response::Error(EROFS);
  if (syscall(SYS_faccessat2, t.fd.get(), "", mode, AT_EMPTY_PATH | (flags & AT_EACCESS)) != 0) {
    return Response::Error(errno);
  }
  return Response::Value(0);
}

// The preload library's realpath request (preload/config.h): the canonical
// view path of an object of the view, or an error that leaves the work to
// glibc's realpath.
Response HandleRealpathRequest(Call& c) {
  uint64_t buf = c.arg(2);
  int64_t size = static_cast<int>(c.arg(3));
  if (size <= 0) return Response::Error(EINVAL);
  OVL_TRY(Target t, c.ResolveArg(AT_FDCWD, c.arg(1), ResolveOptions{}));
  if (!t.exists || !t.in_view || !t.proc_link.empty()) return Response::Error(ENOENT);
  std::string path = c.view().AbsoluteViewPath(t.rel);
  if (path.size() >= static_cast<size_t>(size)) return Response::Error(ENAMETOOLONG);
  if (c.Write(buf, path.data(), path.size()) != 0) return Response::Error(EFAULT);
  return Response::Value(static_cast<int64_t>(path.size()));
}

Response HandleReadlink(Call& c) {
  if (c.nr() == SYS_readlinkat && c.arg_int(0) == AT_FDCWD) {
    if (const PreloadService* preload = PreloadService::Get();
        preload != nullptr && preload->IsRealpathRequest(c.arg(5))) {
      return HandleRealpathRequest(c);
    }
  }
  int dirfd = AT_FDCWD;
  uint64_t path = c.arg(0), buf = c.arg(1);
  int64_t size = static_cast<int>(c.arg(2));
  if (c.nr() == SYS_readlinkat) {
    dirfd = c.arg_int(0);
    path = c.arg(1);
    buf = c.arg(2);
    size = static_cast<int>(c.arg(3));
  }
  if (size <= 0) return Response::Error(EINVAL);
  OVL_TRY(Target t, c.ResolveArg(dirfd, path, ResolveOptions{.follow = false}, dirfd != AT_FDCWD));
  if (!t.exists) return Response::Error(ENOENT);
  std::string target;
  if (!t.proc_link.empty()) {
    target = t.proc_link;
  } else {
    if (!S_ISLNK(t.st.st_mode)) return Response::Error(EINVAL);
    char raw[PATH_MAX + 64];
    ssize_t n = readlinkat(t.fd.get(), "", raw, sizeof(raw));
    if (n < 0) return Response::Error(errno);
    target.assign(raw, n);
    if (!t.in_view && target.size() && target[0] == '/' && t.host_parent &&
        t.st.st_dev != 0) {
      // /proc magic links (cwd, exe, fd/N, root) show view paths.
      struct statfs sfs;
      if (fstatfs(t.host_parent->get(), &sfs) == 0 && sfs.f_type == 0x9fa0 /* PROC */) {
        target = c.view().ViewPathOfReal(target);
      }
    }
  }
  size_t n = std::min<size_t>(target.size(), static_cast<size_t>(size));
  if (c.Write(buf, target.data(), n) != 0) return Response::Error(EFAULT);
  return Response::Value(static_cast<int64_t>(n));
}

Response HandleGetcwd(Call& c) {
  uint64_t buf = c.arg(0);
  size_t size = c.arg(1);
  OVL_TRY(std::string real, c.tracee().CwdRealPath());
  if (real.ends_with(" (deleted)")) return Response::Error(ENOENT);
  // A cwd removed from the view (still in a lower, but whited out, or
  // replaced by an opaque directory) is unlinked for the program: ENOENT,
  // as getcwd answers for it.
  if (RealLocation loc = c.view().layers().Locate(real);
      loc.layer >= 0 && !(c.view().HasPassthrough() && IsHostDir(c, real))) {
    if (!c.view().DirOfReal(loc).ok()) return Response::Error(ENOENT);
  }
  std::string path = c.view().ViewPathOfReal(real);
  // As the kernel's: a cwd deeper than PATH_MAX has no answer here (glibc
  // then works the path out itself, through "..").
  if (path.size() + 1 > PATH_MAX) return Response::Error(ENAMETOOLONG);
  if (size < path.size() + 1) return Response::Error(ERANGE);
  if (c.Write(buf, path.c_str(), path.size() + 1) != 0) return Response::Error(EFAULT);
  return Response::Value(static_cast<int64_t>(path.size() + 1));
}

// Merged listings, kept while the view does not change: a program reads a
// directory with several getdents calls (the last one finds the end), and
// often lists the same directory again. A directory of the upper alone is
// listed afresh each time: the preload library creates and removes names
// there itself, without the view's generation moving (docs/design.md,
// "Changes in the upper").
class ListingCache {
 public:
  using Entries = std::shared_ptr<const std::vector<DirEntry>>;

  SysResult<Entries> Get(const View& view, const ViewDir& dir, ino_t parent_ino) {
    if (!dir.merged() && dir.top_layer() == 0 && view.layers().has_upper()) {
      OVL_ASSIGN_OR_RETURN(std::vector<DirEntry> list, ListMerged(view, dir, parent_ino, true));
      return std::make_shared<const std::vector<DirEntry>>(std::move(list));
    }
    uint64_t gen = view.generation();
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(dir.rel);
      if (it != map_.end() && it->second.gen == gen && it->second.parent_ino == parent_ino) {
        return it->second.entries;
      }
    }
    OVL_ASSIGN_OR_RETURN(std::vector<DirEntry> list, ListMerged(view, dir, parent_ino, true));
    auto entries = std::make_shared<const std::vector<DirEntry>>(std::move(list));
    if (entries->size() <= kMaxEntries) {
      std::lock_guard<std::mutex> lock(mu_);
      if (map_.size() >= kMaxDirs || total_ + entries->size() > kMaxEntries) {
        map_.clear();
        total_ = 0;
      }
      auto [it, added] = map_.try_emplace(dir.rel, Slot{gen, parent_ino, entries});
      if (!added) {
        total_ -= it->second.entries->size();
        it->second = Slot{gen, parent_ino, entries};
      }
      total_ += entries->size();
    }
    return entries;
  }

 private:
  // Bounded: at most this many directories, and entries in all of them.
  static constexpr size_t kMaxDirs = 256;
  static constexpr size_t kMaxEntries = 100000;
  struct Slot {
    uint64_t gen;
    ino_t parent_ino;
    Entries entries;
  };
  std::mutex mu_;
  absl::flat_hash_map<std::string, Slot> map_;
  size_t total_ = 0;
};

SysResult<ListingCache::Entries> CachedListing(const View& view, const ViewDir& dir,
                                               ino_t parent_ino) {
  static ListingCache* cache = new ListingCache;
  return cache->Get(view, dir, parent_ino);
}

Response HandleGetdents(Call& c) {
  bool legacy = c.nr() == SYS_getdents;
  uint64_t buf = c.arg(1);
  size_t count = static_cast<unsigned>(c.arg(2));
  OVL_TRY(UniqueFd fd, c.tracee().GetFd(c.arg_int(0)));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Response::Error(errno);
  if (!S_ISDIR(st.st_mode)) return Response::Error(ENOTDIR);
  size_t cap = std::min<size_t>(count, 1 << 20);
  std::vector<char> out(cap);
  std::string real = FdPath(fd.get());
  RealLocation loc = c.view().layers().Locate(real);
  // /proc, /sys, /dev of a `--lower /` are the host's: the kernel lists them.
  if (loc.layer >= 0 && c.view().HasPassthrough() && c.view().IsPassthrough(st.st_dev)) {
    loc.layer = -1;
  }
  if (loc.layer >= 0 && !real.ends_with(" (deleted)")) {
    // Every directory of the view is listed with the view's positions, so
    // a listing keeps its place when the directory is copied up meanwhile.
    uint64_t generation = c.view().generation();
    auto dir = c.view().DirOfReal(loc);
    off_t pos = lseek(fd.get(), 0, SEEK_CUR);
    if (pos < 0) return Response::Error(errno);
    // One getdents from `entries`, on at the stream's position.
    auto serve = [&](const std::vector<DirEntry>& entries) -> Response {
      uint64_t new_pos;
      OVL_TRY(size_t n, FillDirents(entries, static_cast<uint64_t>(pos), legacy, out.data(), cap,
                                    &new_pos));
      if (n > 0 && c.Write(buf, out.data(), n) != 0) return Response::Error(EFAULT);
      lseek(fd.get(), static_cast<off_t>(new_pos), SEEK_SET);
      return Response::Value(static_cast<int64_t>(n));
    };
    if (dir.ok() && pos > 0 && loc.layer > 0 && (*dir)->merged() && (*dir)->top_layer() == 0 &&
        (*dir)->stack.size() == 2 && (*dir)->stack[1].layer == loc.layer) {
      // A directory of one lower alone when it was opened, copied up since
      // (its first change, as in a drain that removes what it reads):
      // overlayfs goes on listing the lower's directory the stream was
      // opened on, so nothing is skipped or listed twice; from the start
      // again (a rewind), it lists the view's directory as it is now.
      ViewDir lone;
      lone.rel = (*dir)->rel;
      LayerDir ld;
      ld.layer = loc.layer;
      ld.fd.reset(fcntl((*dir)->stack[1].fd.get(), F_DUPFD_CLOEXEC, 0));
      ld.xwhiteouts = (*dir)->stack[1].xwhiteouts;
      if (!ld.fd || fstat(ld.fd.get(), &lone.st) != 0) return Response::Error(EIO);
      lone.stack.push_back(std::move(ld));
      lone.stable_dev = (*dir)->stable_dev;
      lone.stable_ino = (*dir)->stable_ino;
      OVL_TRY(auto entries, ListMerged(c.view(), lone, DotDotIno(c.view(), **dir), true));
      return serve(entries);
    }
    if (dir.ok()) {
      c.NoteDir(**dir, generation);  // the next listing of it: the library's
      OVL_TRY(auto entries, CachedListing(c.view(), **dir, DotDotIno(c.view(), **dir)));
      return serve(*entries);
    }
    // A lower's directory the view no longer has (removed while held):
    // overlayfs lists a removed directory as the kernel lists any, with
    // ENOENT, where the lower's own directory would still list its names.
    if (dir.error() == ENOENT) return Response::Error(ENOENT);
  }
  long n = syscall(legacy ? SYS_getdents : SYS_getdents64, fd.get(), out.data(), cap);
  if (n < 0) return Response::Error(errno);
  if (n > 0 && c.Write(buf, out.data(), n) != 0) return Response::Error(EFAULT);
  return Response::Value(n);
}

Response HandleStatfs(Call& c) {
  Target t;
  uint64_t buf = c.arg(1);
  if (c.nr() == SYS_fstatfs) {
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), c.arg_int(0)));
  } else {
    OVL_TRY(t, c.ResolveArg(AT_FDCWD, c.arg(0), ResolveOptions{}));
    if (!t.exists) return Response::Error(ENOENT);
  }
  struct statfs sfs;
  if (int err = ViewStatfs(c.view(), t, &sfs)) return Response::Error(err);
  if (c.Write(buf, &sfs, sizeof(sfs)) != 0) return Response::Error(EFAULT);
  return Response::Value(0);
}

// Whether the xattrs of `t` are a layer's, whose own user.overlay.* are
// overlayfs' private ones: an object of the view, or one of a layer that
// the view no longer has (a directory removed or moved away while a
// descriptor held it), which overlayfs still shows as its own inode.
bool InALayer(Call& c, const Target& t) {
  if (t.in_view) return true;
  if (!t.fd) return false;
  return c.view().layers().Locate(FdPath(t.fd.get())).layer >= 0;
}

// getxattr, lgetxattr, fgetxattr.
Response HandleGetxattr(Call& c) {
  Target t;
  if (c.nr() == SYS_fgetxattr) {
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), c.arg_int(0)));
  } else {
    OVL_TRY(t, c.ResolveArg(AT_FDCWD, c.arg(0),
                            ResolveOptions{.follow = c.nr() == SYS_getxattr}));
    if (!t.exists) return Response::Error(ENOENT);
  }
  OVL_TRY(std::string name, c.ReadString(c.arg(1), XATTR_NAME_MAX));
  uint64_t value = c.arg(2);
  size_t size = c.arg(3);
  // In a layer, the program's own user.overlay.X is stored escaped.
  std::string stored = InALayer(c, t) ? EscapeXattr(name) : name;
  std::vector<char> buf(std::min<size_t>(size, XATTR_SIZE_MAX));
  ssize_t n = getxattr(SelfFdPath(t.fd.get()).c_str(), stored.c_str(),
                       size ? buf.data() : nullptr, buf.size());
  if (n < 0) return Response::Error(errno);
  if (size && n > 0 && c.Write(value, buf.data(), n) != 0) return Response::Error(EFAULT);
  return Response::Value(n);
}

// listxattr, llistxattr, flistxattr.
Response HandleListxattr(Call& c) {
  Target t;
  if (c.nr() == SYS_flistxattr) {
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), c.arg_int(0)));
  } else {
    OVL_TRY(t, c.ResolveArg(AT_FDCWD, c.arg(0),
                            ResolveOptions{.follow = c.nr() == SYS_listxattr}));
    if (!t.exists) return Response::Error(ENOENT);
  }
  uint64_t list = c.arg(1);
  size_t size = c.arg(2);
  std::string path = SelfFdPath(t.fd.get());
  ssize_t n = listxattr(path.c_str(), nullptr, 0);
  if (n < 0) return Response::Error(errno);
  std::vector<char> buf(n + 1);
  n = listxattr(path.c_str(), buf.data(), buf.size());
  if (n < 0) return Response::Error(errno);
  std::string names(buf.data(), n);
  if (InALayer(c, t)) names = FilterXattrList(names);
  if (size == 0) return Response::Value(static_cast<int64_t>(names.size()));
  if (size < names.size()) return Response::Error(ERANGE);
  if (!names.empty() && c.Write(list, names.data(), names.size()) != 0) {
    return Response::Error(EFAULT);
  }
  return Response::Value(static_cast<int64_t>(names.size()));
}

}  // namespace ovlbox
