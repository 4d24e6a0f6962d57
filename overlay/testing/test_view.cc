#include "overlay/testing/test_view.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace ovlbox {

absl::StatusOr<TestView> OpenTestView(const TempTree& tree, const std::vector<std::string>& lowers,
                                      const std::string& upper, const std::string& work) {
  LayerConfig config;
  for (const std::string& lower : lowers) config.lowers.push_back(tree.Path(lower));
  if (!upper.empty()) config.upper = tree.Path(upper);
  if (!work.empty()) config.work = tree.Path(work);
  absl::StatusOr<std::unique_ptr<LayerSet>> layers = LayerSet::Open(config);
  if (!layers.ok()) return layers.status();
  TestView test_view;
  test_view.layers = std::move(*layers);
  test_view.view = std::make_unique<View>(test_view.layers.get());
  return test_view;
}

void ViewFixture::Open(const std::vector<std::string>& entries,
                       const std::vector<std::string>& lowers, const std::string& upper,
                       const std::string& work) {
  absl::Status created = tree_.Create(entries);
  ASSERT_TRUE(created.ok()) << created;
  absl::StatusOr<TestView> opened = OpenTestView(tree_, lowers, upper, work);
  ASSERT_TRUE(opened.ok()) << opened.status();
  view_ = std::move(*opened);
}

SysResult<Target> ViewFixture::Resolve(std::string_view path, ResolveOptions options) const {
  return view().Resolve(Caller{}, ViewBase(Root()), path, options);
}

SysResult<Target> ViewFixture::ResolveFromHost(const std::string& dir, std::string_view path,
                                               ResolveOptions options) const {
  int fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno{errno};
  Base base;
  base.host = std::make_shared<UniqueFd>(fd);
  return view().Resolve(Caller{}, base, path, options);
}

SysResult<Target> ViewFixture::LookupAt(const std::string& dir_rel, const std::string& name) const {
  SysResult<ViewDirPtr> dir = view().DirAt(dir_rel);
  if (!dir.ok()) return Errno{dir.error()};
  return view().Lookup(*dir, name);
}

std::string ReadContent(int path_fd) {
  std::string link = absl::StrCat("/proc/self/fd/", path_fd);
  int fd = open(link.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::StrCat("<cannot open: ", DescribeErrno(errno), ">");
  std::string content;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) content.append(buf, n);
  close(fd);
  return content;
}

struct stat LstatOrDie(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return st;
}

std::string DescribeErrno(int error) {
  const char* name = strerrorname_np(error);
  return absl::StrCat(name ? name : "errno " + std::to_string(error), " (", strerror(error), ")");
}

}  // namespace ovlbox
