#include "overlay/view.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "overlay/testing/temp_tree.h"
#include "overlay/testing/test_view.h"

namespace ovlbox {
namespace {

using ::testing::ElementsAre;

// The layers of a view directory, top first.
std::vector<int> StackLayers(const ViewDir& dir) {
  std::vector<int> out;
  for (const LayerDir& ld : dir.stack) out.push_back(ld.layer);
  return out;
}

// ---------------------------------------------------------------------------
// Lookup

class LookupTest : public ViewFixture {};
class LookupWhiteoutTest : public WhiteoutViewFixture {};
class LookupXattrTest : public XattrViewFixture {};

TEST_F(LookupTest, UpperMostLayerWins) {
  ASSERT_NO_FATAL_FAILURE(Open(
      {"l0/f = top", "l1/f = middle", "l2/f = bottom", "l1/g = middle only", "l2/h = bottom only"},
      {"l0", "l1", "l2"}));
  auto f = LookupAt("", "f");
  ASSERT_TRUE(IsOk(f));
  EXPECT_TRUE(f->in_view);
  EXPECT_TRUE(f->exists);
  EXPECT_EQ(f->layer, 0);
  EXPECT_EQ(f->rel, "f");
  EXPECT_EQ(f->name, "f");
  EXPECT_EQ(ReadContent(f->fd.get()), "top");
  EXPECT_EQ(f->st.st_ino, LstatOrDie(Path("l0/f")).st_ino);

  auto g = LookupAt("", "g");
  ASSERT_TRUE(IsOk(g));
  EXPECT_EQ(g->layer, 1);
  EXPECT_EQ(ReadContent(g->fd.get()), "middle only");

  auto h = LookupAt("", "h");
  ASSERT_TRUE(IsOk(h));
  EXPECT_EQ(h->layer, 2);
  EXPECT_EQ(ReadContent(h->fd.get()), "bottom only");
}

TEST_F(LookupTest, UpperWinsOverLowers) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"u/f = upper", "w/", "l0/f = lower", "l0/g = lower"}, {"l0"}, "u", "w"));
  auto f = LookupAt("", "f");
  ASSERT_TRUE(IsOk(f));
  EXPECT_EQ(f->layer, 0);
  EXPECT_EQ(ReadContent(f->fd.get()), "upper");

  auto g = LookupAt("", "g");
  ASSERT_TRUE(IsOk(g));
  EXPECT_EQ(g->layer, 1);
}

TEST_F(LookupTest, MissingNameKeepsItsParent) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/", "l1/d/"}, {"l0", "l1"}));
  auto dir = view().DirAt("d");
  ASSERT_TRUE(IsOk(dir));
  auto t = view().Lookup(*dir, "missing");
  ASSERT_TRUE(IsOk(t));
  EXPECT_TRUE(t->in_view);
  EXPECT_FALSE(t->exists);
  EXPECT_EQ(t->parent, *dir);
  EXPECT_EQ(t->name, "missing");
  EXPECT_EQ(t->rel, "d/missing");
}

TEST_F(LookupTest, DirectoriesMergeAcrossLayers) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/d/a", "l1/d/b", "l2/other/", "l3/d/c"}, {"l0", "l1", "l2", "l3"}));
  auto d = LookupAt("", "d");
  ASSERT_TRUE(IsOk(d));
  ASSERT_TRUE(d->is_dir());
  ASSERT_NE(d->dir, nullptr);
  EXPECT_EQ(d->dir->rel, "d");
  EXPECT_TRUE(d->dir->merged());
  EXPECT_THAT(StackLayers(*d->dir), ElementsAre(0, 1, 3));
  EXPECT_EQ(d->dir->st.st_ino, LstatOrDie(Path("l0/d")).st_ino);

  const std::vector<std::pair<std::string, int>> expected = {{"a", 0}, {"b", 1}, {"c", 3}};
  for (const auto& [name, layer] : expected) {
    auto t = view().Lookup(d->dir, name);
    ASSERT_TRUE(IsOk(t)) << name;
    EXPECT_TRUE(t->exists) << name;
    EXPECT_EQ(t->layer, layer) << name;
    EXPECT_EQ(t->rel, "d/" + name);
  }
}

TEST_F(LookupTest, DirectoryOverFileIsNotMerged) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/a", "l1/d = a file", "l2/d/b"}, {"l0", "l1", "l2"}));
  auto d = LookupAt("", "d");
  ASSERT_TRUE(IsOk(d));
  ASSERT_TRUE(d->is_dir());
  EXPECT_EQ(d->layer, 0);
  EXPECT_FALSE(d->dir->merged());
  EXPECT_THAT(StackLayers(*d->dir), ElementsAre(0));

  auto b = view().Lookup(d->dir, "b");
  ASSERT_TRUE(IsOk(b));
  EXPECT_FALSE(b->exists);
}

TEST_F(LookupTest, FileOverDirectoryIsTheFile) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d = a file", "l1/d/b"}, {"l0", "l1"}));
  auto d = LookupAt("", "d");
  ASSERT_TRUE(IsOk(d));
  EXPECT_TRUE(d->exists);
  EXPECT_TRUE(S_ISREG(d->st.st_mode));
  EXPECT_EQ(d->dir, nullptr);
  EXPECT_EQ(ReadContent(d->fd.get()), "a file");
  EXPECT_TRUE(FailsWith(Resolve("d/b"), ENOTDIR));
}

TEST_F(LookupTest, UpperAndWorkInsideALowerAreHidden) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/u/f = in upper", "l0/w/", "l0/keep/"}, {"l0"}, "l0/u", "l0/w"));
  for (const char* hidden : {"u", "w"}) {
    auto t = LookupAt("", hidden);
    ASSERT_TRUE(IsOk(t)) << hidden;
    EXPECT_FALSE(t->exists) << hidden;
  }
  auto keep = LookupAt("", "keep");
  ASSERT_TRUE(IsOk(keep));
  EXPECT_TRUE(keep->is_dir());
  auto f = LookupAt("", "f");
  ASSERT_TRUE(IsOk(f));
  EXPECT_EQ(f->layer, 0);
  EXPECT_EQ(ReadContent(f->fd.get()), "in upper");

  EXPECT_TRUE(FailsWith(Resolve(Path("l0/u/f")), ENOENT));
  EXPECT_TRUE(FailsWith(Resolve("w/x"), ENOENT));
  EXPECT_TRUE(FailsWith(view().DirAt("u"), ENOENT));
}

