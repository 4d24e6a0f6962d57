#include "overlay/dirlist.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "overlay/xattr_names.h"

namespace ovlbox {
namespace {

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

struct LinuxDirent {
  unsigned long d_ino;
  unsigned long d_off;
  unsigned short d_reclen;
  char d_name[];  // followed by a pad byte and d_type in the last byte
};

// Reads every entry of one real directory.
template <typename Fn>
int ForEachRealEntry(int dir_path_fd, Fn&& fn) {
  int fd = openat(dir_path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  alignas(8) char buf[32768];
  int err = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<LinuxDirent64*>(buf + off);
      fn(d->d_name, static_cast<ino_t>(d->d_ino), d->d_type);
      off += d->d_reclen;
    }
  }
  close(fd);
  return err;
}

bool IsOpaqueEntry(int dirfd, const char* name) {
  std::string path = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
  char v[2];
  return lgetxattr(path.c_str(), kOpaqueXattr, v, sizeof(v)) == 1 && v[0] == 'y';
}

// Whether the upper directory `fd` is marked impure.
bool IsImpure(int fd) { return FdGetXattr(fd, kImpureXattr, nullptr, 0) >= 0; }

}  // namespace

uint64_t NameCookie(std::string_view name) {
  return ovlbox_name_cookie(name.data(), name.size());
}

// The inode number a regular file of the upper directory `dirfd` (the
// view directory `rel`) reports: its lower file's when it is a copy.
ino_t CopiedUpIno(const View& view, int dirfd, const std::string& rel, const char* name,
                  ino_t real_ino) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
    return real_ino;
  }
  OriginId id = view.CopyOrigin(
      st,
      [&](char* buf, size_t size) {
        std::string path = absl::StrCat("/proc/self/fd/", dirfd, "/", name);
        return lgetxattr(path.c_str(), kOriginXattr, buf, size);
      },
      [&] { return JoinRel(rel, name); });
  return id.valid() ? id.ino : real_ino;
}

bool NeedsMergedListing(const View& view, const ViewDir& dir) {
  if (dir.merged()) return true;
  for (const LayerDir& ld : dir.stack) {
    if (ld.xwhiteouts) return true;
  }
  return view.layers().HoldsHidden(dir.st.st_dev, dir.st.st_ino);
}

SysResult<std::vector<DirEntry>> ListMerged(const View& view, const ViewDir& dir,
                                            ino_t parent_ino, bool as_readdir) {
  std::vector<DirEntry> out;
  out.push_back({1, dir.stable_ino, DT_DIR, "."});
  out.push_back({2, parent_ino, DT_DIR, ".."});
  absl::flat_hash_set<std::string> seen;
  const LayerSet& layers = view.layers();
  bool raw = as_readdir && !NeedsMergedListing(view, dir);
  for (size_t i = 0; i < dir.stack.size(); ++i) {
    const LayerDir& ld = dir.stack[i];
    struct stat dst;
    bool holds_hidden = fstat(ld.fd.get(), &dst) == 0 && layers.HoldsHidden(dst.st_dev, dst.st_ino);
    // Copies list their lower file's number (as stat reports it) in a
    // merged directory, and in a directory of the upper alone only when it
    // is marked impure, as overlayfs lists them: a copy arrives in such a
    // directory only by a rename or a link, which mark it.
    bool map_copies = ld.layer == 0 && layers.has_upper() &&
                      (dir.stack.size() > 1 || IsImpure(ld.fd.get()));
    int err = ForEachRealEntry(ld.fd.get(), [&](const char* name, ino_t ino, unsigned char type) {
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) return;
      auto [it, inserted] = seen.insert(name);
      if (!inserted) return;  // an upper layer already has (or hides) it
      if (type == DT_REG && map_copies) {
        // A copied-up file lists its lower file's number, as stat reports
        // it (overlayfs does the same in directories it marks impure).
        ino = CopiedUpIno(view, ld.fd.get(), dir.rel, name, ino);
      }
      if (raw) {
        out.push_back({NameCookie(name), ino, type, name});
        return;
      }
      if (type == DT_CHR || type == DT_UNKNOWN ||
          (type == DT_DIR && holds_hidden) || (type == DT_REG && ld.xwhiteouts)) {
        struct stat st;
        if (fstatat(ld.fd.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
        if (IsWhiteout(st)) return;
        if (S_ISDIR(st.st_mode) && layers.IsHidden(st.st_dev, st.st_ino)) return;
        if (ld.xwhiteouts && S_ISREG(st.st_mode) && st.st_size == 0 &&
            IsXattrWhiteout(ld.fd.get(), name)) {
          return;
        }
        type = IFTODT(st.st_mode);
      }
      if (type == DT_DIR && ld.layer == 0 && layers.has_upper() && i + 1 < dir.stack.size() &&
          !IsOpaqueEntry(ld.fd.get(), name)) {
        // A directory copied up reports its lower directory's number, as
        // stat does (ViewDir::stable_ino); an opaque one merges nothing.
        for (size_t j = i + 1; j < dir.stack.size(); ++j) {
          struct stat below;
          if (fstatat(dir.stack[j].fd.get(), name, &below, AT_SYMLINK_NOFOLLOW) != 0) continue;
          if (S_ISDIR(below.st_mode)) ino = below.st_ino;
          break;
        }
      }
      out.push_back({NameCookie(name), ino, type, name});
    });
    if (err != 0) return Errno{err};
  }
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.cookie < b.cookie; });
  return out;
}

