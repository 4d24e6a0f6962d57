// Handlers that change files. In the view, changes go to the upper through
// the Writer (copy-up, whiteouts, opaque dirs); a view without an upper
// answers as a read-only overlayfs mount does (EROFS, after the same lookups
// the kernel makes first). Outside the view the supervisor performs the call
// itself on the host object it resolved, with the program's umask.
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/fanotify.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "overlay/xattr_names.h"
#include "supervisor/handlers.h"

namespace ovlbox {
namespace {

// A read-only view refuses every change in it.
bool ViewRefuses(Call& c, const Target& t) {
  return (t.in_view || !t.removed_path.empty()) && c.writer() == nullptr;
}

// Resolves the final component of a call that creates or removes a name:
// never followed, and a trailing slash is the handler's to judge.
SysResult<Target> ResolveNew(Call& c, int dirfd, uint64_t path) {
  return c.ResolveArg(dirfd, path, ResolveOptions{.follow = false, .trailing_follows = false});
}

// The kernel's filename_create(): an existing name is EEXIST, a trailing
// slash on a name that is not to be a directory ENOENT, then a read-only
// mount EROFS.
Response CreateCheck(Call& c, const Target& t, bool want_dir) {
  if (t.exists) return Response::Error(EEXIST);
  if (t.trailing_slash && !want_dir) return Response::Error(ENOENT);
  if (ViewRefuses(c, t)) return Response::Error(EROFS);
  if (t.in_removed_dir()) return Response::Error(ENOENT);  // nothing is made there
  return Response::Value(0);
}

// Which mount the kernel would see a name in: the view root named from
// outside is a mount point in its parent's mount.
// A directory removed from the view while in use (named as "." or "..")
// is still on the view's mount, as overlayfs' unhashed dentry is. A path
// ending in ".." is on the mount of the directory the ".." is taken in
// (the view's, for ".." of the view's root, which leads out of it).
bool InViewMount(const Target& t) {
  if (t.last == LastKind::kDotDot && t.dotdot_in_view) return true;
  return (t.in_view || !t.removed_path.empty()) && !t.view_root;
}

Response Result(long rc);

// Creates the missing `t`: through the Writer in the view, directly in the
// host directory outside it.
Response CreateEntry(Call& c, const Target& t, bool is_dir, const MakeEntry& make) {
  if (int err = c.AdoptUmask()) return Response::Error(err);
  if (t.in_view) return Result(-c.writer()->Create(t, is_dir, make, nullptr));
  if (t.in_removed_dir()) return Response::Error(ENOENT);
  int parent = ParentFdOf(t);
  if (parent < 0) return Response::Error(EEXIST);
  return Result(-make(parent, t.name.c_str(), nullptr));
}

// Applies an attribute change: on the upper copy in the view, on the
// object itself outside it. `apply` gets an O_PATH fd of the object, its
// parent dir fd (or -1) and its name.
// A change to a lower's object removed from the view while held
// (Target::removed_lower): to a directory, made to overlayfs' unlinked
// copy of it, which nobody sees, or refused where overlayfs had none; to a
// file, refused as overlayfs refuses it (its copy-up meets the whiteout).
Response RemovedLowerChange(const Target& t) {
  if (!S_ISDIR(t.st.st_mode)) return Response::Error(EEXIST);
  return t.removed_uncopied ? Response::Error(ENOTDIR) : Response::Value(0);
}

// A change through the program's descriptor `fd` to what it names outside
// the view (`t`, from TargetForFd, not in_view): made on the program's own
// open file, except to a lower's object the view no longer has.
Response FdChangeOutside(Call& c, const Target& t, int fd, const std::function<long(int)>& apply) {
  if (t.removed_lower) return RemovedLowerChange(t);
  OVL_TRY(UniqueFd ours, c.tracee().GetFd(fd));
  return Result(apply(ours.get()));
}

Response ChangeEntry(Call& c, const Target& t, bool with_data,
                     const std::function<int(int, int, const char*)>& apply) {
  if (ViewRefuses(c, t)) return Response::Error(EROFS);
  if (t.in_view) return Result(-c.writer()->Modify(t, with_data, apply, c.Cancelled()));
  if (t.removed_lower) return RemovedLowerChange(t);
  return Result(-apply(t.fd.get(), ParentFdOf(t), t.name.c_str()));
}

int Errno0(int rc) { return rc == 0 ? 0 : errno; }

// The permission checks the kernel makes on the object before overlayfs
// copies it up: a change that will be refused must not copy anything up.
// (As for the kernel, they use the caller's credentials, which this thread
// holds.)
bool IsOwnerOrPrivileged(const Target& t) {
  uid_t fsuid = static_cast<uid_t>(setfsuid(-1));
  return fsuid == 0 || fsuid == t.st.st_uid;
}

int MayWrite(const Target& t) {
  return syscall(SYS_faccessat2, t.fd.get(), "", W_OK, AT_EMPTY_PATH | AT_EACCESS) == 0 ? 0
                                                                                        : errno;
}

// setxattr/removexattr: user.* exists only on regular files and
// directories, and needs write permission; other namespaces are the
// kernel's to judge after copy-up.
int MayChangeXattr(const Target& t, const std::string& name) {
  if (!name.starts_with("user.")) return 0;
  if (!S_ISREG(t.st.st_mode) && !S_ISDIR(t.st.st_mode)) return EPERM;
  return MayWrite(t);
}

// An unnamed file (O_TMPFILE) created in a directory of the upper.
bool IsUnlinkedUpperFile(Call& c, const Target& t) {
  if (!c.writer() || !t.exists || !S_ISREG(t.st.st_mode) || t.st.st_nlink != 0) return false;
  std::string real = FdPath(t.fd.get());
  if (!real.ends_with(" (deleted)")) return false;
  real.resize(real.size() - strlen(" (deleted)"));
  RealLocation loc = c.view().layers().Locate(real);
  return loc.layer == 0;
}

// The program's own open file behind descriptor `fd`, when an attribute
// change through it needs nothing from the view: a file (not a directory)
// of the upper, which the change may touch in place with the caller's
// credentials, as the kernel touches it. Empty otherwise (a lower file to
// copy up, a directory whose cached attributes must follow, a stand-in,
// anything outside the upper), for the general path.
SysResult<UniqueFd> UpperFileOf(Call& c, int fd) {
  if (!c.view().writable() || !c.writer()) return UniqueFd();
  OVL_ASSIGN_OR_RETURN(UniqueFd file, c.tracee().GetFd(fd));
  struct stat st;
  if (fstat(file.get(), &st) != 0 || S_ISDIR(st.st_mode) || S_ISFIFO(st.st_mode)) {
    return UniqueFd();
  }
  std::string real = FdPath(file.get());
  if (real.ends_with(" (deleted)")) real.resize(real.size() - strlen(" (deleted)"));
  if (real.empty() || real[0] != '/' || c.view().layers().Locate(real).layer != 0) {
    return UniqueFd();
  }
  return file;
}

// Resolves an existing object for an attribute change (chmod, chown, ...).
SysResult<Target> ResolveExisting(Call& c, int dirfd, uint64_t path, bool follow,
                                  bool empty_path) {
  OVL_ASSIGN_OR_RETURN(Target t, c.ResolveArg(dirfd, path, ResolveOptions{.follow = follow},
                                              empty_path));
  if (!t.exists) return Errno{ENOENT};
  return t;
}

// A syscall's result (-1 and errno), or a negated errno from a helper.
Response Result(long rc) {
  if (rc == -1) return Response::Error(errno);
  if (rc < 0) return Response::Error(static_cast<int>(-rc));
  return Response::Value(rc);
}

}  // namespace

Response HandleMkdir(Call& c) {
  int dirfd = AT_FDCWD;
  uint64_t path = c.arg(0);
  mode_t mode = c.arg(1);
  if (c.nr() == SYS_mkdirat) {
    dirfd = c.arg_int(0);
    path = c.arg(1);
    mode = c.arg(2);
  }
  OVL_TRY(Target t, ResolveNew(c, dirfd, path));
  Response check = CreateCheck(c, t, true);
  if (check.kind == Response::Kind::kError) return check;
  return CreateEntry(c, t, true, [mode](int dir, const char* name, UniqueFd*) {
    return Errno0(mkdirat(dir, name, mode));
  });
}

Response HandleMknod(Call& c) {
  int dirfd = AT_FDCWD;
  uint64_t path = c.arg(0);
  mode_t mode = c.arg(1);
  dev_t dev = c.arg(2);
  if (c.nr() == SYS_mknodat) {
    dirfd = c.arg_int(0);
    path = c.arg(1);
    mode = c.arg(2);
    dev = c.arg(3);
  }
  OVL_TRY(Target t, ResolveNew(c, dirfd, path));
  Response check = CreateCheck(c, t, false);
  if (check.kind == Response::Kind::kError) return check;
  if (S_ISDIR(mode)) return Response::Error(EPERM);
  return CreateEntry(c, t, false, [mode, dev](int dir, const char* name, UniqueFd*) {
    return Errno0(mknodat(dir, name, mode, dev));
  });
}

// unlink, unlinkat, rmdir.
Response HandleUnlink(Call& c) {
  int dirfd = AT_FDCWD, flags = 0;
  uint64_t path = c.arg(0);
  if (c.nr() == SYS_rmdir) flags = AT_REMOVEDIR;
  if (c.nr() == SYS_unlinkat) {
    dirfd = c.arg_int(0);
    path = c.arg(1);
    flags = c.arg_int(2);
    if (flags & ~AT_REMOVEDIR) return Response::Error(EINVAL);
  }
  OVL_TRY(Target t, ResolveNew(c, dirfd, path));
  bool rmdir_call = (flags & AT_REMOVEDIR) != 0;
  if (t.last != LastKind::kNormal || t.name.empty()) {
    if (!rmdir_call) return Response::Error(EISDIR);
    if (t.last == LastKind::kDot) return Response::Error(EINVAL);
    if (t.last == LastKind::kDotDot) return Response::Error(ENOTEMPTY);
    return Response::Error(EBUSY);
  }
  if (t.view_root) return Response::Error(rmdir_call ? EBUSY : EISDIR);  // a mount point
  if (ViewRefuses(c, t)) return Response::Error(EROFS);
  if (!rmdir_call && t.trailing_slash) {
    if (!t.exists) return Response::Error(ENOENT);
    return Response::Error(S_ISDIR(t.st.st_mode) ? EISDIR : ENOTDIR);
  }
  if (!t.exists) return Response::Error(ENOENT);
  if (t.in_view) return Result(-c.writer()->Remove(t, rmdir_call));
  int parent = ParentFdOf(t);
  if (parent < 0) return Response::Error(EBUSY);
  return Result(unlinkat(parent, t.name.c_str(), flags));
}

// rename, renameat, renameat2.
Response HandleRename(Call& c) {
  int olddir = AT_FDCWD, newdir = AT_FDCWD;
  uint64_t oldpath = c.arg(0), newpath = c.arg(1);
  unsigned flags = 0;
  if (c.nr() != SYS_rename) {
    olddir = c.arg_int(0);
    oldpath = c.arg(1);
    newdir = c.arg_int(2);
    newpath = c.arg(3);
    if (c.nr() == SYS_renameat2) flags = static_cast<unsigned>(c.arg(4));
  }
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) {
    return Response::Error(EINVAL);
  }
  if ((flags & RENAME_EXCHANGE) && (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT))) {
    return Response::Error(EINVAL);
  }
  OVL_TRY(Target from, ResolveNew(c, olddir, oldpath));
  OVL_TRY(Target to, ResolveNew(c, newdir, newpath));
  // do_renameat2(): the mounts of the two parents first, then "." and "..".
  if (from.view_root && to.view_root && InViewMount(from) == InViewMount(to) &&
      from.last == LastKind::kNormal && to.last == LastKind::kNormal) {
    // The view's root onto itself: one dentry (the mount point's), which
    // vfs_rename() leaves as it is; RENAME_NOREPLACE finds it taken first.
    return (flags & RENAME_NOREPLACE) ? Response::Error(EEXIST) : Response::Value(0);
  }
  if (InViewMount(from) != InViewMount(to) || from.view_root || to.view_root) {
    return Response::Error(EXDEV);
  }
  if (from.last != LastKind::kNormal || from.name.empty()) return Response::Error(EBUSY);
  if (to.last != LastKind::kNormal || to.name.empty()) {
    return Response::Error((flags & RENAME_NOREPLACE) ? EEXIST : EBUSY);
  }
  if (ViewRefuses(c, from)) return Response::Error(EROFS);
  if (from.in_view) {
    // The checks the kernel's do_renameat2() and vfs_rename() make, in
    // their order, before the filesystem's own (in the Writer).
    bool exchange = flags & RENAME_EXCHANGE;
    if (!from.exists) return Response::Error(ENOENT);
    if (to.in_removed_dir()) return Response::Error(ENOENT);
    if ((flags & RENAME_NOREPLACE) && to.exists) return Response::Error(EEXIST);
    bool from_dir = S_ISDIR(from.st.st_mode);
    bool to_dir = to.exists && S_ISDIR(to.st.st_mode);
    if (exchange) {
      if (!to.exists) return Response::Error(ENOENT);
      if (!to_dir && to.trailing_slash) return Response::Error(ENOTDIR);
    }
    if (!from_dir && (from.trailing_slash || (!exchange && to.trailing_slash))) {
      return Response::Error(ENOTDIR);
    }
    if (to.rel.starts_with(from.rel + "/")) return Response::Error(EINVAL);
    if (from.rel.starts_with(to.rel + "/")) return Response::Error(exchange ? EINVAL : ENOTEMPTY);
    // The same file: the same name, or two links of one file of the
    // upper. Two links of a lower file are two files of the view until
    // copied up (overlayfs gives a lower hard link an inode of its own
    // per name when it may copy it up, ovl_hash_bylower()): renaming one
    // over the other copies it up and whites out its old name.
    if (to.exists && (from.rel == to.rel ||
                      (from.layer == 0 && to.layer == 0 && from.st.st_dev == to.st.st_dev &&
                       from.st.st_ino == to.st.st_ino))) {
      return Response::Value(0);
    }
    if (!exchange && to.exists) {
      if (from_dir && !to_dir) return Response::Error(ENOTDIR);
      if (!from_dir && to_dir) return Response::Error(EISDIR);
    }
    // overlayfs has no RENAME_WHITEOUT.
    if (flags & RENAME_WHITEOUT) return Response::Error(EINVAL);
    return Result(-c.writer()->Rename(from, to, flags));
  }
  if (!from.exists) return Response::Error(ENOENT);
  int op = ParentFdOf(from), np = ParentFdOf(to);
  if (op < 0 || np < 0) return Response::Error(EBUSY);
  return Result(syscall(SYS_renameat2, op, from.name.c_str(), np, to.name.c_str(), flags));
}

