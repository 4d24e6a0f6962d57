#include "overlay/layers.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "overlay/testing/temp_tree.h"
#include "overlay/testing/test_view.h"

namespace ovlbox {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

LayerConfig Config(std::vector<std::string> lowers, std::string upper = "", std::string work = "") {
  LayerConfig config;
  config.lowers = std::move(lowers);
  config.upper = std::move(upper);
  config.work = std::move(work);
  return config;
}

// Opens `config`, expecting a user-facing error that starts with
// "<option> <path>: " and contains `cause`.
void ExpectOpenError(const LayerConfig& config, const std::string& option, const std::string& path,
                     const std::string& cause) {
  absl::StatusOr<std::unique_ptr<LayerSet>> set = LayerSet::Open(config);
  ASSERT_FALSE(set.ok()) << "opened a layer set that should have been refused";
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(set.status().message()),
              AllOf(StartsWith(option + " " + path + ": "), HasSubstr(cause)));
}

class LayerSetOpenTest : public ::testing::Test {
 protected:
  void Create(const std::vector<std::string>& entries) {
    absl::Status created = tree_.Create(entries);
    ASSERT_TRUE(created.ok()) << created;
  }
  std::string Path(const std::string& rel) const { return tree_.Path(rel); }

  TempTree tree_;
};

TEST_F(LayerSetOpenTest, OpensLowersTopFirst) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "l1/", "l2/"}));
  auto set = LayerSet::Open(Config({Path("l0"), Path("l1"), Path("l2")}));
  ASSERT_TRUE(set.ok()) << set.status();
  const LayerSet& layers = **set;

  ASSERT_EQ(layers.size(), 3);
  EXPECT_FALSE(layers.has_upper());
  EXPECT_EQ(layers.first_lower(), 0);
  for (int i = 0; i < 3; ++i) {
    std::string path = Path("l" + std::to_string(i));
    struct stat st = LstatOrDie(path);
    EXPECT_EQ(layers.layer(i).path, path);
    EXPECT_FALSE(layers.layer(i).upper);
    EXPECT_EQ(layers.layer(i).dev, st.st_dev);
    EXPECT_EQ(layers.layer(i).ino, st.st_ino);
    struct stat root_st;
    ASSERT_EQ(fstat(layers.layer(i).root.get(), &root_st), 0) << "layer " << i;
    EXPECT_EQ(root_st.st_ino, st.st_ino) << "layer " << i;
  }
  EXPECT_EQ(layers.view_root(), Path("l0"));
  EXPECT_EQ(layers.view_root_ino(), LstatOrDie(Path("l0")).st_ino);
  EXPECT_EQ(layers.work_dir(), "");
}

TEST_F(LayerSetOpenTest, UpperIsLayerZeroAndViewAppearsAtTopLower) {
  ASSERT_NO_FATAL_FAILURE(Create({"u/", "w/", "l0/", "l1/"}));
  auto set = LayerSet::Open(Config({Path("l0"), Path("l1")}, Path("u"), Path("w")));
  ASSERT_TRUE(set.ok()) << set.status();
  const LayerSet& layers = **set;

  ASSERT_EQ(layers.size(), 3);
  EXPECT_TRUE(layers.has_upper());
  EXPECT_EQ(layers.first_lower(), 1);
  EXPECT_EQ(layers.layer(0).path, Path("u"));
  EXPECT_TRUE(layers.layer(0).upper);
  EXPECT_EQ(layers.layer(1).path, Path("l0"));
  EXPECT_FALSE(layers.layer(1).upper);
  EXPECT_EQ(layers.layer(2).path, Path("l1"));
  EXPECT_EQ(layers.top_lower().path, Path("l0"));
  EXPECT_EQ(layers.view_root(), Path("l0"));
  EXPECT_EQ(layers.view_root_dev(), LstatOrDie(Path("l0")).st_dev);
  EXPECT_EQ(layers.view_root_ino(), LstatOrDie(Path("l0")).st_ino);
  EXPECT_EQ(layers.work_dir(), Path("w"));
}

TEST_F(LayerSetOpenTest, CanonicalisesPathsThroughSymlinks) {
  ASSERT_NO_FATAL_FAILURE(Create({"real/a/", "real/b/", "alias -> real"}));
  auto set = LayerSet::Open(Config({Path("alias/a"), Path("real/a/../b/")}));
  ASSERT_TRUE(set.ok()) << set.status();

  EXPECT_EQ((*set)->layer(0).path, Path("real/a"));
  EXPECT_EQ((*set)->layer(1).path, Path("real/b"));
  EXPECT_EQ((*set)->view_root(), Path("real/a"));
}

