#include "policy/filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <stddef.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "policy/syscall_table.h"

// Linux 6.6's, where the system's headers predate it.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace ovlbox {
namespace {

uint32_t ToSeccompAction(const SyscallRule& rule) {
  switch (rule.action) {
    case SyscallAction::kAllow:
      return SCMP_ACT_ALLOW;
    case SyscallAction::kNotify:
      return SCMP_ACT_NOTIFY;
    case SyscallAction::kTrace:
      // The supervisor serves these through its tracer (tracer/tracer.h).
      return SCMP_ACT_NOTIFY;
    case SyscallAction::kErrno:
      return SCMP_ACT_ERRNO(static_cast<uint16_t>(rule.err));
  }
  return SCMP_ACT_KILL_PROCESS;
}

}  // namespace

absl::StatusOr<std::vector<sock_filter>> BuildFilter(uint64_t cookie, const KeptIds& kept) {
  std::unique_ptr<void, void (*)(void*)> ctx(seccomp_init(SCMP_ACT_ERRNO(ENOSYS)),
                                             [](void* c) { seccomp_release(c); });
  if (!ctx) return absl::InternalError("seccomp_init failed");
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
  for (int nr = 0; nr <= kMaxKnownSyscall; ++nr) {
    SyscallRule rule = RuleFor(nr);
    // The default action already answers ENOSYS (libseccomp refuses a rule
    // that repeats the default).
    if (rule.action == SyscallAction::kErrno && rule.err == ENOSYS) continue;
    // A rule's trace_arg (O_PATH opens) is the supervisor's to look at: the
    // call is notified either way. A notify_if_arg splits the call in two
    // rules on that argument.
    int rc;
    if (rule.action == SyscallAction::kNotify && rule.notify_if_arg >= 0) {
      auto arg = static_cast<unsigned>(rule.notify_if_arg);
      rc = seccomp_rule_add(ctx.get(), SCMP_ACT_NOTIFY, nr, 1,
                            SCMP_CMP64(arg, SCMP_CMP_NE, 0, 0));
      if (rc == 0) {
        rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 1,
                              SCMP_CMP64(arg, SCMP_CMP_EQ, 0, 0));
      }
    } else {
      rc = seccomp_rule_add(ctx.get(), ToSeccompAction(rule), nr, 0);
    }
    if (rc != 0) {
      return absl::InternalError(
          absl::StrCat("seccomp_rule_add(", nr, "): ", strerror(-rc)));
    }
  }
  // Export the BPF through a memfd and load it ourselves: libseccomp 2.5
  // cannot ask for SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV.
  int mfd = memfd_create("ovlbox-filter", MFD_CLOEXEC);
  if (mfd < 0) return absl::ErrnoToStatus(errno, "memfd_create");
  int rc = seccomp_export_bpf(ctx.get(), mfd);
  if (rc != 0) {
    close(mfd);
    return absl::InternalError(absl::StrCat("seccomp_export_bpf: ", strerror(-rc)));
  }
  off_t size = lseek(mfd, 0, SEEK_END);
  std::vector<sock_filter> program(size / sizeof(sock_filter));
  if (pread(mfd, program.data(), size, 0) != size) {
    close(mfd);
    return absl::ErrnoToStatus(errno, "reading the exported filter");
  }
  close(mfd);
  std::vector<sock_filter> prefix = FilterPrefix(cookie, kept);
  program.insert(program.begin(), prefix.begin(), prefix.end());
  return program;
}

std::vector<sock_filter> FilterPrefix(uint64_t cookie, const KeptIds& kept) {
  // The cookie's part first: the library's calls, many of them, are let
  // through before the id tests (which only setresuid/setresgid reach).
  std::vector<sock_filter> prefix;
  if (cookie != 0) prefix = CookiePrefix(cookie);
  std::vector<sock_filter> ids = KeptIdsPrefix(kept);
  prefix.insert(prefix.end(), ids.begin(), ids.end());
  return prefix;
}

KeptIds OwnKeptIds() {
  // setfsuid(-1) changes nothing and returns the current filesystem id.
  KeptIds kept;
  uid_t euid = geteuid();
  gid_t egid = getegid();
  if (static_cast<uid_t>(setfsuid(static_cast<uid_t>(-1))) == euid) kept.uid = euid;
  if (static_cast<gid_t>(setfsgid(static_cast<gid_t>(-1))) == egid) kept.gid = egid;
  return kept;
}

