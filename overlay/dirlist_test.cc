#include "overlay/dirlist.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "overlay/testing/temp_tree.h"
#include "overlay/testing/test_view.h"

namespace ovlbox {
namespace {

using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

std::vector<std::string> Names(const std::vector<DirEntry>& entries) {
  std::vector<std::string> names;
  for (const DirEntry& e : entries) names.push_back(e.name);
  return names;
}

const DirEntry* Find(const std::vector<DirEntry>& entries, const std::string& name) {
  for (const DirEntry& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// NameCookie

TEST(NameCookieTest, DotAndDotDotComeFirst) {
  EXPECT_EQ(NameCookie("."), 1u);
  EXPECT_EQ(NameCookie(".."), 2u);
  for (const char* name : {"...", ".a", "..a", "a", "a.", "\x01", "\xff"}) {
    uint64_t cookie = NameCookie(name);
    EXPECT_GE(cookie, 3u) << name;
    EXPECT_LT(cookie, kDirEof) << name;
  }
}

TEST(NameCookieTest, IsAFunctionOfTheNameOnly) {
  std::string built = "file";
  built += ".txt";
  std::string_view slice = std::string_view("xfile.txtx").substr(1, 8);
  EXPECT_EQ(NameCookie("file.txt"), NameCookie("file.txt"));
  EXPECT_EQ(NameCookie(built), NameCookie("file.txt"));
  EXPECT_EQ(NameCookie(slice), NameCookie("file.txt"));
  EXPECT_NE(NameCookie("file.txt"), NameCookie("file.txu"));
  EXPECT_NE(NameCookie("ab"), NameCookie("ba"));
}

TEST(NameCookieTest, NormalNamesGetDistinctCookiesInRange) {
  std::set<uint64_t> seen;
  const int kNames = 100000;
  for (int i = 0; i < kNames; ++i) {
    std::string name = "n" + std::to_string(i);
    uint64_t cookie = NameCookie(name);
    ASSERT_GE(cookie, 3u) << name;
    ASSERT_LT(cookie, kDirEof) << name;
    seen.insert(cookie);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kNames));
  EXPECT_LT(NameCookie(std::string(NAME_MAX, '\xff')), kDirEof);
}

// ---------------------------------------------------------------------------
// ListMerged, NeedsMergedListing

// The merged listing of the view directory `rel`.
std::vector<DirEntry> ListDir(const View& view, const std::string& rel, ino_t parent_ino = 0) {
  auto dir = view.DirAt(rel);
  EXPECT_TRUE(IsOk(dir)) << rel;
  if (!dir.ok()) return {};
  auto entries = ListMerged(view, **dir, parent_ino);
  EXPECT_TRUE(IsOk(entries)) << rel;
  if (!entries.ok()) return {};
  return std::move(*entries);
}

class ListMergedTest : public ViewFixture {
 protected:
  std::vector<std::string> ListNames(const std::string& rel) { return Names(ListDir(view(), rel)); }
  bool NeedsMerging(const std::string& rel) {
    auto dir = view().DirAt(rel);
    EXPECT_TRUE(IsOk(dir)) << rel;
    return dir.ok() && NeedsMergedListing(view(), **dir);
  }
};
class ListMergedWhiteoutTest : public WhiteoutViewFixture {
 protected:
  std::vector<std::string> ListNames(const std::string& rel) { return Names(ListDir(view(), rel)); }
};
class ListMergedXattrTest : public XattrViewFixture {
 protected:
  std::vector<std::string> ListNames(const std::string& rel) { return Names(ListDir(view(), rel)); }
};

// An entry named `name` of type `type` (and number `ino`, unless 0).
MATCHER_P3(EntryIsMatcher, name, type, ino, "") {
  return arg.name == name && arg.type == type && (ino == 0 || arg.ino == ino);
}
auto EntryIs(const std::string& name, unsigned char type, ino_t ino = 0) {
  return EntryIsMatcher(name, type, ino);
}

// The names of a real directory in the order the kernel lists them.
std::vector<std::string> RealOrder(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  EXPECT_NE(d, nullptr) << path;
  if (d == nullptr) return names;
  while (struct dirent* e = readdir(d)) names.push_back(e->d_name);
  closedir(d);
  return names;
}

TEST_F(ListMergedTest, ListsEveryVisibleNameOnceInOverlayfsOrder) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a = top", "l0/d/", "l0/e", "l0/f", "l1/a = middle", "l1/b",
                                "l1/d/", "l1/g", "l2/c/", "l2/b", "l2/link -> a", "l2/e"},
                               {"l0", "l1", "l2"}));
  const ino_t kParentIno = 4242;
  std::vector<DirEntry> entries = ListDir(view(), "", kParentIno);
  EXPECT_THAT(Names(entries),
              UnorderedElementsAre(".", "..", "a", "b", "c", "d", "e", "f", "g", "link"));

  // overlayfs' order: the lowest layer's names first, in its order (".",
  // ".." and the names the layers above share with it among them), then
  // the other names as read, top layer first.
  std::vector<std::string> expected = RealOrder(Path("l2"));
  std::set<std::string> seen(expected.begin(), expected.end());
  for (const char* layer : {"l0", "l1"}) {
    for (const std::string& name : RealOrder(Path(layer))) {
      if (seen.insert(name).second) expected.push_back(name);
    }
  }
  EXPECT_THAT(Names(entries), ElementsAreArray(expected));
  for (const DirEntry& e : entries) EXPECT_EQ(e.cookie, NameCookie(e.name)) << e.name;

  // "." and ".." are directories, ".." with the number given; each name
  // comes from the upper-most layer that has it.
  EXPECT_THAT(entries, Contains(EntryIs(".", DT_DIR)));
  EXPECT_THAT(entries, Contains(EntryIs("..", DT_DIR, kParentIno)));
  EXPECT_THAT(entries, Contains(EntryIs("a", DT_REG, LstatOrDie(Path("l0/a")).st_ino)));
  EXPECT_THAT(entries, Contains(EntryIs("b", DT_REG, LstatOrDie(Path("l1/b")).st_ino)));
  EXPECT_THAT(entries, Contains(EntryIs("c", DT_DIR)));
  EXPECT_THAT(entries, Contains(EntryIs("d", DT_DIR)));
  EXPECT_THAT(entries, Contains(EntryIs("link", DT_LNK)));
}

