// Whose credentials a change to the upper runs with.
//
// As in overlayfs, the program's credentials decide whether a change is
// allowed, and the mounter's (here: the supervisor's own) carry it out:
// copy-up, whiteouts, the work dir. The supervisor's worker threads take on
// a caller's filesystem ids once the program has changed its credentials
// (supervisor/credentials.h) and record both sets here; the Writer switches
// back to its own with AsMounter where overlayfs would, and checks the
// caller's permission itself first.
#ifndef OVLBOX_OVERLAY_CREDS_H_
#define OVLBOX_OVERLAY_CREDS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <vector>

namespace ovlbox {

struct ThreadCreds {
  bool acting = false;  // the thread holds a caller's credentials
  uid_t own_fsuid = 0, caller_fsuid = 0;
  gid_t own_fsgid = 0, caller_fsgid = 0;
  std::vector<gid_t> own_groups, caller_groups;
};

// This thread's record (thread-local).
ThreadCreds& CurrentThreadCreds();

// Takes on a caller's filesystem ids and groups on this thread (setfsuid,
// setfsgid and the raw setgroups act on one thread), remembering the
// thread's own; StopActing goes back to them.
void ActFor(uid_t fsuid, gid_t fsgid, std::vector<gid_t> groups);
void StopActing();
inline bool ActingForCaller() { return CurrentThreadCreds().acting; }

// Runs with the supervisor's own credentials for its lifetime, when the
// thread acts for a caller with other credentials (nests).
class AsMounter {
 public:
  AsMounter();
  ~AsMounter();
  AsMounter(const AsMounter&) = delete;
  AsMounter& operator=(const AsMounter&) = delete;

 private:
  bool switched_ = false;
};

// Whether the supervisor runs as root (with root's override of modes and
// owners); an unprivileged one does the mounter's work in the user's way.
bool SupervisorIsRoot();
// Whether the Writer checks the caller's permission itself by the view's
// modes (while acting for a caller, or always in an unprivileged
// supervisor); otherwise the kernel's checks on the real directories judge.
bool ChecksCaller();
// Whether the caller may add and remove entries in a directory with these
// attributes (write and search permission by mode bits; fsuid 0 may). 0 or
// EACCES; 0 where ChecksCaller() is false.
int CallerMayChangeDir(const struct stat& dir);
// Whether the caller may search a directory with these attributes by its
// mode bits alone: anyone may, or the caller owns it and may, or the caller
// has fsuid 0 (with CAP_DAC_READ_SEARCH, for the supervisor's own
// credentials). False means "ask the kernel", not "denied".
bool CallerMaySearch(const struct stat& dir);
// The sticky-bit rule for removing or replacing `victim` in `dir`: 0 or
// EPERM.
int CallerMayRemoveFrom(const struct stat& dir, const struct stat& victim);

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_CREDS_H_
