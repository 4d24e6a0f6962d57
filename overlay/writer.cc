#include "overlay/writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "overlay/dirlist.h"
#include "overlay/origin.h"
#include "overlay/creds.h"
#include "overlay/xattr_names.h"

namespace ovlbox {
namespace {

constexpr size_t kCopyChunk = 8 << 20;

// Tells the view, when a change is done, that it changed, and whether
// its directories did (*layout, which it resets).
class ChangedOnExit {
 public:
  ChangedOnExit(const View* view, bool* layout) : view_(view), layout_(layout) {}
  ~ChangedOnExit() {
    view_->Changed(*layout_);
    *layout_ = false;
  }
  ChangedOnExit(const ChangedOnExit&) = delete;
  ChangedOnExit& operator=(const ChangedOnExit&) = delete;

 private:
  const View* view_;
  bool* layout_;
};

std::string FdName(int dirfd, const std::string& name) {
  return absl::StrCat("/proc/self/fd/", dirfd, "/", name);
}

int Renameat2(int olddir, const std::string& oldname, int newdir, const std::string& newname,
              unsigned flags) {
  return syscall(SYS_renameat2, olddir, oldname.c_str(), newdir, newname.c_str(), flags) == 0
             ? 0
             : errno;
}

// Removes a tree below dirfd/name (stale work-dir entries, directories that
// held only whiteouts).
int RemoveTree(int dirfd, const std::string& name) {
  if (unlinkat(dirfd, name.c_str(), 0) == 0) return 0;
  if (errno != EISDIR && errno != EPERM) return errno == ENOENT ? 0 : errno;
  int fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return errno;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names.emplace_back(e->d_name);
  }
  int err = 0;
  for (const std::string& n : names) {
    if (int e = RemoveTree(::dirfd(d), n)) err = e;
  }
  closedir(d);
  if (err) return err;
  return unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) == 0 ? 0 : errno;
}

// Copies the xattrs of `src` (a path whose final component is not
// followed) to `dst` (a path, or an fd when dst_fd >= 0), except the
// overlay's private ones. An xattr the destination cannot take (ENOTSUP,
// EPERM on a symlink, EOVERFLOW) does not fail the copy; a full disk does.
int CopyXattrs(const std::string& src, const std::string& dst, int dst_fd) {
  ssize_t size = llistxattr(src.c_str(), nullptr, 0);
  if (size <= 0) return 0;
  std::vector<char> names(size);
  size = llistxattr(src.c_str(), names.data(), names.size());
  if (size <= 0) return 0;
  std::vector<char> value;
  for (ssize_t i = 0; i < size; i += strlen(&names[i]) + 1) {
    const char* name = &names[i];
    if (IsPrivateXattr(name)) continue;
    ssize_t n = lgetxattr(src.c_str(), name, nullptr, 0);
    if (n < 0) continue;
    value.resize(n);
    n = lgetxattr(src.c_str(), name, value.data(), value.size());
    if (n < 0) continue;
    int rc = dst_fd >= 0 ? fsetxattr(dst_fd, name, value.data(), n, 0)
                         : lsetxattr(dst.c_str(), name, value.data(), n, 0);
    if (rc != 0 && (errno == ENOSPC || errno == EDQUOT)) return errno;
  }
  return 0;
}

// Copies file data, keeping holes; FICLONE when the filesystem can.
int CopyData(int src, int dst, off_t size, const CancelCheck& cancel) {
  if (size == 0) return 0;
  if (ioctl(dst, FICLONE, src) == 0) return 0;
  off_t off = 0;
  std::vector<char> buf;
  while (off < size) {
    off_t data = lseek(src, off, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      data = off;                 // no SEEK_DATA: copy everything
    }
    off_t hole = lseek(src, data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    off_t pos = data;
    while (pos < hole) {
      if (cancel && cancel()) return ECANCELED;
      size_t len = std::min<off_t>(hole - pos, kCopyChunk);
      loff_t in = pos, out = pos;
      ssize_t n = copy_file_range(src, &in, dst, &out, len, 0);
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                    errno == EOPNOTSUPP)) {
        buf.resize(std::min<size_t>(len, 1 << 20));
        n = pread(src, buf.data(), buf.size(), pos);
        if (n > 0 && pwrite(dst, buf.data(), n, pos) != n) return errno ? errno : EIO;
      }
      if (n < 0) return errno;
      if (n == 0) break;  // the file shrank
      pos += n;
    }
    off = hole;
  }
  return ftruncate(dst, size) == 0 ? 0 : errno;
}

// The upper directory of a view directory that is known to be in the upper.
int UpperFd(const ViewDir& dir) { return dir.stack.front().layer == 0 ? dir.top_fd() : -1; }