// Each entry of `lowers` is one directory: a colon is part of its name (the
// command line splits lowerdir lists before the layer set sees them).
TEST_F(LayerSetOpenTest, TakesColonsAsPartOfTheName) {
  ASSERT_NO_FATAL_FAILURE(Create({"a:b/", "c/"}));
  auto set = LayerSet::Open(Config({Path("a:b"), Path("c")}));
  ASSERT_TRUE(set.ok()) << set.status();

  ASSERT_EQ((*set)->size(), 2);
  EXPECT_EQ((*set)->layer(0).path, Path("a:b"));
  EXPECT_EQ((*set)->layer(1).path, Path("c"));
}

TEST_F(LayerSetOpenTest, DefaultWorkDirIsAHiddenSiblingOfTheUpper) {
  ASSERT_NO_FATAL_FAILURE(Create({"u/", "l0/"}));
  auto set = LayerSet::Open(Config({Path("l0")}, Path("u")));
  ASSERT_TRUE(set.ok()) << set.status();

  EXPECT_EQ((*set)->work_dir(), Path(".u.ovlbox-work"));
  EXPECT_TRUE(S_ISDIR(LstatOrDie(Path(".u.ovlbox-work")).st_mode));
}

TEST_F(LayerSetOpenTest, RejectsNoLower) {
  ASSERT_NO_FATAL_FAILURE(Create({"u/"}));
  auto set = LayerSet::Open(Config({}, Path("u")));
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(set.status().message()), StartsWith("--lower"));
}

TEST_F(LayerSetOpenTest, RejectsEmptyPath) {
  ExpectOpenError(Config({""}), "--lower", "''", "empty path");
}

TEST_F(LayerSetOpenTest, RejectsMissingDirectory) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "u/", "w/"}));
  const std::string missing = Path("missing");
  ExpectOpenError(Config({Path("l0"), missing}), "--lower", missing, "No such file or directory");
  ExpectOpenError(Config({Path("l0")}, missing, Path("w")), "--upper", missing,
                  "No such file or directory");
  ExpectOpenError(Config({Path("l0")}, Path("u"), missing), "--work", missing,
                  "No such file or directory");
}

TEST_F(LayerSetOpenTest, RejectsNonDirectory) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "u/", "w/", "file"}));
  const std::string file = Path("file");
  ExpectOpenError(Config({file}), "--lower", file, "not a directory");
  ExpectOpenError(Config({Path("l0")}, file, Path("w")), "--upper", file, "not a directory");
  ExpectOpenError(Config({Path("l0")}, Path("u"), file), "--work", file, "not a directory");
}

TEST_F(LayerSetOpenTest, RejectsTheSameDirectoryTwice) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "l1/", "w/", "alias -> l0"}));
  // Through another name, too.
  ExpectOpenError(Config({Path("l0"), Path("l1"), Path("alias")}), "--lower", Path("l0"),
                  "given twice (also --lower " + Path("l0") + ")");
  ExpectOpenError(Config({Path("l0")}, Path("l0"), Path("w")), "--lower", Path("l0"),
                  "given twice (also --upper " + Path("l0") + ")");
}

TEST_F(LayerSetOpenTest, RejectsLowerInsideUpper) {
  ASSERT_NO_FATAL_FAILURE(Create({"u/l0/", "w/"}));
  ExpectOpenError(Config({Path("u/l0")}, Path("u"), Path("w")), "--lower", Path("u/l0"),
                  "lies inside the upper dir " + Path("u"));
}

TEST_F(LayerSetOpenTest, RejectsLowerInsideWork) {
  ASSERT_NO_FATAL_FAILURE(Create({"u/", "w/l0/"}));
  ExpectOpenError(Config({Path("w/l0")}, Path("u"), Path("w")), "--lower", Path("w/l0"),
                  "lies inside the work dir " + Path("w"));
}

TEST_F(LayerSetOpenTest, RejectsWorkInsideUpper) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "u/w/"}));
  ExpectOpenError(Config({Path("l0")}, Path("u"), Path("u/w")), "--work", Path("u/w"),
                  "lies inside the upper dir " + Path("u"));
}

TEST_F(LayerSetOpenTest, RejectsUpperInsideWork) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "w/u/"}));
  ExpectOpenError(Config({Path("l0")}, Path("w/u"), Path("w")), "--upper", Path("w/u"),
                  "lies inside the work dir " + Path("w"));
}

