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

#include "absl/container/flat_hash_map.h"
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

// Whether `name` in the upper directory `dirfd` records a copy-up origin.
bool HasOrigin(int dirfd, const char* name) {
  std::string path = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
  return lgetxattr(path.c_str(), kOriginXattr, nullptr, 0) >= 0;
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
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode)) {
    return real_ino;
  }
  if (!S_ISREG(st.st_mode)) {
    // A symlink, fifo, socket or device copied up in this run.
    OriginId id = view.SpecialCopyOrigin(st, dirfd, name);
    return id.valid() ? id.ino : real_ino;
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
  // overlayfs' order (ovl_dir_read_merged): the layers are read top
  // first, each name kept from the first layer that has it; the lowest
  // layer's names (".", ".." and the names it shares with the layers
  // above included) then come first, in its own order, and the other
  // names after them in the order they were read. A directory of one layer
  // lists in its real directory's order.
  struct Slot {
    DirEntry e;
    bool visible = true;
    bool in_lowest = false;
  };
  std::vector<Slot> all;
  std::vector<size_t> lowest;  // indices into `all`, in the lowest layer's order
  absl::flat_hash_map<std::string, size_t> index;
  const LayerSet& layers = view.layers();
  bool raw = as_readdir && !NeedsMergedListing(view, dir);
  // A directory of the upper alone, marked impure, in which no entry is a
  // copy any more: overlayfs drops the mark when it lists one (with all
  // layers on one filesystem, where it maps inode numbers by the mark).
  bool impure_alone = dir.stack.size() == 1 && dir.stack[0].layer == 0 && layers.has_upper() &&
                      IsImpure(dir.stack[0].fd.get());
  bool copies_listed = false;
  for (size_t i = 0; i < dir.stack.size(); ++i) {
    const LayerDir& ld = dir.stack[i];
    const bool is_lowest = i + 1 == dir.stack.size();
    struct stat dst;
    bool holds_hidden = fstat(ld.fd.get(), &dst) == 0 && layers.HoldsHidden(dst.st_dev, dst.st_ino);
    // Copies list their lower file's number (as stat reports it) in a
    // merged directory, and in a directory of the upper alone only when it
    // is marked impure, as overlayfs lists them: a copy arrives in such a
    // directory only by a rename or a link, which mark it.
    bool map_copies = ld.layer == 0 && layers.has_upper() && (dir.stack.size() > 1 || impure_alone);
    int err = ForEachRealEntry(ld.fd.get(), [&](const char* name, ino_t ino, unsigned char type) {
      auto [it, inserted] = index.try_emplace(name, all.size());
      if (!inserted) {
        // An upper layer already has (or hides) it; the lowest layer's
        // place for it wins.
        if (is_lowest && !all[it->second].in_lowest) {
          all[it->second].in_lowest = true;
          lowest.push_back(it->second);
        }
        return;
      }
      Slot slot;
      slot.in_lowest = is_lowest;
      auto add = [&](ino_t entry_ino, unsigned char entry_type) {
        slot.e = {NameCookie(name), entry_ino, entry_type, name};
        if (is_lowest) lowest.push_back(all.size());
        all.push_back(std::move(slot));
      };
      auto hide = [&] {
        slot.visible = false;
        add(ino, type);
      };
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) {
        add(name[1] == '\0' ? dir.stable_ino : parent_ino, DT_DIR);
        return;
      }
      if (map_copies && type != DT_DIR && type != DT_UNKNOWN &&
          (type == DT_REG || view.AnySpecialCopy())) {
        // A copy lists its lower object's number, as stat reports it
        // (overlayfs does the same in directories it marks impure); a
        // regular file with an origin is a copy whether or not this run
        // can find its lower file.
        ino_t shown = CopiedUpIno(view, ld.fd.get(), dir.rel, name, ino);
        copies_listed = copies_listed || shown != ino ||
                        (impure_alone && type == DT_REG && HasOrigin(ld.fd.get(), name));
        ino = shown;
      }
      if (raw) return add(ino, type);
      if (type == DT_CHR || type == DT_UNKNOWN ||
          (type == DT_DIR && holds_hidden) || (type == DT_REG && ld.xwhiteouts)) {
        struct stat st;
        if (fstatat(ld.fd.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) return hide();
        if (IsWhiteout(st)) return hide();
        if (S_ISDIR(st.st_mode) && layers.IsHidden(st.st_dev, st.st_ino)) return hide();
        if (ld.xwhiteouts && S_ISREG(st.st_mode) && st.st_size == 0 &&
            IsXattrWhiteout(ld.fd.get(), name)) {
          return hide();
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
      add(ino, type);
    });
    if (err != 0) return Errno{err};
  }
  if (as_readdir && impure_alone && !copies_listed && layers.fs_devs().size() == 1) {
    // Best effort, as overlayfs' is.
    removexattr(absl::StrCat("/proc/self/fd/", dir.stack[0].fd.get()).c_str(), kImpureXattr);
  }
  std::vector<DirEntry> out;
  out.reserve(all.size());
  // Every real directory lists "." and ".."; the view's listing has them
  // even where one was missing.
  for (const char* dot : {".", ".."}) {
    if (!index.contains(dot)) {
      out.push_back({NameCookie(dot), dot[1] == '\0' ? dir.stable_ino : parent_ino, DT_DIR, dot});
    }
  }
  for (size_t k : lowest) {
    if (all[k].visible) out.push_back(std::move(all[k].e));
  }
  for (Slot& slot : all) {
    if (slot.visible && !slot.in_lowest) out.push_back(std::move(slot.e));
  }
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

size_t ResumeIndex(const std::vector<DirEntry>& entries, uint64_t pos) {
  if (pos == 0) return 0;
  if (pos >= kDirEof) return entries.size();
  uint64_t at = pos >> 32;
  uint32_t hash = static_cast<uint32_t>(pos);
  if (at < entries.size() && static_cast<uint32_t>(entries[at].cookie) == hash) return at;
  // The listing changed since: the same name where it still is (the
  // nearest one with that hash), else the same index.
  size_t best = entries.size();
  uint64_t best_distance = UINT64_MAX;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (static_cast<uint32_t>(entries[i].cookie) != hash) continue;
    uint64_t distance = i > at ? i - at : at - i;
    if (distance < best_distance) {
      best = i;
      best_distance = distance;
    }
  }
  if (best < entries.size()) return best;
  return std::min<uint64_t>(at, entries.size());
}

SysResult<size_t> FillDirents(const std::vector<DirEntry>& entries, uint64_t pos, bool legacy,
                              char* buf, size_t size, uint64_t* new_pos) {
  *new_pos = pos;
  if (pos >= kDirEof) return size_t{0};
  size_t i = ResumeIndex(entries, pos);
  size_t used = 0;
  for (; i < entries.size(); ++i) {
    const DirEntry& e = entries[i];
    size_t reclen;
    if (legacy) {
      reclen = (offsetof(LinuxDirent, d_name) + e.name.size() + 2 + 7) & ~size_t{7};
    } else {
      reclen = (offsetof(LinuxDirent64, d_name) + e.name.size() + 1 + 7) & ~size_t{7};
    }
    if (used + reclen > size) break;
    // d_off: the position of the entry after this one.
    uint64_t next = i + 1 < entries.size() ? ovlbox_dir_pos(i + 1, entries[i + 1].cookie) : kDirEof;
    char* rec = buf + used;
    memset(rec, 0, reclen);
    if (legacy) {
      auto* d = reinterpret_cast<LinuxDirent*>(rec);
      d->d_ino = e.ino;
      d->d_off = next;
      d->d_reclen = static_cast<unsigned short>(reclen);
      memcpy(d->d_name, e.name.data(), e.name.size());
      rec[reclen - 1] = static_cast<char>(e.type);
    } else {
      auto* d = reinterpret_cast<LinuxDirent64*>(rec);
      d->d_ino = e.ino;
      d->d_off = static_cast<int64_t>(next);
      d->d_reclen = static_cast<unsigned short>(reclen);
      d->d_type = e.type;
      memcpy(d->d_name, e.name.data(), e.name.size());
    }
    used += reclen;
    *new_pos = next;
  }
  if (used == 0 && i < entries.size()) return Errno{EINVAL};
  if (i >= entries.size() && used == 0) *new_pos = kDirEof;
  return used;
}

}  // namespace ovlbox