TEST_F(LookupTest, DefaultWorkDirInsideALowerIsHidden) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/u/"}, {"l0"}, "l0/u"));
  ASSERT_EQ(layers().work_dir(), Path("l0/.u.ovlbox-work"));
  auto work = LookupAt("", ".u.ovlbox-work");
  ASSERT_TRUE(IsOk(work));
  EXPECT_FALSE(work->exists);
}

TEST_F(LookupWhiteoutTest, WhiteoutHidesTheNameBelowAndItself) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/f (whiteout)", "l1/f = below", "l0/alone (whiteout)", "l0/d (whiteout)", "l1/d/x"},
           {"l0", "l1"}));
  for (const char* name : {"f", "alone", "d"}) {
    auto t = LookupAt("", name);
    ASSERT_TRUE(IsOk(t)) << name;
    EXPECT_FALSE(t->exists) << name;
    EXPECT_EQ(t->parent, Root()) << name;
  }
  EXPECT_TRUE(FailsWith(view().DirAt("d"), ENOENT));
  EXPECT_TRUE(FailsWith(Resolve("d/x"), ENOENT));
}

TEST_F(LookupWhiteoutTest, WhiteoutInAMiddleLayerHidesOnlyTheLayersBelow) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/top = top", "l1/top (whiteout)", "l1/f (whiteout)", "l2/f = bottom"},
           {"l0", "l1", "l2"}));
  auto f = LookupAt("", "f");
  ASSERT_TRUE(IsOk(f));
  EXPECT_FALSE(f->exists);
  auto top = LookupAt("", "top");
  ASSERT_TRUE(IsOk(top));
  EXPECT_TRUE(top->exists);
  EXPECT_EQ(ReadContent(top->fd.get()), "top");
}

TEST_F(LookupWhiteoutTest, WhiteoutBelowADirectoryEndsItsMerge) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/a", "l1/d (whiteout)", "l2/d/b"}, {"l0", "l1", "l2"}));
  auto d = view().DirAt("d");
  ASSERT_TRUE(IsOk(d));
  EXPECT_THAT(StackLayers(**d), ElementsAre(0));
  auto b = view().Lookup(*d, "b");
  ASSERT_TRUE(IsOk(b));
  EXPECT_FALSE(b->exists);
}

TEST_F(LookupXattrTest, OpaqueDirectoryHidesWhatIsBelowIt) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/d/ @user.overlay.opaque=y", "l0/d/a = top", "l1/d/a = below", "l1/d/b = below"},
           {"l0", "l1"}));
  auto d = view().DirAt("d");
  ASSERT_TRUE(IsOk(d));
  EXPECT_FALSE((*d)->merged());
  EXPECT_THAT(StackLayers(**d), ElementsAre(0));
  auto a = view().Lookup(*d, "a");
  ASSERT_TRUE(IsOk(a));
  EXPECT_EQ(ReadContent(a->fd.get()), "top");
  auto b = view().Lookup(*d, "b");
  ASSERT_TRUE(IsOk(b));
  EXPECT_FALSE(b->exists);
}

TEST_F(LookupXattrTest, OpaqueDirectoryInAMiddleLayerMergesWithThoseAbove) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/d/a", "l1/d/ @user.overlay.opaque=y", "l1/d/b", "l2/d/c"}, {"l0", "l1", "l2"}));
  auto d = view().DirAt("d");
  ASSERT_TRUE(IsOk(d));
  EXPECT_THAT(StackLayers(**d), ElementsAre(0, 1));
  auto b = view().Lookup(*d, "b");
  ASSERT_TRUE(IsOk(b));
  EXPECT_TRUE(b->exists);
  auto c = view().Lookup(*d, "c");
  ASSERT_TRUE(IsOk(c));
  EXPECT_FALSE(c->exists);
}

TEST_F(LookupXattrTest, OpaqueXDirectoryMergesAndHonoursXattrWhiteouts) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/d/ @user.overlay.opaque=x", "l0/d/gone @user.overlay.whiteout=", "l0/d/top = top",
            "l1/d/gone = below", "l1/d/kept = below", "l2/d/"},
           {"l0", "l1", "l2"}));
  auto d = view().DirAt("d");
  ASSERT_TRUE(IsOk(d));
  EXPECT_THAT(StackLayers(**d), ElementsAre(0, 1, 2));
  auto gone = view().Lookup(*d, "gone");
  ASSERT_TRUE(IsOk(gone));
  EXPECT_FALSE(gone->exists);
  auto kept = view().Lookup(*d, "kept");
  ASSERT_TRUE(IsOk(kept));
  EXPECT_EQ(kept->layer, 1);
  auto top = view().Lookup(*d, "top");
  ASSERT_TRUE(IsOk(top));
  EXPECT_EQ(top->layer, 0);
}

TEST_F(LookupXattrTest, XattrWhiteoutIsAnEmptyRegularFile) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/d/ @user.overlay.opaque=x", "l0/d/data = not empty @user.overlay.whiteout=",
            "l0/d/sub/ @user.overlay.whiteout=", "l1/d/data = below", "l1/d/sub/x", "l2/d/"},
           {"l0", "l1", "l2"}));
  auto data = LookupAt("d", "data");
  ASSERT_TRUE(IsOk(data));
  EXPECT_TRUE(data->exists);
  EXPECT_EQ(ReadContent(data->fd.get()), "not empty");
  auto sub = LookupAt("d", "sub");
  ASSERT_TRUE(IsOk(sub));
  EXPECT_TRUE(sub->is_dir());
}

// ---------------------------------------------------------------------------
// DirAt

class DirAtTest : public ViewFixture {};

