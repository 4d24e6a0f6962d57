#include "tracer/tracee.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#include "overlay/proc_status.h"

namespace ovlbox {
namespace {

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

constexpr size_t kPage = 4096;

std::string ProcPath(pid_t tid, const char* what) {
  char buf[64];
  snprintf(buf, sizeof(buf), "/proc/%d/%s", tid, what);
  return buf;
}

std::string ProcFdPath(pid_t tid, int fd) {
  char buf[64];
  snprintf(buf, sizeof(buf), "/proc/%d/fd/%d", tid, fd);
  return buf;
}

// The target of /proc/TID/cwd or /proc/TID/fd/N; for a directory deeper
// than the link can report, its path worked out name by name.
SysResult<std::string> ReadLink(const std::string& path) {
  char buf[PATH_MAX + 64];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0 && errno == ENAMETOOLONG) {
    UniqueFd dir(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    std::string long_path = dir ? LongDirPath(dir.get()) : std::string();
    if (long_path.empty()) return Errno{ENAMETOOLONG};
    return long_path;
  }
  if (n < 0) return Errno{errno};
  return std::string(buf, n);
}

// Whether the view's directory `dir` came after the removed one that
// `path` (a /proc/TID/cwd/.. path: where the real "..", like the kernel's,
// leads) reaches: that one is removed too (no links left) and is none of
// `dir`'s real directories. (A live directory there is taken for `dir`:
// the real ".." of a directory the Writer swapped out of the way leads
// elsewhere than overlayfs' dentry would.)
bool ReplacedSince(const ViewDir& dir, const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || st.st_nlink != 0) return false;
  for (const LayerDir& ld : dir.stack) {
    struct stat real;
    if (fstat(ld.fd.get(), &real) == 0 && real.st_dev == st.st_dev && real.st_ino == st.st_ino) {
      return false;
    }
  }
  return true;
}

// A single name (`lead`, perhaps with trailing slashes) in a removed
// directory reached through `link`: nothing is found there, but the kernel
// reached the directory and makes the checks that precede the lookup (a
// trailing slash with O_CREAT, "." and ".." of a rename...). None for a
// longer path, ".", "..", or nothing.
std::optional<Target> NameInRemoved(std::string_view lead, std::string link) {
  std::string_view name = lead;
  while (name.ends_with('/')) name.remove_suffix(1);
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    return std::nullopt;
  }
  Target t;
  t.name = std::string(name);
  t.trailing_slash = name.size() != lead.size();
  t.removed_path = std::move(link);
  return t;
}

// An object removed from the view while in use (its real object deleted,
// or a lower's whited out) at `loc`, as overlayfs keeps it, in *t (its
// stat already read). A directory's link count: one when it was merged
// (another lower has a directory at its path, or a lower's held names,
// which removing copied up first), else its own (a new directory of the
// upper: none). A lower's object is marked removed_lower (never to be
// changed); a lower's directory also removed_uncopied when overlayfs held
// no copy of it in the upper (no lower's directory at its path held
// names: it was removed at once), so that it refuses changes.
void MarkRemoved(const View& view, const RealLocation& loc, Target* t) {
  const LayerSet& layers = view.layers();
  if (loc.layer < 0 || loc.rel.empty()) return;
  bool upper = loc.layer < layers.first_lower();
  t->removed_lower = !upper;
  if (!S_ISDIR(t->st.st_mode)) return;
  bool other_lower = false, names = false;
  for (int j = layers.first_lower(); j < layers.size(); ++j) {
    struct stat lower;
    if (fstatat(layers.layer(j).root.get(), loc.rel.c_str(), &lower, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(lower.st_mode)) {
      continue;
    }
    if (j != loc.layer) other_lower = true;
    if (!names) names = DirHoldsNames(layers.layer(j).root.get(), loc.rel.c_str());
  }
  if (other_lower || (!upper && names)) t->st.st_nlink = 1;
  t->removed_uncopied = !upper && !names;
}

// A removed directory reached through `link` (/proc/TID/cwd or fd/N, with
// "/.." for each removed parent passed over), named "." or ".." by the
// caller: a removed directory in which nothing is found. `loc` is where it
// lay in the view (null: taken from its real path).
SysResult<Target> RemovedDir(const View& view, std::string link, LastKind kind,
                             const RealLocation* loc) {
  int fd = open(link.c_str(), O_PATH | O_CLOEXEC);
  if (fd < 0) return Errno{ENOENT};
  Target t;
  t.exists = true;
  t.last = kind;
  t.name = kind == LastKind::kDot ? "." : "..";
  t.fd.reset(fd);
  if (fstat(fd, &t.st) != 0) return Errno{errno};
  RealLocation at;
  if (loc != nullptr) {
    at = *loc;
  } else {
    std::string real = FdPath(fd);
    if (real.ends_with(" (deleted)")) real.resize(real.size() - strlen(" (deleted)"));
    at = view.layers().Locate(real);
  }
  MarkRemoved(view, at, &t);
  t.removed_path = std::move(link);
  return t;
}

}  // namespace

