// Tests of the seccomp policy: the table itself, and the filter run by the
// kernel in a child process (which calls are notified, traced, refused).
#include "policy/filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/fd_passing.h"
#include "policy/prebuilt_filter.h"
#include "policy/syscall_table.h"

namespace ovlbox {
namespace {

TEST(SyscallTableTest, EveryPathCallGoesToTheSupervisorOrTheTracer) {
  // x86_64 numbers of every call that takes a path (or names a file).
  const std::set<int> path_calls = {
      2,   4,   6,   21,  59,  76,  80,  82,  83,  84,  85,  86,  87,  88,  89,  90,
      92,  94,  132, 133, 137, 188, 189, 191, 192, 194, 195, 197, 198, 235, 254, 257,
      258, 259, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 280, 301, 316, 322,
      332, 437, 439, 452, 463, 464, 465, 466, 468, 469};
  for (int nr : path_calls) {
    SyscallRule rule = RuleFor(nr);
    EXPECT_TRUE(rule.action == SyscallAction::kNotify || rule.action == SyscallAction::kTrace)
        << "syscall " << nr << " (" << rule.name << ") would run unsupervised";
  }
}

TEST(SyscallTableTest, CallsThatBypassTheViewAreRefused) {
  for (int nr : {425, 426, 427, 303, 304, 165, 161, 155, 428, 429, 430, 432, 433, 101}) {
    EXPECT_EQ(RuleFor(nr).action, SyscallAction::kErrno) << "syscall " << nr;
  }
  EXPECT_EQ(RuleFor(425).err, ENOSYS);  // io_uring_setup
  EXPECT_EQ(RuleFor(304).err, EPERM);   // open_by_handle_at
}

TEST(SyscallTableTest, UnknownNumbersGetEnosys) {
  SyscallRule rule = RuleFor(kMaxKnownSyscall + 1);
  EXPECT_EQ(rule.action, SyscallAction::kErrno);
  EXPECT_EQ(rule.err, ENOSYS);
  EXPECT_EQ(RuleFor(-1).err, ENOSYS);
}

TEST(SyscallTableTest, ChdirAndExecAreTraced) {
  EXPECT_EQ(RuleFor(SYS_chdir).action, SyscallAction::kTrace);
  EXPECT_EQ(RuleFor(SYS_execve).action, SyscallAction::kTrace);
  EXPECT_EQ(RuleFor(SYS_execveat).action, SyscallAction::kTrace);
  EXPECT_EQ(RuleFor(SYS_read).action, SyscallAction::kAllow);
}

// The preload library keeps its cwd's identity while the supervisor has
// seen nothing that could move it (preload/config.h, cwd_epoch).
TEST(SyscallTableTest, CallsThatMoveTheCwdAreSeen) {
  EXPECT_EQ(RuleFor(SYS_fchdir).action, SyscallAction::kNotify);
  EXPECT_EQ(RuleFor(SYS_setns).action, SyscallAction::kNotify);
}

TEST(SyscallTableTest, NoNumberIsListedTwice) {
  std::set<int> seen;
  for (const SyscallRule& rule : SyscallRules()) {
    EXPECT_TRUE(seen.insert(rule.nr).second) << rule.name;
  }
}

// Runs `body` in a child under the filter; the parent answers every
// notification with `answer_errno` and returns the child's exit code.
// The filter is the one ovlbox installs (PrebuiltFilter).
int RunUnderFilter(int (*body)(), int answer_errno, int* notified_nr, uint64_t cookie = 0,
                   const KeptIds& kept = {}) {
  std::vector<sock_filter> program = PrebuiltFilter(cookie, kept);
  int socks[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, socks), 0);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    int listener = InstallFilter(program);
    if (listener < 0) _exit(200);
    if (!SendFd(socks[1], listener)) _exit(201);
    _exit(body());
  }
  int err = 0;
  int listener = ReceiveFd(socks[0], &err);
  for (;;) {
    pollfd pfd{listener, POLLIN, 0};
    if (listener < 0 || poll(&pfd, 1, 200) <= 0 || !(pfd.revents & POLLIN)) {
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) return WEXITSTATUS(status);
      if (listener < 0) break;
      continue;
    }
    seccomp_notif req{};
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) continue;
    *notified_nr = req.data.nr;
    seccomp_notif_resp resp{};
    resp.id = req.id;
    resp.error = -answer_errno;
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }
  int status;
  waitpid(pid, &status, 0);
  return WEXITSTATUS(status);
}