// Copy-up does not change the view, so it leaves the upper parent's times
// as they were (overlayfs restores them the same way).
class KeepTimes {
 public:
  explicit KeepTimes(int dirfd) : fd_(dirfd) { saved_ = fstat(dirfd, &st_) == 0; }
  ~KeepTimes() {
    if (!saved_) return;
    timespec times[2] = {st_.st_atim, st_.st_mtim};
    SetTimes(fd_, times);
  }

 private:
  static void SetTimes(int fd, const timespec* times) {
    if (futimens(fd, times) != 0) {
      utimensat(AT_FDCWD, absl::StrCat("/proc/self/fd/", fd).c_str(), times, 0);
    }
  }
  int fd_;
  struct stat st_;
  bool saved_ = false;
};

// While it lives, the upper directory `dirfd` lets its owner write in it
// where its mode does not. overlayfs' mounter makes copies in read-only
// directories with CAP_DAC_OVERRIDE; a supervisor without it (an
// unprivileged user) opens its own directory for the copy, then restores
// the mode. Only for the mounter's own steps (a copy-up the caller did
// not ask for by name): what the caller asks for stays checked by the
// directory's own mode.
class OwnerWritable {
 public:
  explicit OwnerWritable(int dirfd) {
    constexpr mode_t kNeeded = S_IWUSR | S_IXUSR;
    struct stat st;
    if (SupervisorIsRoot() || fstat(dirfd, &st) != 0 || (st.st_mode & kNeeded) == kNeeded ||
        st.st_uid != geteuid()) {
      return;
    }
    path_ = absl::StrCat("/proc/self/fd/", dirfd);
    mode_ = st.st_mode & 07777;
    active_ = chmod(path_.c_str(), mode_ | kNeeded) == 0;
  }
  ~OwnerWritable() {
    if (active_) chmod(path_.c_str(), mode_);
  }
  OwnerWritable(const OwnerWritable&) = delete;
  OwnerWritable& operator=(const OwnerWritable&) = delete;

 private:
  std::string path_;
  mode_t mode_ = 0;
  bool active_ = false;
};

bool HasLower(const ViewDir& dir) {
  for (const LayerDir& ld : dir.stack) {
    if (ld.layer != 0) return true;
  }
  return false;
}

int SetOpaque(int dirfd, const std::string& name) {
  if (lsetxattr(FdName(dirfd, name).c_str(), kOpaqueXattr, "y", 1, 0) != 0) return errno;
  return 0;
}

bool IsOpaque(int dirfd, const std::string& name) {
  char v[2];
  return lgetxattr(FdName(dirfd, name).c_str(), kOpaqueXattr, v, sizeof(v)) == 1 && v[0] == 'y';
}

// Marks the upper directory `dirfd` impure (once): 0 or the errno. The
// parent of every copy-up gets it, as overlayfs marks it (a directory that
// may now hold copies), at best effort: an upper without xattrs gets no
// mark, as with overlayfs.
int MarkImpure(int dirfd) {
  if (FdGetXattr(dirfd, kImpureXattr, nullptr, 0) >= 0) return 0;
  return setxattr(absl::StrCat("/proc/self/fd/", dirfd).c_str(), kImpureXattr, "y", 1, 0) == 0
             ? 0
             : errno;
}

// Marks the upper directory `target` impure before the entry `name` of the
// upper directory `dirfd` moves there from another directory, when that
// entry keeps a lower identity, as overlayfs' rename does: a regular file
// with an origin, or anything this very call copied up from a lower where
// it had one link (`from_lower_single`), or a symlink, fifo, socket or
// device copied up earlier in this run (View::SpecialCopyOrigin: no user
// xattr can keep their origin, and overlayfs knows their lower from the
// lookup). Listings of a directory of the upper alone map inode numbers
// only where it is marked.
int MarkImpureFor(const View& view, int dirfd, const std::string& name, int target,
                  bool from_lower_single) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode)) return 0;
  bool copy = from_lower_single ||
              (S_ISREG(st.st_mode)
                   ? lgetxattr(FdName(dirfd, name).c_str(), kOriginXattr, nullptr, 0) >= 0
                   : view.AnySpecialCopy() &&
                         view.SpecialCopyOrigin(st, dirfd, name.c_str()).valid());
  return copy ? MarkImpure(target) : 0;
}

}  // namespace

Writer::Writer(const View* view) : view_(view) {}