// Directory numbers as overlayfs reports them (all layers on one
// filesystem): a merged directory has its topmost lower directory's number,
// except the root with an upper, which has the upper root's. d_ino in a
// listing is the number stat reports.
TEST_F(ListMergedTest, DirInosInAReadOnlyViewAreTheTopmostLayers) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/", "l1/d/", "l1/lonly/"}, {"l0", "l1"}));
  std::vector<DirEntry> root = ListDir(view(), "");
  ASSERT_NE(Find(root, "."), nullptr);
  EXPECT_EQ(Find(root, ".")->ino, LstatOrDie(Path("l0")).st_ino);
  ASSERT_NE(Find(root, "d"), nullptr);
  EXPECT_EQ(Find(root, "d")->ino, LstatOrDie(Path("l0/d")).st_ino);
  ASSERT_NE(Find(root, "lonly"), nullptr);
  EXPECT_EQ(Find(root, "lonly")->ino, LstatOrDie(Path("l1/lonly")).st_ino);

  std::vector<DirEntry> d = ListDir(view(), "d");
  ASSERT_NE(Find(d, "."), nullptr);
  EXPECT_EQ(Find(d, ".")->ino, LstatOrDie(Path("l0/d")).st_ino);
}

TEST_F(ListMergedTest, DirInosWithUpperAreTheTopmostLowers) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"u/d/", "u/uonly/", "w/", "l0/d/", "l1/d/", "l1/lonly/"}, {"l0", "l1"}, "u", "w"));
  std::vector<DirEntry> root = ListDir(view(), "");
  ASSERT_NE(Find(root, "d"), nullptr);
  EXPECT_EQ(Find(root, "d")->ino, LstatOrDie(Path("l0/d")).st_ino);
  ASSERT_NE(Find(root, "uonly"), nullptr);
  EXPECT_EQ(Find(root, "uonly")->ino, LstatOrDie(Path("u/uonly")).st_ino);
  ASSERT_NE(Find(root, "lonly"), nullptr);
  EXPECT_EQ(Find(root, "lonly")->ino, LstatOrDie(Path("l1/lonly")).st_ino);

  std::vector<DirEntry> d = ListDir(view(), "d");
  ASSERT_NE(Find(d, "."), nullptr);
  EXPECT_EQ(Find(d, ".")->ino, LstatOrDie(Path("l0/d")).st_ino);
}

