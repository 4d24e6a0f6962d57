// The handlers of intercepted system calls, one per syscall family. Each
// reads its arguments once, asks overlay/ for the answer on the real layers
// and returns one Response; none lets a path call run in the kernel.
#ifndef OVLBOX_SUPERVISOR_HANDLERS_H_
#define OVLBOX_SUPERVISOR_HANDLERS_H_

#include "supervisor/call.h"

namespace ovlbox {

using Handler = Response (*)(Call&);

// The handler for a syscall number (a handler answering ENOSYS when none).
Handler HandlerFor(int nr);

// Families (handlers_*.cc).
Response HandleOpen(Call& c);
Response HandleStat(Call& c);
Response HandleFstat(Call& c);
Response HandleStatx(Call& c);
Response HandleAccess(Call& c);
Response HandleReadlink(Call& c);
Response HandleGetcwd(Call& c);
Response HandleGetdents(Call& c);
Response HandleStatfs(Call& c);
Response HandleGetxattr(Call& c);
Response HandleListxattr(Call& c);
Response HandleMkdir(Call& c);
Response HandleMknod(Call& c);
Response HandleUnlink(Call& c);
Response HandleRename(Call& c);
Response HandleLink(Call& c);
Response HandleSymlink(Call& c);
Response HandleChmod(Call& c);
Response HandleChown(Call& c);
Response HandleTruncate(Call& c);
Response HandleUtimes(Call& c);
Response HandleSetxattr(Call& c);
Response HandleRemovexattr(Call& c);
Response HandleSocketAddress(Call& c);
Response HandleSendto(Call& c);
Response HandleSockName(Call& c);
Response HandleInotifyAddWatch(Call& c);
Response HandleFanotifyMark(Call& c);

// Helpers shared by the families.
// The real directory (a layer dir, or a host dir) that holds `t`'s final
// component, or -1 when `t` has none (a root, an object reached through a
// /proc magic link).
int ParentFdOf(const Target& t);
// Opens an existing target with `flags` (never following a final symlink).
SysResult<UniqueFd> OpenTarget(const Target& t, int flags);
// "/proc/self/fd/N" for one of the supervisor's descriptors.
std::string SelfFdPath(int fd);

}  // namespace ovlbox

#endif  // OVLBOX_SUPERVISOR_HANDLERS_H_
