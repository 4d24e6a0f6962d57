#include "overlay/testing/temp_tree.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ovlbox {
namespace {

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", strerror(errno)));
}

// mkdir -p, for an absolute path.
absl::Status MakeDirs(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError("mkdir", prefix);
    }
    if (slash == std::string::npos) return absl::OkStatus();
  }
}

absl::Status WriteFile(const std::string& path, std::string_view content) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("create", path);
  ssize_t n = write(fd, content.data(), content.size());
  close(fd);
  if (n != static_cast<ssize_t>(content.size())) return ErrnoError("write", path);
  return absl::OkStatus();
}

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  remove(path);
  return 0;
}

}  // namespace

TempTree::TempTree() {
  char templ[] = "/tmp/ovlbox-test.XXXXXX";
  char real[PATH_MAX];
  if (mkdtemp(templ) == nullptr || realpath(templ, real) == nullptr) {
    std::perror("ovlbox test: cannot create a temporary directory under /tmp");
    std::abort();
  }
  root_ = real;
}

TempTree::~TempTree() {
  // Depth first, without following symlinks or entering other filesystems.
  nftw(root_.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

std::string TempTree::Path(std::string_view rel) const {
  if (rel.empty()) return root_;
  return root_ + "/" + std::string(rel);
}

absl::Status TempTree::Create(const std::vector<std::string>& entries) const {
  for (const std::string& entry : entries) {
    absl::Status status = CreateEntry(entry);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("entry \"", entry, "\": ", std::string(status.message())));
    }
  }
  return absl::OkStatus();
}

absl::Status TempTree::CreateEntry(std::string_view entry) const {
  // The entry itself, then " @name=value" xattrs.
  size_t at = entry.find(" @");
  std::string_view spec = entry.substr(0, at);
  std::vector<std::pair<std::string, std::string>> xattrs;
  while (at != std::string_view::npos) {
    size_t next = entry.find(" @", at + 2);
    std::string_view xattr =
        entry.substr(at + 2, next == std::string_view::npos ? next : next - at - 2);
    size_t eq = xattr.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError("an xattr is written @name=value");
    }
    xattrs.emplace_back(xattr.substr(0, eq), xattr.substr(eq + 1));
    at = next;
  }

  constexpr std::string_view kWhiteout = " (whiteout)";
  std::string path;
  absl::Status created;
  auto make_parent = [&] { return MakeDirs(path.substr(0, path.rfind('/'))); };
  if (size_t arrow = spec.find(" -> "); arrow != std::string_view::npos) {
    path = Path(spec.substr(0, arrow));
    std::string target(spec.substr(arrow + 4));
    created = make_parent();
    if (created.ok() && symlink(target.c_str(), path.c_str()) != 0) {
      created = ErrnoError("symlink", path);
    }
  } else if (spec.ends_with(kWhiteout)) {
    path = Path(spec.substr(0, spec.size() - kWhiteout.size()));
    created = make_parent();
    if (created.ok() && mknod(path.c_str(), S_IFCHR | 0600, makedev(0, 0)) != 0) {
      created = ErrnoError("mknod", path);
    }
  } else if (size_t eq = spec.find(" = "); eq != std::string_view::npos) {
    path = Path(spec.substr(0, eq));
    created = make_parent();
    if (created.ok()) created = WriteFile(path, spec.substr(eq + 3));
  } else if (spec.ends_with('/')) {
    path = Path(spec.substr(0, spec.size() - 1));
    created = MakeDirs(path);
  } else {
    path = Path(spec);
    created = make_parent();
    if (created.ok()) created = WriteFile(path, "");
  }
  if (!created.ok()) return created;

  for (const auto& [name, value] : xattrs) {
    if (lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
      return ErrnoError("setxattr " + name + " on", path);
    }
  }
  return absl::OkStatus();
}

const std::string& WhiteoutUnsupportedReason() {
  static const std::string reason = [] {
    TempTree probe;
    std::string path = probe.Path("whiteout");
    if (mknod(path.c_str(), S_IFCHR | 0600, makedev(0, 0)) != 0) {
      return absl::StrCat("cannot create whiteouts (mknod c 0 0) under /tmp: ", strerror(errno),
                          "; needs CAP_MKNOD or Linux >= 5.8");
    }
    return std::string();
  }();
  return reason;
}

const std::string& UserXattrUnsupportedReason() {
  static const std::string reason = [] {
    TempTree probe;
    std::string path = probe.Path("file");
    if (!WriteFile(path, "").ok()) return absl::StrCat("cannot create ", path);
    if (setxattr(path.c_str(), "user.ovlbox.probe", "1", 1, 0) != 0) {
      return absl::StrCat("the filesystem of /tmp does not take user.* xattrs: ", strerror(errno));
    }
    return std::string();
  }();
  return reason;
}

}  // namespace ovlbox