TEST_F(ListMergedTest, RootDotWithUpperIsTheUpperRoot) {
  ASSERT_NO_FATAL_FAILURE(Open({"u/", "w/", "l0/", "l1/"}, {"l0", "l1"}, "u", "w"));
  std::vector<DirEntry> root = ListDir(view(), "");
  ASSERT_NE(Find(root, "."), nullptr);
  EXPECT_EQ(Find(root, ".")->ino, LstatOrDie(Path("u")).st_ino);
}

TEST_F(ListMergedTest, MergesSubdirectories) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/x", "l1/d/y", "l1/d/x", "l2/d/z/"}, {"l0", "l1", "l2"}));
  EXPECT_THAT(ListNames("d"), UnorderedElementsAre(".", "..", "x", "y", "z"));
}

TEST_F(ListMergedTest, DirectoryOverFileListsOnlyTheDirectory) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/a", "l1/d", "l2/d/b"}, {"l0", "l1", "l2"}));
  EXPECT_THAT(ListNames("d"), UnorderedElementsAre(".", "..", "a"));
  EXPECT_FALSE(NeedsMerging("d"));
}

TEST_F(ListMergedTest, OmitsUpperAndWorkDirsInsideALower) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/sub/u/f", "l0/sub/other", "l0/w/", "l0/keep/"}, {"l0"}, "l0/sub/u", "l0/w"));
  // The upper's own content is at the root of the view.
  EXPECT_THAT(ListNames(""), UnorderedElementsAre(".", "..", "f", "sub", "keep"));
  EXPECT_THAT(ListNames("sub"), UnorderedElementsAre(".", "..", "other"));
  // sub has a single layer directory, but it holds the hidden upper.
  EXPECT_TRUE(NeedsMerging("sub"));
  EXPECT_FALSE(NeedsMerging("keep"));
}

TEST_F(ListMergedTest, NeedsMergingOnlyWhenMoreThanOneLayer) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/m/", "l1/m/", "l0/solo/", "l1/below/", "l0/f", "l1/f/"}, {"l0", "l1"}));
  EXPECT_TRUE(NeedsMerging(""));
  EXPECT_TRUE(NeedsMerging("m"));
  EXPECT_FALSE(NeedsMerging("solo"));
  EXPECT_FALSE(NeedsMerging("below"));
}

TEST_F(ListMergedTest, SingleLowerRootNeedsNoMerging) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/"}, {"l0"}));
  EXPECT_FALSE(NeedsMerging(""));
}

TEST_F(ListMergedWhiteoutTest, OmitsWhiteoutsAndWhatTheyHide) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/gone (whiteout)", "l1/gone", "l0/alone (whiteout)",
                                "l1/mid (whiteout)", "l2/mid/", "l0/kept", "l2/kept2"},
                               {"l0", "l1", "l2"}));
  EXPECT_THAT(ListNames(""), UnorderedElementsAre(".", "..", "kept", "kept2"));
}

TEST_F(ListMergedXattrTest, OpaqueDirectoryListsOnlyItsOwnEntries) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/ @user.overlay.opaque=y", "l0/d/a", "l1/d/b"}, {"l0", "l1"}));
  EXPECT_THAT(ListNames("d"), UnorderedElementsAre(".", "..", "a"));
}

// An opaque upper directory does not merge with the lower one: it keeps its
// own number, in a listing as in stat.
TEST_F(ListMergedXattrTest, OpaqueUpperDirKeepsItsOwnIno) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"u/o/ @user.overlay.opaque=y", "w/", "l0/o/", "l1/"}, {"l0", "l1"}, "u", "w"));
  std::vector<DirEntry> root = ListDir(view(), "");
  const DirEntry* o = Find(root, "o");
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->ino, LstatOrDie(Path("u/o")).st_ino);
}