TEST_F(LayerSetOpenTest, RejectsWorkThatIsTheUpper) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "u/"}));
  ExpectOpenError(Config({Path("l0")}, Path("u"), Path("u")), "--work", Path("u"),
                  "is the upper dir");
}

TEST_F(LayerSetOpenTest, RejectsWorkWithoutUpper) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "w/"}));
  ExpectOpenError(Config({Path("l0")}, "", Path("w")), "--work", Path("w"), "needs --upper");
}

TEST_F(LayerSetOpenTest, AcceptsUpperAndWorkInsideALowerAndHidesThem) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/sub/u/", "l0/w/", "l0/other/"}));
  auto set = LayerSet::Open(Config({Path("l0")}, Path("l0/sub/u"), Path("l0/w")));
  ASSERT_TRUE(set.ok()) << set.status();
  const LayerSet& layers = **set;

  struct stat upper = LstatOrDie(Path("l0/sub/u"));
  struct stat work = LstatOrDie(Path("l0/w"));
  struct stat sub = LstatOrDie(Path("l0/sub"));
  struct stat l0 = LstatOrDie(Path("l0"));
  struct stat other = LstatOrDie(Path("l0/other"));
  EXPECT_TRUE(layers.IsHidden(upper.st_dev, upper.st_ino));
  EXPECT_TRUE(layers.IsHidden(work.st_dev, work.st_ino));
  EXPECT_FALSE(layers.IsHidden(other.st_dev, other.st_ino));
  EXPECT_FALSE(layers.IsHidden(l0.st_dev, l0.st_ino));
  // The directories that hold them: sub holds the upper, l0 the work dir.
  EXPECT_TRUE(layers.HoldsHidden(sub.st_dev, sub.st_ino));
  EXPECT_TRUE(layers.HoldsHidden(l0.st_dev, l0.st_ino));
  EXPECT_FALSE(layers.HoldsHidden(other.st_dev, other.st_ino));
  EXPECT_FALSE(layers.HoldsHidden(upper.st_dev, upper.st_ino));
}

TEST_F(LayerSetOpenTest, WithoutUpperNothingIsHidden) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/d/"}));
  auto set = LayerSet::Open(Config({Path("l0")}));
  ASSERT_TRUE(set.ok()) << set.status();

  struct stat l0 = LstatOrDie(Path("l0"));
  struct stat d = LstatOrDie(Path("l0/d"));
  EXPECT_FALSE((*set)->IsHidden(d.st_dev, d.st_ino));
  EXPECT_FALSE((*set)->HoldsHidden(l0.st_dev, l0.st_ino));
}

// A tmpfs mounted inside the tree, for the work dir on another filesystem.
class LayerSetOtherFilesystemTest : public LayerSetOpenTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(Create({"l0/", "u/", "fs/"}));
    if (mount("tmpfs", Path("fs").c_str(), "tmpfs", 0, "size=1m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs at " << Path("fs")
                   << " (needs root): " << strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(Path("fs").c_str(), MNT_DETACH);
  }

  bool mounted_ = false;
};

TEST_F(LayerSetOtherFilesystemTest, RejectsWorkOnAnotherFilesystem) {
  ASSERT_NO_FATAL_FAILURE(Create({"fs/w/"}));
  ExpectOpenError(Config({Path("l0")}, Path("u"), Path("fs/w")), "--work", Path("fs/w"),
                  "is on another filesystem than the upper dir " + Path("u"));
}

TEST_F(LayerSetOtherFilesystemTest, RejectsDefaultWorkDirOnAnotherFilesystem) {
  // The upper is the root of the tmpfs, so its default sibling work dir is not.
  ExpectOpenError(Config({Path("l0")}, Path("fs")), "--work", Path(".fs.ovlbox-work"),
                  "(give one with --work)");
}

class LayerSetLocateTest : public LayerSetOpenTest {};

TEST_F(LayerSetLocateTest, MapsPathsBelowLayerRoots) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/", "l1/", "l0x/"}));
  auto set = LayerSet::Open(Config({Path("l0"), Path("l1")}));
  ASSERT_TRUE(set.ok()) << set.status();
  const LayerSet& layers = **set;

  RealLocation root = layers.Locate(Path("l0"));
  EXPECT_EQ(root.layer, 0);
  EXPECT_EQ(root.rel, "");
  RealLocation deep = layers.Locate(Path("l1/a/b"));
  EXPECT_EQ(deep.layer, 1);
  EXPECT_EQ(deep.rel, "a/b");
  // A sibling whose name merely starts with a layer's name is outside it.
  EXPECT_EQ(layers.Locate(Path("l0x/a")).layer, -1);
  EXPECT_EQ(layers.Locate(Path("")).layer, -1);
  EXPECT_EQ(layers.Locate("/").layer, -1);
}

