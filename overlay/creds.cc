#include "overlay/creds.h"

#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace ovlbox {
namespace {

thread_local ThreadCreds t_creds;
thread_local int t_mounter_depth = 0;

// Raw system calls: the C library's setgroups changes every thread.
void Become(uid_t fsuid, gid_t fsgid, const std::vector<gid_t>& groups) {
  syscall(SYS_setgroups, groups.size(), groups.data());
  syscall(SYS_setfsgid, fsgid);
  syscall(SYS_setfsuid, fsuid);
}

}  // namespace

ThreadCreds& CurrentThreadCreds() { return t_creds; }

void ActFor(uid_t fsuid, gid_t fsgid, std::vector<gid_t> groups) {
  ThreadCreds& c = t_creds;
  c.own_fsuid = static_cast<uid_t>(setfsuid(-1));
  c.own_fsgid = static_cast<gid_t>(setfsgid(-1));
  int count = static_cast<int>(syscall(SYS_getgroups, 0, nullptr));
  c.own_groups.resize(count > 0 ? count : 0);
  if (count > 0) syscall(SYS_getgroups, count, c.own_groups.data());
  c.caller_fsuid = fsuid;
  c.caller_fsgid = fsgid;
  c.caller_groups = std::move(groups);
  Become(c.caller_fsuid, c.caller_fsgid, c.caller_groups);
  c.acting = true;
}

void StopActing() {
  ThreadCreds& c = t_creds;
  if (!c.acting) return;
  Become(c.own_fsuid, c.own_fsgid, c.own_groups);
  c.acting = false;
}

AsMounter::AsMounter() {
  if (!t_creds.acting || t_mounter_depth++ > 0) return;
  Become(t_creds.own_fsuid, t_creds.own_fsgid, t_creds.own_groups);
  switched_ = true;
}

AsMounter::~AsMounter() {
  if (!t_creds.acting) return;
  --t_mounter_depth;
  if (switched_) Become(t_creds.caller_fsuid, t_creds.caller_fsgid, t_creds.caller_groups);
}

bool SupervisorIsRoot() {
  static const bool root = geteuid() == 0;
  return root;
}

namespace {

// Whose permission the checks below judge: the caller's while this thread
// acts for one; otherwise the supervisor's own, which are the caller's
// then, when they carry no privilege (a root supervisor's checks are the
// kernel's, on the real directories, whose modes and owners are the
// view's; an unprivileged one's copies of others' directories are its
// own, so their real modes would let it in where the view's do not).
// Null: no check.
const ThreadCreds* Judged() {
  if (t_creds.acting) return &t_creds;
  static const ThreadCreds* self = []() -> const ThreadCreds* {
    if (SupervisorIsRoot()) return nullptr;
    auto* c = new ThreadCreds;
    c->caller_fsuid = geteuid();
    c->caller_fsgid = getegid();
    int count = getgroups(0, nullptr);
    c->caller_groups.resize(count > 0 ? count : 0);
    if (count > 0) getgroups(count, c->caller_groups.data());
    return c;
  }();
  return self;
}

}  // namespace

bool ChecksCaller() { return Judged() != nullptr; }

int CallerMayChangeDir(const struct stat& dir) {
  const ThreadCreds* judged = Judged();
  if (judged == nullptr || judged->caller_fsuid == 0) return 0;
  const ThreadCreds& c = *judged;
  unsigned bits;
  if (c.caller_fsuid == dir.st_uid) {
    bits = (dir.st_mode >> 6) & 7;
  } else if (c.caller_fsgid == dir.st_gid ||
             std::find(c.caller_groups.begin(), c.caller_groups.end(), dir.st_gid) !=
                 c.caller_groups.end()) {
    bits = (dir.st_mode >> 3) & 7;
  } else {
    bits = dir.st_mode & 7;
  }
  return (bits & 3) == 3 ? 0 : EACCES;
}

bool CallerMaySearch(const struct stat& dir) {
  if ((dir.st_mode & 0111) == 0111) return true;
  const ThreadCreds& c = t_creds;
  // The supervisor's own filesystem id is its effective id; whether it may
  // pass over search permission, once.
  static const uid_t own_uid = geteuid();
  static const bool own_search_cap = [] {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &header, data) != 0) return false;
    return (data[0].effective & ((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH))) != 0;
  }();
  uid_t fsuid = c.acting ? c.caller_fsuid : own_uid;
  if (fsuid == 0) return c.acting || own_search_cap;
  return fsuid == dir.st_uid && (dir.st_mode & S_IXUSR) != 0;
}

int CallerMayRemoveFrom(const struct stat& dir, const struct stat& victim) {
  const ThreadCreds* c = Judged();
  if (c == nullptr || c->caller_fsuid == 0 || !(dir.st_mode & S_ISVTX)) return 0;
  return c->caller_fsuid == dir.st_uid || c->caller_fsuid == victim.st_uid ? 0 : EPERM;
}

}  // namespace ovlbox