TEST_F(ListMergedXattrTest, OmitsXattrWhiteoutsAndWhatTheyHide) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/d/ @user.overlay.opaque=x", "l0/d/gone @user.overlay.whiteout=",
            "l0/d/full = data @user.overlay.whiteout=", "l1/d/gone", "l1/d/kept", "l2/d/"},
           {"l0", "l1", "l2"}));
  EXPECT_THAT(ListNames("d"), UnorderedElementsAre(".", "..", "full", "kept"));
}

// ---------------------------------------------------------------------------
// FillDirents

// One record read back from a FillDirents buffer.
struct Record {
  uint64_t ino;
  uint64_t off;
  unsigned short reclen;
  unsigned char type;
  std::string name;
};

constexpr size_t kDirent64NameOffset = 19;  // d_ino, d_off, d_reclen, d_type
constexpr size_t kDirentNameOffset = 18;    // d_ino, d_off, d_reclen

size_t Align8(size_t n) { return (n + 7) & ~size_t{7}; }

// Parses linux_dirent64 (or, with `legacy`, linux_dirent) records.
std::vector<Record> ParseRecords(const char* buf, size_t size, bool legacy) {
  std::vector<Record> out;
  size_t off = 0;
  while (off < size) {
    const char* rec = buf + off;
    Record r;
    memcpy(&r.ino, rec, 8);
    memcpy(&r.off, rec + 8, 8);
    memcpy(&r.reclen, rec + 16, 2);
    if (r.reclen == 0 || off + r.reclen > size) {
      ADD_FAILURE() << "bad d_reclen " << r.reclen << " at offset " << off;
      break;
    }
    size_t name_offset = legacy ? kDirentNameOffset : kDirent64NameOffset;
    r.type = legacy ? static_cast<unsigned char>(rec[r.reclen - 1])
                    : static_cast<unsigned char>(rec[18]);
    size_t name_max = r.reclen - name_offset - (legacy ? 1 : 0);
    r.name = std::string(rec + name_offset, strnlen(rec + name_offset, name_max));
    EXPECT_LT(r.name.size(), name_max) << "name not NUL-terminated: " << r.name;
    out.push_back(r);
    off += r.reclen;
  }
  return out;
}

class FillDirentsTest : public ::testing::Test {
 protected:
  // Entries for ".", ".." and `names`, in that order.
  static std::vector<DirEntry> MakeEntries(const std::vector<std::string>& names) {
    std::vector<DirEntry> entries = {{1, 10, DT_DIR, "."}, {2, 11, DT_DIR, ".."}};
    ino_t ino = 100;
    for (const std::string& name : names) {
      entries.push_back({NameCookie(name), ino++, DT_REG, name});
    }
    return entries;
  }

  // The position of entries_[i] (the end past the last).
  uint64_t PosOf(size_t i) const {
    return i < entries_.size() ? ovlbox_dir_pos(i, entries_[i].cookie) : kDirEof;
  }

  std::vector<DirEntry> entries_ =
      MakeEntries({"alpha", "beta", "gamma", "delta", "a-much-longer-name"});
  char buf_[4096];
};

TEST_F(FillDirentsTest, WritesLinuxDirent64Records) {
  uint64_t pos = 0;
  auto n = FillDirents(entries_, 0, /*legacy=*/false, buf_, sizeof(buf_), &pos);
  ASSERT_TRUE(IsOk(n));
  std::vector<Record> records = ParseRecords(buf_, *n, /*legacy=*/false);

  ASSERT_EQ(records.size(), entries_.size());
  size_t total = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const DirEntry& e = entries_[i];
    EXPECT_EQ(records[i].name, e.name);
    EXPECT_EQ(records[i].off, PosOf(i + 1)) << e.name;
    EXPECT_EQ(records[i].ino, e.ino) << e.name;
    EXPECT_EQ(records[i].type, e.type) << e.name;
    EXPECT_EQ(records[i].reclen, Align8(kDirent64NameOffset + e.name.size() + 1)) << e.name;
    total += records[i].reclen;
  }
  EXPECT_EQ(*n, total);
  EXPECT_EQ(pos, kDirEof);
}

