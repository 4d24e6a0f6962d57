// LayerSet: the layers of one view, opened once and immutable afterwards.
//
// Layers are indexed top first: index 0 is the upper (when there is one),
// then the lowers in the order overlayfs' lowerdir lists them. Each layer is
// held by an O_PATH descriptor of its root; every later access to a layer is
// relative to that descriptor. The view appears at the canonical path of the
// topmost lower ("view root"); everything outside it is the host filesystem.
#ifndef OVLBOX_OVERLAY_LAYERS_H_
#define OVLBOX_OVERLAY_LAYERS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "overlay/origin.h"
#include "overlay/unique_fd.h"

namespace ovlbox {

struct LayerConfig {
  std::vector<std::string> lowers;  // top first, as given by the user
  std::string upper;                // empty: read-only view
  std::string work;                 // empty: chosen by the caller
};

struct Layer {
  std::string path;  // canonical absolute path of the layer root
  UniqueFd root;     // O_PATH | O_DIRECTORY
  dev_t dev = 0;
  ino_t ino = 0;
  bool upper = false;
  FsUuid uuid{};     // of its filesystem, for copy-up origins
};

// A directory that lies inside a lower but must not appear in the view (the
// upper and work dirs when the user put them there, e.g. `--lower /`).
struct HiddenDir {
  dev_t dev;
  ino_t ino;
  dev_t parent_dev;
  ino_t parent_ino;
};

// Where a real (host) path lies relative to the layers.
struct RealLocation {
  int layer = -1;   // -1: not inside any layer
  std::string rel;  // path below the layer root, "" for the root itself
};

class LayerSet {
 public:
  // Validates and opens the layers. Errors name the offending option and
  // path ("--upper /x: not a directory") and are meant for the user.
  static absl::StatusOr<std::unique_ptr<LayerSet>> Open(const LayerConfig& config);

  // For tests and tools: a set built from already canonical directories.
  const std::vector<Layer>& layers() const { return layers_; }
  const Layer& layer(int i) const { return layers_[i]; }
  int size() const { return static_cast<int>(layers_.size()); }
  bool has_upper() const { return !layers_.empty() && layers_[0].upper; }
  int first_lower() const { return has_upper() ? 1 : 0; }
  const Layer& top_lower() const { return layers_[first_lower()]; }

  // Canonical absolute path at which the view appears.
  const std::string& view_root() const { return top_lower().path; }
  dev_t view_root_dev() const { return top_lower().dev; }
  ino_t view_root_ino() const { return top_lower().ino; }

  const std::string& work_dir() const { return work_; }

  // The device and inode number a directory of the view on `*dev`
  // reports. On one filesystem every object
  // keeps its own numbers. Across several, as overlayfs has every
  // directory report its own device (so that `find -xdev` and `du -x` see
  // the whole view), every directory reports the view's root's device (the
  // upper's, else the topmost lower's); one from another filesystem gets
  // that filesystem's index among the layers' filesystems in bits 48 and
  // up of its inode number, so no two directories share a number
  // (overlay/dir_id.h, which the preload library shares). Non-directories
  // keep their own filesystem's device, as overlayfs gives them each
  // filesystem's own.
  void MapDirId(dev_t* dev, ino_t* ino) const;
  // The layers' filesystems, in layer order, the view's root's first.
  const std::vector<dev_t>& fs_devs() const { return fs_devs_; }

  bool IsHidden(dev_t dev, ino_t ino) const;
  // Whether a real directory holds a hidden directory.
  bool HoldsHidden(dev_t dev, ino_t ino) const;
  const std::vector<HiddenDir>& hidden() const { return hidden_; }

  // Maps a canonical real path to the layer that holds it (longest root
  // prefix wins, so an upper inside a lower is recognised as the upper).
  RealLocation Locate(const std::string& real_path) const;

 private:
  LayerSet() = default;
  std::vector<Layer> layers_;
  std::vector<dev_t> fs_devs_;  // the layers' filesystems, the root's first
  std::string work_;
  std::vector<HiddenDir> hidden_;
};

// Whether canonical path `inner` equals `outer` or lies below it; strictly
// below it.
bool PathWithin(const std::string& inner, const std::string& outer);
bool PathBelow(const std::string& inner, const std::string& outer);

// Joins view-relative paths: JoinRel("", "a") == "a", JoinRel("a", "b") == "a/b".
std::string JoinRel(const std::string& dir, const std::string& name);
// The parent of a view-relative path ("" for a top-level name).
std::string ParentRel(const std::string& rel);

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_LAYERS_H_