absl::Status Writer::Init() {
  const std::string& work = view_->layers().work_dir();
  int base = open(work.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (base < 0) return absl::ErrnoToStatus(errno, absl::StrCat("--work ", work));
  UniqueFd base_fd(base);
  if (mkdirat(base, "work", 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("--work ", work, ": creating work/"));
  }
  int fd = openat(base, "work", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("--work ", work, "/work"));
  work_.reset(fd);
  // The upper's filesystem must hold what overlayfs writes: whiteouts
  // (character devices 0/0) and user.* xattrs (opaque directories).
  std::string probe = TempName();
  if (mknodat(fd, probe.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--upper ", view_->layers().layer(0).path, ": cannot create whiteouts there (mknod 0/0: ",
        strerror(errno), ")"));
  }
  unlinkat(fd, probe.c_str(), 0);
  if (mkdirat(fd, probe.c_str(), 0700) == 0) {
    int rc = lsetxattr(FdName(fd, probe).c_str(), "user.ovlbox.probe", "y", 1, 0);
    int err = errno;
    unlinkat(fd, probe.c_str(), AT_REMOVEDIR);
    if (rc != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--upper ", view_->layers().layer(0).path,
          ": the filesystem does not take user.* xattrs (needed for opaque directories: ",
          strerror(err), ")"));
    }
  }
  // What a killed run left half-built is never visible; remove it.
  DIR* d = fdopendir(dup(fd));
  if (d != nullptr) {
    std::vector<std::string> stale;
    while (dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) stale.emplace_back(e->d_name);
    }
    closedir(d);
    for (const std::string& name : stale) RemoveTree(fd, name);
  }
  return absl::OkStatus();
}

std::string Writer::TempName() { return absl::StrCat("#ovlbox.", getpid(), ".", ++counter_); }

