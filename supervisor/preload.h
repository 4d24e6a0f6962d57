// PreloadService: serves ovlbox's preload library (preload/preload.c) to
// the programs it runs.
//
// The dynamic loader of every program reads /etc/ld.so.preload. When the
// program asks for it, the supervisor answers with a file of its own that
// names the library (kLibraryPath) first, followed by the host's own
// /etc/ld.so.preload if there is one; when the loader then opens
// kLibraryPath, it gets the library's image with this run's configuration
// written into it; the library maps the shared view state
// (preload/config.h) from kStatePath. None of these files exists on disk;
// other paths under /etc are untouched. Programs linked against AddressSanitizer's shared runtime get
// no library (that runtime must come first in the load order), and ldd
// does not list it.
#ifndef OVLBOX_SUPERVISOR_PRELOAD_H_
#define OVLBOX_SUPERVISOR_PRELOAD_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "overlay/sys_result.h"
#include "overlay/unique_fd.h"
#include "overlay/view.h"
#include "preload/config.h"

namespace ovlbox {

class PreloadService {
 public:
  static constexpr char kListPath[] = "/etc/ld.so.preload";
  static constexpr char kLibraryPath[] = "/etc/ovlbox-preload.so";
  static constexpr char kStatePath[] = OVLBOX_PRELOAD_STATE_PATH;

  enum class File { kNone, kList, kLibrary, kState };

  // Builds both files for `view` with `cookie` (nonzero: the value the
  // seccomp filter lets read-only calls through with). Fails when the view
  // covers /etc, or memfds are not available.
  // The view's generation is mirrored into the shared state from then on.
  static absl::StatusOr<std::unique_ptr<PreloadService>> Create(View& view, uint64_t cookie);

  // The service the handlers use (null: none), set once before the
  // program starts.
  static const PreloadService* Get();
  static void Install(std::unique_ptr<PreloadService> service);

  // Whether the last name of `path` is one of the files served in /etc
  // (whatever the directory: such a path goes through Which).
  static bool Serves(std::string_view path);
  // Which of the files `t` (a resolved path of the program) names. When
  // the view covers /etc, kList there is the view's own file to every
  // caller but the loader (ServedTo decides).
  File Which(const Target& t) const;
  // Whether `file` (Which(t)) is served to thread `tid` calling from
  // instruction `ip`: the list in the view's /etc only to the loader.
  bool ServedTo(const Target& t, File file, pid_t tid, uint64_t ip) const;
  // Whether thread `tid`'s program is to get the library (not when its
  // executable needs AddressSanitizer's shared runtime, nor when ldd asks
  // the loader to list the libraries).
  bool WantedBy(pid_t tid) const;
  // A new read-only open file description of `file`.
  SysResult<UniqueFd> Open(File file) const;
  // The same for `file` named by `t`: the list in the view's /etc holds
  // the view's own file after the library.
  SysResult<UniqueFd> OpenFor(const Target& t, File file) const;
  // Whether the filter lets the dynamic loader's fstat of kLoaderFd
  // through (it does with the cookie: policy/filter.h).
  bool LetsLoaderFstat() const { return cookie_ != 0; }

  // Whether a readlinkat whose sixth argument register holds `r9` is the
  // library's realpath request (preload/config.h).
  bool IsRealpathRequest(uint64_t r9) const {
    return cookie_ != 0 && r9 == (cookie_ ^ OVLBOX_PRELOAD_REALPATH_TAG);
  }

  // Lists `dir` in the shared view state (preload/config.h) when the
  // library may answer lookups in it by itself: called for the parent of
  // every lookup's last name and the directories above it, and for a
  // directory a lookup ends at (Call::ResolveArg). `seen`:
  // view.generation() read before `dir` was looked up. True when it was
  // listed just now (not when it was listed already, or cannot be).
  bool NoteDir(const View& view, const ViewDir& dir, uint64_t seen) const;

  // Counts a call that may move a working directory (chdir, fchdir,
  // setns), before it runs (preload/config.h, cwd_epoch).
  void NoteCwdChange() const {
    if (shared_ != nullptr) __atomic_add_fetch(&shared_->cwd_epoch, 1, __ATOMIC_SEQ_CST);
  }

 private:
  // NoteDir for a directory of one layer, and for a merged one (which
  // lists its real directories).
  bool NotePureDir(const View& view, const ViewDir& dir, uint64_t seen) const;
  bool NoteMergedDir(const View& view, const ViewDir& dir, uint64_t seen) const;

  PreloadService() = default;
  UniqueFd list_;
  UniqueFd library_;
  UniqueFd state_;
  struct ovlbox_view_state* shared_ = nullptr;  // state_, mapped
  bool pure_dirs_ = false;  // whether NotePureDir lists anything
  uint64_t cookie_ = 0;
  bool etc_in_view_ = false;  // the view covers /etc
  std::string etc_rel_;       // then /etc's path below the view root
  dev_t etc_dev_ = 0;
  ino_t etc_ino_ = 0;
  // Executables judged by WantedBy, by device, inode and change time.
  mutable std::mutex mu_;
  mutable absl::flat_hash_map<std::string, bool> wanted_;
};

// A random nonzero 64-bit value.
uint64_t NewPreloadCookie();

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_PRELOAD_H_