TEST_F(DirAtTest, WalksViewDirectories) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/b/", "l1/a/c/"}, {"l0", "l1"}));
  auto root = view().DirAt("");
  ASSERT_TRUE(IsOk(root));
  EXPECT_EQ(*root, Root());
  EXPECT_EQ((*root)->rel, "");

  auto a = view().DirAt("a");
  ASSERT_TRUE(IsOk(a));
  EXPECT_EQ((*a)->rel, "a");
  EXPECT_THAT(StackLayers(**a), ElementsAre(0, 1));

  auto c = view().DirAt("a/c");
  ASSERT_TRUE(IsOk(c));
  EXPECT_EQ((*c)->rel, "a/c");
  EXPECT_THAT(StackLayers(**c), ElementsAre(1));
  EXPECT_EQ((*c)->st.st_ino, LstatOrDie(Path("l1/a/c")).st_ino);
  EXPECT_EQ((*c)->top_layer(), 1);
}

TEST_F(DirAtTest, FailsOnWhatIsNotADirectoryOfTheView) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/", "l0/f", "l0/link -> a"}, {"l0"}));
  EXPECT_TRUE(FailsWith(view().DirAt("missing"), ENOENT));
  EXPECT_TRUE(FailsWith(view().DirAt("missing/x"), ENOENT));
  EXPECT_TRUE(FailsWith(view().DirAt("f"), ENOTDIR));
  EXPECT_TRUE(FailsWith(view().DirAt("f/x"), ENOTDIR));
  // Symlinks are not followed.
  EXPECT_TRUE(FailsWith(view().DirAt("link"), ENOTDIR));
}

TEST_F(DirAtTest, InvalidateDirsForgetsDirectoriesThatWentAway) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/b/", "l1/a/"}, {"l0", "l1"}));
  ASSERT_TRUE(IsOk(view().DirAt("a/b")));
  ASSERT_EQ(rmdir(Path("l0/a/b").c_str()), 0);

  view().InvalidateDir("", true);
  EXPECT_TRUE(FailsWith(view().DirAt("a/b"), ENOENT));
  auto a = view().DirAt("a");
  ASSERT_TRUE(IsOk(a));
  EXPECT_THAT(StackLayers(**a), ElementsAre(0, 1));
}

// ---------------------------------------------------------------------------
// Resolve

class ResolveTest : public ViewFixture {};
class ResolveWhiteoutTest : public WhiteoutViewFixture {};

TEST_F(ResolveTest, RelativePathFromAViewDirectory) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/b/", "l1/a/b/f = deep"}, {"l0", "l1"}));
  auto a = view().DirAt("a");
  ASSERT_TRUE(IsOk(a));
  auto t = view().Resolve(Caller{}, ViewBase(*a), "b/f", {});
  ASSERT_TRUE(IsOk(t));
  EXPECT_TRUE(t->in_view);
  EXPECT_TRUE(t->exists);
  EXPECT_EQ(t->last, LastKind::kNormal);
  EXPECT_EQ(t->rel, "a/b/f");
  EXPECT_EQ(t->name, "f");
  EXPECT_EQ(t->layer, 1);
  ASSERT_NE(t->parent, nullptr);
  EXPECT_EQ(t->parent->rel, "a/b");
  EXPECT_EQ(ReadContent(t->fd.get()), "deep");
  struct stat st;
  ASSERT_EQ(fstat(t->fd.get(), &st), 0);
  EXPECT_EQ(st.st_ino, t->st.st_ino);
}

TEST_F(ResolveTest, AbsolutePathEntersTheView) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/", "l1/a/f = lower", "host/"}, {"l0", "l1"}));
  // l0/a/f does not exist on the host: only the view has it (from l1).
  auto t = ResolveFromHost(Path("host"), Path("l0/a/f"));
  ASSERT_TRUE(IsOk(t));
  EXPECT_TRUE(t->in_view);
  EXPECT_TRUE(t->exists);
  EXPECT_EQ(t->rel, "a/f");
  EXPECT_EQ(t->layer, 1);
  EXPECT_EQ(ReadContent(t->fd.get()), "lower");
}

TEST_F(ResolveTest, AbsolutePathOfTheViewRoot) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/", "l1/"}, {"l0", "l1"}));
  for (const std::string& path : {Path("l0"), Path("l0") + "/", "/" + Path("l0") + "//"}) {
    auto t = Resolve(path);
    ASSERT_TRUE(IsOk(t)) << path;
    EXPECT_TRUE(t->in_view) << path;
    EXPECT_TRUE(t->is_dir()) << path;
    EXPECT_EQ(t->rel, "") << path;
    // Named from outside, the view root is a normal name of its parent
    // (for the kernel, a mount point in the parent's mount).
    EXPECT_TRUE(t->view_root) << path;
    EXPECT_EQ(t->last, LastKind::kNormal) << path;
    EXPECT_EQ(t->name, "l0") << path;
    EXPECT_EQ(t->dir, Root()) << path;
    EXPECT_EQ(t->parent, nullptr) << path;
  }
}

TEST_F(ResolveTest, AbsolutePathOutsideTheViewIsAHostPath) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/", "l1/f = lower", "host/file = host"}, {"l0", "l1"}));
  auto file = Resolve(Path("host/file"));
  ASSERT_TRUE(IsOk(file));
  EXPECT_FALSE(file->in_view);
  EXPECT_TRUE(file->exists);
  EXPECT_EQ(file->name, "file");
  ASSERT_NE(file->host_parent, nullptr);
  struct stat parent;
  ASSERT_EQ(fstat(file->host_parent->get(), &parent), 0);
  EXPECT_EQ(parent.st_ino, LstatOrDie(Path("host")).st_ino);
  EXPECT_EQ(ReadContent(file->fd.get()), "host");

  // A lower below the top one is visible at its own path, as itself.
  auto lower = Resolve(Path("l1/f"));
  ASSERT_TRUE(IsOk(lower));
  EXPECT_FALSE(lower->in_view);
  EXPECT_EQ(ReadContent(lower->fd.get()), "lower");

  auto slash = Resolve("/");
  ASSERT_TRUE(IsOk(slash));
  EXPECT_FALSE(slash->in_view);
  EXPECT_TRUE(slash->is_dir());
  EXPECT_EQ(slash->st.st_ino, LstatOrDie("/").st_ino);
}