// link, linkat.
Response HandleLink(Call& c) {
  int olddir = AT_FDCWD, newdir = AT_FDCWD, flags = 0;
  uint64_t oldpath = c.arg(0), newpath = c.arg(1);
  if (c.nr() == SYS_linkat) {
    olddir = c.arg_int(0);
    oldpath = c.arg(1);
    newdir = c.arg_int(2);
    newpath = c.arg(3);
    flags = c.arg_int(4);
    if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return Response::Error(EINVAL);
  }
  OVL_TRY(Target from, ResolveExisting(c, olddir, oldpath, (flags & AT_SYMLINK_FOLLOW) != 0,
                                        (flags & AT_EMPTY_PATH) != 0));
  OVL_TRY(Target to, ResolveNew(c, newdir, newpath));
  // The kernel's order: filename_create() for the new name, the mount,
  // then vfs_link().
  Response check = CreateCheck(c, to, false);
  if (check.kind == Response::Kind::kError) return check;
  if (to.in_view && !from.in_view && IsUnlinkedUpperFile(c, from)) {
    // linkat of an O_TMPFILE file made in a view directory: it lives in
    // the upper already; give it its name there.
    int obj = from.fd.get();
    return CreateEntry(c, to, false, [obj](int dir, const char* name, UniqueFd*) {
      return Errno0(linkat(AT_FDCWD, SelfFdPath(obj).c_str(), dir, name, AT_SYMLINK_FOLLOW));
    });
  }
  // The old name is looked up to its end, into the view's mount when it
  // names the view root itself (and a directory removed from the view,
  // named as "." or "..", stays in it).
  bool from_in_mount = from.in_view || !from.removed_path.empty();
  if (from_in_mount != InViewMount(to)) return Response::Error(EXDEV);
  if (S_ISDIR(from.st.st_mode)) return Response::Error(EPERM);
  if (to.in_view) return Result(-c.writer()->Link(from, to));
  int np = ParentFdOf(to);
  if (np < 0) return Response::Error(EEXIST);
  int op = ParentFdOf(from);
  if (op >= 0) return Result(linkat(op, from.name.c_str(), np, to.name.c_str(), 0));
  return Result(linkat(AT_FDCWD, SelfFdPath(from.fd.get()).c_str(), np, to.name.c_str(),
                       AT_SYMLINK_FOLLOW));
}