// The program embedded at build time is the one libseccomp makes from the
// syscall table now, with and without a cookie's prefix.
TEST(FilterTest, PrebuiltFilterIsWhatLibseccompBuilds) {
  for (uint64_t cookie : {uint64_t{0}, uint64_t{0x0123456789abcdefULL}}) {
    KeptIds kept{1000, cookie != 0 ? 1000 : kNoKeptId};
    auto built = BuildFilter(cookie, kept);
    ASSERT_TRUE(built.ok()) << built.status();
    std::vector<sock_filter> prebuilt = PrebuiltFilter(cookie, kept);
    ASSERT_EQ(prebuilt.size(), built->size()) << "cookie " << cookie;
    for (size_t i = 0; i < prebuilt.size(); ++i) {
      const sock_filter &a = prebuilt[i], &b = (*built)[i];
      EXPECT_TRUE(a.code == b.code && a.jt == b.jt && a.jf == b.jf && a.k == b.k)
          << "instruction " << i << ", cookie " << cookie;
    }
  }
}

TEST(FilterTest, OpenatIsAnsweredByTheSupervisor) {
  int nr = -1;
  int rc = RunUnderFilter(
      [] { return syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY) == -1 ? errno : 0; },
      EXDEV, &nr);
  EXPECT_EQ(rc, EXDEV);  // the supervisor's answer, not the kernel's open
  EXPECT_EQ(nr, SYS_openat);
}

TEST(FilterTest, IoUringAndUnknownCallsGetEnosys) {
  int nr = -1;
  EXPECT_EQ(RunUnderFilter([] { return syscall(SYS_io_uring_setup, 1, nullptr) == -1 ? errno : 0; },
                           EXDEV, &nr),
            ENOSYS);
  EXPECT_EQ(RunUnderFilter([] { return syscall(kMaxKnownSyscall + 1) == -1 ? errno : 0; }, EXDEV,
                           &nr),
            ENOSYS);
  EXPECT_EQ(nr, -1);  // neither reached the supervisor
}

TEST(FilterTest, OpenByHandleIsRefused) {
  int nr = -1;
  EXPECT_EQ(RunUnderFilter(
                [] { return syscall(SYS_open_by_handle_at, 0, nullptr, 0) == -1 ? errno : 0; },
                EXDEV, &nr),
            EPERM);
}

TEST(FilterTest, PlainCallsRunNatively) {
  int nr = -1;
  EXPECT_EQ(RunUnderFilter([] { return getpid() > 0 && write(-1, "", 0) == -1 ? 0 : 1; }, EXDEV,
                           &nr),
            0);
  EXPECT_EQ(nr, -1);
}

// sendto reaches the supervisor only with a destination address (an
// AF_UNIX datagram socket may name a path in the view); a send on a
// connected socket runs in the kernel.
TEST(FilterTest, SendtoWithAnAddressReachesTheSupervisor) {
  for (uint64_t cookie : {uint64_t{0}, uint64_t{0x0123456789abcdefULL}}) {
    int nr = -1;
    EXPECT_EQ(RunUnderFilter(
                  [] {
                    sockaddr_un to{};
                    to.sun_family = AF_UNIX;
                    strcpy(to.sun_path, "/nonexistent/sock");
                    return syscall(SYS_sendto, -1, "x", 1, 0, &to, sizeof(to)) == -1 ? errno : 0;
                  },
                  EXDEV, &nr, cookie),
              EXDEV);
    EXPECT_EQ(nr, SYS_sendto);
    nr = -1;
    EXPECT_EQ(RunUnderFilter(
                  [] { return syscall(SYS_sendto, -1, "x", 1, 0, nullptr, 0) == -1 ? errno : 0; },
                  EXDEV, &nr, cookie),
              EBADF);  // the kernel's own answer
    EXPECT_EQ(nr, -1);
  }
}

