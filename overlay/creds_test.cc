#include "overlay/creds.h"

#include <sys/stat.h>

#include <cerrno>

#include "gtest/gtest.h"

namespace ovlbox {
namespace {

struct stat Dir(uid_t uid, gid_t gid, mode_t mode) {
  struct stat st {};
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_mode = S_IFDIR | mode;
  return st;
}

class CallerPermissionTest : public ::testing::Test {
 protected:
  void Act(uid_t uid, gid_t gid, std::vector<gid_t> groups = {}) {
    ThreadCreds& c = CurrentThreadCreds();
    c.acting = true;
    c.caller_fsuid = uid;
    c.caller_fsgid = gid;
    c.caller_groups = std::move(groups);
  }
  void TearDown() override { CurrentThreadCreds() = ThreadCreds(); }
};

TEST_F(CallerPermissionTest, NotActingAllowsEverything) {
  EXPECT_EQ(CallerMayChangeDir(Dir(0, 0, 0500)), 0);
  EXPECT_EQ(CallerMayRemoveFrom(Dir(0, 0, 01777), Dir(5, 5, 0644)), 0);
}

TEST_F(CallerPermissionTest, SearchByModeBitsAlone) {
  Act(1000, 1000, {27});
  EXPECT_TRUE(CallerMaySearch(Dir(0, 0, 0711)));     // anyone may
  EXPECT_TRUE(CallerMaySearch(Dir(1000, 0, 0700)));  // the owner, u+x
  EXPECT_FALSE(CallerMaySearch(Dir(1000, 0, 0600)));
  EXPECT_FALSE(CallerMaySearch(Dir(0, 0, 0700)));     // someone else's
  // Group and other classes may be narrowed by an ACL: asked of the kernel.
  EXPECT_FALSE(CallerMaySearch(Dir(0, 1000, 0750)));
  EXPECT_FALSE(CallerMaySearch(Dir(0, 27, 0710)));
  Act(0, 0);
  EXPECT_TRUE(CallerMaySearch(Dir(1000, 1000, 0700)));  // fsuid 0
  EXPECT_TRUE(CallerMaySearch(Dir(1000, 1000, 0600)));
}

TEST_F(CallerPermissionTest, OwnerGroupOtherBits) {
  Act(1000, 1000, {27});
  EXPECT_EQ(CallerMayChangeDir(Dir(1000, 0, 0700)), 0);
  EXPECT_EQ(CallerMayChangeDir(Dir(1000, 0, 0500)), EACCES);  // owner without write
  EXPECT_EQ(CallerMayChangeDir(Dir(1000, 0, 0077)), EACCES);  // owner bits decide
  EXPECT_EQ(CallerMayChangeDir(Dir(0, 1000, 0070)), 0);
  EXPECT_EQ(CallerMayChangeDir(Dir(0, 27, 0070)), 0);         // supplementary group
  EXPECT_EQ(CallerMayChangeDir(Dir(0, 27, 0050)), EACCES);
  EXPECT_EQ(CallerMayChangeDir(Dir(0, 0, 0755)), EACCES);
  EXPECT_EQ(CallerMayChangeDir(Dir(0, 0, 0777)), 0);
  EXPECT_EQ(CallerMayChangeDir(Dir(0, 0, 0776)), EACCES);     // no search
}

TEST_F(CallerPermissionTest, RootMay) {
  Act(0, 0);
  EXPECT_EQ(CallerMayChangeDir(Dir(5, 5, 0500)), 0);
  EXPECT_EQ(CallerMayRemoveFrom(Dir(5, 5, 01777), Dir(6, 6, 0644)), 0);
}

TEST_F(CallerPermissionTest, StickyDirectories) {
  Act(1000, 1000);
  struct stat tmp = Dir(0, 0, 01777);
  EXPECT_EQ(CallerMayRemoveFrom(tmp, Dir(1000, 1000, 0644)), 0);   // own file
  EXPECT_EQ(CallerMayRemoveFrom(tmp, Dir(1001, 1001, 0666)), EPERM);
  EXPECT_EQ(CallerMayRemoveFrom(Dir(1000, 0, 01777), Dir(1001, 1001, 0666)), 0);  // own dir
  EXPECT_EQ(CallerMayRemoveFrom(Dir(0, 0, 0777), Dir(1001, 1001, 0666)), 0);      // not sticky
}

}  // namespace
}  // namespace ovlbox