TEST_F(ResolveTest, DotDotLeavesTheViewRootForTheHost) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/", "host/file = host"}, {"l0"}));
  auto up = Resolve("..");
  ASSERT_TRUE(IsOk(up));
  EXPECT_FALSE(up->in_view);
  EXPECT_EQ(up->last, LastKind::kDotDot);
  EXPECT_EQ(up->st.st_ino, LstatOrDie(tree_.root()).st_ino);

  auto file = Resolve("../host/file");
  ASSERT_TRUE(IsOk(file));
  EXPECT_FALSE(file->in_view);
  EXPECT_EQ(ReadContent(file->fd.get()), "host");
}

TEST_F(ResolveTest, DotDotFromTheHostComesBackIntoTheView) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/", "l1/a/f = lower", "host/"}, {"l0", "l1"}));
  auto f = Resolve("../l0/a/f");
  ASSERT_TRUE(IsOk(f));
  EXPECT_TRUE(f->in_view);
  EXPECT_EQ(f->rel, "a/f");
  EXPECT_EQ(ReadContent(f->fd.get()), "lower");

  auto root = Resolve("../host/../l0");
  ASSERT_TRUE(IsOk(root));
  EXPECT_TRUE(root->in_view);
  EXPECT_EQ(root->rel, "");
  EXPECT_EQ(root->dir, Root());

  auto from_host = ResolveFromHost(Path("host"), "../l0/a/f");
  ASSERT_TRUE(IsOk(from_host));
  EXPECT_TRUE(from_host->in_view);
  EXPECT_EQ(from_host->rel, "a/f");

  // `..` from a host directory whose parent is the view root's directory.
  auto parent = ResolveFromHost(Path("l0/a"), "..");
  ASSERT_TRUE(IsOk(parent));
  EXPECT_TRUE(parent->in_view);
  EXPECT_EQ(parent->rel, "");
  EXPECT_EQ(parent->last, LastKind::kDotDot);
  EXPECT_EQ(parent->dir, Root());
}

TEST_F(ResolveTest, AbsolutePathsBelowTheViewRootWithDotsAndDotDots) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/a/", "l1/a/f = lower", "host/sub/file = host"}, {"l0", "l1"}));
  // Starting in the view by the root's path must still honour "..", "."
  // and repeated slashes, in and out of the view.
  auto out = Resolve(Path("l0") + "/../host/sub/file");
  ASSERT_TRUE(IsOk(out));
  EXPECT_FALSE(out->in_view);
  EXPECT_EQ(ReadContent(out->fd.get()), "host");
  auto back = Resolve(Path("l0") + "//a/./../a/f");
  ASSERT_TRUE(IsOk(back));
  EXPECT_TRUE(back->in_view);
  EXPECT_EQ(back->rel, "a/f");
  EXPECT_EQ(ReadContent(back->fd.get()), "lower");
  // A host path that passes through the view on the way.
  auto through = Resolve(Path("host/sub/../../l0/a/f"));
  ASSERT_TRUE(IsOk(through));
  EXPECT_TRUE(through->in_view);
  EXPECT_EQ(through->rel, "a/f");
  // Deep host paths keep their parent and name.
  auto deep = Resolve(Path("host/sub/file"));
  ASSERT_TRUE(IsOk(deep));
  EXPECT_FALSE(deep->in_view);
  EXPECT_EQ(deep->name, "file");
  ASSERT_NE(deep->host_parent, nullptr);
  struct stat parent;
  ASSERT_EQ(fstat(deep->host_parent->get(), &parent), 0);
  EXPECT_EQ(parent.st_ino, LstatOrDie(Path("host/sub")).st_ino);
  auto missing = Resolve(Path("host/sub/none"));
  ASSERT_TRUE(IsOk(missing));
  EXPECT_FALSE(missing->exists);
  EXPECT_NE(missing->host_parent, nullptr);
  EXPECT_TRUE(FailsWith(Resolve(Path("host/none/file")), ENOENT));
  EXPECT_TRUE(FailsWith(Resolve(Path("host/sub/file/x")), ENOTDIR));
}

TEST_F(ResolveTest, HostSymlinksToTheirOwnDirectory) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/", "host/sub/dot -> .", "host/sub/up -> ..", "host/sub/file = host"}, {"l0"}));
  auto dot = Resolve(Path("host/sub/dot"));
  ASSERT_TRUE(IsOk(dot));
  EXPECT_FALSE(dot->in_view);
  EXPECT_TRUE(dot->is_dir());
  EXPECT_EQ(dot->st.st_ino, LstatOrDie(Path("host/sub")).st_ino);
  auto up = Resolve(Path("host/sub/up"));
  ASSERT_TRUE(IsOk(up));
  EXPECT_EQ(up->st.st_ino, LstatOrDie(Path("host")).st_ino);
  auto through = Resolve(Path("host/sub/dot/file"));
  ASSERT_TRUE(IsOk(through));
  EXPECT_EQ(ReadContent(through->fd.get()), "host");
}

TEST_F(ResolveTest, CachedDirectoriesOnTheWayFollowChanges) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/b/", "l1/a/b/f = lower"}, {"l0", "l1"}));
  ASSERT_TRUE(IsOk(Resolve("a/b/f")));
  // The directory is replaced behind the cache's back, then the cache is
  // told (as every change through the supervisor does).
  ASSERT_EQ(rename(Path("l0/a/b").c_str(), Path("l0/a/moved").c_str()), 0);
  ASSERT_EQ(rename(Path("l1/a/b").c_str(), Path("l1/a/moved").c_str()), 0);
  view().InvalidateDir("a", true);
  EXPECT_TRUE(FailsWith(Resolve("a/b/f"), ENOENT));
  auto moved = Resolve("a/moved/f");
  ASSERT_TRUE(IsOk(moved));
  EXPECT_EQ(ReadContent(moved->fd.get()), "lower");
}