TEST(FilterTest, ChdirExecAndOPathOpensReachTheSupervisor) {
  // The supervisor serves them through its tracer (tracer/tracer.h): they
  // are notified like any path call, never run unseen.
  int nr = -1;
  EXPECT_EQ(RunUnderFilter([] { return syscall(SYS_chdir, "/") == -1 ? errno : 0; }, EXDEV, &nr),
            EXDEV);
  EXPECT_EQ(nr, SYS_chdir);
  nr = -1;
  EXPECT_EQ(RunUnderFilter(
                [] {
                  char* argv[] = {const_cast<char*>("true"), nullptr};
                  return syscall(SYS_execve, "/bin/true", argv, nullptr) == -1 ? errno : 0;
                },
                EXDEV, &nr),
            EXDEV);
  EXPECT_EQ(nr, SYS_execve);
  nr = -1;
  EXPECT_EQ(RunUnderFilter(
                [] {
                  return syscall(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY) == -1 ? errno
                                                                                         : 0;
                },
                EXDEV, &nr),
            EXDEV);
  EXPECT_EQ(nr, SYS_openat);
}

// Which notified calls the supervisor hands to its tracer.
TEST(SyscallTableTest, GoesToTracer) {
  uint64_t none[6] = {};
  uint64_t open_path[6] = {0, O_PATH | O_RDONLY, 0, 0, 0, 0};
  uint64_t openat_path[6] = {static_cast<uint64_t>(AT_FDCWD), 0, O_PATH | O_NOFOLLOW, 0, 0, 0};
  uint64_t openat_read[6] = {static_cast<uint64_t>(AT_FDCWD), 0, O_RDONLY, 0, 0, 0};
  EXPECT_TRUE(GoesToTracer(SYS_chdir, none));
  EXPECT_TRUE(GoesToTracer(SYS_execve, none));
  EXPECT_TRUE(GoesToTracer(SYS_execveat, none));
  EXPECT_TRUE(GoesToTracer(SYS_open, open_path));
  EXPECT_TRUE(GoesToTracer(SYS_openat, openat_path));
  EXPECT_FALSE(GoesToTracer(SYS_openat, openat_read));
  EXPECT_FALSE(GoesToTracer(SYS_open, none));
  EXPECT_FALSE(GoesToTracer(SYS_fchdir, none));
  EXPECT_FALSE(GoesToTracer(SYS_newfstatat, none));
  EXPECT_FALSE(GoesToTracer(-1, none));
  EXPECT_FALSE(GoesToTracer(100000, none));
}

// The preload library's calls: with the cookie in the sixth argument
// register, its calls run in the kernel unseen; any other call, and any
// call without the right cookie, still reaches the supervisor (which
// answers EXDEV here).
constexpr uint64_t kCookie = 0x5eed1234abcd9876ULL;

int CookieOpen(int flags, uint64_t cookie) {
  long fd = syscall(SYS_openat, AT_FDCWD, "/tmp", flags, 0600, 0L, cookie);
  if (fd < 0) return errno;
  close(static_cast<int>(fd));
  return 0;
}

TEST(CookieFilterTest, ReadOnlyOpensWithTheCookieRunInTheKernel) {
  int nr = -1;
  EXPECT_EQ(RunUnderFilter([] { return CookieOpen(O_RDONLY | O_DIRECTORY, kCookie); }, EXDEV,
                           &nr, kCookie),
            0);
  EXPECT_EQ(RunUnderFilter([] { return CookieOpen(O_PATH | O_CLOEXEC, kCookie); }, EXDEV, &nr,
                           kCookie),
            0);  // not traced either
  EXPECT_EQ(nr, -1);
}

// The library also opens and makes files in the upper (docs/design.md,
// "Changes in the upper"): with the cookie, opens run in the kernel
// whatever their flags (the kernel's answer: EISDIR for a directory opened
// to write); without it, every one of them reaches the supervisor.
TEST(CookieFilterTest, OpensForWritingRunInTheKernelOnlyWithTheCookie) {
  for (int flags : {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC, O_RDONLY | O_CREAT, O_TMPFILE | O_RDWR}) {
    static int g_flags;
    g_flags = flags;
    int nr = -1;
    int with = RunUnderFilter([] { return CookieOpen(g_flags, kCookie); }, EXDEV, &nr, kCookie);
    EXPECT_NE(with, EXDEV) << "flags " << flags;
    EXPECT_EQ(nr, -1) << "flags " << flags;
    EXPECT_EQ(RunUnderFilter([] { return CookieOpen(g_flags, kCookie ^ 4); }, EXDEV, &nr, kCookie),
              EXDEV)
        << "flags " << flags;
    EXPECT_EQ(nr, SYS_openat);
  }
}

