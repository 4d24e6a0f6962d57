// Fields of /proc/TID/status (Tgid, Umask, Uid, Gid, Groups), for the
// supervisor's questions about a traced thread.
#ifndef OVLBOX_OVERLAY_PROC_STATUS_H_
#define OVLBOX_OVERLAY_PROC_STATUS_H_

#include <sys/types.h>

#include <string>

#include "overlay/sys_result.h"

namespace ovlbox {

// The whole status file of thread `tid`.
SysResult<std::string> ReadProcStatus(pid_t tid);

// The value of field `name` (e.g. "Tgid") in a status text, without the
// leading blanks; empty when absent.
std::string StatusField(const std::string& status, const char* name);

}  // namespace ovlbox

#endif  // OVLBOX_OVERLAY_PROC_STATUS_H_
