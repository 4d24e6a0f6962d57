// ovlbox: runs a program on a layered (overlayfs) view of directories, with
// no mount and no privilege. See docs/design.md.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "overlay/layers.h"
#include "overlay/view.h"
#include "overlay/writer.h"
#include "policy/filter.h"
#include "policy/prebuilt_filter.h"
#include "supervisor/cli.h"
#include "supervisor/launcher.h"
#include "supervisor/preload.h"

int main(int argc, char** argv) {
  using namespace ovlbox;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto options = ParseCommandLine(args);
  if (!options.ok()) {
    fprintf(stderr, "ovlbox: %s\n", std::string(options.status().message()).c_str());
    return kExitOwnFailure;
  }
  if (options->help) {
    fputs(UsageText(), stdout);
    return 0;
  }
  if (options->version) {
    fputs(VersionText(), stdout);
    return 0;
  }
  if (auto status = CheckKernelSupport(); !status.ok()) {
    fprintf(stderr, "ovlbox: %s\n", std::string(status.message()).c_str());
    return kExitOwnFailure;
  }
  auto layers = LayerSet::Open(options->layers);
  if (!layers.ok()) {
    fprintf(stderr, "ovlbox: %s\n", std::string(layers.status().message()).c_str());
    return kExitOwnFailure;
  }
  // The supervisor holds descriptors for its lookup cache: raise its own
  // limit; the program gets the limit ovlbox was started with.
  struct rlimit original;
  getrlimit(RLIMIT_NOFILE, &original);
  struct rlimit raised = original;
  raised.rlim_cur = raised.rlim_max;
  setrlimit(RLIMIT_NOFILE, &raised);
  View view(layers->get());
  // The preload library, unless the user opted out or the view cannot have
  // it (docs/design.md, "The preload library"). Its service and the upper's
  // writer are made while the program's first process installs the filter
  // (RunProgram); a service that cannot be made leaves the cookie unused.
  uint64_t cookie = options->preload ? NewPreloadCookie() : 0;
  std::vector<sock_filter> filter = PrebuiltFilter(cookie, OwnKeptIds());
  std::unique_ptr<Writer> writer;
  if ((*layers)->has_upper()) writer = std::make_unique<Writer>(&view);
  auto prepare = [&]() {
    if (cookie != 0) {
      auto service = PreloadService::Create(view, cookie);
      if (service.ok()) PreloadService::Install(std::move(*service));
    }
    if (writer) {
      if (auto status = writer->Init(); !status.ok()) {
        fprintf(stderr, "ovlbox: %s\n", std::string(status.message()).c_str());
        return false;
      }
    }
    return true;
  };
  return RunProgram(view, writer.get(), filter, options->argv, original, prepare);
}