TEST(CookieFilterTest, AWrongOrMissingCookieReachesTheSupervisor) {
  int nr = -1;
  EXPECT_EQ(RunUnderFilter([] { return CookieOpen(O_RDONLY, kCookie ^ (1ULL << 40)); }, EXDEV,
                           &nr, kCookie),
            EXDEV);
  EXPECT_EQ(RunUnderFilter([] { return CookieOpen(O_RDONLY, kCookie ^ 1); }, EXDEV, &nr, kCookie),
            EXDEV);
  EXPECT_EQ(RunUnderFilter([] { return CookieOpen(O_RDONLY, 0); }, EXDEV, &nr, kCookie), EXDEV);
  // A filter built without a cookie lets nothing through this way.
  EXPECT_EQ(RunUnderFilter([] { return CookieOpen(O_RDONLY, 0); }, EXDEV, &nr, 0), EXDEV);
  EXPECT_EQ(nr, SYS_openat);
}

// Follows the prefix for a call known only by its number, as the kernel
// does when it builds its action cache: true when it reaches the end of the
// prefix (libseccomp's program) without reading an argument.
bool PrefixIgnoresArguments(const std::vector<sock_filter>& prefix, uint32_t nr) {
  size_t pc = 0;
  uint32_t acc = 0;
  while (pc < prefix.size()) {
    const sock_filter& insn = prefix[pc];
    if (insn.code == (BPF_LD | BPF_W | BPF_ABS)) {
      if (insn.k == offsetof(seccomp_data, nr)) {
        acc = nr;
      } else if (insn.k == offsetof(seccomp_data, arch)) {
        acc = AUDIT_ARCH_X86_64;
      } else {
        return false;  // an argument (or the instruction pointer)
      }
      ++pc;
    } else if (insn.code == (BPF_JMP | BPF_JEQ | BPF_K)) {
      pc += 1 + (acc == insn.k ? insn.jt : insn.jf);
    } else if (insn.code == (BPF_JMP | BPF_JSET | BPF_K)) {
      pc += 1 + ((acc & insn.k) ? insn.jt : insn.jf);
    } else {
      return false;  // a return: decided here
    }
  }
  return pc == prefix.size();
}

TEST(CookieFilterTest, OtherCallsKeepTheKernelsActionCache) {
  std::vector<sock_filter> prefix = CookiePrefix(kCookie);
  for (uint32_t nr : {SYS_read, SYS_write, SYS_mmap, SYS_close, SYS_getppid, SYS_unlink,
                      SYS_open, SYS_stat, SYS_getdents, SYS_mkdir, SYS_renameat2}) {
    EXPECT_TRUE(PrefixIgnoresArguments(prefix, nr)) << "syscall " << nr;
  }
  for (uint32_t nr :
       {SYS_newfstatat, SYS_statx, SYS_openat, SYS_readlinkat, SYS_faccessat2, SYS_fgetxattr,
        SYS_getdents64, SYS_fchmod, SYS_fchown, SYS_utimensat, SYS_unlinkat, SYS_mkdirat, SYS_openat2,
        SYS_fchownat, 452 /* fchmodat2 */, SYS_fchdir}) {
    EXPECT_FALSE(PrefixIgnoresArguments(prefix, nr)) << "syscall " << nr;
  }
}

