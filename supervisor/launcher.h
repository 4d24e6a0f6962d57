// Launcher: starts the program under the seccomp filter and the tracer, and
// serves it until every process it started has exited.
#ifndef OVLBOX_SUPERVISOR_LAUNCHER_H_
#define OVLBOX_SUPERVISOR_LAUNCHER_H_

#include <linux/filter.h>
#include <sys/resource.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "overlay/view.h"
#include "overlay/writer.h"

namespace ovlbox {

// Runs argv[0] (looked up in PATH, in the view) with its arguments. Returns
// ovlbox's exit status: the program's own, 128+N on signal N, 125/126/127 on
// ovlbox's own failures (with one line on stderr).
// `writer`: null for a read-only view. `nofile`: the descriptor limit the
// program starts with. `prepare` runs while the program's first process
// installs the filter, before any call is served; when it returns false
// (having printed its line), the program never starts.
int RunProgram(const View& view, Writer* writer, const std::vector<sock_filter>& filter,
               const std::vector<std::string>& argv,
               const struct rlimit& nofile, const std::function<bool()>& prepare);

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_LAUNCHER_H_