TEST_F(ResolveTest, HostSymlinksLeadIntoTheView) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/a/", "l1/a/f = lower", "host/abs -> " + Path("l0/a"), "host/rel -> ../l0"},
           {"l0", "l1"}));
  auto abs = Resolve(Path("host/abs/f"));
  ASSERT_TRUE(IsOk(abs));
  EXPECT_TRUE(abs->in_view);
  EXPECT_EQ(abs->rel, "a/f");
  EXPECT_EQ(ReadContent(abs->fd.get()), "lower");

  auto abs_dir = Resolve(Path("host/abs"));
  ASSERT_TRUE(IsOk(abs_dir));
  EXPECT_TRUE(abs_dir->in_view);
  EXPECT_TRUE(abs_dir->is_dir());
  EXPECT_EQ(abs_dir->rel, "a");

  auto rel = Resolve(Path("host/rel/a/f"));
  ASSERT_TRUE(IsOk(rel));
  EXPECT_TRUE(rel->in_view);
  EXPECT_EQ(rel->rel, "a/f");

  auto rel_root = Resolve(Path("host/rel"));
  ASSERT_TRUE(IsOk(rel_root));
  EXPECT_TRUE(rel_root->in_view);
  EXPECT_EQ(rel_root->rel, "");
  EXPECT_EQ(rel_root->dir, Root());
}

TEST_F(ResolveTest, ViewSymlinksLeadToTheHost) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/out -> " + Path("host"), "host/file = host"}, {"l0"}));
  auto file = Resolve("out/file");
  ASSERT_TRUE(IsOk(file));
  EXPECT_FALSE(file->in_view);
  EXPECT_EQ(ReadContent(file->fd.get()), "host");

  auto dir = Resolve("out");
  ASSERT_TRUE(IsOk(dir));
  EXPECT_FALSE(dir->in_view);
  EXPECT_TRUE(dir->is_dir());
}

TEST_F(ResolveTest, AbsoluteViewSymlinkIntoTheViewStaysInTheView) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/abs -> " + Path("l0/d/f"), "l0/d/", "l1/d/f = lower"}, {"l0", "l1"}));
  auto t = Resolve("abs");
  ASSERT_TRUE(IsOk(t));
  EXPECT_TRUE(t->in_view);
  EXPECT_EQ(t->rel, "d/f");
  EXPECT_EQ(ReadContent(t->fd.get()), "lower");
}

TEST_F(ResolveTest, SymlinkIsReadFromTheLayerThatHoldsIt) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/target = in l0", "l1/link -> target"}, {"l0", "l1"}));
  auto followed = Resolve("link");
  ASSERT_TRUE(IsOk(followed));
  EXPECT_EQ(followed->rel, "target");
  EXPECT_EQ(followed->layer, 0);
  EXPECT_EQ(ReadContent(followed->fd.get()), "in l0");

  auto link = Resolve("link", {.follow = false});
  ASSERT_TRUE(IsOk(link));
  EXPECT_TRUE(link->is_symlink());
  EXPECT_EQ(link->rel, "link");
  EXPECT_EQ(link->layer, 1);
}

TEST_F(ResolveTest, FollowsSymlinkChainsAcrossLayers) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/a -> b", "l1/b -> dir/c", "l0/dir/c -> ../file", "l1/file = end"}, {"l0", "l1"}));
  auto t = Resolve("a");
  ASSERT_TRUE(IsOk(t));
  EXPECT_EQ(t->rel, "file");
  EXPECT_EQ(ReadContent(t->fd.get()), "end");
}

TEST_F(ResolveTest, FollowsFortySymlinksAndFailsOnTheFortyFirst) {
  // s0 -> s1 -> ... -> s39 -> file: 40 links; t -> s0 makes 41.
  std::vector<std::string> entries = {"l0/file = end", "l0/t -> s0"};
  for (int i = 0; i < 40; ++i) {
    std::string next = i == 39 ? "file" : "s" + std::to_string(i + 1);
    entries.push_back("l0/s" + std::to_string(i) + " -> " + next);
  }
  ASSERT_NO_FATAL_FAILURE(Open(entries, {"l0"}));

  auto forty = Resolve("s0");
  ASSERT_TRUE(IsOk(forty));
  EXPECT_EQ(ReadContent(forty->fd.get()), "end");
  EXPECT_TRUE(FailsWith(Resolve("t"), ELOOP));
}

TEST_F(ResolveTest, SymlinkLoopsFailWithELOOP) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/self -> self", "l0/ping -> pong", "l1/pong -> ping"}, {"l0", "l1"}));
  EXPECT_TRUE(FailsWith(Resolve("self"), ELOOP));
  EXPECT_TRUE(FailsWith(Resolve("ping"), ELOOP));
  EXPECT_TRUE(FailsWith(Resolve("ping/x"), ELOOP));

  auto link = Resolve("self", {.follow = false});
  ASSERT_TRUE(IsOk(link));
  EXPECT_TRUE(link->is_symlink());
}

TEST_F(ResolveTest, DotDotAfterASymlinkIsTheRealParent) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/a/b/", "l1/a/x = in a", "l0/c/link -> ../a/b", "l0/c/x = in c"}, {"l0", "l1"}));
  auto parent = Resolve("c/link/..");
  ASSERT_TRUE(IsOk(parent));
  EXPECT_TRUE(parent->is_dir());
  EXPECT_EQ(parent->rel, "a");
  EXPECT_EQ(parent->last, LastKind::kDotDot);

  auto x = Resolve("c/link/../x");
  ASSERT_TRUE(IsOk(x));
  EXPECT_EQ(x->rel, "a/x");
  EXPECT_EQ(ReadContent(x->fd.get()), "in a");
}

