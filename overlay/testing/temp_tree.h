// TempTree: a fresh directory under /tmp holding small layer trees built from
// a compact description; it is removed, with everything in it, on
// destruction.
//
// A description is a list of entries, one per file, created in order:
//
//   "l0/dir/"                   a directory
//   "l0/dir/file"               an empty regular file
//   "l0/dir/file = some text"   a regular file holding "some text"
//   "l0/link -> ../target"      a symbolic link
//   "l0/gone (whiteout)"        a whiteout (character device 0/0)
//
// Any entry may end with xattrs, each written " @name=value" (the value may
// be empty): "l0/dir/ @user.overlay.opaque=y". Missing parent directories are
// created; naming an existing directory again only adds its xattrs.
#ifndef OVLBOX_OVERLAY_TESTING_TEMP_TREE_H_
#define OVLBOX_OVERLAY_TESTING_TEMP_TREE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace ovlbox {

class TempTree {
 public:
  TempTree();
  ~TempTree();
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  // Canonical absolute path of the tree's root directory.
  const std::string& root() const { return root_; }
  // Absolute path of `rel` below the root ("" is the root itself).
  std::string Path(std::string_view rel) const;

  // Creates the described entries; stops at the first one that fails.
  absl::Status Create(const std::vector<std::string>& entries) const;

 private:
  absl::Status CreateEntry(std::string_view entry) const;

  std::string root_;
};

// Why whiteouts (character devices 0/0) cannot be created under /tmp, or ""
// when they can.
const std::string& WhiteoutUnsupportedReason();
// Why user.* xattrs cannot be set on files under /tmp, or "" when they can.
const std::string& UserXattrUnsupportedReason();

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_TESTING_TEMP_TREE_H_
