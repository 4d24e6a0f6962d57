#include "overlay/layers.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "overlay/dir_id.h"
#include "overlay/sys_result.h"

namespace ovlbox {
namespace {

absl::Status PathError(const std::string& option, const std::string& path,
                       const std::string& cause) {
  return absl::InvalidArgumentError(absl::StrCat(option, " ", path, ": ", cause));
}

// Canonicalises and opens a layer directory, or says why it cannot be one.
absl::StatusOr<Layer> OpenLayerDir(const std::string& option,
                                   const std::string& path, bool upper) {
  if (path.empty()) return PathError(option, "''", "empty path");
  char real[PATH_MAX];
  if (realpath(path.c_str(), real) == nullptr) {
    return PathError(option, path, strerror(errno));
  }
  Layer layer;
  layer.path = real;
  layer.upper = upper;
  int fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return PathError(option, path,
                     errno == ENOTDIR ? "not a directory" : strerror(errno));
  }
  layer.root.reset(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return PathError(option, path, strerror(errno));
  layer.dev = st.st_dev;
  layer.ino = st.st_ino;
  layer.uuid = FilesystemUuid(real);
  // A layer must be listable and searchable by the user running ovlbox.
  int mode = upper ? (R_OK | W_OK | X_OK) : (R_OK | X_OK);
  if (access(real, mode) != 0) {
    return PathError(option, path,
                     upper ? "not writable (needs read, write and search permission)"
                           : "not readable (needs read and search permission)");
  }
  return layer;
}

}  // namespace

bool PathWithin(const std::string& inner, const std::string& outer) {
  if (outer == "/") return true;
  return inner == outer ||
         (inner.starts_with(outer) && inner[outer.size()] == '/');
}

bool PathBelow(const std::string& inner, const std::string& outer) {
  return inner != outer && PathWithin(inner, outer);
}

std::string JoinRel(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return absl::StrCat(dir, "/", name);
}

std::string ParentRel(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

absl::StatusOr<std::unique_ptr<LayerSet>> LayerSet::Open(const LayerConfig& config) {
  std::unique_ptr<LayerSet> set(new LayerSet());
  if (config.lowers.empty()) {
    return absl::InvalidArgumentError("--lower: at least one lower directory is needed");
  }
  if (!config.work.empty() && config.upper.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--work ", config.work, ": needs --upper"));
  }
  if (!config.upper.empty()) {
    OVL_ASSIGN_OR_RETURN_STATUS(Layer upper, OpenLayerDir("--upper", config.upper, true));
    set->layers_.push_back(std::move(upper));
  }
  for (const std::string& lower : config.lowers) {
    OVL_ASSIGN_OR_RETURN_STATUS(Layer layer, OpenLayerDir("--lower", lower, false));
    set->layers_.push_back(std::move(layer));
  }
  // The same directory twice is refused: overlayfs would refuse it too, and a
  // real path could not be mapped back to one layer.
  for (size_t i = 0; i < set->layers_.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const Layer& a = set->layers_[i];
      const Layer& b = set->layers_[j];
      if (a.dev == b.dev && a.ino == b.ino) {
        return PathError(a.upper ? "--upper" : "--lower", a.path,
                         absl::StrCat("given twice (also ", b.upper ? "--upper" : "--lower",
                                      " ", b.path, ")"));
      }
    }
  }
  if (set->has_upper()) {
    const Layer& upper = set->layers_[0];
    for (int i = set->first_lower(); i < set->size(); ++i) {
      const Layer& lower = set->layers_[i];
      if (PathWithin(lower.path, upper.path)) {
        return PathError("--lower", lower.path,
                         absl::StrCat("lies inside the upper dir ", upper.path));
      }
    }
    std::string work = config.work;
    bool chosen = work.empty();
    if (chosen) {
      // Default work dir: a hidden sibling of the upper, on its filesystem
      // and never inside it (docs/design.md, "Work dir").
      std::string parent = upper.path == "/" ? "/" : upper.path.substr(0, upper.path.rfind('/'));
      if (parent.empty()) parent = "/";
      std::string base = upper.path.substr(upper.path.rfind('/') + 1);
      work = absl::StrCat(parent == "/" ? "" : parent, "/.", base, ".ovlbox-work");
      if (mkdir(work.c_str(), 0700) != 0 && errno != EEXIST) {
        return PathError("--upper", upper.path,
                         absl::StrCat("cannot create work dir ", work, ": ",
                                      strerror(errno), " (give one with --work)"));
      }
    }
    OVL_ASSIGN_OR_RETURN_STATUS(Layer w, OpenLayerDir("--work", work, true));
    if (w.dev == upper.dev && w.ino == upper.ino) {
      return PathError("--work", w.path, "is the upper dir");
    }
    if (PathWithin(w.path, upper.path)) {
      return PathError("--work", w.path, absl::StrCat("lies inside the upper dir ", upper.path));
    }
    if (PathWithin(upper.path, w.path)) {
      return PathError("--upper", upper.path, absl::StrCat("lies inside the work dir ", w.path));
    }
    if (w.dev != upper.dev) {
      return PathError("--work", w.path,
                       absl::StrCat("is on another filesystem than the upper dir ", upper.path,
                                    chosen ? " (give one with --work)" : ""));
    }
    for (int i = set->first_lower(); i < set->size(); ++i) {
      const Layer& lower = set->layers_[i];
      if (PathWithin(lower.path, w.path)) {
        return PathError("--lower", lower.path,
                         absl::StrCat("lies inside the work dir ", w.path));
      }
    }
    set->work_ = w.path;
    for (const Layer* dir : std::initializer_list<const Layer*>{&upper, &w}) {
      struct stat parent;
      if (fstatat(dir->root.get(), "..", &parent, 0) != 0) parent = {};
      set->hidden_.push_back({dir->dev, dir->ino, parent.st_dev, parent.st_ino});
    }
  }
  for (const Layer& layer : set->layers_) {
    if (std::find(set->fs_devs_.begin(), set->fs_devs_.end(), layer.dev) == set->fs_devs_.end()) {
      set->fs_devs_.push_back(layer.dev);
    }
  }
  return set;
}

void LayerSet::MapDirId(dev_t* dev, ino_t* ino) const {
  static_assert(sizeof(dev_t) == sizeof(uint64_t) && sizeof(ino_t) == sizeof(uint64_t));
  uint64_t d = *dev, i = *ino;
  ovlbox_map_dir_id(reinterpret_cast<const uint64_t*>(fs_devs_.data()),
                    static_cast<uint32_t>(fs_devs_.size()), &d, &i);
  *dev = d;
  *ino = i;
}

bool LayerSet::IsHidden(dev_t dev, ino_t ino) const {
  for (const HiddenDir& h : hidden_) {
    if (h.dev == dev && h.ino == ino) return true;
  }
  return false;
}

bool LayerSet::HoldsHidden(dev_t dev, ino_t ino) const {
  for (const HiddenDir& h : hidden_) {
    if (h.parent_dev == dev && h.parent_ino == ino) return true;
  }
  return false;
}

RealLocation LayerSet::Locate(const std::string& real_path) const {
  RealLocation best;
  size_t best_len = 0;
  for (int i = 0; i < size(); ++i) {
    const std::string& root = layers_[i].path;
    if (!PathWithin(real_path, root)) continue;
    if (best.layer >= 0 && root.size() <= best_len) continue;
    best.layer = i;
    best_len = root.size();
    if (real_path.size() == root.size()) {
      best.rel.clear();
    } else {
      best.rel = real_path.substr(root == "/" ? 1 : root.size() + 1);
    }
  }
  if (best.layer >= 0 && !work_.empty() && PathWithin(real_path, work_) &&
      work_.size() > best_len) {
    return RealLocation();
  }
  return best;
}

}  // namespace ovlbox