// symlink, symlinkat.
Response HandleSymlink(Call& c) {
  int dirfd = AT_FDCWD;
  uint64_t linkpath = c.arg(1);
  if (c.nr() == SYS_symlinkat) {
    dirfd = c.arg_int(1);
    linkpath = c.arg(2);
  }
  OVL_TRY(std::string target, c.ReadPath(c.arg(0)));
  if (target.empty()) return Response::Error(ENOENT);
  OVL_TRY(Target t, ResolveNew(c, dirfd, linkpath));
  Response check = CreateCheck(c, t, false);
  if (check.kind == Response::Kind::kError) return check;
  return CreateEntry(c, t, false, [&target](int dir, const char* name, UniqueFd*) {
    return Errno0(symlinkat(target.c_str(), dir, name));
  });
}

// chmod, fchmodat, fchmodat2, fchmod.
Response HandleChmod(Call& c) {
  Target t;
  mode_t mode;
  if (c.nr() == SYS_fchmod) {
    OVL_TRY(UniqueFd upper, UpperFileOf(c, c.arg_int(0)));
    if (upper) return Result(fchmod(upper.get(), c.arg(1)));
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), c.arg_int(0)));
    if (!t.in_view) {
      return FdChangeOutside(c, t, c.arg_int(0), [&](int fd) { return fchmod(fd, c.arg(1)); });
    }
    mode = c.arg(1);
    if (!IsOwnerOrPrivileged(t)) return Response::Error(EPERM);
    return ChangeEntry(c, t, true, [mode](int obj, int, const char*) {
      return Errno0(chmod(SelfFdPath(obj).c_str(), mode));
    });
  }
  if (c.nr() == SYS_chmod) {
    OVL_TRY(t, ResolveExisting(c, AT_FDCWD, c.arg(0), true, false));
    mode = c.arg(1);
  } else {
    int flags = c.nr() == 452 /* fchmodat2 */ ? c.arg_int(3) : 0;
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Response::Error(EINVAL);
    OVL_TRY(t, ResolveExisting(c, c.arg_int(0), c.arg(1), !(flags & AT_SYMLINK_NOFOLLOW),
                               (flags & AT_EMPTY_PATH) != 0));
    mode = c.arg(2);
  }
  if (ViewRefuses(c, t)) return Response::Error(EROFS);
  if (S_ISLNK(t.st.st_mode)) return Response::Error(EOPNOTSUPP);
  if (t.in_view && c.writer() && !IsOwnerOrPrivileged(t)) return Response::Error(EPERM);
  return ChangeEntry(c, t, true, [mode](int obj, int, const char*) {
    return Errno0(chmod(SelfFdPath(obj).c_str(), mode));
  });
}