// The dynamic loader's fstat of its file at kLoaderFd passes (with the
// cookie's prefix in place); fstat of another descriptor, or of that one
// with other flags, still reaches the supervisor.
TEST(CookieFilterTest, TheLoadersFstatPasses) {
  int nr = -1;
  EXPECT_EQ(RunUnderFilter(
                [] {
                  if (dup2(0, kLoaderFd) != kLoaderFd) return 1;
                  struct stat st;
                  return syscall(SYS_newfstatat, kLoaderFd, "", &st, AT_EMPTY_PATH) == 0 ? 0 : 2;
                },
                EXDEV, &nr, kCookie),
            0);
  EXPECT_EQ(nr, -1);
  for (int (*body)() :
       {+[] {
          struct stat st;
          return syscall(SYS_newfstatat, 0, "", &st, AT_EMPTY_PATH) == -1 ? errno : 0;
        },
        +[] {
          struct stat st;
          return syscall(SYS_newfstatat, kLoaderFd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ==
                         -1
                     ? errno
                     : 0;
        }}) {
    nr = -1;
    EXPECT_EQ(RunUnderFilter(body, EXDEV, &nr, kCookie), EXDEV);
    EXPECT_EQ(nr, SYS_newfstatat);
  }
  // Without the cookie (no preload library) nothing passes.
  nr = -1;
  EXPECT_EQ(RunUnderFilter(
                [] {
                  struct stat st;
                  return syscall(SYS_newfstatat, kLoaderFd, "", &st, AT_EMPTY_PATH) == -1 ? errno
                                                                                          : 0;
                },
                EXDEV, &nr),
            EXDEV);
  EXPECT_EQ(nr, SYS_newfstatat);
}

TEST(CookieFilterTest, OnlyTheLibrarysCallsPass) {
  int nr = -1;
  EXPECT_EQ(RunUnderFilter(
                [] {
                  struct stat st;
                  char buf[64];
                  if (syscall(SYS_newfstatat, AT_FDCWD, "/tmp", &st, 0, 0L, kCookie) != 0) return 1;
                  if (syscall(SYS_readlinkat, AT_FDCWD, "/tmp", buf, sizeof(buf), 0L, kCookie) !=
                          -1 ||
                      errno != EINVAL) {
                    return 2;
                  }
                  if (syscall(SYS_faccessat2, AT_FDCWD, "/tmp", R_OK, 0, 0L, kCookie) != 0) return 3;
                  struct statx stx;
                  if (syscall(SYS_statx, AT_FDCWD, "/tmp", 0, STATX_BASIC_STATS, &stx, kCookie) != 0) {
                    return 5;
                  }
                  if (syscall(SYS_fgetxattr, 0, "user.ovlbox-test", buf, sizeof(buf), 0L,
                              kCookie) != -1 ||
                      errno == EXDEV) {
                    return 4;
                  }
                  int dir = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/",
                                                     O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0L,
                                                     kCookie));
                  char ents[4096];
                  long n = syscall(SYS_getdents64, dir, ents, sizeof(ents), 0L, 0L, kCookie);
                  close(dir);
                  if (n <= 0) return 6;
                  return 0;
                },
                EXDEV, &nr, kCookie),
            0);
  EXPECT_EQ(nr, -1);
  for (int (*body)() :
       {+[] {
          return syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent-ovlbox", AT_REMOVEDIR, 0L, 0L,
                         kCookie ^ 16) == -1
                     ? errno
                     : 0;
        },
        +[] {
          return syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent-ovlbox", 0, 0L, 0L, kCookie ^ 2) ==
                         -1
                     ? errno
                     : 0;
        },
        +[] {
          return syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent-ovlbox/x", 0700, 0L, 0L,
                         kCookie ^ 8) == -1
                     ? errno
                     : 0;
        },
        +[] {
          return syscall(SYS_renameat2, AT_FDCWD, "/nonexistent-ovlbox", AT_FDCWD,
                         "/nonexistent-ovlbox2", 0L, kCookie) == -1
                     ? errno
                     : 0;
        },
        +[] {
          return syscall(SYS_fchmodat, AT_FDCWD, "/nonexistent-ovlbox", 0700, 0L, 0L, kCookie) ==
                         -1
                     ? errno
                     : 0;
        },
        +[] {
          // getdents64 with the cookie passes (above); without it, it is seen.
          int dir = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/",
                                             O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0L, kCookie));
          char ents[4096];
          return syscall(SYS_getdents64, dir, ents, sizeof(ents), 0L, 0L, kCookie ^ 1) == -1
                     ? errno
                     : 0;
        }}) {
    nr = -1;
    EXPECT_EQ(RunUnderFilter(body, EXDEV, &nr, kCookie), EXDEV);
    EXPECT_NE(nr, -1);
  }
}

// The library's changes in the upper: fchmod, fchown, fchownat,
// fchmodat2, utimensat, mkdirat and unlinkat pass with the cookie; any of
// them without it (or with another), and fchmodat or renameat2 with it,
// reach the supervisor.
char g_attr_file[] = "/tmp/ovlbox-filter-test.XXXXXX";

// fstat with the cookie (glibc's fstat leaves r9 as it finds it).
int CookieFstat(int fd, struct stat* st) {
  return static_cast<int>(syscall(SYS_newfstatat, fd, "", st, AT_EMPTY_PATH, 0L, kCookie));
}

