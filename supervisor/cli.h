// The command line: `ovlbox [--lower DIR]... [--upper DIR [--work DIR]] [--no-preload] --
// PROGRAM [ARG]...`.
#ifndef OVLBOX_SUPERVISOR_CLI_H_
#define OVLBOX_SUPERVISOR_CLI_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "overlay/layers.h"

namespace ovlbox {

// Exit statuses of ovlbox itself (otherwise: the program's own status, or
// 128+N when it died of signal N).
inline constexpr int kExitOwnFailure = 125;
inline constexpr int kExitNotExecutable = 126;
inline constexpr int kExitNotFound = 127;

struct Options {
  LayerConfig layers;
  std::vector<std::string> argv;  // the program and its arguments
  bool preload = true;  // serve the preload library (preload/preload.c)
  bool help = false;
  bool version = false;
};

// Parses argv (without argv[0]). Errors are one line for the user.
absl::StatusOr<Options> ParseCommandLine(const std::vector<std::string>& args);

const char* UsageText();
const char* VersionText();

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_CLI_H_