// chown, lchown, fchownat, fchown.
Response HandleChown(Call& c) {
  Target t;
  uid_t uid;
  gid_t gid;
  if (c.nr() == SYS_fchown) {
    OVL_TRY(UniqueFd upper, UpperFileOf(c, c.arg_int(0)));
    if (upper) return Result(fchown(upper.get(), c.arg(1), c.arg(2)));
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), c.arg_int(0)));
    if (!t.in_view) {
      return FdChangeOutside(c, t, c.arg_int(0),
                             [&](int fd) { return fchown(fd, c.arg(1), c.arg(2)); });
    }
    uid = c.arg(1);
    gid = c.arg(2);
  } else
  if (c.nr() == SYS_fchownat) {
    int flags = c.arg_int(4);
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Response::Error(EINVAL);
    OVL_TRY(t, ResolveExisting(c, c.arg_int(0), c.arg(1), !(flags & AT_SYMLINK_NOFOLLOW),
                               (flags & AT_EMPTY_PATH) != 0));
    uid = c.arg(2);
    gid = c.arg(3);
  } else {
    OVL_TRY(t, ResolveExisting(c, AT_FDCWD, c.arg(0), c.nr() == SYS_chown, false));
    uid = c.arg(1);
    gid = c.arg(2);
  }
  if (t.in_view && c.writer() && !IsOwnerOrPrivileged(t)) return Response::Error(EPERM);
  return ChangeEntry(c, t, true, [uid, gid](int obj, int, const char*) {
    return Errno0(fchownat(obj, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
  });
}

Response HandleTruncate(Call& c) {
  OVL_TRY(Target t, ResolveExisting(c, AT_FDCWD, c.arg(0), true, false));
  if (S_ISDIR(t.st.st_mode)) return Response::Error(EISDIR);
  off_t length = static_cast<off_t>(c.arg(1));
  if (length < 0) return Response::Error(EINVAL);
  if (t.in_view && c.writer()) {
    if (!S_ISREG(t.st.st_mode)) return Response::Error(EINVAL);
    if (int err = MayWrite(t)) return Response::Error(err);
  }
  return ChangeEntry(c, t, length != 0, [length](int obj, int, const char*) {
    return Errno0(truncate(SelfFdPath(obj).c_str(), length));
  });
}

// utime, utimes, futimesat, utimensat (and futimens: utimensat with no path).
Response HandleUtimes(Call& c) {
  int dirfd = AT_FDCWD, flags = 0;
  uint64_t path = c.arg(0), times = c.arg(1);
  timespec ts[2];
  bool now = false;
  switch (c.nr()) {
    case SYS_utime: {
      if (times == 0) {
        now = true;
        break;
      }
      utimbuf ub;
      if (c.Read(times, &ub, sizeof(ub)) != 0) return Response::Error(EFAULT);
      ts[0] = {ub.actime, 0};
      ts[1] = {ub.modtime, 0};
      break;
    }
    case SYS_futimesat:
      dirfd = c.arg_int(0);
      path = c.arg(1);
      times = c.arg(2);
      [[fallthrough]];
    case SYS_utimes: {
      if (times == 0) {
        now = true;
        break;
      }
      timeval tv[2];
      if (c.Read(times, tv, sizeof(tv)) != 0) return Response::Error(EFAULT);
      for (int i = 0; i < 2; ++i) {
        if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000) return Response::Error(EINVAL);
        ts[i] = {tv[i].tv_sec, tv[i].tv_usec * 1000};
      }
      break;
    }
    case SYS_utimensat:
      dirfd = c.arg_int(0);
      path = c.arg(1);
      times = c.arg(2);
      flags = c.arg_int(3);
      if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return Response::Error(EINVAL);
      if (times == 0) {
        now = true;
      } else if (c.Read(times, ts, sizeof(ts)) != 0) {
        return Response::Error(EFAULT);
      }
      break;
  }
  if (now) ts[0] = ts[1] = {0, UTIME_NOW};
  Target t;
  if (c.nr() == SYS_utimensat && path == 0) {
    // futimens(fd, times).
    if (dirfd == AT_FDCWD) return Response::Error(EFAULT);
    OVL_TRY(UniqueFd upper, UpperFileOf(c, dirfd));
    if (upper) return Result(futimens(upper.get(), ts));
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), dirfd));
    if (!t.in_view) {
      return FdChangeOutside(c, t, dirfd, [&](int fd) { return futimens(fd, ts); });
    }
  } else {
    OVL_TRY(t, ResolveExisting(c, dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW),
                               (flags & AT_EMPTY_PATH) != 0));
  }
  if (t.in_view && c.writer() && !IsOwnerOrPrivileged(t)) {
    bool to_now = ts[0].tv_nsec == UTIME_NOW && ts[1].tv_nsec == UTIME_NOW;
    if (!to_now) return Response::Error(EPERM);
    if (int err = MayWrite(t)) return Response::Error(err);
  }
  return ChangeEntry(c, t, true, [&ts](int obj, int parent, const char* name) {
    if (parent >= 0 && name[0] != '\0') {
      return Errno0(utimensat(parent, name, ts, AT_SYMLINK_NOFOLLOW));
    }
    return Errno0(utimensat(AT_FDCWD, SelfFdPath(obj).c_str(), ts, 0));
  });
}