TEST(CookieFilterTest, AttributeChangesPassWithTheCookie) {
  int made = mkstemp(g_attr_file);
  ASSERT_GE(made, 0);
  close(made);
  int nr = -1;
  EXPECT_EQ(RunUnderFilter(
                [] {
                  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, g_attr_file,
                                                    O_RDONLY | O_CLOEXEC, 0, 0L, kCookie));
                  if (fd < 0) return 1;
                  struct stat st;
                  if (CookieFstat(fd, &st) != 0) return 2;
                  if (syscall(SYS_fchmod, fd, 0640, 0L, 0L, 0L, kCookie) != 0) return 3;
                  if (syscall(SYS_fchown, fd, st.st_uid, st.st_gid, 0L, 0L, kCookie) != 0) return 4;
                  struct timespec ts[2] = {{1500000000, 0}, {1500000001, 0}};
                  if (syscall(SYS_utimensat, fd, 0L, ts, 0, 0L, kCookie) != 0) return 5;
                  // mkdirat, unlinkat without flags: the kernel's own answers.
                  if (syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent-ovlbox/x", 0700, 0L, 0L,
                              kCookie) != -1 ||
                      errno != ENOENT) {
                    return 8;
                  }
                  if (syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent-ovlbox", 0, 0L, 0L,
                              kCookie) != -1 ||
                      errno != ENOENT) {
                    return 7;
                  }
                  if (syscall(SYS_unlinkat, AT_FDCWD, "/nonexistent-ovlbox", AT_REMOVEDIR, 0L,
                              0L, kCookie) != -1 ||
                      errno != ENOENT) {
                    return 9;
                  }
                  if (CookieFstat(fd, &st) != 0 || (st.st_mode & 07777) != 0640 ||
                      st.st_mtim.tv_sec != 1500000001) {
                    return 6;
                  }
                  // By path: fchownat, fchmodat2, utimensat.
                  if (syscall(SYS_fchownat, AT_FDCWD, g_attr_file, st.st_uid, st.st_gid,
                              AT_SYMLINK_NOFOLLOW, kCookie) != 0) {
                    return 10;
                  }
                  long r = syscall(452, AT_FDCWD, g_attr_file, 0604, AT_SYMLINK_NOFOLLOW, 0L,
                                   kCookie);
                  if (r != 0 && errno != ENOSYS) return 11;
                  struct timespec later[2] = {{1600000000, 0}, {1600000001, 0}};
                  if (syscall(SYS_utimensat, AT_FDCWD, g_attr_file, later, AT_SYMLINK_NOFOLLOW, 0L,
                              kCookie) != 0) {
                    return 12;
                  }
                  if (CookieFstat(fd, &st) != 0 || st.st_mtim.tv_sec != 1600000001 ||
                      (r == 0 && (st.st_mode & 07777) != 0604)) {
                    return 13;
                  }
                  close(fd);
                  return 0;
                },
                EXDEV, &nr, kCookie),
            0);
  EXPECT_EQ(nr, -1);
  unlink(g_attr_file);
  for (int (*body)() :
       {+[] {
          struct timespec ts[2] = {{1, 0}, {1, 0}};
          return syscall(SYS_utimensat, AT_FDCWD, "/nonexistent-ovlbox", ts, 0, 0L,
                         kCookie ^ 32) == -1
                     ? errno
                     : 0;
        },
        +[] {
          return syscall(SYS_fchownat, AT_FDCWD, "/nonexistent-ovlbox", -1, -1, 0, 0L) == -1
                     ? errno
                     : 0;
        },
        +[] {
          return syscall(452, AT_FDCWD, "/nonexistent-ovlbox", 0600, 0, 0L, kCookie ^ 64) == -1
                     ? errno
                     : 0;
        },
        +[] { return syscall(SYS_fchmod, 0, 0600, 0L, 0L, 0L, kCookie ^ 1) == -1 ? errno : 0; },
        +[] { return syscall(SYS_fchown, 0, -1, -1, 0L, 0L, 0L) == -1 ? errno : 0; },
        +[] {
          return syscall(SYS_utimensat, 0, 0L, 0L, 0, 0L, kCookie ^ (1ULL << 63)) == -1 ? errno
                                                                                      : 0;
        }}) {
    nr = -1;
    EXPECT_EQ(RunUnderFilter(body, EXDEV, &nr, kCookie), EXDEV);
    EXPECT_NE(nr, -1);
  }
}

