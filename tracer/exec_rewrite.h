// How an execve of a view path is turned into an execve of real files.
#ifndef OVLBOX_TRACER_EXEC_REWRITE_H_
#define OVLBOX_TRACER_EXEC_REWRITE_H_

#include <string>
#include <vector>

#include "overlay/sys_result.h"
#include "overlay/view.h"
#include "tracer/tracee.h"

namespace ovlbox {

// A parsed `#!` line: the interpreter and its optional single argument, as
// the kernel's binfmt_script splits them.
struct ShebangLine {
  std::string interpreter;
  std::string arg;  // empty: none
  bool has_arg = false;
};

// Parses the first bytes of a file. Returns false when it is not a script.
bool ParseShebang(const std::string& head, ShebangLine* out);

// The plan for one exec: the real file to execute and, for scripts, the
// strings to put in front of argv[1..] (argv[0] is dropped, as the kernel
// does).
struct ExecPlan {
  bool rewrite = false;        // false: let the call run unchanged
  std::string real_path;       // what to execute
  std::vector<std::string> argv_prefix;  // scripts: interpreter, arg, script...
  bool script = false;
};

// Resolves an exec of (dirfd, path, flags) by `tracee` in the view.
SysResult<ExecPlan> PlanExec(const View& view, Tracee& tracee, int dirfd,
                             const std::string& path, int flags);

}  // namespace ovlbox

#endif  // OVLBOX_TRACER_EXEC_REWRITE_H_