// setxattr, lsetxattr, fsetxattr.
Response HandleSetxattr(Call& c) {
  Target t;
  bool by_fd = c.nr() == SYS_fsetxattr;
  if (by_fd) {
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), c.arg_int(0)));
  } else {
    OVL_TRY(t, ResolveExisting(c, AT_FDCWD, c.arg(0), c.nr() == SYS_setxattr, false));
  }
  OVL_TRY(std::string name, c.ReadString(c.arg(1), XATTR_NAME_MAX));
  size_t size = c.arg(3);
  if (size > XATTR_SIZE_MAX) return Response::Error(E2BIG);
  std::vector<char> value(size);
  if (size && c.Read(c.arg(2), value.data(), size) != 0) return Response::Error(EFAULT);
  int flags = c.arg_int(4);
  if (by_fd && !t.in_view) {
    return FdChangeOutside(c, t, c.arg_int(0), [&](int fd) {
      return fsetxattr(fd, name.c_str(), value.data(), size, flags);
    });
  }
  if (t.in_view && c.writer()) {
    if (int err = MayChangeXattr(t, name)) return Response::Error(err);
  }
  // The program's own user.overlay.X is stored escaped in a layer.
  std::string stored = t.in_view ? EscapeXattr(name) : name;
  return ChangeEntry(c, t, true, [&](int obj, int, const char*) {
    // The /proc/self/fd link leads to the object itself (a symlink too).
    return Errno0(setxattr(SelfFdPath(obj).c_str(), stored.c_str(), value.data(), size, flags));
  });
}