// setresuid(-1, uid, -1) and setresgid(-1, gid, -1) with the ids the
// program starts with run unseen (GNU make's before every command); any
// other argument, and the other credential calls, still reach the
// supervisor. The child keeps its ids throughout: every call below either
// changes nothing or is answered by the parent with EXDEV.
int SetresuidTo(uint64_t r, uint64_t e, uint64_t s) {
  return syscall(SYS_setresuid, r, e, s) == -1 ? errno : 0;
}
int SetresgidTo(uint64_t r, uint64_t e, uint64_t s) {
  return syscall(SYS_setresgid, r, e, s) == -1 ? errno : 0;
}

TEST(KeptIdsFilterTest, NoOpIdCallsRunUnseen) {
  KeptIds kept{geteuid(), getegid()};
  int nr = -1;
  EXPECT_EQ(RunUnderFilter([] { return SetresuidTo(-1, geteuid(), -1); }, EXDEV, &nr, 0, kept),
            0);
  EXPECT_EQ(RunUnderFilter([] { return SetresgidTo(-1, getegid(), -1); }, EXDEV, &nr, 0, kept),
            0);
  // -1 as a 32-bit value in a 64-bit register (the kernel reads the low
  // half alone), and with the cookie's part in front.
  EXPECT_EQ(RunUnderFilter([] { return SetresuidTo(0xffffffffu, geteuid(), 0xffffffffu); }, EXDEV,
                           &nr, kCookie, kept),
            0);
  EXPECT_EQ(nr, -1);  // none reached the supervisor
}

TEST(KeptIdsFilterTest, OtherIdCallsAreNotified) {
  KeptIds kept{geteuid(), getegid()};
  struct Case {
    int (*body)();
    int nr;
  } cases[] = {
      {+[] { return SetresuidTo(-1, geteuid() + 1, -1); }, SYS_setresuid},
      {+[] { return SetresuidTo(geteuid(), geteuid(), -1); }, SYS_setresuid},
      {+[] { return SetresuidTo(-1, geteuid(), geteuid()); }, SYS_setresuid},
      {+[] { return SetresgidTo(-1, getegid() + 1, -1); }, SYS_setresgid},
      {+[] { return SetresgidTo(getegid(), getegid(), -1); }, SYS_setresgid},
      {+[] { return SetresgidTo(-1, getegid(), getegid()); }, SYS_setresgid},
      {+[] { return syscall(SYS_setuid, geteuid()) == -1 ? errno : 0; }, SYS_setuid},
      {+[] { return syscall(SYS_setreuid, -1, geteuid()) == -1 ? errno : 0; }, SYS_setreuid},
      {+[] { return syscall(SYS_setfsuid, geteuid()) == -1 ? errno : 0; }, SYS_setfsuid},
  };
  for (const Case& c : cases) {
    int nr = -1;
    EXPECT_EQ(RunUnderFilter(c.body, EXDEV, &nr, 0, kept), EXDEV) << "syscall " << c.nr;
    EXPECT_EQ(nr, c.nr);
  }
  // Without a kept id the call is notified as before.
  int nr = -1;
  EXPECT_EQ(RunUnderFilter([] { return SetresuidTo(-1, geteuid(), -1); }, EXDEV, &nr, 0,
                           KeptIds{kNoKeptId, getegid()}),
            EXDEV);
  EXPECT_EQ(nr, SYS_setresuid);
  EXPECT_TRUE(KeptIdsPrefix(KeptIds{}).empty());
  // The supervisor's own ids, as the program it starts has them.
  KeptIds own = OwnKeptIds();
  EXPECT_EQ(own.uid, geteuid());
  EXPECT_EQ(own.gid, getegid());
}

TEST(KeptIdsFilterTest, OtherCallsKeepTheKernelsActionCache) {
  // The whole prefix ovlbox installs: the cookie's part, then the ids'.
  std::vector<sock_filter> front = FilterPrefix(kCookie, KeptIds{1000, 1000});
  for (uint32_t nr : {SYS_read, SYS_write, SYS_open, SYS_stat, SYS_setuid, SYS_setgid,
                      SYS_setreuid, SYS_setfsuid, SYS_getppid}) {
    EXPECT_TRUE(PrefixIgnoresArguments(front, nr)) << "syscall " << nr;
  }
  EXPECT_FALSE(PrefixIgnoresArguments(front, SYS_setresuid));
  EXPECT_FALSE(PrefixIgnoresArguments(front, SYS_setresgid));
}

}  // namespace
}  // namespace ovlbox
