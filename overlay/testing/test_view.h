// Helpers for tests of the layered view: a View over directories of a
// TempTree, fixtures that open one, and assertions on SysResult values.
#ifndef OVLBOX_OVERLAY_TESTING_TEST_VIEW_H_
#define OVLBOX_OVERLAY_TESTING_TEST_VIEW_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "overlay/layers.h"
#include "overlay/sys_result.h"
#include "overlay/testing/temp_tree.h"
#include "overlay/view.h"

namespace ovlbox {

// A layer set and the view over it (the view points into the layer set).
struct TestView {
  std::unique_ptr<LayerSet> layers;
  std::unique_ptr<View> view;
};

// Opens a view of directories of `tree`, named relative to its root: lowers
// top first, then optionally an upper and a work dir ("" for none).
absl::StatusOr<TestView> OpenTestView(const TempTree& tree, const std::vector<std::string>& lowers,
                                      const std::string& upper = "", const std::string& work = "");

// The content of the regular file an O_PATH descriptor refers to.
std::string ReadContent(int path_fd);

// lstat of `path`; aborts when it fails (a broken test setup).
struct stat LstatOrDie(const std::string& path);

// "ENOENT (No such file or directory)", for failure messages.
std::string DescribeErrno(int error);

// A Base for paths relative to the view directory `dir`.
inline Base ViewBase(ViewDirPtr dir) {
  Base base;
  base.view = std::move(dir);
  return base;
}

// A test with a TempTree and a view over some of its directories.
class ViewFixture : public ::testing::Test {
 protected:
  // Creates `entries` in the tree, then opens a view of `lowers` (top first)
  // with an optional upper and work dir. Use with ASSERT_NO_FATAL_FAILURE.
  void Open(const std::vector<std::string>& entries, const std::vector<std::string>& lowers,
            const std::string& upper = "", const std::string& work = "");

  const View& view() const { return *view_.view; }
  const LayerSet& layers() const { return *view_.layers; }
  ViewDirPtr Root() const { return *view().Root(); }
  std::string Path(std::string_view rel) const { return tree_.Path(rel); }

  // Resolves `path` from the view root (absolute paths ignore it).
  SysResult<Target> Resolve(std::string_view path, ResolveOptions options = {}) const;
  // Resolves `path` from a host directory given by its absolute path.
  SysResult<Target> ResolveFromHost(const std::string& dir, std::string_view path,
                                    ResolveOptions options = {}) const;
  // Looks up `name` in the view directory `dir_rel`.
  SysResult<Target> LookupAt(const std::string& dir_rel, const std::string& name) const;

  TempTree tree_;
  TestView view_;
};

// ViewFixture for tests that need whiteouts (character devices 0/0).
class WhiteoutViewFixture : public ViewFixture {
 protected:
  void SetUp() override {
    if (!WhiteoutUnsupportedReason().empty()) GTEST_SKIP() << WhiteoutUnsupportedReason();
  }
};

// ViewFixture for tests that need user.* xattrs (opaque dirs, xattr whiteouts).
class XattrViewFixture : public ViewFixture {
 protected:
  void SetUp() override {
    if (!UserXattrUnsupportedReason().empty()) GTEST_SKIP() << UserXattrUnsupportedReason();
  }
};

template <typename T>
::testing::AssertionResult IsOk(const SysResult<T>& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "failed with " << DescribeErrno(result.error());
}

template <typename T>
::testing::AssertionResult FailsWith(const SysResult<T>& result, int error) {
  if (result.error() == error) return ::testing::AssertionSuccess();
  if (result.ok()) {
    return ::testing::AssertionFailure() << "succeeded, expected " << DescribeErrno(error);
  }
  return ::testing::AssertionFailure() << "failed with " << DescribeErrno(result.error())
                                       << ", expected " << DescribeErrno(error);
}

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_TESTING_TEST_VIEW_H_