// removexattr, lremovexattr, fremovexattr.
Response HandleRemovexattr(Call& c) {
  Target t;
  bool by_fd = c.nr() == SYS_fremovexattr;
  if (by_fd) {
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), c.arg_int(0)));
  } else {
    OVL_TRY(t, ResolveExisting(c, AT_FDCWD, c.arg(0), c.nr() == SYS_removexattr, false));
  }
  OVL_TRY(std::string name, c.ReadString(c.arg(1), XATTR_NAME_MAX));
  if (by_fd && !t.in_view) {
    return FdChangeOutside(c, t, c.arg_int(0),
                           [&](int fd) { return fremovexattr(fd, name.c_str()); });
  }
  if (t.in_view && c.writer()) {
    if (int err = MayChangeXattr(t, name)) return Response::Error(err);
    // Removing an xattr the object does not have changes nothing.
    if (getxattr(SelfFdPath(t.fd.get()).c_str(), EscapeXattr(name).c_str(), nullptr, 0) < 0) {
      return Response::Error(errno);
    }
  }
  std::string stored = t.in_view ? EscapeXattr(name) : name;
  return ChangeEntry(c, t, true, [&](int obj, int, const char*) {
    return Errno0(removexattr(SelfFdPath(obj).c_str(), stored.c_str()));
  });
}

namespace {

constexpr socklen_t kSunPathOffset = offsetof(sockaddr_un, sun_path);

// The path the socket address at `addr` (`len` bytes) in the program names:
// empty when it names none. Too short for a path, or another family's
// larger address, names no file; the kernel reads the address again, which
// cannot turn it into a path the view should have resolved except by a
// racing write into the program's own memory. Nor does an abstract name.
SysResult<std::string> UnixAddressPath(Call& c, uint64_t addr, socklen_t len) {
  sockaddr_un un{};
  if (len <= kSunPathOffset || len > sizeof(un)) return std::string();
  if (c.Read(addr, &un, len) != 0) return Errno{EFAULT};
  if (un.sun_family != AF_UNIX || un.sun_path[0] == '\0') return std::string();
  return std::string(un.sun_path, strnlen(un.sun_path, len - kSunPathOffset));
}

// The address of a real socket file, by the supervisor's own descriptor of
// it: a short path whatever the real one's length.
SysResult<sockaddr_un> RealSocketAddress(const Target& t, socklen_t* len) {
  sockaddr_un real{};
  real.sun_family = AF_UNIX;
  std::string path = SelfFdPath(t.fd.get());
  if (path.size() >= sizeof(real.sun_path)) return Errno{ENAMETOOLONG};
  memcpy(real.sun_path, path.c_str(), path.size() + 1);
  *len = kSunPathOffset + static_cast<socklen_t>(path.size()) + 1;
  return real;
}

// The names sockets were bound to in the view, by the real path the
// supervisor bound each to, with the path the program gave: the kernel
// keeps the name bind is given, and getsockname and getpeername answer
// with the program's own. Bounded: past kMax names, the oldest go.
class BoundNames {
 public:
  static BoundNames& Get() {
    static BoundNames* names = new BoundNames;
    return *names;
  }
  void Note(const std::string& real, const std::string& given) {
    std::lock_guard<std::mutex> lock(mu_);
    if (names_.find(real) == names_.end()) {
      order_.push_back(real);
      if (order_.size() > kMax) {
        names_.erase(order_.front());
        order_.pop_front();
      }
    }
    names_[real] = given;
  }
  std::optional<std::string> Given(const std::string& real) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(real);
    if (it == names_.end()) return std::nullopt;
    return it->second;
  }