TEST_F(FillDirentsTest, WritesLegacyLinuxDirentRecords) {
  uint64_t pos = 0;
  auto n = FillDirents(entries_, 0, /*legacy=*/true, buf_, sizeof(buf_), &pos);
  ASSERT_TRUE(IsOk(n));
  std::vector<Record> records = ParseRecords(buf_, *n, /*legacy=*/true);

  ASSERT_EQ(records.size(), entries_.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const DirEntry& e = entries_[i];
    EXPECT_EQ(records[i].name, e.name);
    EXPECT_EQ(records[i].off, PosOf(i + 1)) << e.name;
    EXPECT_EQ(records[i].ino, e.ino) << e.name;
    EXPECT_EQ(records[i].type, e.type) << e.name;
    EXPECT_EQ(records[i].reclen, Align8(kDirentNameOffset + e.name.size() + 2)) << e.name;
  }
  EXPECT_EQ(pos, kDirEof);
}

TEST_F(FillDirentsTest, ReturnsZeroAtTheEnd) {
  uint64_t pos = 0;
  auto all = FillDirents(entries_, 0, false, buf_, sizeof(buf_), &pos);
  ASSERT_TRUE(IsOk(all));
  ASSERT_GT(*all, 0u);

  uint64_t end_pos = 0;
  auto end = FillDirents(entries_, pos, false, buf_, sizeof(buf_), &end_pos);
  ASSERT_TRUE(IsOk(end));
  EXPECT_EQ(*end, 0u);
  // Still the end when asked again, even with a buffer too small for any entry.
  uint64_t again_pos = 0;
  auto again = FillDirents(entries_, end_pos, false, buf_, 1, &again_pos);
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ(*again, 0u);
  auto past_eof = FillDirents(entries_, kDirEof, false, buf_, sizeof(buf_), &again_pos);
  ASSERT_TRUE(IsOk(past_eof));
  EXPECT_EQ(*past_eof, 0u);
}

TEST_F(FillDirentsTest, ContinuesAtPos) {
  uint64_t pos = 0;
  auto n = FillDirents(entries_, PosOf(3), false, buf_, sizeof(buf_), &pos);
  ASSERT_TRUE(IsOk(n));
  std::vector<Record> records = ParseRecords(buf_, *n, false);
  ASSERT_EQ(records.size(), entries_.size() - 3);
  EXPECT_EQ(records.front().name, entries_[3].name);
}

// A listing read on after it changed: at the name the position names
// where it still is, else at the same index.
TEST_F(FillDirentsTest, ResumesByNameThenByIndex) {
  std::vector<DirEntry> fewer = entries_;
  const uint64_t at_gamma = PosOf(4);
  ASSERT_EQ(entries_[4].name, "gamma");
  // Entries before it removed: it moved up, and is found by its name.
  fewer.erase(fewer.begin() + 2, fewer.begin() + 4);
  EXPECT_EQ(ResumeIndex(fewer, at_gamma), 2u);
  // Names added before it: found further down.
  std::vector<DirEntry> more = entries_;
  more.insert(more.begin() + 2, DirEntry{NameCookie("new"), 99, DT_REG, "new"});
  EXPECT_EQ(ResumeIndex(more, at_gamma), 5u);
  // It was removed itself: the same index, the entry that followed it.
  std::vector<DirEntry> without = entries_;
  without.erase(without.begin() + 4);
  EXPECT_EQ(without[ResumeIndex(without, at_gamma)].name, "delta");
  // The start and the end.
  EXPECT_EQ(ResumeIndex(entries_, 0), 0u);
  EXPECT_EQ(ResumeIndex(entries_, kDirEof), entries_.size());
  // A position past the end whose name is not there: the end.
  uint64_t past = (uint64_t{40} << 32) | 0x12345;
  for (const DirEntry& e : entries_) ASSERT_NE(static_cast<uint32_t>(e.cookie), 0x12345u);
  EXPECT_EQ(ResumeIndex(fewer, past), fewer.size());
}

TEST_F(FillDirentsTest, WritesOnlyWholeRecords) {
  // "." and ".." take 24 bytes each; the third record does not fit in 60.
  uint64_t pos = 0;
  auto n = FillDirents(entries_, 0, false, buf_, 60, &pos);
  ASSERT_TRUE(IsOk(n));
  EXPECT_EQ(*n, 48u);
  std::vector<Record> records = ParseRecords(buf_, *n, false);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(pos, PosOf(2));
}