TEST_F(LayerSetLocateTest, UpperInsideLowerWinsAsLongestPrefix) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/u/", "w/"}));
  auto set = LayerSet::Open(Config({Path("l0")}, Path("l0/u"), Path("w")));
  ASSERT_TRUE(set.ok()) << set.status();
  const LayerSet& layers = **set;

  RealLocation in_upper = layers.Locate(Path("l0/u/a/b"));
  EXPECT_EQ(in_upper.layer, 0);
  EXPECT_EQ(in_upper.rel, "a/b");
  RealLocation upper_root = layers.Locate(Path("l0/u"));
  EXPECT_EQ(upper_root.layer, 0);
  EXPECT_EQ(upper_root.rel, "");
  RealLocation in_lower = layers.Locate(Path("l0/ux"));
  EXPECT_EQ(in_lower.layer, 1);
  EXPECT_EQ(in_lower.rel, "ux");
  EXPECT_EQ(layers.Locate(Path("w/x")).layer, -1);
}

TEST_F(LayerSetLocateTest, NestedLowerWinsAsLongestPrefix) {
  ASSERT_NO_FATAL_FAILURE(Create({"outer/inner/"}));
  auto set = LayerSet::Open(Config({Path("outer"), Path("outer/inner")}));
  ASSERT_TRUE(set.ok()) << set.status();

  RealLocation in_inner = (*set)->Locate(Path("outer/inner/x"));
  EXPECT_EQ(in_inner.layer, 1);
  EXPECT_EQ(in_inner.rel, "x");
  RealLocation in_outer = (*set)->Locate(Path("outer/x"));
  EXPECT_EQ(in_outer.layer, 0);
  EXPECT_EQ(in_outer.rel, "x");
}

TEST_F(LayerSetLocateTest, WorkDirInsideLowerIsInNoLayer) {
  ASSERT_NO_FATAL_FAILURE(Create({"l0/w/", "u/"}));
  auto set = LayerSet::Open(Config({Path("l0")}, Path("u"), Path("l0/w")));
  ASSERT_TRUE(set.ok()) << set.status();
  const LayerSet& layers = **set;

  EXPECT_EQ(layers.Locate(Path("l0/w")).layer, -1);
  EXPECT_EQ(layers.Locate(Path("l0/w/index/x")).layer, -1);
  RealLocation beside = layers.Locate(Path("l0/wx"));
  EXPECT_EQ(beside.layer, 1);
  EXPECT_EQ(beside.rel, "wx");
}

TEST_F(LayerSetLocateTest, RootLowerHoldsEveryPathButTheUpper) {
  ASSERT_NO_FATAL_FAILURE(Create({"u/", "w/"}));
  auto set = LayerSet::Open(Config({"/"}, Path("u"), Path("w")));
  ASSERT_TRUE(set.ok()) << set.status();
  const LayerSet& layers = **set;

  EXPECT_EQ(layers.view_root(), "/");
  RealLocation root = layers.Locate("/");
  EXPECT_EQ(root.layer, 1);
  EXPECT_EQ(root.rel, "");
  RealLocation etc = layers.Locate("/etc/passwd");
  EXPECT_EQ(etc.layer, 1);
  EXPECT_EQ(etc.rel, "etc/passwd");
  RealLocation in_upper = layers.Locate(Path("u/f"));
  EXPECT_EQ(in_upper.layer, 0);
  EXPECT_EQ(in_upper.rel, "f");
  EXPECT_EQ(layers.Locate(Path("w/f")).layer, -1);
}

TEST(RelPathTest, JoinRel) {
  EXPECT_EQ(JoinRel("", "a"), "a");
  EXPECT_EQ(JoinRel("a", "b"), "a/b");
  EXPECT_EQ(JoinRel("a/b", "c"), "a/b/c");
}

TEST(RelPathTest, ParentRel) {
  EXPECT_EQ(ParentRel("a"), "");
  EXPECT_EQ(ParentRel("a/b"), "a");
  EXPECT_EQ(ParentRel("a/b/c"), "a/b");
  EXPECT_EQ(ParentRel(""), "");
}

}  // namespace
}  // namespace ovlbox
