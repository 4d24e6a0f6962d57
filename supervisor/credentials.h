// Credentials: the supervisor acts with the calling thread's credentials.
//
// Permission checks on the real layers must be the program's, not the
// supervisor's: a root program that switched to another user gets EACCES
// where the kernel would give it. As long as no traced thread has changed
// its credentials (setuid, setgroups, capset...: the filter reports those
// calls, which then run unchanged; it lets through only
// setresuid/setresgid(-1, initial id, -1), which change nothing until a
// reported call has, policy/filter.h KeptIds), they are the
// supervisor's own and
// nothing is done. After the first such call, each intercepted call reads
// the thread's credentials (/proc/TID/status) and the worker thread takes
// them on for the call (setfsuid, setfsgid and setgroups act on the calling
// thread only) and drops them afterwards.
#ifndef OVLBOX_SUPERVISOR_CREDENTIALS_H_
#define OVLBOX_SUPERVISOR_CREDENTIALS_H_

#include <stdint.h>
#include <sys/types.h>

#include <vector>

namespace ovlbox {

// Called when thread `tid` is about to make credential call `nr` with
// arguments `args` (setuid, setresuid, setfsuid, setgroups, capset...):
// from then on the supervisor takes on each caller's credentials, unless
// the call cannot change the ids the kernel checks file access with
// (setresuid(-1, euid, -1) as GNU make issues, setuid(euid) when the
// filesystem id is the effective one...).
void NoteCredentialChange(pid_t tid, int nr, const uint64_t args[6]);

// Takes on the credentials of thread `tid` for its lifetime (when they may
// differ from the supervisor's).
class CredentialScope {
 public:
  explicit CredentialScope(pid_t tid);
  ~CredentialScope();
  CredentialScope(const CredentialScope&) = delete;
  CredentialScope& operator=(const CredentialScope&) = delete;

 private:
  bool active_ = false;
};

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_CREDENTIALS_H_