bool Writer::LowerHas(const ViewDir& dir, const std::string& name) const {
  for (const LayerDir& ld : dir.stack) {
    if (ld.layer == 0) continue;
    struct stat st;
    if (fstatat(ld.fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (IsWhiteout(st)) return false;
    if (S_ISDIR(st.st_mode) && view_->layers().IsHidden(st.st_dev, st.st_ino)) return false;
    if (ld.xwhiteouts && S_ISREG(st.st_mode) && st.st_size == 0 &&
        IsXattrWhiteout(ld.fd.get(), name)) {
      return false;
    }
    return true;
  }
  return false;
}

SysResult<Target> Writer::Relookup(const Target& t) const {
  if (t.rel.empty()) {
    OVL_ASSIGN_OR_RETURN(ViewDirPtr root, view_->Root());
    return view_->Resolve(Caller{}, Base{root, nullptr}, ".", {});
  }
  OVL_ASSIGN_OR_RETURN(ViewDirPtr parent, view_->DirAt(ParentRel(t.rel)));
  size_t slash = t.rel.rfind('/');
  std::string name = slash == std::string::npos ? t.rel : t.rel.substr(slash + 1);
  return view_->Lookup(parent, name);
}

SysResult<ViewDirPtr> Writer::CopyUpDir(const ViewDirPtr& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  ChangedOnExit changed(view_, &layout_);
  return CopyUpDirLocked(dir);
}

SysResult<ViewDirPtr> Writer::CopyUpDirLocked(const ViewDirPtr& dir_in) {
  if (dir_in->stack.front().layer == 0) return dir_in;
  AsMounter mounter;
  // The caller's view of the directory may predate a copy-up made since.
  OVL_ASSIGN_OR_RETURN(ViewDirPtr dir, view_->DirAt(dir_in->rel));
  if (dir->stack.front().layer == 0) return dir;
  if (dir->rel.empty()) return Errno{EIO};  // the root always has an upper
  OVL_ASSIGN_OR_RETURN(ViewDirPtr parent, view_->DirAt(ParentRel(dir->rel)));
  OVL_ASSIGN_OR_RETURN(ViewDirPtr up, CopyUpDirLocked(parent));
  size_t slash = dir->rel.rfind('/');
  std::string name = slash == std::string::npos ? dir->rel : dir->rel.substr(slash + 1);
  std::string tmp = TempName();
  const struct stat& st = dir->st;
  int src = dir->top_fd();
  layout_ = true;
  if (mkdirat(work_.get(), tmp.c_str(), 0700) != 0) return Errno{errno};
  auto fail = [&](int err) -> SysResult<ViewDirPtr> {
    RemoveTree(work_.get(), tmp);
    return Errno{err};
  };
  std::string src_path = absl::StrCat("/proc/self/fd/", src, "/.");
  if (int err = CopyXattrs(src_path, FdName(work_.get(), tmp), -1)) return fail(err);
  std::string origin = EncodeOrigin(src, "", view_->layers().layer(dir->top_layer()).uuid);
  lsetxattr(FdName(work_.get(), tmp).c_str(), kOriginXattr, origin.data(), origin.size(), 0);
  fchownat(work_.get(), tmp.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
  // Moving a directory to another parent takes write permission on it
  // (its ".." changes): one the mounter may not write gets its mode once in
  // place, where an unprivileged supervisor could not move it.
  const mode_t mode = st.st_mode & 07777;
  const mode_t moving = SupervisorIsRoot() ? mode : mode | S_IWUSR;
  if (fchmodat(work_.get(), tmp.c_str(), moving, 0) != 0) return fail(errno);
  timespec times[2] = {st.st_atim, st.st_mtim};
  utimensat(work_.get(), tmp.c_str(), times, AT_SYMLINK_NOFOLLOW);
  {
    KeepTimes keep(UpperFd(*up));
    OwnerWritable writable(UpperFd(*up));
    MarkImpure(UpperFd(*up));
    if (int err = Renameat2(work_.get(), tmp, UpperFd(*up), name, RENAME_NOREPLACE)) {
      return fail(err);
    }
  }
  if (moving != mode) {
    fchmodat(UpperFd(*up), name.c_str(), mode, 0);
    utimensat(UpperFd(*up), name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
  // Its stack now starts with the upper; the directories below it are
  // unchanged (they have no upper part yet).
  view_->InvalidateDir(dir->rel, false);
  return view_->DirAt(dir->rel);
}

int Writer::CopyUpFile(const Target& t, int upper_parent, bool with_data,
                       const CancelCheck& cancel) {
  int src_parent = -1;
  for (const LayerDir& ld : t.parent->stack) {
    if (ld.layer == t.layer) src_parent = ld.fd.get();
  }
  if (src_parent < 0) return EIO;
  const struct stat& st = t.st;
  const std::string& name = t.name;
  std::string src_path = FdName(src_parent, name);
  timespec times[2] = {st.st_atim, st.st_mtim};

  if (S_ISREG(st.st_mode)) {
    UniqueFd src(openat(src_parent, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!src) return errno;
    std::string tmp;
    UniqueFd dst(openat(work_.get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!dst) {
      tmp = TempName();
      dst.reset(openat(work_.get(), tmp.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600));
      if (!dst) return errno;
    }
    auto fail = [&](int err) {
      if (!tmp.empty()) unlinkat(work_.get(), tmp.c_str(), 0);
      return err;
    };
    if (with_data) {
      if (int err = CopyData(src.get(), dst.get(), st.st_size, cancel)) return fail(err);
    }
    if (int err = CopyXattrs(src_path, "", dst.get())) return fail(err);
    // Where the copy came from, as overlayfs records it (not for a file
    // with other hard links: the copy breaks the link and is a new file).
    // The preload library takes a regular file of the upper with no origin
    // for no copy: a filesystem that holds xattrs must hold this one.
    // Before the mode: a user.* xattr needs write permission, which a
    // read-only file's owner lacks without privilege.
    std::string origin;
    if (st.st_nlink == 1) {
      origin = EncodeOrigin(src.get(), "", view_->layers().layer(t.layer).uuid);
      if (fsetxattr(dst.get(), kOriginXattr, origin.data(), origin.size(), 0) != 0 &&
          errno != ENOTSUP) {
        return fail(errno);
      }
    }
    if (fchown(dst.get(), st.st_uid, st.st_gid) != 0 && errno != EPERM) return fail(errno);
    if (fchmod(dst.get(), st.st_mode & 07777) != 0) return fail(errno);
    if (futimens(dst.get(), times) != 0) return fail(errno);
    if (tmp.empty()) {
      std::string self = absl::StrCat("/proc/self/fd/", dst.get());
      if (linkat(AT_FDCWD, self.c_str(), upper_parent, name.c_str(), AT_SYMLINK_FOLLOW) != 0) {
        return errno;
      }
    } else if (int err = Renameat2(work_.get(), tmp, upper_parent, name, RENAME_NOREPLACE)) {
      return fail(err);
    }
    struct stat up;
    if (st.st_nlink == 1 && fstat(dst.get(), &up) == 0) view_->RecordCopyUp(up, st, origin);
    return 0;
  }

  std::string tmp = TempName();
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX + 1];
    ssize_t n = readlinkat(src_parent, name.c_str(), target, sizeof(target) - 1);
    if (n < 0) return errno;
    target[n] = '\0';
    if (symlinkat(target, work_.get(), tmp.c_str()) != 0) return errno;
  } else {
    if (mknodat(work_.get(), tmp.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
      return errno;
    }
  }
  auto fail = [&](int err) {
    unlinkat(work_.get(), tmp.c_str(), 0);
    return err;
  };
  if (int err = CopyXattrs(src_path, FdName(work_.get(), tmp), -1)) return fail(err);
  if (fchownat(work_.get(), tmp.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 &&
      errno != EPERM) {
    return fail(errno);
  }
  if (!S_ISLNK(st.st_mode) && fchmodat(work_.get(), tmp.c_str(), st.st_mode & 07777, 0) != 0) {
    return fail(errno);
  }
  utimensat(work_.get(), tmp.c_str(), times, AT_SYMLINK_NOFOLLOW);
  if (int err = Renameat2(work_.get(), tmp, upper_parent, name, RENAME_NOREPLACE)) {
    return fail(err);
  }
  // Its lower identity, which no xattr can keep (View::RecordSpecialCopy).
  if (st.st_nlink == 1) view_->RecordSpecialCopy(upper_parent, name, st);
  return 0;
}

SysResult<Target> Writer::CopyUp(const Target& t, bool with_data, const CancelCheck& cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  ChangedOnExit changed(view_, &layout_);
  return CopyUpLocked(t, with_data, cancel);
}

SysResult<Target> Writer::CopyUpLocked(const Target& t, bool with_data,
                                       const CancelCheck& cancel) {
  if (!t.in_view || !t.exists) return Errno{ENOENT};
  AsMounter mounter;
  if (t.layer == 0 && (!t.dir || t.dir->stack.front().layer == 0)) return Relookup(t);
  if (S_ISDIR(t.st.st_mode) || t.rel.empty()) {
    OVL_ASSIGN_OR_RETURN(ViewDirPtr dir, CopyUpDirLocked(t.dir));
    (void)dir;
    if (t.rel.empty()) return view_->Resolve(Caller{}, Base{*view_->Root(), nullptr}, ".", {});
    return Relookup(t);
  }
  OVL_ASSIGN_OR_RETURN(ViewDirPtr up, CopyUpDirLocked(t.parent));
  // The parent may have been copied up just now: look the object up again
  // to find which layer holds it.
  OVL_ASSIGN_OR_RETURN(Target fresh, view_->Lookup(up, t.name));
  if (!fresh.exists) return Errno{ENOENT};
  if (fresh.layer != 0) {
    KeepTimes keep(UpperFd(*up));
    OwnerWritable writable(UpperFd(*up));
    MarkImpure(UpperFd(*up));
    if (int err = CopyUpFile(fresh, UpperFd(*up), with_data, cancel)) return Errno{err};
  }
  return Relookup(t);
}

int Writer::Whiteout(int upper_parent, const std::string& name, bool replace_dir) {
  std::string tmp = TempName();
  if (mknodat(work_.get(), tmp.c_str(), S_IFCHR | 0000, makedev(0, 0)) != 0) return errno;
  if (replace_dir) {
    // Removed in place (not swapped into the work dir): a program whose
    // cwd was this directory keeps a deleted directory of the upper, whose
    // ".." is still its parent in the view.
    UniqueFd dir(openat(upper_parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    int err = dir ? RemoveWhiteouts(dir.get()) : errno;
    if (err == 0 && unlinkat(upper_parent, name.c_str(), AT_REMOVEDIR) != 0) err = errno;
    if (err != 0) {
      unlinkat(work_.get(), tmp.c_str(), 0);
      return err;
    }
  }
  if (renameat(work_.get(), tmp.c_str(), upper_parent, name.c_str()) != 0) {
    int err = errno;
    unlinkat(work_.get(), tmp.c_str(), 0);
    return err;
  }
  return 0;
}

void Writer::InheritAsMadeIn(int parent, const std::string& tmp) {
  struct stat pst {}, st {};
  if (fstat(parent, &pst) != 0 ||
      fstatat(work_.get(), tmp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return;
  }
  bool acting = ActingForCaller();
  bool sgid_dir = (pst.st_mode & S_ISGID) != 0;
  if (!acting && !sgid_dir) return;  // made with the caller's own ids already
  const ThreadCreds& creds = CurrentThreadCreds();
  // A set-group-ID directory gives what is made in it its group, and a
  // directory made in it the bit too (the kernel's inode_init_owner).
  uid_t uid = acting ? creds.caller_fsuid : static_cast<uid_t>(-1);
  gid_t gid = sgid_dir ? pst.st_gid : acting ? creds.caller_fsgid : static_cast<gid_t>(-1);
  if (fchownat(work_.get(), tmp.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (S_ISLNK(st.st_mode)) return;
  mode_t mode = st.st_mode & 07777;
  if (S_ISDIR(st.st_mode) && sgid_dir) {
    mode |= S_ISGID;
  } else if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) {
    // A file keeps a set-group-ID bit it asked for only when its maker
    // belongs to its group (the chown above cleared it).
    uid_t maker_uid = acting ? creds.caller_fsuid : geteuid();
    gid_t maker_gid = acting ? creds.caller_fsgid : getegid();
    std::vector<gid_t> groups = acting ? creds.caller_groups : std::vector<gid_t>{};
    if (!acting) {
      int n = getgroups(0, nullptr);
      if (n > 0) {
        groups.resize(static_cast<size_t>(n));
        if (getgroups(n, groups.data()) < 0) groups.clear();
      }
    }
    bool member = maker_uid == 0 || maker_gid == pst.st_gid ||
                  std::find(groups.begin(), groups.end(), pst.st_gid) != groups.end();
    if (!member) mode &= ~static_cast<mode_t>(S_ISGID);
  }
  fchmodat(work_.get(), tmp.c_str(), mode, 0);
}

int Writer::Create(const Target& t, bool is_dir, const MakeEntry& make, UniqueFd* fd_out) {
  std::lock_guard<std::mutex> lock(mu_);
  ChangedOnExit changed(view_, &layout_);
  if (!t.in_view || !t.parent) return EROFS;
  if (is_dir) layout_ = true;
  // The caller's permission first: a refused creation copies nothing up.
  if (int err = CallerMayChangeDir(t.parent->st)) return err;
  auto up = CopyUpDirLocked(t.parent);
  if (!up.ok()) return up.error();
  int parent = UpperFd(**up);
  // Made in place at once; only a name that is taken (EEXIST, or
  // EADDRINUSE for a socket's bind) can be a whiteout to replace.
  int err = make(parent, t.name.c_str(), fd_out);
  struct stat st;
  if ((err == EEXIST || err == EADDRINUSE) &&
      fstatat(parent, t.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && IsWhiteout(st)) {
    // Over a whiteout: build it in the work dir and swap it in; a
    // directory becomes opaque so the lower one stays hidden. The work dir
    // is the mounter's; the new object is the caller's, as if made in place.
    AsMounter mounter;
    std::string tmp = TempName();
    if ((err = make(work_.get(), tmp.c_str(), fd_out)) != 0) return err;
    InheritAsMadeIn(parent, tmp);
    if (is_dir) {
      if ((err = SetOpaque(work_.get(), tmp)) == 0) {
        err = Renameat2(work_.get(), tmp, parent, t.name, RENAME_EXCHANGE);
      }
      if (err == 0) {
        unlinkat(work_.get(), tmp.c_str(), 0);  // the whiteout
      } else {
        RemoveTree(work_.get(), tmp);
      }
    } else {
      if (renameat(work_.get(), tmp.c_str(), parent, t.name.c_str()) != 0) {
        err = errno;
        unlinkat(work_.get(), tmp.c_str(), 0);
        if (fd_out) fd_out->reset();
      }
    }
  }
  // A name that did not exist had no cached directory, nor any below it
  // (removals and renames drop whole subtrees): only its own entry, in
  // case a racing lookup cached it.
  view_->InvalidateDir(t.rel, false);
  return err;
}

int Writer::RemoveWhiteouts(int dirfd) {
  DIR* d = fdopendir(fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
  if (d == nullptr) return errno;
  int fd = ::dirfd(d);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (e->d_type == DT_CHR || e->d_type == DT_UNKNOWN) names.emplace_back(e->d_name);
  }
  int err = 0;
  for (const std::string& name : names) {
    struct stat st;
    if (fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && IsWhiteout(st) &&
        unlinkat(fd, name.c_str(), 0) != 0) {
      err = errno;
    }
  }
  closedir(d);
  return err;
}

int Writer::Remove(const Target& t, bool is_dir) {
  std::lock_guard<std::mutex> lock(mu_);
  ChangedOnExit changed(view_, &layout_);
  if (!t.in_view || !t.exists || !t.parent) return ENOENT;
  bool dir = S_ISDIR(t.st.st_mode);
  if (is_dir && !dir) return ENOTDIR;
  if (!is_dir && dir) return EISDIR;
  if (dir) {
    // A directory that is not empty stays as it is: no layout change for
    // the library's records (`dpkg -r` tries rmdir on every directory of
    // a package, /usr and /usr/share among them).
    auto entries = ListMerged(*view_, *t.dir, 0);
    if (!entries.ok()) return entries.error();
    if (entries->size() > 2) return ENOTEMPTY;
    layout_ = true;
  }
  if (int err = CallerMayChangeDir(t.parent->st)) return err;
  if (int err = CallerMayRemoveFrom(t.parent->st, t.st)) return err;
  AsMounter mounter;
  bool in_upper = dir ? t.dir->stack.front().layer == 0 : t.layer == 0;
  bool needs_whiteout = LowerHas(*t.parent, t.name);
  auto up = CopyUpDirLocked(t.parent);
  if (!up.ok()) return up.error();
  int parent = UpperFd(**up);
  int err;
  if (needs_whiteout) {
    err = Whiteout(parent, t.name, dir && in_upper);
  } else if (dir) {
    UniqueFd fd(openat(parent, t.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    err = fd ? RemoveWhiteouts(fd.get()) : errno;
    if (err == 0 && unlinkat(parent, t.name.c_str(), AT_REMOVEDIR) != 0) err = errno;
  } else {
    err = unlinkat(parent, t.name.c_str(), 0) == 0 ? 0 : errno;
  }
  // Only a directory has cached directories below it.
  view_->InvalidateDir(t.rel, dir);
  return err;
}

int Writer::Rename(const Target& from, const Target& to, unsigned flags) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return EINVAL;
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return EINVAL;
  std::lock_guard<std::mutex> lock(mu_);
  ChangedOnExit changed(view_, &layout_);
  if (!from.exists) return ENOENT;
  if (!from.parent || !to.parent) return EBUSY;
  bool exchange = flags & RENAME_EXCHANGE;
  if (exchange && !to.exists) return ENOENT;
  bool from_dir = S_ISDIR(from.st.st_mode);
  bool to_dir = to.exists && S_ISDIR(to.st.st_mode);
  if (from_dir || to_dir) layout_ = true;
  if (from.rel == to.rel) return 0;
  // Without redirect_dir (userxattr forces it off) a directory that has
  // lower content cannot move: EXDEV, and `mv` falls back to copying.
  if (from_dir && HasLower(*from.dir)) return EXDEV;
  if (exchange && to_dir && HasLower(*to.dir)) return EXDEV;
  // A target directory that is not empty: overlayfs refuses one with lower
  // content itself, first; one of the upper alone is the upper's rename to
  // refuse, after the source directory was made opaque for its new place
  // (which it keeps).
  bool target_not_empty = false;
  if (!exchange && to_dir) {
    auto entries = ListMerged(*view_, *to.dir, 0);
    if (!entries.ok()) return entries.error();
    if (entries->size() > 2) {
      if (HasLower(*to.dir)) return ENOTEMPTY;
      target_not_empty = true;
    }
  }

  if (ChecksCaller()) {
    // As may_delete/may_create and vfs_rename judge it, for the caller.
    if (int err = CallerMayChangeDir(from.parent->st)) return err;
    if (int err = CallerMayChangeDir(to.parent->st)) return err;
    if (int err = CallerMayRemoveFrom(from.parent->st, from.st)) return err;
    if (to.exists) {
      if (int err = CallerMayRemoveFrom(to.parent->st, to.st)) return err;
    }
    if (from_dir && from.parent->rel != to.parent->rel) {
      if (int err = CallerMayChangeDir(from.st)) return err;
    }
  }
  AsMounter mounter;
  bool from_needs_whiteout = LowerHas(*from.parent, from.name);
  bool to_has_lower = to.exists && LowerHas(*to.parent, to.name);
  // What overlayfs' rename judges by the dentries (see MarkImpureFor).
  bool samedir = from.parent->rel == to.parent->rel;
  bool from_lower_single = from.layer != 0 && from.st.st_nlink == 1;
  bool to_lower_single = to.exists && to.layer != 0 && to.st.st_nlink == 1;
  auto src = CopyUpLocked(from, true, nullptr);
  if (!src.ok()) return src.error();
  if (exchange) {
    auto dst = CopyUpLocked(to, true, nullptr);
    if (!dst.ok()) return dst.error();
  }
  auto sp = view_->DirAt(ParentRel(from.rel));
  if (!sp.ok()) return sp.error();
  auto dp_view = view_->DirAt(ParentRel(to.rel));
  if (!dp_view.ok()) return dp_view.error();
  auto dp = CopyUpDirLocked(*dp_view);
  if (!dp.ok()) return dp.error();
  sp = view_->DirAt(ParentRel(from.rel));
  if (!sp.ok()) return sp.error();
  int sfd = UpperFd(**sp), dfd = UpperFd(**dp);
  if (sfd < 0 || dfd < 0) return EIO;
  int err = 0;
  if (exchange) {
    // A directory that arrives under a merged parent becomes opaque.
    if (from_dir && !IsOpaque(sfd, from.name) && HasLower(**dp)) {
      if ((err = SetOpaque(sfd, from.name)) != 0) return err;
    }
    if (to_dir && !IsOpaque(dfd, to.name) && HasLower(**sp)) {
      if ((err = SetOpaque(dfd, to.name)) != 0) return err;
    }
    if (!samedir) {
      if ((err = MarkImpureFor(*view_, sfd, from.name, dfd, from_lower_single)) != 0) return err;
      if ((err = MarkImpureFor(*view_, dfd, to.name, sfd, to_lower_single)) != 0) return err;
    }
    err = Renameat2(sfd, from.name, dfd, to.name, RENAME_EXCHANGE);
    // Each object under the other's name now (a copy of a symlink keeps
    // its identity by the name it moves to).
    if (err == 0) view_->SwapSpecialCopies(sfd, from.name, dfd, to.name);
    view_->InvalidateDir(from.rel, true);
    view_->InvalidateDir(to.rel, true);
    return err;
  }
  // A directory moved under a merged parent, or over a name a lower layer
  // has, becomes opaque (as overlayfs does), so no lower content appears in
  // it at its new place.
  struct stat upper_st;
  bool upper_entry = fstatat(dfd, to.name.c_str(), &upper_st, AT_SYMLINK_NOFOLLOW) == 0;
  if (from_dir && !IsOpaque(sfd, from.name) &&
      (HasLower(**dp) || to_has_lower || (upper_entry && IsWhiteout(upper_st)))) {
    if ((err = SetOpaque(sfd, from.name)) != 0) return err;
  }
  if (target_not_empty) {
    view_->InvalidateDir(from.rel, true);
    return ENOTEMPTY;
  }
  if (!samedir &&
      (err = MarkImpureFor(*view_, sfd, from.name, dfd, from_lower_single)) != 0) {
    return err;
  }
  bool whiteout_placed = false;
  // A directory of the upper that holds nothing is replaced where it is,
  // as the kernel's rename replaces it: a program whose cwd it was keeps
  // it, removed, with its own ".." (swapped first, it would be removed
  // from the source's place). One that holds whiteouts alone is emptied
  // first (below); one that cannot be is swapped out.
  bool empty_dir_target =
      upper_entry && from_dir && S_ISDIR(upper_st.st_mode) && !DirHoldsNames(dfd, to.name.c_str());
  if (upper_entry && from_dir && S_ISDIR(upper_st.st_mode) && !empty_dir_target) {
    // Empty in the view, so it holds whiteouts alone: made opaque (the
    // lowers stay hidden meanwhile) and emptied where it is, then replaced
    // in place like an empty one. Swapped out, a removed cwd below it would
    // follow it elsewhere by its real "..".
    UniqueFd target(
        openat(dfd, to.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (target && (IsOpaque(dfd, to.name) || SetOpaque(dfd, to.name) == 0) &&
        RemoveWhiteouts(target.get()) == 0) {
      empty_dir_target = !DirHoldsNames(dfd, to.name.c_str());
    }
  }
  if (upper_entry && (from_dir || S_ISDIR(upper_st.st_mode)) && !empty_dir_target) {
    // Swap, then deal with what was at the destination (now at the source
    // name): a whiteout there is exactly what the source name may need.
    err = Renameat2(sfd, from.name, dfd, to.name, RENAME_EXCHANGE);
    if (err == 0) {
      if (IsWhiteout(upper_st) && from_needs_whiteout) {
        whiteout_placed = true;
      } else if (S_ISDIR(upper_st.st_mode)) {
        UniqueFd old(openat(sfd, from.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (old) RemoveWhiteouts(old.get());
        unlinkat(sfd, from.name.c_str(), AT_REMOVEDIR);
      } else {
        unlinkat(sfd, from.name.c_str(), 0);
      }
    }
  } else if (upper_entry) {
    err = renameat(sfd, from.name.c_str(), dfd, to.name.c_str()) == 0 ? 0 : errno;
  } else if (from_needs_whiteout) {
    // Leave the whiteout in the same step where the kernel allows it.
    err = Renameat2(sfd, from.name, dfd, to.name, RENAME_NOREPLACE | RENAME_WHITEOUT);
    if (err == 0) {
      whiteout_placed = true;
    } else if (err == EPERM || err == EINVAL) {
      err = Renameat2(sfd, from.name, dfd, to.name, RENAME_NOREPLACE);
    }
  } else {
    err = Renameat2(sfd, from.name, dfd, to.name, RENAME_NOREPLACE);
  }
  if (err == 0) view_->MoveSpecialCopy(sfd, from.name, dfd, to.name);
  if (err == 0 && from_needs_whiteout && !whiteout_placed) err = Whiteout(sfd, from.name, false);
  view_->InvalidateDir(from.rel, true);
  view_->InvalidateDir(to.rel, true);
  return err;
}

int Writer::Link(const Target& from, const Target& to) {
  if (S_ISDIR(from.st.st_mode)) return EPERM;
  if (to.exists) return EEXIST;
  SysResult<Target> src = Errno{EIO};
  {
    std::lock_guard<std::mutex> lock(mu_);
    ChangedOnExit changed(view_, &layout_);
    src = CopyUpLocked(from, true, nullptr);
  }
  if (!src.ok()) return src.error();
  auto sp = view_->DirAt(ParentRel(from.rel));
  if (!sp.ok()) return sp.error();
  int sfd = UpperFd(**sp);
  std::string name = from.name;
  bool from_lower_single = from.layer != 0 && from.st.st_nlink == 1;
  // The target's parent may be copied up by Create: hold the source by fd.
  UniqueFd keep(fcntl(sfd, F_DUPFD_CLOEXEC, 0));
  return Create(to, false,
                [&](int dirfd, const char* newname, UniqueFd*) {
                  if (int err = MarkImpureFor(*view_, keep.get(), name, dirfd, from_lower_single)) {
                    return err;
                  }
                  return linkat(keep.get(), name.c_str(), dirfd, newname, 0) == 0 ? 0 : errno;
                },
                nullptr);
}

int Writer::Modify(const Target& t,
                   bool with_data,
                   const std::function<int(int obj_fd, int parent_fd, const char* name)>& apply,
                   const CancelCheck& cancel) {
  std::lock_guard<std::mutex> lock(mu_);
  ChangedOnExit changed(view_, &layout_);
  if (S_ISDIR(t.st.st_mode) || t.rel.empty()) layout_ = true;
  auto up = CopyUpLocked(t, with_data, cancel);
  if (!up.ok()) return up.error();
  if (S_ISDIR(up->st.st_mode)) layout_ = true;
  int parent = -1;
  if (up->parent) parent = UpperFd(*up->parent);
  // Attributes only: no directory's layers change, but a cached directory
  // keeps its mode and owner (permission checks read them).
  int err = apply(up->fd.get(), parent, up->name.c_str());
  if (S_ISDIR(up->st.st_mode)) view_->InvalidateDir(up->rel, false);
  return err;
}

}  // namespace ovlbox
