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

#include "overlay/creds.h"
#include "overlay/proc_status.h"

namespace ovlbox {
namespace {

std::atomic<bool> g_credentials_vary{false};

struct Creds {
  uid_t euid = 0;
  uid_t fsuid = 0;
  gid_t egid = 0;
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
  out->euid = static_cast<uid_t>(e);
  out->fsuid = static_cast<uid_t>(f);
  if (sscanf(StatusField(*status, "Gid").c_str(), "%lu %lu %lu %lu", &r, &e, &s, &f) != 4) {
    return false;
  }
  out->egid = static_cast<gid_t>(e);
  out->fsgid = static_cast<gid_t>(f);
  std::istringstream groups(StatusField(*status, "Groups"));
  unsigned long g;
  while (groups >> g) out->groups.push_back(static_cast<gid_t>(g));
  return true;
}

}  // namespace

// Whether a credential call leaves the filesystem ids as they are. The
// kernel sets the filesystem id to the (new) effective id on setuid,
// setreuid and setresuid (and the gid variants); an id of -1 is unchanged.
bool KeepsFsIds(const Creds& c, int nr, const uint64_t args[6]) {
  auto id = [&](int i) { return static_cast<uint32_t>(args[i]); };
  constexpr uint32_t kSame = static_cast<uint32_t>(-1);
  auto keeps_uid = [&](uint32_t e) {
    uint32_t new_euid = e == kSame ? c.euid : e;
    return new_euid == c.euid && new_euid == c.fsuid;
  };
  auto keeps_gid = [&](uint32_t e) {
    uint32_t new_egid = e == kSame ? c.egid : e;
    return new_egid == c.egid && new_egid == c.fsgid;
  };
  switch (nr) {
    case SYS_setuid:
      return keeps_uid(id(0));
    case SYS_setreuid:
    case SYS_setresuid:
      return keeps_uid(id(1));
    case SYS_setgid:
      return keeps_gid(id(0));
    case SYS_setregid:
    case SYS_setresgid:
      return keeps_gid(id(1));
    case SYS_setfsuid:
      return id(0) == kSame || id(0) == c.fsuid;
    case SYS_setfsgid:
      return id(0) == kSame || id(0) == c.fsgid;
    default:
      return false;  // setgroups, capset: taken as changes
  }
}

void NoteCredentialChange(pid_t tid, int nr, const uint64_t args[6]) {
  if (g_credentials_vary.load(std::memory_order_relaxed)) return;
  Creds creds;
  if (ReadCreds(tid, &creds) && KeepsFsIds(creds, nr, args)) return;
  g_credentials_vary.store(true, std::memory_order_relaxed);
}

CredentialScope::CredentialScope(pid_t tid) {
  if (!g_credentials_vary.load(std::memory_order_relaxed)) return;
  Creds creds;
  if (!ReadCreds(tid, &creds)) return;
  ActFor(creds.fsuid, creds.fsgid, std::move(creds.groups));
  active_ = true;
}

CredentialScope::~CredentialScope() {
  if (active_) StopActing();
}

}  // namespace ovlbox