TEST_F(ResolveTest, DotDotWalksTheMergedTree) {
  // d/sub/deeper exists only in l1, d/x only in l0.
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/x = x", "l1/d/sub/deeper/"}, {"l0", "l1"}));
  auto x = Resolve("d/sub/deeper/../../x");
  ASSERT_TRUE(IsOk(x));
  EXPECT_EQ(x->rel, "d/x");
  EXPECT_EQ(ReadContent(x->fd.get()), "x");

  auto d = Resolve("d/sub/..");
  ASSERT_TRUE(IsOk(d));
  ASSERT_NE(d->dir, nullptr);
  EXPECT_TRUE(d->dir->merged());
}

TEST_F(ResolveTest, TrailingSlash) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/f = f", "l0/d/", "l0/lf -> f", "l0/ld -> d", "l0/lslash -> f/"}, {"l0"}));
  EXPECT_TRUE(FailsWith(Resolve("f/"), ENOTDIR));
  EXPECT_TRUE(FailsWith(Resolve("f/."), ENOTDIR));
  EXPECT_TRUE(FailsWith(Resolve("lf/"), ENOTDIR));
  EXPECT_TRUE(FailsWith(Resolve("lslash"), ENOTDIR));

  auto d = Resolve("d/");
  ASSERT_TRUE(IsOk(d));
  EXPECT_TRUE(d->is_dir());
  EXPECT_EQ(d->rel, "d");

  // A trailing slash makes the final symlink followed.
  auto ld = Resolve("ld/", {.follow = false});
  ASSERT_TRUE(IsOk(ld));
  EXPECT_TRUE(ld->is_dir());
  EXPECT_EQ(ld->rel, "d");

  auto missing = Resolve("missing/");
  ASSERT_TRUE(IsOk(missing));
  EXPECT_FALSE(missing->exists);
  EXPECT_TRUE(missing->trailing_slash);
  EXPECT_EQ(missing->name, "missing");
}

TEST_F(ResolveTest, IntermediateComponentErrors) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/f", "l0/lf -> f", "l0/dangling -> nowhere", "host/file"}, {"l0"}));
  EXPECT_TRUE(FailsWith(Resolve("missing/x"), ENOENT));
  EXPECT_TRUE(FailsWith(Resolve("dangling/x"), ENOENT));
  EXPECT_TRUE(FailsWith(Resolve("f/x"), ENOTDIR));
  EXPECT_TRUE(FailsWith(Resolve("lf/x"), ENOTDIR));
  EXPECT_TRUE(FailsWith(Resolve(Path("host/missing/x")), ENOENT));
  EXPECT_TRUE(FailsWith(Resolve(Path("host/file/x")), ENOTDIR));
}

TEST_F(ResolveTest, DotAndDotDotAsLastComponent) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/b/", "l1/a/c/", "host/"}, {"l0", "l1"}));
  auto dot = Resolve(".");
  ASSERT_TRUE(IsOk(dot));
  EXPECT_TRUE(dot->in_view);
  EXPECT_EQ(dot->last, LastKind::kDot);
  EXPECT_EQ(dot->rel, "");
  EXPECT_EQ(dot->dir, Root());

  auto a_dot = Resolve("a/.");
  ASSERT_TRUE(IsOk(a_dot));
  EXPECT_EQ(a_dot->last, LastKind::kDot);
  EXPECT_EQ(a_dot->rel, "a");
  ASSERT_NE(a_dot->parent, nullptr);
  EXPECT_EQ(a_dot->parent->rel, "");

  auto b_up = Resolve("a/b/..");
  ASSERT_TRUE(IsOk(b_up));
  EXPECT_EQ(b_up->last, LastKind::kDotDot);
  EXPECT_EQ(b_up->rel, "a");
  EXPECT_EQ(b_up->name, "..");
  ASSERT_NE(b_up->dir, nullptr);
  EXPECT_TRUE(b_up->dir->merged());

  auto a_up = Resolve("a/..");
  ASSERT_TRUE(IsOk(a_up));
  EXPECT_EQ(a_up->last, LastKind::kDotDot);
  EXPECT_EQ(a_up->rel, "");

  auto a = Resolve("a");
  ASSERT_TRUE(IsOk(a));
  EXPECT_EQ(a->last, LastKind::kNormal);

  auto host_dot = Resolve(Path("host") + "/.");
  ASSERT_TRUE(IsOk(host_dot));
  EXPECT_FALSE(host_dot->in_view);
  EXPECT_EQ(host_dot->last, LastKind::kDot);
  EXPECT_EQ(host_dot->st.st_ino, LstatOrDie(Path("host")).st_ino);
}

TEST_F(ResolveTest, MissingLastComponentKeepsItsParent) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/", "l1/a/", "host/"}, {"l0", "l1"}));
  auto in_view = Resolve("a/new");
  ASSERT_TRUE(IsOk(in_view));
  EXPECT_TRUE(in_view->in_view);
  EXPECT_FALSE(in_view->exists);
  EXPECT_EQ(in_view->name, "new");
  EXPECT_EQ(in_view->rel, "a/new");
  EXPECT_FALSE(in_view->trailing_slash);
  ASSERT_NE(in_view->parent, nullptr);
  EXPECT_EQ(in_view->parent->rel, "a");
  EXPECT_TRUE(in_view->parent->merged());

  auto on_host = Resolve(Path("host/new"));
  ASSERT_TRUE(IsOk(on_host));
  EXPECT_FALSE(on_host->in_view);
  EXPECT_FALSE(on_host->exists);
  EXPECT_EQ(on_host->name, "new");
  ASSERT_NE(on_host->host_parent, nullptr);
  struct stat parent;
  ASSERT_EQ(fstat(on_host->host_parent->get(), &parent), 0);
  EXPECT_EQ(parent.st_ino, LstatOrDie(Path("host")).st_ino);
}

TEST_F(ResolveTest, NameTooLong) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/", "host/"}, {"l0"}));
  const std::string longest(NAME_MAX, 'n');
  const std::string too_long(NAME_MAX + 1, 'n');

  auto fits = Resolve(longest);
  ASSERT_TRUE(IsOk(fits));
  EXPECT_FALSE(fits->exists);
  EXPECT_TRUE(FailsWith(Resolve(too_long), ENAMETOOLONG));
  EXPECT_TRUE(FailsWith(Resolve(too_long + "/x"), ENAMETOOLONG));
  EXPECT_TRUE(FailsWith(Resolve(Path("host/") + too_long), ENAMETOOLONG));
}

