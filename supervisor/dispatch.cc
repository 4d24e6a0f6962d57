// The dispatch table: syscall number -> handler, as data.
#include <sys/syscall.h>

#include <array>

#include "supervisor/credentials.h"
#include "supervisor/handlers.h"
#include "supervisor/preload.h"

namespace ovlbox {
namespace {

Response NotSupported(Call&) { return Response::Error(ENOSYS); }

// setuid and the like: not path calls, and their arguments are plain
// values; they run in the kernel unchanged. From now on the supervisor
// takes on each caller's credentials.
Response CredentialChange(Call& c) {
  uint64_t args[6];
  for (int i = 0; i < 6; ++i) args[i] = c.arg(i);
  NoteCredentialChange(c.tracee().tid(), c.nr(), args);
  return Response::Continue();
}

// fchdir and setns: they run unchanged, counted first in the shared view
// state, so that the preload library knows its cwd may have moved.
Response CwdChange(Call&) {
  if (const PreloadService* preload = PreloadService::Get()) preload->NoteCwdChange();
  return Response::Continue();
}

struct Entry {
  int nr;
  Handler handler;
};

constexpr Entry kEntries[] = {
    {SYS_open, HandleOpen},
    {SYS_openat, HandleOpen},
    {SYS_openat2, HandleOpen},
    {SYS_creat, HandleOpen},
    {SYS_stat, HandleStat},
    {SYS_lstat, HandleStat},
    {SYS_newfstatat, HandleStat},
    {SYS_fstat, HandleFstat},
    {SYS_statx, HandleStatx},
    {SYS_access, HandleAccess},
    {SYS_faccessat, HandleAccess},
    {SYS_faccessat2, HandleAccess},
    {SYS_readlink, HandleReadlink},
    {SYS_readlinkat, HandleReadlink},
    {SYS_getcwd, HandleGetcwd},
    {SYS_getdents, HandleGetdents},
    {SYS_getdents64, HandleGetdents},
    {SYS_statfs, HandleStatfs},
    {SYS_fstatfs, HandleStatfs},
    {SYS_getxattr, HandleGetxattr},
    {SYS_lgetxattr, HandleGetxattr},
    {SYS_fgetxattr, HandleGetxattr},
    {SYS_listxattr, HandleListxattr},
    {SYS_llistxattr, HandleListxattr},
    {SYS_flistxattr, HandleListxattr},
    {SYS_mkdir, HandleMkdir},
    {SYS_mkdirat, HandleMkdir},
    {SYS_mknod, HandleMknod},
    {SYS_mknodat, HandleMknod},
    {SYS_unlink, HandleUnlink},
    {SYS_unlinkat, HandleUnlink},
    {SYS_rmdir, HandleUnlink},
    {SYS_rename, HandleRename},
    {SYS_renameat, HandleRename},
    {SYS_renameat2, HandleRename},
    {SYS_link, HandleLink},
    {SYS_linkat, HandleLink},
    {SYS_symlink, HandleSymlink},
    {SYS_symlinkat, HandleSymlink},
    {SYS_chmod, HandleChmod},
    {SYS_fchmod, HandleChmod},
    {SYS_fchmodat, HandleChmod},
    {452 /* fchmodat2 */, HandleChmod},
    {SYS_chown, HandleChown},
    {SYS_lchown, HandleChown},
    {SYS_fchown, HandleChown},
    {SYS_fchownat, HandleChown},
    {SYS_truncate, HandleTruncate},
    {SYS_utime, HandleUtimes},
    {SYS_utimes, HandleUtimes},
    {SYS_futimesat, HandleUtimes},
    {SYS_utimensat, HandleUtimes},
    {SYS_setxattr, HandleSetxattr},
    {SYS_lsetxattr, HandleSetxattr},
    {SYS_fsetxattr, HandleSetxattr},
    {SYS_removexattr, HandleRemovexattr},
    {SYS_lremovexattr, HandleRemovexattr},
    {SYS_fremovexattr, HandleRemovexattr},
    {SYS_bind, HandleSocketAddress},
    {SYS_connect, HandleSocketAddress},
    {SYS_sendto, HandleSendto},
    {SYS_getsockname, HandleSockName},
    {SYS_getpeername, HandleSockName},
    {SYS_inotify_add_watch, HandleInotifyAddWatch},
    {SYS_fanotify_mark, HandleFanotifyMark},
    {SYS_setuid, CredentialChange},
    {SYS_setgid, CredentialChange},
    {SYS_setreuid, CredentialChange},
    {SYS_setregid, CredentialChange},
    {SYS_setgroups, CredentialChange},
    {SYS_setresuid, CredentialChange},
    {SYS_setresgid, CredentialChange},
    {SYS_setfsuid, CredentialChange},
    {SYS_setfsgid, CredentialChange},
    {SYS_capset, CredentialChange},
    {SYS_fchdir, CwdChange},
    {SYS_setns, CwdChange},
    // setxattrat, getxattrat, listxattrat, removexattrat, file_getattr and
    // file_setattr (Linux 6.13+) answer ENOSYS: callers fall back to the
    // older calls, which are served.
};

constexpr int kTableSize = 512;

constexpr std::array<Handler, kTableSize> BuildTable() {
  std::array<Handler, kTableSize> table{};
  for (Handler& h : table) h = NotSupported;
  for (const Entry& e : kEntries) table[e.nr] = e.handler;
  return table;
}

constexpr std::array<Handler, kTableSize> kTable = BuildTable();

}  // namespace

Handler HandlerFor(int nr) {
  if (nr < 0 || nr >= kTableSize) return NotSupported;
  return kTable[nr];
}

}  // namespace ovlbox
