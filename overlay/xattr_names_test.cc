#include "overlay/xattr_names.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "overlay/testing/temp_tree.h"
#include "overlay/unique_fd.h"

namespace ovlbox {
namespace {

using namespace std::string_literals;

TEST(IsPrivateXattrTest, OverlayNamesArePrivate) {
  EXPECT_TRUE(IsPrivateXattr("user.overlay.opaque"));
  EXPECT_TRUE(IsPrivateXattr("user.overlay.whiteout"));
  EXPECT_TRUE(IsPrivateXattr("user.overlay.redirect"));
  EXPECT_TRUE(IsPrivateXattr("user.overlay.origin"));
}

TEST(IsPrivateXattrTest, EscapedAndOtherNamesAreNot) {
  EXPECT_FALSE(IsPrivateXattr("user.overlay.overlay.opaque"));
  EXPECT_FALSE(IsPrivateXattr("user.overlay.overlay.mine"));
  EXPECT_FALSE(IsPrivateXattr("user.mine"));
  EXPECT_FALSE(IsPrivateXattr("user.overlayish"));
  // With userxattr the trusted.overlay.* names belong to the program.
  EXPECT_FALSE(IsPrivateXattr("trusted.overlay.opaque"));
  EXPECT_FALSE(IsPrivateXattr("security.selinux"));
}

TEST(EscapeXattrTest, StoresProgramOverlayNamesEscaped) {
  EXPECT_EQ(EscapeXattr("user.overlay.mine"), "user.overlay.overlay.mine");
  EXPECT_EQ(EscapeXattr("user.overlay.opaque"), "user.overlay.overlay.opaque");
  // Escaping nests: an already escaped name gets one more level.
  EXPECT_EQ(EscapeXattr("user.overlay.overlay.mine"), "user.overlay.overlay.overlay.mine");
}

TEST(EscapeXattrTest, LeavesOtherNamesAlone) {
  EXPECT_EQ(EscapeXattr("user.mine"), "user.mine");
  EXPECT_EQ(EscapeXattr("user.overlayish"), "user.overlayish");
  EXPECT_EQ(EscapeXattr("trusted.overlay.opaque"), "trusted.overlay.opaque");
  EXPECT_EQ(EscapeXattr("security.capability"), "security.capability");
}

TEST(UnescapeXattrTest, ShowsEscapedNamesUnescaped) {
  EXPECT_EQ(UnescapeXattr("user.overlay.overlay.mine"), "user.overlay.mine");
  EXPECT_EQ(UnescapeXattr("user.overlay.overlay.opaque"), "user.overlay.opaque");
  EXPECT_EQ(UnescapeXattr("user.overlay.overlay.overlay.mine"), "user.overlay.overlay.mine");
}

TEST(UnescapeXattrTest, HidesPrivateNames) {
  EXPECT_EQ(UnescapeXattr("user.overlay.opaque"), "");
  EXPECT_EQ(UnescapeXattr("user.overlay.whiteout"), "");
  EXPECT_EQ(UnescapeXattr("user.overlay.origin"), "");
}

TEST(UnescapeXattrTest, LeavesOtherNamesAlone) {
  EXPECT_EQ(UnescapeXattr("user.mine"), "user.mine");
  EXPECT_EQ(UnescapeXattr("user.overlayish"), "user.overlayish");
  EXPECT_EQ(UnescapeXattr("trusted.overlay.opaque"), "trusted.overlay.opaque");
}

TEST(UnescapeXattrTest, UndoesEscapeXattr) {
  for (const char* name : {"user.mine", "user.overlay.mine", "user.overlay.overlay.mine",
                           "user.overlay.opaque", "trusted.overlay.opaque"}) {
    EXPECT_EQ(UnescapeXattr(EscapeXattr(name)), name);
  }
}

TEST(FilterXattrListTest, DropsPrivateNames) {
  const std::string stored =
      "user.a\0user.overlay.opaque\0trusted.overlay.t\0"s
      "user.overlay.whiteout\0"s;
  EXPECT_EQ(FilterXattrList(stored), "user.a\0trusted.overlay.t\0"s);
  EXPECT_EQ(FilterXattrList("user.overlay.opaque\0"s), "");
  EXPECT_EQ(FilterXattrList(""), "");
}

TEST(FilterXattrListTest, ShowsEscapedNamesAsTheProgramSetThem) {
  const std::string stored = "user.a\0user.overlay.opaque\0user.overlay.overlay.b\0"s;
  EXPECT_EQ(FilterXattrList(stored), "user.a\0user.overlay.b\0"s);
}

class IsXattrWhiteoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!UserXattrUnsupportedReason().empty()) GTEST_SKIP() << UserXattrUnsupportedReason();
  }
  TempTree tree_;
};

TEST_F(IsXattrWhiteoutTest, RecognisesTheWhiteoutXattr) {
  absl::Status created =
      tree_.Create({"d/ @user.overlay.opaque=x", "d/xw @user.overlay.whiteout=", "d/plain",
                    "d/other @user.other=1", "d/escaped @user.overlay.overlay.whiteout="});
  ASSERT_TRUE(created.ok()) << created;
  UniqueFd dir(open(tree_.Path("d").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir.valid());

  EXPECT_TRUE(IsXattrWhiteout(dir.get(), "xw"));
  EXPECT_FALSE(IsXattrWhiteout(dir.get(), "plain"));
  EXPECT_FALSE(IsXattrWhiteout(dir.get(), "other"));
  // The program's own user.overlay.whiteout, stored escaped.
  EXPECT_FALSE(IsXattrWhiteout(dir.get(), "escaped"));
  EXPECT_FALSE(IsXattrWhiteout(dir.get(), "missing"));
}

}  // namespace
}  // namespace ovlbox
