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

namespace ovlbox {
namespace {

std::atomic<bool> g_credentials_vary{false};

struct Creds {
  uid_t fsuid = 0;
  gid_t fsgid = 0;
  std::vector<gid_t> groups;
};

// The 4th (filesystem) id of a "Uid:"/"Gid:" line, and the "Groups:" list.
bool ReadCreds(pid_t tid, Creds* out) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  auto field = [&](const char* name) -> std::string {
    const char* at = strstr(buf, name);
    if (at == nullptr) return std::string();
    at += strlen(name);
    const char* end = strchr(at, '\n');
    return std::string(at, end ? end - at : strlen(at));
  };
  unsigned long r, e, s, f;
  std::string uid = field("\nUid:"), gid = field("\nGid:");
  if (sscanf(uid.c_str(), "%lu %lu %lu %lu", &r, &e, &s, &f) != 4) return false;
  out->fsuid = static_cast<uid_t>(f);
  if (sscanf(gid.c_str(), "%lu %lu %lu %lu", &r, &e, &s, &f) != 4) return false;
  out->fsgid = static_cast<gid_t>(f);
  std::istringstream groups(field("\nGroups:"));
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