 private:
  static constexpr size_t kMax = 1024;
  std::mutex mu_;
  std::unordered_map<std::string, std::string> names_;
  std::deque<std::string> order_;
};

// The largest message sendto hands on (a datagram larger than the
// socket's send buffer fails with EMSGSIZE anyway).
constexpr size_t kMaxSendto = size_t{16} << 20;

}  // namespace

// bind and connect: AF_UNIX sockets named by a path.
Response HandleSocketAddress(Call& c) {
  bool bind_call = c.nr() == SYS_bind;
  OVL_TRY(std::string path,
          UnixAddressPath(c, c.arg(1), static_cast<socklen_t>(c.arg(2))));
  if (path.empty()) return Response::Continue();
  OVL_TRY(Target t, c.tracee().Resolve(c.view(), AT_FDCWD, path,
                                       ResolveOptions{.follow = !bind_call}));
  OVL_TRY(UniqueFd sock, c.tracee().GetFd(c.arg_int(0)));
  if (bind_call) {
    if (t.exists) return Response::Error(EADDRINUSE);
    if (ViewRefuses(c, t)) return Response::Error(EROFS);
    int s = sock.get();
    std::string bound;
    Response r = CreateEntry(c, t, false, [s, &bound](int dir, const char* name, UniqueFd*) {
      // The kernel keeps the path bind is given as the socket's name,
      // which getsockname and the peers of a datagram socket see, and to
      // which they reply: the real path, valid in every process, where it
      // fits (the view's path names the socket only through ovlbox);
      // else the supervisor's own short way to the directory.
      sockaddr_un at{};
      at.sun_family = AF_UNIX;
      std::string real = FdPath(dir);
      std::string p = real + "/" + name;
      if (real.empty() || real[0] != '/' || p.size() >= sizeof(at.sun_path)) {
        p = SelfFdPath(dir) + "/" + name;
      }
      if (p.size() >= sizeof(at.sun_path)) return ENAMETOOLONG;
      memcpy(at.sun_path, p.c_str(), p.size() + 1);
      socklen_t n = offsetof(sockaddr_un, sun_path) + p.size() + 1;
      int err = Errno0(bind(s, reinterpret_cast<sockaddr*>(&at), n));
      if (err == 0) bound = p;
      return err;
    });
    if (!bound.empty()) BoundNames::Get().Note(bound, path);
    return r;
  }
  if (!t.exists) return Response::Error(ENOENT);
  if (!S_ISSOCK(t.st.st_mode)) return Response::Error(ECONNREFUSED);
  socklen_t real_len = 0;
  OVL_TRY(sockaddr_un real, RealSocketAddress(t, &real_len));
  return Result(connect(sock.get(), reinterpret_cast<sockaddr*>(&real), real_len));
}

// getsockname and getpeername: a socket bound in the view answers with the
// name the program gave bind (BoundNames), as the kernel keeps it; any
// other answer is the kernel's own.
Response HandleSockName(Call& c) {
  OVL_TRY(UniqueFd sock, c.tracee().GetFd(c.arg_int(0)));
  sockaddr_un un{};
  socklen_t len = sizeof(un);
  int rc = c.nr() == SYS_getsockname
               ? getsockname(sock.get(), reinterpret_cast<sockaddr*>(&un), &len)
               : getpeername(sock.get(), reinterpret_cast<sockaddr*>(&un), &len);
  if (rc != 0 || un.sun_family != AF_UNIX || len <= kSunPathOffset || un.sun_path[0] == '\0') {
    return Response::Continue();
  }
  std::optional<std::string> given = BoundNames::Get().Given(
      std::string(un.sun_path, strnlen(un.sun_path, std::min<size_t>(len, sizeof(un)) -
                                                          kSunPathOffset)));
  if (!given) return Response::Continue();
  // The address as the kernel returns a path it was given: the family, the
  // path and its terminating NUL; copied up to the room the caller gave,
  // the full length reported (addrlen is value-result).
  std::vector<char> out(kSunPathOffset + given->size() + 1, '\0');
  sa_family_t family = AF_UNIX;
  memcpy(out.data(), &family, sizeof(family));
  memcpy(out.data() + kSunPathOffset, given->data(), given->size());
  socklen_t room = 0;
  if (c.Read(c.arg(2), &room, sizeof(room)) != 0) return Response::Error(EFAULT);
  if (static_cast<int>(room) < 0) return Response::Error(EINVAL);
  size_t n = std::min<size_t>(room, out.size());
  if (n != 0 && c.Write(c.arg(1), out.data(), n) != 0) return Response::Error(EFAULT);
  socklen_t full = static_cast<socklen_t>(out.size());
  if (c.Write(c.arg(2), &full, sizeof(full)) != 0) return Response::Error(EFAULT);
  return Response::Value(0);
}