pid_t Tracee::Tgid() {
  if (tgid_ == 0) tgid_ = TgidOfThread(tid_);
  return tgid_;
}

int Tracee::Read(uint64_t addr, void* buf, size_t len) {
  if (len == 0) return 0;
  iovec local{buf, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_readv(tid_, &local, 1, &remote, 1, 0);
  if (n < 0) return errno == ESRCH ? ESRCH : EFAULT;
  return static_cast<size_t>(n) == len ? 0 : EFAULT;
}

int Tracee::Write(uint64_t addr, const void* buf, size_t len) {
  if (len == 0) return 0;
  iovec local{const_cast<void*>(buf), len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  ssize_t n = process_vm_writev(tid_, &local, 1, &remote, 1, 0);
  if (n < 0) return errno == ESRCH ? ESRCH : EFAULT;
  return static_cast<size_t>(n) == len ? 0 : EFAULT;
}

SysResult<std::string> Tracee::ReadString(uint64_t addr, size_t max) {
  if (addr == 0) return Errno{EFAULT};
  std::string out;
  char chunk[kPage];
  while (out.size() <= max) {
    // Never read across a page boundary in one go: the next page may be
    // unmapped although the string ends before it.
    size_t len = kPage - (addr % kPage);
    int err = Read(addr, chunk, len);
    if (err != 0) return Errno{err};
    const void* nul = memchr(chunk, '\0', len);
    if (nul != nullptr) {
      out.append(chunk, static_cast<const char*>(nul) - chunk);
      if (out.size() > max) break;
      return out;
    }
    out.append(chunk, len);
    addr += len;
  }
  return Errno{ERANGE};
}

SysResult<std::string> Tracee::ReadPath(uint64_t addr) {
  auto path = ReadString(addr, PATH_MAX - 1);
  if (!path.ok() && path.error() == ERANGE) return Errno{ENAMETOOLONG};
  return path;
}

SysResult<std::string> Tracee::CwdRealPath() { return ReadLink(ProcPath(tid_, "cwd")); }

SysResult<std::string> Tracee::FdRealPath(int fd) {
  auto path = ReadLink(ProcFdPath(tid_, fd));
  if (!path.ok() && path.error() == ENOENT) return Errno{EBADF};
  return path;
}

SysResult<UniqueFd> Tracee::OpenFdObject(int fd) {
  int ours = open(ProcFdPath(tid_, fd).c_str(), O_PATH | O_CLOEXEC);
  if (ours < 0) return Errno{errno == ENOENT ? EBADF : errno};
  return UniqueFd(ours);
}

SysResult<UniqueFd> Tracee::GetFd(int fd) {
  if (fd < 0) return Errno{EBADF};
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tid_, PIDFD_THREAD));
  if (pidfd < 0 && errno == EINVAL) pidfd = static_cast<int>(syscall(SYS_pidfd_open, Tgid(), 0));
  if (pidfd < 0) return Errno{ESRCH};
  int ours = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  int err = errno;
  close(pidfd);
  if (ours < 0) return Errno{err};
  return UniqueFd(ours);
}