TEST_F(ResolveTest, PathTooLong) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/"}, {"l0"}));
  std::string fits;
  while (fits.size() + 2 < PATH_MAX) fits += "./";
  auto ok = Resolve(fits);
  ASSERT_TRUE(IsOk(ok));
  EXPECT_EQ(ok->last, LastKind::kDot);
  EXPECT_TRUE(FailsWith(Resolve(fits + "./"), ENAMETOOLONG));
}

TEST_F(ResolveTest, EmptyPathIsENOENT) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/"}, {"l0"}));
  EXPECT_TRUE(FailsWith(Resolve(""), ENOENT));
}

TEST_F(ResolveTest, ProcSelfFdOfALayerFileMapsBackToTheView) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/", "l1/a/f = via fd"}, {"l0", "l1"}));
  UniqueFd fd(open(Path("l1/a/f").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  Caller self{.tgid = getpid(), .tid = gettid()};

  auto t = view().Resolve(self, ViewBase(Root()), "/proc/self/fd/" + std::to_string(fd.get()), {});
  ASSERT_TRUE(IsOk(t));
  EXPECT_TRUE(t->in_view);
  EXPECT_EQ(t->rel, "a/f");
  EXPECT_EQ(ReadContent(t->fd.get()), "via fd");

  auto link = view().Resolve(self, ViewBase(Root()), "/proc/self", {.follow = false});
  ASSERT_TRUE(IsOk(link));
  EXPECT_EQ(link->proc_link, std::to_string(getpid()));
}

TEST_F(ResolveTest, ProcSelfOfACallerKnownByItsTidOnly) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/"}, {"l0"}));
  Caller caller;
  caller.tid = gettid();
  auto self = view().Resolve(caller, ViewBase(Root()), "/proc/self", {.follow = false});
  ASSERT_TRUE(IsOk(self));
  EXPECT_EQ(self->proc_link, std::to_string(getpid()));
  auto thread = view().Resolve(caller, ViewBase(Root()), "/proc/thread-self", {.follow = false});
  ASSERT_TRUE(IsOk(thread));
  EXPECT_EQ(thread->proc_link, std::to_string(getpid()) + "/task/" + std::to_string(gettid()));
}

TEST_F(ResolveWhiteoutTest, WhiteoutInThePath) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d (whiteout)", "l1/d/x"}, {"l0", "l1"}));
  EXPECT_TRUE(FailsWith(Resolve("d/x"), ENOENT));
  auto d = Resolve("d");
  ASSERT_TRUE(IsOk(d));
  EXPECT_FALSE(d->exists);
  EXPECT_EQ(d->parent, Root());
}

TEST(ResolveRootViewTest, AViewAtSlashCoversEveryAbsolutePath) {
  LayerConfig config;
  config.lowers = {"/"};
  auto set = LayerSet::Open(config);
  ASSERT_TRUE(set.ok()) << set.status();
  View view(set->get());
  ViewDirPtr root = *view.Root();

  auto etc = view.Resolve(Caller{}, ViewBase(root), "/etc", {});
  ASSERT_TRUE(IsOk(etc));
  EXPECT_TRUE(etc->in_view);
  EXPECT_EQ(etc->rel, "etc");

  auto up = view.Resolve(Caller{}, ViewBase(root), "..", {});
  ASSERT_TRUE(IsOk(up));
  EXPECT_TRUE(up->in_view);
  EXPECT_EQ(up->rel, "");
  EXPECT_EQ(view.AbsoluteViewPath(""), "/");
  EXPECT_EQ(view.AbsoluteViewPath("etc/passwd"), "/etc/passwd");
  EXPECT_EQ(view.ViewPathOfReal("/etc/passwd"), "/etc/passwd");
}

// ---------------------------------------------------------------------------
// FixStat

class FixStatTest : public ViewFixture {
 protected:
  // The link count FixStat reports for `path` resolved from the view root.
  nlink_t FixedLinks(const std::string& path) {
    auto t = Resolve(path);
    EXPECT_TRUE(IsOk(t)) << path;
    if (!t.ok()) return 0;
    struct stat st = t->st;
    view().FixStat(*t, &st);
    return st.st_nlink;
  }
};

TEST_F(FixStatTest, MergedDirectoriesHaveOneLink) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/m/s1/", "l1/m/s2/", "l1/m/s3/"}, {"l0", "l1"}));
  ASSERT_EQ(LstatOrDie(Path("l0/m")).st_nlink, 3u);
  EXPECT_EQ(FixedLinks("m"), 1u);
  EXPECT_EQ(FixedLinks("m/s2/.."), 1u);
  // The root is merged from both layers.
  EXPECT_EQ(FixedLinks("."), 1u);
  EXPECT_EQ(FixedLinks(Path("l0")), 1u);
}

TEST_F(FixStatTest, OtherObjectsKeepTheirLinkCount) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"l0/solo/s1/", "l0/solo/s2/", "l0/f", "l0/over/s/", "l1/over", "l1/other/", "host/h/"},
           {"l0", "l1"}));
  ASSERT_EQ(link(Path("l0/f").c_str(), Path("l0/f2").c_str()), 0);
  EXPECT_EQ(FixedLinks("solo"), 4u);
  EXPECT_EQ(FixedLinks("f"), 2u);
  // A directory over a file is not merged.
  EXPECT_EQ(FixedLinks("over"), 3u);
  EXPECT_EQ(FixedLinks(Path("host")), 3u);
}

TEST_F(FixStatTest, SingleLayerRootKeepsItsLinkCount) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/", "l0/b/"}, {"l0"}));
  EXPECT_EQ(FixedLinks("."), 4u);
}