TEST_F(FillDirentsTest, EinvalWhenNoEntryFits) {
  uint64_t pos = 0;
  EXPECT_TRUE(FailsWith(FillDirents(entries_, 0, false, buf_, 23, &pos), EINVAL));
  EXPECT_TRUE(FailsWith(FillDirents(entries_, 0, false, buf_, 0, &pos), EINVAL));
  EXPECT_TRUE(FailsWith(FillDirents(entries_, 0, true, buf_, 16, &pos), EINVAL));
}

TEST_F(FillDirentsTest, SmallBufferPagesThroughEverything) {
  std::vector<std::string> names;
  uint64_t pos = 0;
  for (int calls = 0; calls < 100; ++calls) {
    auto n = FillDirents(entries_, pos, false, buf_, 64, &pos);
    ASSERT_TRUE(IsOk(n));
    if (*n == 0) break;
    for (const Record& r : ParseRecords(buf_, *n, false)) names.push_back(r.name);
  }
  EXPECT_THAT(names, ElementsAreArray(Names(entries_)));
}

// A program reads a merged directory with a small buffer while it deletes
// entries (as `rm -rf` does): each getdents lists the directory afresh and
// goes on at the position kept as the file position.
class FillDirentsCursorTest : public ViewFixture {};

TEST_F(FillDirentsCursorTest, CursorSurvivesDeletedEntries) {
  std::vector<std::string> entries;
  std::vector<std::string> names;
  for (int i = 0; i < 20; ++i) {
    std::string name = "f" + std::to_string(i);
    entries.push_back("l0/" + name);
    names.push_back(name);
  }
  for (int i = 0; i < 10; ++i) {
    std::string name = "g" + std::to_string(i);
    entries.push_back("l1/" + name);
    names.push_back(name);
  }
  ASSERT_NO_FATAL_FAILURE(Open(entries, {"l0", "l1"}));
  auto real_path = [&](const std::string& name) {
    return Path((name[0] == 'f' ? "l0/" : "l1/") + name);
  };
  // One getdents call: lists the directory afresh, continues after *pos.
  auto read_some = [&](uint64_t* pos) {
    std::vector<std::string> read;
    auto listing = ListMerged(view(), *Root(), 0);
    EXPECT_TRUE(IsOk(listing));
    if (!listing.ok()) return read;
    alignas(8) char buf[72];  // three records with these short names
    auto n = FillDirents(*listing, *pos, false, buf, sizeof(buf), pos);
    EXPECT_TRUE(IsOk(n));
    if (!n.ok()) return read;
    for (const Record& r : ParseRecords(buf, *n, false)) read.push_back(r.name);
    return read;
  };

  uint64_t pos = 0;
  std::vector<std::string> seen = read_some(&pos);
  ASSERT_EQ(seen.size(), 3u);
  // Delete an entry returned already, and one not returned yet.
  std::string returned;
  for (const std::string& name : seen) {
    if (name != "." && name != "..") returned = name;
  }
  ASSERT_FALSE(returned.empty());
  auto before = ListMerged(view(), *Root(), 0);
  ASSERT_TRUE(IsOk(before));
  const std::string pending = before->back().name;
  ASSERT_NE(pending, returned);
  ASSERT_NE(pending, ".");
  ASSERT_NE(pending, "..");
  ASSERT_EQ(unlink(real_path(returned).c_str()), 0);
  ASSERT_EQ(unlink(real_path(pending).c_str()), 0);

  for (int calls = 0; calls < 100; ++calls) {
    std::vector<std::string> more = read_some(&pos);
    if (more.empty()) break;
    seen.insert(seen.end(), more.begin(), more.end());
  }

  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "an entry was returned twice";
  std::vector<std::string> expected = {".", ".."};
  for (const std::string& name : names) {
    if (name != pending) expected.push_back(name);
  }
  std::vector<std::string> seen_but_pending;
  for (const std::string& name : seen) {
    if (name != pending) seen_but_pending.push_back(name);
  }
  EXPECT_THAT(seen_but_pending, UnorderedElementsAreArray(expected));
}

}  // namespace
}  // namespace ovlbox
