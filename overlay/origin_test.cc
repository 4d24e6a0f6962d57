#include "overlay/origin.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "overlay/testing/temp_tree.h"
#include "overlay/unique_fd.h"

namespace ovlbox {
namespace {

TEST(EncodeOriginTest, HasTheKernelLayout) {
  TempTree tree;
  ASSERT_TRUE(tree.Create({"f = data"}).ok());
  UniqueFd root(open(tree.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  FsUuid uuid{};
  uuid[0] = 0xab;
  uuid[15] = 0xcd;
  std::string v = EncodeOrigin(root.get(), "f", uuid);
  if (v.empty()) GTEST_SKIP() << "the filesystem of " << tree.root() << " makes no file handles";
  ASSERT_GT(v.size(), 21u);
  EXPECT_EQ(v[0], 0);                                  // version
  EXPECT_EQ(static_cast<uint8_t>(v[1]), 0xfb);         // magic
  EXPECT_EQ(static_cast<uint8_t>(v[2]), v.size());     // length of it all
  EXPECT_EQ(static_cast<uint8_t>(v[5]), 0xab);         // uuid
  EXPECT_EQ(static_cast<uint8_t>(v[20]), 0xcd);
  EXPECT_EQ((v.size() - 21) % 4, 0u);                  // 32-bit words of handle
}

TEST(EncodeOriginTest, SameObjectSameHandle) {
  TempTree tree;
  ASSERT_TRUE(tree.Create({"f = data", "g = other", "d/"}).ok());
  UniqueFd root(open(tree.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  std::string f = EncodeOrigin(root.get(), "f", FsUuid{});
  if (f.empty()) GTEST_SKIP() << "no file handles";
  UniqueFd ffd(open(tree.Path("f").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(SameOrigin(f, EncodeOrigin(ffd.get(), "", FsUuid{})));
  FsUuid other{};
  other[3] = 1;
  EXPECT_TRUE(SameOrigin(f, EncodeOrigin(root.get(), "f", other)));  // uuid not compared
  EXPECT_FALSE(SameOrigin(f, EncodeOrigin(root.get(), "g", FsUuid{})));
  EXPECT_FALSE(SameOrigin(f, EncodeOrigin(root.get(), "d", FsUuid{})));
  // A new file where the old one was is another object.
  ASSERT_EQ(unlink(tree.Path("f").c_str()), 0);
  ffd.reset();
  ASSERT_TRUE(tree.Create({"f = again"}).ok());
  EXPECT_FALSE(SameOrigin(f, EncodeOrigin(root.get(), "f", FsUuid{})));
}

TEST(EncodeOriginTest, MissingObjectGivesNullOrigin) {
  TempTree tree;
  UniqueFd root(open(tree.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(EncodeOrigin(root.get(), "none", FsUuid{}), "");
}

TEST(SameOriginTest, RejectsMalformedValues) {
  std::string good(21, '\0');
  good[1] = static_cast<char>(0xfb);
  good[2] = 25;
  good[4] = 1;
  good += std::string("\x01\x02\x03\x04", 4);
  EXPECT_TRUE(SameOrigin(good, good));
  std::string bad_magic = good;
  bad_magic[1] = 0x12;
  EXPECT_FALSE(SameOrigin(bad_magic, bad_magic));
  std::string bad_len = good;
  bad_len[2] = 30;
  EXPECT_FALSE(SameOrigin(bad_len, bad_len));
  EXPECT_FALSE(SameOrigin("", ""));
  std::string other_type = good;
  other_type[4] = 2;
  EXPECT_FALSE(SameOrigin(good, other_type));
}

TEST(OriginCacheTest, KeyedByInodeAndCtime) {
  OriginCache cache;
  timespec t1{100, 5}, t2{100, 6};
  OriginId id;
  EXPECT_FALSE(cache.Find(7, t1, &id));
  cache.Put(7, t1, OriginId{3, 42});
  ASSERT_TRUE(cache.Find(7, t1, &id));
  EXPECT_EQ(id.dev, 3u);
  EXPECT_EQ(id.ino, 42u);
  // The file changed (or the inode number was reused): not the same entry.
  EXPECT_FALSE(cache.Find(7, t2, &id));
  // "No origin" is remembered too.
  cache.Put(8, t1, OriginId{});
  ASSERT_TRUE(cache.Find(8, t1, &id));
  EXPECT_FALSE(id.valid());
}

TEST(OriginCacheTest, ByHandle) {
  OriginCache cache;
  OriginId id;
  EXPECT_FALSE(cache.FindHandle("h1", &id));
  cache.PutHandle("h1", OriginId{1, 2});
  ASSERT_TRUE(cache.FindHandle("h1", &id));
  EXPECT_EQ(id.ino, 2u);
}

}  // namespace
}  // namespace ovlbox
