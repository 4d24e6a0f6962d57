#include "supervisor/cli.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "overlay/sys_result.h"

namespace ovlbox {
namespace {

// Splits a colon-separated lowerdir list (as overlayfs' lowerdir=A:B);
// "\:" stands for a colon inside a name.
std::vector<std::string> SplitLowers(const std::string& value) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size() && value[i + 1] == ':') {
      out.back().push_back(':');
      ++i;
    } else if (value[i] == ':') {
      out.emplace_back();
    } else {
      out.back().push_back(value[i]);
    }
  }
  return out;
}

}  // namespace

const char* UsageText() {
  return "usage: ovlbox [--lower DIR]... [--upper DIR [--work DIR]] [--no-preload] -- PROGRAM "
         "[ARG]...\n"
         "\n"
         "Runs PROGRAM so that it sees the lower directories merged, as the Linux\n"
         "overlay filesystem shows them, at the path of the topmost lower.\n"
         "\n"
         "  --lower DIR   a lower layer; repeat it or separate dirs with ':' (top first)\n"
         "  --upper DIR   where changes go (without it the view is read-only)\n"
         "  --work DIR    scratch dir on the upper's filesystem (default: a hidden\n"
         "                sibling of the upper, .NAME.ovlbox-work)\n"
         "  --no-preload  answer every call in the supervisor: do not load ovlbox's\n"
         "                preload library into the program (slower; see docs/design.md)\n"
         "  --help        this text\n"
         "  --version     the version\n"
         "\n"
         "Exit status: the program's own; 128+N when it died of signal N; 125 when\n"
         "ovlbox itself fails; 126 when PROGRAM cannot be executed; 127 when it is\n"
         "not found.\n";
}

const char* VersionText() { return "ovlbox 0.1.0\n"; }

absl::StatusOr<Options> ParseCommandLine(const std::vector<std::string>& args) {
  Options options;
  size_t i = 0;
  auto value_of = [&](const std::string& arg, const std::string& flag,
                      std::string* value) -> absl::Status {
    if (arg == flag) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(flag, ": needs a directory"));
      }
      *value = args[++i];
      return absl::OkStatus();
    }
    *value = arg.substr(flag.size() + 1);
    return absl::OkStatus();
  };
  auto is_flag = [](const std::string& arg, const std::string& flag) {
    return arg == flag || arg.rfind(flag + "=", 0) == 0;
  };
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    std::string value;
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      return options;
    }
    if (arg == "--version") {
      options.version = true;
      return options;
    }
    if (arg == "--no-preload") {
      options.preload = false;
      continue;
    }
    if (is_flag(arg, "--lower")) {
      OVL_RETURN_IF_ERROR(value_of(arg, "--lower", &value));
      for (std::string& dir : SplitLowers(value)) {
        if (dir.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("--lower ", value, ": empty directory name"));
        }
        options.layers.lowers.push_back(std::move(dir));
      }
    } else if (is_flag(arg, "--upper")) {
      if (!options.layers.upper.empty()) {
        return absl::InvalidArgumentError("--upper: given more than once");
      }
      OVL_RETURN_IF_ERROR(value_of(arg, "--upper", &value));
      if (value.empty()) return absl::InvalidArgumentError("--upper: empty directory name");
      options.layers.upper = value;
    } else if (is_flag(arg, "--work")) {
      if (!options.layers.work.empty()) {
        return absl::InvalidArgumentError("--work: given more than once");
      }
      OVL_RETURN_IF_ERROR(value_of(arg, "--work", &value));
      if (value.empty()) return absl::InvalidArgumentError("--work: empty directory name");
      options.layers.work = value;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return absl::InvalidArgumentError(absl::StrCat(arg, ": unknown option (see --help)"));
    } else {
      break;  // the program
    }
  }
  options.argv.assign(args.begin() + static_cast<long>(i), args.end());
  if (options.argv.empty()) {
    return absl::InvalidArgumentError("no program given (usage: ovlbox [OPTION]... -- PROGRAM [ARG]...)");
  }
  if (options.layers.lowers.empty()) {
    return absl::InvalidArgumentError("--lower: at least one lower directory is needed");
  }
  if (!options.layers.work.empty() && options.layers.upper.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--work ", options.layers.work, ": needs --upper"));
  }
  return options;
}

}  // namespace ovlbox