// The d_ino of ".." in the view's listing of `dir`, as overlayfs gives it.
// A directory of one layer lists its parent's number as stat reports it
// when the parent is merged, and its real ".." otherwise. A merged
// directory lists the number stat reports for a parent below the root that
// has an upper and a lower directory (overlayfs' "origin" type), and
// otherwise the real ".." of its own top directory.
ino_t DotDotIno(const View& view, const ViewDir& dir) {
  if (!dir.rel.empty()) {
    if (auto p = view.DirAt(ParentRel(dir.rel)); p.ok()) {
      const ViewDir& parent = **p;
      bool reported = dir.merged() ? !parent.rel.empty() && parent.merged() &&
                                         view.layers().has_upper() && parent.top_layer() == 0
                                   : parent.merged();
      if (reported) return view.layers().has_upper() ? parent.stable_ino : parent.st.st_ino;
    }
  }
  struct stat real {};
  fstatat(dir.top_fd(), "..", &real, 0);
  return real.st_ino;
}

SysResult<size_t> FillDirents(const std::vector<DirEntry>& entries, uint64_t pos, bool legacy,
                              char* buf, size_t size, uint64_t* new_pos) {
  *new_pos = pos;
  if (pos >= kDirEof) return size_t{0};
  auto it = std::upper_bound(entries.begin(), entries.end(), pos,
                             [](uint64_t p, const DirEntry& e) { return p < e.cookie; });
  size_t used = 0;
  for (; it != entries.end(); ++it) {
    const DirEntry& e = *it;
    size_t reclen;
    if (legacy) {
      reclen = (offsetof(LinuxDirent, d_name) + e.name.size() + 2 + 7) & ~size_t{7};
    } else {
      reclen = (offsetof(LinuxDirent64, d_name) + e.name.size() + 1 + 7) & ~size_t{7};
    }
    if (used + reclen > size) break;
    char* rec = buf + used;
    memset(rec, 0, reclen);
    if (legacy) {
      auto* d = reinterpret_cast<LinuxDirent*>(rec);
      d->d_ino = e.ino;
      d->d_off = e.cookie;
      d->d_reclen = static_cast<unsigned short>(reclen);
      memcpy(d->d_name, e.name.data(), e.name.size());
      rec[reclen - 1] = static_cast<char>(e.type);
    } else {
      auto* d = reinterpret_cast<LinuxDirent64*>(rec);
      d->d_ino = e.ino;
      d->d_off = static_cast<int64_t>(e.cookie);
      d->d_reclen = static_cast<unsigned short>(reclen);
      d->d_type = e.type;
      memcpy(d->d_name, e.name.data(), e.name.size());
    }
    used += reclen;
    *new_pos = e.cookie;
  }
  if (used == 0 && it != entries.end()) return Errno{EINVAL};
  if (it == entries.end() && used == 0) *new_pos = kDirEof;
  return used;
}

}  // namespace ovlbox
