#include "supervisor/credentials.h"

#include <fcntl.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "overlay/proc_status.h"

namespace ovlbox {
namespace {

std::atomic<bool> g_credentials_vary{false};

struct Creds {
  uid_t fsuid = 0;
  gid_t fsgid = 0;
  std::vector<gid_t> groups;
};

// The filesystem ids (the 4th of the "Uid:" and "Gid:" lines) and the
// supplementary groups of thread `tid`.
bool ReadCreds(pid_t tid, Creds* out) {
  auto status = ReadProcStatus(tid);
  if (!status.ok()) return false;
  unsigned long r, e, s, f;
  if (sscanf(StatusField(*status, "Uid").c_str(), "%lu %lu %lu %lu", &r, &e, &s, &f) != 4) {
    return false;
  }
  out->fsuid = static_cast<uid_t>(f);
  if (sscanf(StatusField(*status, "Gid").c_str(), "%lu %lu %lu %lu", &r, &e, &s, &f) != 4) {
    return false;
  }
  out->fsgid = static_cast<gid_t>(f);
  std::istringstream groups(StatusField(*status, "Groups"));
  unsigned long g;
  while (groups >> g) out->groups.push_back(static_cast<gid_t>(g));
  return true;
}

}  // namespace

void NoteCredentialChange() { g_credentials_vary.store(true, std::memory_order_relaxed); }

CredentialScope::CredentialScope(pid_t tid) {
  if (!g_credentials_vary.load(std::memory_order_relaxed)) return;
  Creds creds;
  if (!ReadCreds(tid, &creds)) return;
  saved_fsuid_ = static_cast<uid_t>(setfsuid(-1));
  saved_fsgid_ = static_cast<gid_t>(setfsgid(-1));
  int count = static_cast<int>(syscall(SYS_getgroups, 0, nullptr));
  if (count < 0) return;
  saved_groups_.resize(count);
  syscall(SYS_getgroups, count, saved_groups_.data());
  // Raw syscalls: the C library's setgroups changes every thread.
  syscall(SYS_setgroups, creds.groups.size(), creds.groups.data());
  syscall(SYS_setfsgid, creds.fsgid);
  syscall(SYS_setfsuid, creds.fsuid);
  active_ = true;
}

CredentialScope::~CredentialScope() {
  if (!active_) return;
  syscall(SYS_setfsuid, saved_fsuid_);
  syscall(SYS_setfsgid, saved_fsgid_);
  syscall(SYS_setgroups, saved_groups_.size(), saved_groups_.data());
}

}  // namespace ovlbox