// Directory numbers as overlayfs reports them (all layers on one
// filesystem): a merged directory has its topmost lower directory's number,
// except the root with an upper, which has the upper root's.
class FixStatInoTest : public FixStatTest {
 protected:
  ino_t FixedIno(const std::string& path) {
    auto t = Resolve(path);
    EXPECT_TRUE(IsOk(t)) << path;
    if (!t.ok()) return 0;
    struct stat st = t->st;
    view().FixStat(*t, &st);
    return st.st_ino;
  }
};

TEST_F(FixStatInoTest, ReadOnlyViewDirsHaveTheTopmostLayersIno) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/d/", "l1/d/", "l1/lonly/"}, {"l0", "l1"}));
  EXPECT_EQ(FixedIno("."), LstatOrDie(Path("l0")).st_ino);
  EXPECT_EQ(FixedIno("d"), LstatOrDie(Path("l0/d")).st_ino);
  EXPECT_EQ(FixedIno("lonly"), LstatOrDie(Path("l1/lonly")).st_ino);
}

TEST_F(FixStatInoTest, WithUpperMergedDirHasTheTopmostLowersIno) {
  ASSERT_NO_FATAL_FAILURE(
      Open({"u/d/", "u/uonly/", "w/", "l0/d/", "l1/d/"}, {"l0", "l1"}, "u", "w"));
  EXPECT_EQ(FixedIno("d"), LstatOrDie(Path("l0/d")).st_ino);
  EXPECT_EQ(FixedIno("d/."), LstatOrDie(Path("l0/d")).st_ino);
  EXPECT_EQ(FixedIno("uonly"), LstatOrDie(Path("u/uonly")).st_ino);
}

TEST_F(FixStatInoTest, WithUpperRootHasTheUpperRootsIno) {
  ASSERT_NO_FATAL_FAILURE(Open({"u/", "w/", "l0/", "l1/"}, {"l0", "l1"}, "u", "w"));
  EXPECT_EQ(FixedIno("."), LstatOrDie(Path("u")).st_ino);
  EXPECT_EQ(FixedIno(Path("l0")), LstatOrDie(Path("u")).st_ino);
}

// ---------------------------------------------------------------------------
// ViewPathOfReal, BaseForRealDir

class RealPathTest : public ViewFixture {};

TEST_F(RealPathTest, ViewPathOfReal) {
  ASSERT_NO_FATAL_FAILURE(Open({"u/", "w/", "l0/", "l1/", "host/"}, {"l0", "l1"}, "u", "w"));
  const std::string root = Path("l0");
  EXPECT_EQ(view().ViewPathOfReal(Path("l1/a/b")), root + "/a/b");
  EXPECT_EQ(view().ViewPathOfReal(Path("l1")), root);
  EXPECT_EQ(view().ViewPathOfReal(Path("l0")), root);
  EXPECT_EQ(view().ViewPathOfReal(Path("u/x")), root + "/x");
  EXPECT_EQ(view().ViewPathOfReal(Path("l1/a (deleted)")), root + "/a (deleted)");
  EXPECT_EQ(view().ViewPathOfReal(Path("u (deleted)")), root + " (deleted)");
  // Outside every layer: unchanged.
  EXPECT_EQ(view().ViewPathOfReal(Path("host/x")), Path("host/x"));
  EXPECT_EQ(view().ViewPathOfReal(Path("host/x (deleted)")), Path("host/x (deleted)"));
  EXPECT_EQ(view().ViewPathOfReal(Path("w/x")), Path("w/x"));
  EXPECT_EQ(view().ViewPathOfReal("pipe:[1234]"), "pipe:[1234]");
  EXPECT_EQ(view().ViewPathOfReal("anon_inode:[eventfd]"), "anon_inode:[eventfd]");
}

TEST_F(RealPathTest, WorkDirInsideALowerHasNoViewPath) {
  ASSERT_NO_FATAL_FAILURE(Open({"u/", "l0/w/"}, {"l0"}, "u", "l0/w"));
  EXPECT_EQ(view().ViewPathOfReal(Path("l0/w/x")), Path("l0/w/x"));
  EXPECT_EQ(view().ViewPathOfReal(Path("l0/wx")), Path("l0/wx"));
}

TEST_F(RealPathTest, AbsoluteViewPath) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/"}, {"l0"}));
  EXPECT_EQ(view().AbsoluteViewPath(""), Path("l0"));
  EXPECT_EQ(view().AbsoluteViewPath("a/b"), Path("l0/a/b"));
}

TEST_F(RealPathTest, BaseForRealDir) {
  ASSERT_NO_FATAL_FAILURE(Open({"l0/a/", "l1/a/b/", "host/", "host/file"}, {"l0", "l1"}));
  auto opener = [](const std::string& path) {
    return [path]() -> SysResult<UniqueFd> {
      int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
      if (fd < 0) return Errno{errno};
      return UniqueFd(fd);
    };
  };
  auto in_layer = view().BaseForRealDir(Path("l1/a/b"), opener(Path("l1/a/b")));
  ASSERT_TRUE(IsOk(in_layer));
  ASSERT_NE(in_layer->view, nullptr);
  EXPECT_EQ(in_layer->view->rel, "a/b");
  EXPECT_EQ(in_layer->host, nullptr);

  auto on_host = view().BaseForRealDir(Path("host"), opener(Path("host")));
  ASSERT_TRUE(IsOk(on_host));
  EXPECT_EQ(on_host->view, nullptr);
  ASSERT_NE(on_host->host, nullptr);
  EXPECT_TRUE(on_host->host->valid());

  EXPECT_TRUE(FailsWith(view().BaseForRealDir(Path("l1/a/gone (deleted)"), opener("/")), ENOENT));
  // A layer directory removed while in use is no base, even if its name is
  // taken again meanwhile.
  EXPECT_TRUE(FailsWith(view().BaseForRealDir(Path("l1/a/b (deleted)"), opener("/")), ENOENT));
  // A host object that is not a directory.
  EXPECT_TRUE(FailsWith(view().BaseForRealDir(Path("host/file"), opener(Path("host/file"))),
                        ENOTDIR));
}

}  // namespace
}  // namespace ovlbox