// sendto with a destination address (the filter lets the others run): a
// datagram to an AF_UNIX socket named by a path is sent by the supervisor,
// through the program's own socket (the same open file, so the same bound
// name, flags and queue), to the real socket file the view names, as
// connect above connects it. Any other address, and any other kind of
// socket (a stream or seqpacket socket ignores or refuses the address
// whatever it names), runs unchanged.
Response HandleSendto(Call& c) {
  OVL_TRY(std::string path,
          UnixAddressPath(c, c.arg(4), static_cast<socklen_t>(c.arg(5))));
  if (path.empty()) return Response::Continue();
  OVL_TRY(UniqueFd sock, c.tracee().GetFd(c.arg_int(0)));
  int type = 0, domain = 0;
  socklen_t type_len = sizeof(type), domain_len = sizeof(domain);
  if (getsockopt(sock.get(), SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 ||
      getsockopt(sock.get(), SOL_SOCKET, SO_DOMAIN, &domain, &domain_len) != 0 ||
      type != SOCK_DGRAM || domain != AF_UNIX) {
    // Not a socket, or one another family's: the kernel answers itself.
    return Response::Continue();
  }
  OVL_TRY(Target t, c.tracee().Resolve(c.view(), AT_FDCWD, path, ResolveOptions{}));
  if (!t.exists) return Response::Error(ENOENT);
  if (!S_ISSOCK(t.st.st_mode)) return Response::Error(ECONNREFUSED);
  socklen_t real_len = 0;
  OVL_TRY(sockaddr_un real, RealSocketAddress(t, &real_len));
  size_t size = c.arg(2);
  if (size > kMaxSendto) return Response::Error(EMSGSIZE);
  std::vector<char> data(size);
  if (size != 0 && c.Read(c.arg(1), data.data(), size) != 0) return Response::Error(EFAULT);
  return Result(sendto(sock.get(), data.data(), size, c.arg_int(3),
                       reinterpret_cast<sockaddr*>(&real), real_len));
}

Response HandleInotifyAddWatch(Call& c) {
  uint32_t mask = static_cast<uint32_t>(c.arg(2));
  OVL_TRY(Target t, ResolveExisting(c, AT_FDCWD, c.arg(1), !(mask & IN_DONT_FOLLOW), false));
  if ((mask & IN_ONLYDIR) && !S_ISDIR(t.st.st_mode)) return Response::Error(ENOTDIR);
  OVL_TRY(UniqueFd fd, c.tracee().GetFd(c.arg_int(0)));
  // A watch for changes in a directory of the view that has no upper
  // directory yet: whatever the view changes there lands in its upper
  // copy, a directory the watch on the lower's would never see (overlayfs
  // reports changes on its own inode, the same before and after copy-up).
  // The directory is copied up first, an empty change (the copy lists and
  // reports as the lower's did), and the watch is on the copy.
  constexpr uint32_t kChanges = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                IN_MOVED_TO | IN_CREATE | IN_DELETE;
  if (c.writer() && t.in_view && t.dir && t.dir->top_layer() != 0 && (mask & kChanges)) {
    OVL_TRY(t, c.writer()->CopyUp(t, true, c.Cancelled()));
  }
  return Result(inotify_add_watch(fd.get(), SelfFdPath(t.fd.get()).c_str(),
                                  mask & ~(IN_DONT_FOLLOW | IN_ONLYDIR)));
}

Response HandleFanotifyMark(Call& c) {
  unsigned flags = static_cast<unsigned>(c.arg(1));
  uint64_t mask = c.arg(2);
  int dirfd = c.arg_int(3);
  Target t;
  if (c.arg(4) == 0) {
    OVL_TRY(t, c.tracee().TargetForFd(c.view(), dirfd));
  } else {
    OVL_TRY(t, ResolveExisting(c, dirfd, c.arg(4), !(flags & FAN_MARK_DONT_FOLLOW), false));
  }
  OVL_TRY(UniqueFd fd, c.tracee().GetFd(c.arg_int(0)));
  return Result(fanotify_mark(fd.get(), flags & ~FAN_MARK_DONT_FOLLOW, mask, t.fd.get(), nullptr));
}

}  // namespace ovlbox