std::vector<sock_filter> CookiePrefix(uint64_t cookie) {
  // The lookups, and the changes the library makes in the upper
  // (docs/design.md): for these calls the cookie alone decides.
  static constexpr uint32_t kCalls[] = {
      SYS_newfstatat, SYS_statx,  SYS_readlinkat, SYS_faccessat2, SYS_fgetxattr,
      SYS_getdents64, SYS_fchmod, SYS_fchown,     SYS_openat,     SYS_openat2,
      SYS_mkdirat,    SYS_unlinkat, SYS_utimensat, SYS_fchownat,  452 /* fchmodat2 */,
      SYS_fchdir,
  };
  constexpr uint32_t kArgsOffset = offsetof(seccomp_data, args);
  constexpr size_t n = sizeof(kCalls) / sizeof(kCalls[0]);
  static_assert(kCalls[0] == SYS_newfstatat);
  // Every "no" jumps to the end of the prefix, where libseccomp's program
  // starts (it checks the architecture again itself). The call number is
  // tested before any argument is read: for every other call the result
  // then depends on the architecture and number alone, so the kernel's
  // action cache still lets the calls ovlbox allows run without the filter.
  const size_t loader_at = 3 + n;      // newfstatat: the loader's fstat
  const size_t cookie_at = loader_at + 4;  // the cookie's test
  const size_t allow_at = cookie_at + 4;
  const size_t end = cookie_at + 5;
  std::vector<sock_filter> p;
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0,
                       static_cast<uint8_t>(end - 2)));
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  for (size_t i = 0; i < n; ++i) {
    size_t at = p.size();
    size_t yes = i == 0 ? loader_at : cookie_at;
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kCalls[i],
                         static_cast<uint8_t>(yes - at - 1),
                         static_cast<uint8_t>(i + 1 == n ? end - at - 1 : 0)));
  }
  // newfstatat(kLoaderFd, ..., AT_EMPTY_PATH): the descriptor and the
  // flags are ints (the kernel reads the low halves alone).
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgsOffset + 0 * 8));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(kLoaderFd), 0,
                       static_cast<uint8_t>(cookie_at - loader_at - 2)));
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgsOffset + 3 * 8));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AT_EMPTY_PATH,
                       static_cast<uint8_t>(allow_at - loader_at - 4), 0));
  // The cookie, in the sixth argument.
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgsOffset + 5 * 8));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(cookie), 0, 3));
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgsOffset + 5 * 8 + 4));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(cookie >> 32), 0, 1));
  p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  // `end`: libseccomp's program.
  return p;
}

std::vector<sock_filter> KeptIdsPrefix(const KeptIds& kept) {
  constexpr uint32_t kArgsOffset = offsetof(seccomp_data, args);
  constexpr uint32_t kUnchanged = 0xffffffffu;  // (uid_t)-1
  struct Rule {
    uint32_t nr;
    uint32_t id;
  };
  std::vector<Rule> rules;
  if (kept.uid != kNoKeptId) rules.push_back({SYS_setresuid, kept.uid});
  if (kept.gid != kNoKeptId) rules.push_back({SYS_setresgid, kept.gid});
  if (rules.empty()) return {};
  // Layout: the architecture, the number tests (one per rule), then per
  // rule seven instructions (three argument tests and the allow); every
  // "no" jumps to the end, where the next part of the filter starts.
  const size_t block = 7;
  const size_t first_block = 3 + rules.size();
  const size_t end = first_block + block * rules.size();
  auto to = [](size_t target, size_t at) { return static_cast<uint8_t>(target - at - 1); };
  std::vector<sock_filter> p;
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, to(end, 1)));
  p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  for (size_t i = 0; i < rules.size(); ++i) {
    size_t at = p.size();
    size_t no = i + 1 == rules.size() ? end : at + 1;
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, rules[i].nr,
                         to(first_block + block * i, at), to(no, at)));
  }
  for (const Rule& rule : rules) {
    const uint32_t want[3] = {kUnchanged, rule.id, kUnchanged};
    for (uint32_t arg = 0; arg < 3; ++arg) {
      p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArgsOffset + arg * 8));
      size_t at = p.size();
      p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, want[arg], 0, to(end, at)));
    }
    p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  }
  return p;
}

int InstallFilter(const std::vector<sock_filter>& program) {
  sock_fprog prog;
  prog.len = static_cast<unsigned short>(program.size());
  prog.filter = const_cast<sock_filter*>(program.data());
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                    &prog);
  if (fd < 0 && errno == EINVAL) {
    fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  }
  return static_cast<int>(fd);
}

bool RequestSyncWakeUp(int listener) {
  return ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;
}

absl::Status CheckKernelSupport() {
  uint32_t action = SECCOMP_RET_USER_NOTIF;
  if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) {
    return absl::FailedPreconditionError(
        "this kernel lacks seccomp user notification (SECCOMP_RET_USER_NOTIF, Linux 5.0 or "
        "later with CONFIG_SECCOMP_FILTER)");
  }
  return absl::OkStatus();
}

}  // namespace ovlbox
