#include "tracer/exec_rewrite.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace ovlbox {
namespace {

constexpr int kMaxInterpreterDepth = 4;  // the kernel's BINPRM_MAX_RECURSION
constexpr size_t kShebangMax = 256;      // BINPRM_BUF_SIZE

std::string ReadHead(const ObjectFd& obj) {
  int fd = obj.OpenReadOnly();
  if (fd < 0) return std::string();
  char buf[kShebangMax];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n > 0 ? std::string(buf, n) : std::string();
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

}  // namespace

bool ParseShebang(const std::string& head, ShebangLine* out) {
  if (head.size() < 2 || head[0] != '#' || head[1] != '!') return false;
  size_t end = head.find('\n');
  if (end == std::string::npos) end = head.size();
  std::string line = head.substr(2, end - 2);
  // Trailing spaces, tabs (and a stray CR is kept, as the kernel does).
  while (!line.empty() && IsSpace(line.back())) line.pop_back();
  size_t i = 0;
  while (i < line.size() && IsSpace(line[i])) ++i;
  if (i == line.size()) return false;
  size_t j = i;
  while (j < line.size() && !IsSpace(line[j])) ++j;
  out->interpreter = line.substr(i, j - i);
  while (j < line.size() && IsSpace(line[j])) ++j;
  out->has_arg = j < line.size();
  out->arg = out->has_arg ? line.substr(j) : std::string();
  return true;
}

SysResult<ExecPlan> PlanExec(const View& view, Tracee& tracee, int dirfd,
                             const std::string& path, int flags) {
  ExecPlan plan;
  ResolveOptions options;
  options.follow = (flags & AT_SYMLINK_NOFOLLOW) == 0;
  OVL_ASSIGN_OR_RETURN(Target t, tracee.Resolve(view, dirfd, path, options,
                                                (flags & AT_EMPTY_PATH) != 0));
  if (!t.exists) return Errno{ENOENT};
  if (S_ISLNK(t.st.st_mode)) return Errno{ELOOP};
  if (S_ISDIR(t.st.st_mode)) return Errno{EACCES};
  if (!S_ISREG(t.st.st_mode)) return Errno{EACCES};

  // The name the kernel gives a script as its argument.
  std::string script_name = path;
  if (dirfd != AT_FDCWD && (path.empty() || path[0] != '/')) {
    script_name = path.empty() ? absl::StrCat("/dev/fd/", dirfd)
                               : absl::StrCat("/dev/fd/", dirfd, "/", path);
  }
  // Rewritten whenever the view took part: the kernel would resolve the
  // same path on the real filesystem (a symlink in the view leading out of
  // it is not there).
  bool in_view = t.in_view || t.via_view;
  std::vector<std::string> prefix;
  for (int depth = 0;; ++depth) {
    ShebangLine shebang;
    if (!ParseShebang(ReadHead(t.fd), &shebang)) break;
    if (depth >= kMaxInterpreterDepth) return Errno{ELOOP};
    if (access(absl::StrCat("/proc/self/fd/", t.fd.get()).c_str(), X_OK) != 0 &&
        errno == EACCES) {
      return Errno{EACCES};
    }
    // The interpreter is looked up as the kernel would, relative to the cwd,
    // but in the view.
    OVL_ASSIGN_OR_RETURN(Target interp,
                         tracee.Resolve(view, AT_FDCWD, shebang.interpreter, ResolveOptions{}));
    if (!interp.exists) return Errno{ENOENT};
    if (!S_ISREG(interp.st.st_mode)) return Errno{EACCES};
    std::vector<std::string> next = {shebang.interpreter};
    if (shebang.has_arg) next.push_back(shebang.arg);
    next.push_back(depth == 0 ? script_name : prefix.front());
    if (depth > 0) {
      // The previous interpreter line becomes the script argument; its own
      // argument and the script follow.
      next.insert(next.end(), prefix.begin() + 1, prefix.end());
    }
    prefix = std::move(next);
    in_view = in_view || interp.in_view || interp.via_view;
    t = std::move(interp);
    plan.script = true;
  }
  plan.argv_prefix = std::move(prefix);
  plan.rewrite = in_view;
  // The real path only matters to a changed call; a call that runs as it
  // is names a host file (/usr/bin/cc), and the kernel resolves it again.
  if (plan.rewrite || plan.script) {
    plan.real_path = TargetRealPath(t);
    if (plan.real_path.empty() || plan.real_path[0] != '/') return Errno{ENOENT};
  }
  return plan;
}

}  // namespace ovlbox