SysResult<mode_t> Tracee::Umask() {
  OVL_ASSIGN_OR_RETURN(std::string status, ReadProcStatus(tid_));
  std::string field = StatusField(status, "Umask");
  if (field.empty()) return Errno{ESRCH};
  return static_cast<mode_t>(strtoul(field.c_str(), nullptr, 8));
}

SysResult<Base> Tracee::BaseFor(const View& view, int dirfd) {
  std::string real;
  if (dirfd == AT_FDCWD) {
    OVL_ASSIGN_OR_RETURN(real, CwdRealPath());
    return view.BaseForRealDir(real, [this]() -> SysResult<UniqueFd> {
      int fd = open(ProcPath(tid_, "cwd").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return Errno{errno};
      return UniqueFd(fd);
    });
  }
  if (dirfd < 0) return Errno{EBADF};
  OVL_ASSIGN_OR_RETURN(real, FdRealPath(dirfd));
  return view.BaseForRealDir(real, [this, dirfd] { return OpenFdObject(dirfd); });
}

SysResult<Target> Tracee::TargetForFd(const View& view, int fd) {
  OVL_ASSIGN_OR_RETURN(UniqueFd obj, OpenFdObject(fd));
  std::string real = FdPath(obj.get());
  RealLocation gone;  // where it lay, when the view no longer has it
  if (!real.empty() && real[0] == '/' && real.ends_with(" (deleted)")) {
    gone = view.layers().Locate(real.substr(0, real.size() - strlen(" (deleted)")));
  } else if (!real.empty() && real[0] == '/') {
    RealLocation loc = view.layers().Locate(real);
    std::string alias;
    if (loc.layer < 0 && view.AliasOf(real, &alias)) {
      loc.layer = 0;  // a stand-in: the view object it serves
      loc.rel = alias;
    }
    struct stat obj_st;
    if (loc.layer >= 0 && view.HasPassthrough() && fstat(obj.get(), &obj_st) == 0 &&
        view.IsPassthrough(obj_st.st_dev)) {
      loc.layer = -1;
    }
    if (loc.layer >= 0) {
      // Its parent from the directory cache, then one lookup.
      SysResult<Target> t = Errno{ENOENT};
      if (loc.rel.empty()) {
        Base root;
        OVL_ASSIGN_OR_RETURN(root.view, view.Root());
        t = view.Resolve(AsCaller(), root, ".", ResolveOptions{.follow = false});
      } else if (auto parent = view.DirAt(ParentRel(loc.rel)); parent.ok()) {
        size_t slash = loc.rel.rfind('/');
        t = view.Lookup(*parent, slash == std::string::npos ? loc.rel : loc.rel.substr(slash + 1));
      }
      // A directory is still the view's while its view directory has it (a
      // lower's directory that an opaque one replaced is not).
      if (t.ok() && t->exists && (!t->dir || t->dir->HasLayer(loc.layer))) return t;
      gone = loc;
    }
  }
  Target t;
  t.exists = true;
  if (fstat(obj.get(), &t.st) != 0) return Errno{errno};
  MarkRemoved(view, gone, &t);
  t.fd = std::move(obj);
  return t;
}

SysResult<Target> Tracee::Resolve(const View& view, int dirfd, const std::string& path,
                                  ResolveOptions options, bool empty_path) {
  if (path.empty()) {
    if (!empty_path) return Errno{ENOENT};
    if (dirfd == AT_FDCWD) {
      OVL_ASSIGN_OR_RETURN(Base base, BaseFor(view, AT_FDCWD));
      return view.Resolve(AsCaller(), base, ".", options);
    }
    return TargetForFd(view, dirfd);
  }
  Base base;
  // openat2's RESOLVE_IN_ROOT starts even an absolute path at dirfd.
  if (path[0] != '/' || (options.resolve & RESOLVE_IN_ROOT)) {
    auto found = BaseFor(view, dirfd);
    if (!found.ok() && found.error() == ENOENT) {
      // A directory removed from the view while in use (its real directory
      // deleted, or still in a lower but whited out): as for overlayfs'
      // unhashed dentry, ".." is still its parent in the view and "." the
      // directory itself; nothing else is found in it.
      auto real = dirfd == AT_FDCWD ? CwdRealPath() : FdRealPath(dirfd);
      if (real.ok() && real->ends_with(" (deleted)")) {
        real->resize(real->size() - strlen(" (deleted)"));
      }
      RealLocation loc = real.ok() ? view.layers().Locate(*real) : RealLocation();
      // Leading "./" names the directory itself.
      std::string_view lead = path;
      while (lead.starts_with("./")) {
        size_t next = lead.find_first_not_of('/', 1);
        lead = next == std::string_view::npos ? std::string_view() : lead.substr(next);
      }
      if (loc.layer >= 0 && !loc.rel.empty()) {
        std::string link = dirfd == AT_FDCWD ? ProcPath(tid_, "cwd") : ProcFdPath(tid_, dirfd);
        if (lead == ".." || lead.starts_with("../")) {
          // Removed ancestors are passed over the same way.
          std::string rel = loc.rel, rest(lead), up = link;
          while (!rel.empty() && (rest == ".." || rest.starts_with("../"))) {
            rel = ParentRel(rel);
            up += "/..";
            size_t next = rest.find_first_not_of('/', 2);
            rest = next == std::string::npos ? std::string() : rest.substr(next);
          }
          auto parent = view.DirAt(rel);
          // The view's directory there now may be another one (the old
          // one removed, and a directory or a file made in its place):
          // the kernel's ".." still leads to the old, removed one.
          if ((parent.ok() && ReplacedSince(**parent, up)) ||
              (!parent.ok() && parent.error() == ENOTDIR)) {
            parent = Errno{ENOENT};
          }
          if (!parent.ok() && parent.error() == ENOENT) {
            // The parent was removed too: overlayfs' unhashed dentry still
            // has it, a removed directory in which nothing is found, but a
            // single name in it is still one the kernel reached (as below).
            if (!rest.empty()) {
              if (access(up.c_str(), F_OK) != 0) return Errno{ENOENT};
              if (auto t = NameInRemoved(rest, std::move(up))) return std::move(*t);
              return Errno{ENOENT};
            }
            return RemovedDir(view, std::move(up), LastKind::kDotDot, nullptr);
          }
          if (!parent.ok()) return Errno{parent.error()};
          base.view = std::move(*parent);
          if (!rest.empty()) return view.Resolve(AsCaller(), base, rest, options);
          // The path ended in "..": that is what the caller names.
          OVL_ASSIGN_OR_RETURN(Target t, view.Resolve(AsCaller(), base, ".", options));
          t.last = LastKind::kDotDot;
          t.name = "..";
          return t;
        }
        // The directory itself, however spelled: "." and "/" alone (".",
        // "./", "./.", ".//./").
        if (path.find_first_not_of("./") == std::string::npos &&
            path.find("..") == std::string::npos) {
          return RemovedDir(view, std::move(link), LastKind::kDot, &loc);
        }
        // A name in it: nothing is found there, but the kernel's checks
        // before the lookup come first.
        if (auto t = NameInRemoved(lead, std::move(link))) return std::move(*t);
      }
    }
    if (!found.ok()) return Errno{found.error()};
    base = std::move(*found);
  }
  return view.Resolve(AsCaller(), base, path, options);
}

}  // namespace ovlbox
