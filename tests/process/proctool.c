// proctool: process, exec and signal helpers for process_test.sh.
//
//   proctool fork FILE               a child and a grandchild read FILE
//   proctool vfork PROG [ARG]...     vfork + execve PROG, report its status
//   proctool clone3 FILE             a clone3 child reads FILE ("clone3:
//                                    ENOSYS" when the kernel lacks it)
//   proctool spawn PROG [ARG]...     posix_spawn PROG and posix_spawnp of
//                                    its base name (PATH search), statuses
//   proctool thread-exec PROG [ARG]...  a second thread execs PROG while the
//                                    main thread sleeps; PROG gets
//                                    OLDPID=<our pid> in its environment
//   proctool fexec MODE PATH [ARG]...  open PATH (MODE rdonly or path: O_PATH)
//                                    and execveat(fd, "", AT_EMPTY_PATH)
//   proctool argv0 NAME PROG [ARG]...  execv PROG with argv[0] = NAME
//   proctool show [ARG]...           print argv, /proc/self/exe and cwd, and
//                                    whether the pid equals $OLDPID
//   proctool paths FILE SUBDIR       getcwd, /proc/self/{cwd,exe},
//                                    /proc/self/fd/N of FILE and of a dir,
//                                    /proc/CHILD/cwd of a child in SUBDIR
//   proctool eintr restart|norestart     a pipe read interrupted by SIGALRM
//   proctool fifo-eintr FIFO restart|norestart
//                                    a blocking open of FIFO interrupted by
//                                    SIGALRM (a child opens the write end
//                                    later)
//   proctool stop SIG FILE           a child (own process group) loops
//                                    reading FILE; we stop it with SIG
//                                    (STOP or TSTP), check it stays stopped,
//                                    continue it and reap it
//   proctool sigflood N DIR PROG [ARG]...
//                                    N rounds of: a child that handles
//                                    SIGWINCH (SA_RESTART) while we send
//                                    it one every 200 us moves to DIR and
//                                    back ten times, then to DIR, and execs
//                                    PROG (its output kept from the first
//                                    round only); prints how rounds ended
//   proctool execvp NAME [ARG]...    execvp NAME (a PATH search) with argv
//                                    NAME ARG...; on failure prints the
//                                    errno's name and exits 127
//   proctool pidof-self              print whether readlink /proc/self and
//                                    /proc/thread-self match getpid/gettid
//                                    and /proc/self/stat is the process's,
//                                    from the main thread and from another
//
// Every line printed is the same on every run (no pids, no times), so runs
// on a kernel overlay mount and under ovlbox can be compared verbatim.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what) {
  fprintf(stderr, "proctool: %s: %s\n", what, strerror(errno));
  exit(99);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void print_status(const char *who, int st) {
  if (WIFEXITED(st))
    printf("%s: exit %d\n", who, WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    printf("%s: signal %s\n", who, sigabbrev_np(WTERMSIG(st)));
  else
    printf("%s: status 0x%x\n", who, st);
  fflush(stdout);
}

// Reads FILE and prints "WHO: <first line of FILE>" (or the error).
static void show_file(const char *who, const char *file) {
  char buf[256];
  int fd = open(file, O_RDONLY);
  if (fd < 0) {
    printf("%s: open %s: %s\n", who, file, strerror(errno));
    fflush(stdout);
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) n = 0;
  buf[n] = 0;
  buf[strcspn(buf, "\n")] = 0;
  printf("%s: %s\n", who, buf);
  fflush(stdout);
}

static void show_link(const char *label, const char *link) {
  char buf[PATH_MAX];
  ssize_t n = readlink(link, buf, sizeof buf - 1);
  if (n < 0) {
    printf("%s: %s\n", label, strerror(errno));
  } else {
    buf[n] = 0;
    printf("%s: %s\n", label, buf);
  }
}

// ------------------------------------------------------------ fork family

static int cmd_fork(char **argv) {
  const char *file = argv[0];
  show_file("parent", file);
  pid_t c = fork();
  if (c < 0) die("fork");
  if (c == 0) {
    show_file("child", file);
    pid_t g = fork();
    if (g < 0) die("fork");
    if (g == 0) {
      show_file("grandchild", file);
      _exit(7);
    }
    int st;
    if (waitpid(g, &st, 0) != g) die("waitpid");
    print_status("grandchild", st);
    _exit(5);
  }
  int st;
  if (waitpid(c, &st, 0) != c) die("waitpid");
  print_status("child", st);
  show_file("parent again", file);
  return 0;
}

static int cmd_vfork(char **argv) {
  fflush(stdout);
  pid_t c = vfork();
  if (c < 0) die("vfork");
  if (c == 0) {
    execve(argv[0], argv, environ);
    _exit(errno == ENOENT ? 127 : 126);
  }
  int st;
  if (waitpid(c, &st, 0) != c) die("waitpid");
  print_status("vfork child", st);
  return 0;
}

static int cmd_clone3(char **argv) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  fflush(stdout);
  long r = syscall(SYS_clone3, &args, sizeof args);
  if (r < 0) {
    if (errno == ENOSYS) {
      printf("clone3: ENOSYS\n");
      return 0;
    }
    die("clone3");
  }
  if (r == 0) {
    show_file("clone3 child", argv[0]);
    _exit(4);
  }
  int st;
  if (waitpid((pid_t)r, &st, 0) != r) die("waitpid");
  print_status("clone3 child", st);
  return 0;
}

static int cmd_spawn(char **argv) {
  pid_t pid;
  int st, e;
  fflush(stdout);
  e = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
  if (e != 0) {
    printf("posix_spawn: %s\n", strerror(e));
  } else {
    if (waitpid(pid, &st, 0) != pid) die("waitpid");
    print_status("posix_spawn child", st);
  }
  const char *base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  char *argv2[64];
  int i = 0;
  argv2[i++] = (char *)base;
  for (char **a = argv + 1; *a && i < 63; a++) argv2[i++] = *a;
  argv2[i] = NULL;
  e = posix_spawnp(&pid, base, NULL, NULL, argv2, environ);
  if (e != 0) {
    printf("posix_spawnp %s: %s\n", base, strerror(e));
  } else {
    if (waitpid(pid, &st, 0) != pid) die("waitpid");
    print_status("posix_spawnp child", st);
  }
  return 0;
}

static char **thread_exec_argv;

static void *exec_thread(void *unused) {
  sleep_ms(50);
  execv(thread_exec_argv[0], thread_exec_argv);
  fprintf(stderr, "proctool: execv from a thread: %s\n", strerror(errno));
  _exit(98);
}

static int cmd_thread_exec(char **argv) {
  char pid[32];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  setenv("OLDPID", pid, 1);
  thread_exec_argv = argv;
  fflush(stdout);
  pthread_t t;
  if (pthread_create(&t, NULL, exec_thread, NULL) != 0) die("pthread_create");
  // The main thread keeps making calls in the view while the other thread
  // execs: the exec must take it down (and the new program gets our pid).
  for (int i = 0; i < 2000; i++) {
    struct stat st;
    stat(argv[0], &st);
    sleep_ms(5);
  }
  fprintf(stderr, "proctool: the thread's exec did not happen\n");
  return 97;
}

static int cmd_fexec(char **argv) {
  int flags = O_RDONLY | O_CLOEXEC;
  if (strcmp(argv[0], "path") == 0) flags = O_PATH | O_CLOEXEC;
  int fd = open(argv[1], flags);
  if (fd < 0) die("open");
  fflush(stdout);
  syscall(SYS_execveat, fd, "", argv + 1, environ, AT_EMPTY_PATH);
  printf("execveat: %s\n", strerror(errno));
  return 1;
}

static int cmd_argv0(char **argv) {
  char *prog = argv[1];
  argv[1] = argv[0];  // argv[1..] = NAME ARG...
  fflush(stdout);
  execv(prog, argv + 1);
  printf("execv: %s\n", strerror(errno));
  return 1;
}

static int cmd_show(int argc, char **argv) {
  for (int i = 0; i < argc; i++) printf("argv[%d]: %s\n", i, argv[i]);
  show_link("exe", "/proc/self/exe");
  char buf[PATH_MAX];
  printf("cwd: %s\n", getcwd(buf, sizeof buf) ? buf : strerror(errno));
  const char *old = getenv("OLDPID");
  if (old) printf("pid is the execing process's: %s\n", atoi(old) == getpid() ? "yes" : "no");
  return 0;
}

static void *report_self(void *who) {
  const char *prefix = who;
  char buf[64];
  ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
  buf[n < 0 ? 0 : n] = 0;
  printf("%s/proc/self is getpid(): %s\n", prefix, atoi(buf) == getpid() ? "yes" : buf);
  n = readlink("/proc/thread-self", buf, sizeof buf - 1);
  buf[n < 0 ? 0 : n] = 0;
  char want[64];
  snprintf(want, sizeof want, "%d/task/%d", (int)getpid(), (int)gettid());
  printf("%s/proc/thread-self is getpid()/task/gettid(): %s\n", prefix,
         strcmp(buf, want) == 0 ? "yes" : buf);
  // A walk through /proc/self, not only its link.
  FILE *f = fopen("/proc/self/stat", "r");
  int pid = -1;
  if (f != NULL) {
    if (fscanf(f, "%d", &pid) != 1) pid = -1;
    fclose(f);
  }
  printf("%s/proc/self/stat is getpid()'s: %s\n", prefix, pid == getpid() ? "yes" : "no");
  return NULL;
}

// From the main thread, then from a second thread (whose thread id is not
// the process id).
static int cmd_pidof_self(void) {
  report_self("");
  fflush(stdout);
  pthread_t t;
  if (pthread_create(&t, NULL, report_self, "thread: ") != 0) return 1;
  pthread_join(t, NULL);
  return 0;
}

// ------------------------------------------------------------ paths

static int cmd_paths(char **argv) {
  const char *file = argv[0], *subdir = argv[1];
  char buf[PATH_MAX], link[64];
  printf("getcwd: %s\n", getcwd(buf, sizeof buf) ? buf : strerror(errno));
  show_link("/proc/self/cwd", "/proc/self/cwd");
  show_link("/proc/thread-self/cwd", "/proc/thread-self/cwd");
  show_link("/proc/self/exe", "/proc/self/exe");
  int fd = open(file, O_RDONLY);
  if (fd < 0) die("open FILE");
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  show_link("/proc/self/fd/N (file)", link);
  int dfd = open(subdir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) die("open SUBDIR");
  snprintf(link, sizeof link, "/proc/self/fd/%d", dfd);
  show_link("/proc/self/fd/N (dir)", link);
  int pfd = open(file, O_PATH);
  if (pfd < 0) die("open FILE O_PATH");
  snprintf(link, sizeof link, "/proc/self/fd/%d", pfd);
  show_link("/proc/self/fd/N (O_PATH)", link);
  char *rp = realpath(".", NULL);
  printf("realpath(.): %s\n", rp ? rp : strerror(errno));
  free(rp);

  // A child moves into SUBDIR; we read its cwd through /proc/PID/cwd.
  int ready[2], done[2];
  if (pipe(ready) || pipe(done)) die("pipe");
  fflush(stdout);
  pid_t c = fork();
  if (c < 0) die("fork");
  if (c == 0) {
    if (chdir(subdir) != 0) _exit(2);
    char b = 'r';
    if (write(ready[1], &b, 1) != 1) _exit(3);
    if (read(done[0], &b, 1) != 1) _exit(4);
    _exit(0);
  }
  char b;
  if (read(ready[0], &b, 1) != 1) die("read");
  snprintf(link, sizeof link, "/proc/%d/cwd", (int)c);
  show_link("/proc/CHILD/cwd", link);
  snprintf(link, sizeof link, "/proc/%d/exe", (int)c);
  show_link("/proc/CHILD/exe", link);
  fflush(stdout);
  if (write(done[1], &b, 1) != 1) die("write");
  int st;
  if (waitpid(c, &st, 0) != c) die("waitpid");
  print_status("child", st);
  return 0;
}

// ------------------------------------------------------------ signals

static volatile sig_atomic_t handled;
static void on_alarm(int sig) { handled++; }

static void arm(int restart) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 0}, {0, 150000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

static int restart_arg(const char *a) {
  if (strcmp(a, "restart") == 0) return 1;
  if (strcmp(a, "norestart") == 0) return 0;
  fprintf(stderr, "proctool: restart or norestart, not %s\n", a);
  exit(2);
}

static int cmd_eintr(char **argv) {
  int restart = restart_arg(argv[0]);
  int p[2];
  if (pipe(p)) die("pipe");
  pid_t c = fork();
  if (c < 0) die("fork");
  if (c == 0) {
    close(p[0]);
    sleep_ms(600);
    if (write(p[1], "x", 1) != 1) _exit(1);
    _exit(0);
  }
  close(p[1]);
  arm(restart);
  char b = 0;
  ssize_t n = read(p[0], &b, 1);
  if (n < 0)
    printf("read: %s, handler ran %d time(s)\n", strerrorname_np(errno), (int)handled);
  else
    printf("read: %zd byte '%c', handler ran %d time(s)\n", n, b, (int)handled);
  int st;
  waitpid(c, &st, 0);
  return 0;
}

static int cmd_fifo_eintr(char **argv) {
  const char *fifo = argv[0];
  int restart = restart_arg(argv[1]);
  pid_t c = fork();
  if (c < 0) die("fork");
  if (c == 0) {
    // Open the write end once the reader is there, trying for 1.5 s
    // (O_NONBLOCK: ENXIO while there is no reader).
    sleep_ms(600);
    for (int i = 0; i < 90; i++) {
      int fd = open(fifo, O_WRONLY | O_NONBLOCK);
      if (fd >= 0) {
        if (write(fd, "y", 1) != 1) _exit(1);
        close(fd);
        _exit(0);
      }
      sleep_ms(10);
    }
    _exit(3);
  }
  arm(restart);
  int fd = open(fifo, O_RDONLY);
  if (fd < 0) {
    printf("open: %s, handler ran %d time(s)\n", strerrorname_np(errno), (int)handled);
  } else {
    char b = 0;
    ssize_t n = read(fd, &b, 1);
    printf("open: ok, read %zd byte '%c', handler ran %d time(s)\n", n, b, (int)handled);
    close(fd);
  }
  int st;
  waitpid(c, &st, 0);
  // The writer gives up (exit 3) when no reader came back.
  print_status("writer", st);
  return 0;
}

static char proc_state(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return '?';
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return '?';
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : '?';
}

static int cmd_stop(char **argv) {
  int sig;
  if (strcmp(argv[0], "STOP") == 0)
    sig = SIGSTOP;
  else if (strcmp(argv[0], "TSTP") == 0)
    sig = SIGTSTP;
  else {
    fprintf(stderr, "proctool: STOP or TSTP, not %s\n", argv[0]);
    return 2;
  }
  const char *file = argv[1];
  volatile long *progress =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (progress == MAP_FAILED) die("mmap");
  *progress = 0;
  fflush(stdout);
  pid_t c = fork();
  if (c < 0) die("fork");
  if (c == 0) {
    // Its own process group, whose parent is in another one: not orphaned,
    // so SIGTSTP stops it.
    setpgid(0, 0);
    for (int i = 0; i < 60; i++) {
      char b[64];
      int fd = open(file, O_RDONLY);
      if (fd < 0 || read(fd, b, sizeof b) <= 0) _exit(1);
      close(fd);
      (*progress)++;
      sleep_ms(10);
    }
    _exit(0);
  }
  setpgid(c, c);
  while (*progress < 5) sleep_ms(5);
  kill(c, sig);
  int st;
  if (waitpid(c, &st, WUNTRACED) != c) die("waitpid");
  if (WIFSTOPPED(st))
    printf("child stopped by %s\n", sigabbrev_np(WSTOPSIG(st)));
  else
    print_status("child not stopped", st);
  long at_stop = *progress;
  char s1 = proc_state(c);
  sleep_ms(300);
  char s2 = proc_state(c);
  printf("state while stopped: %c %c\n", s1, s2);
  printf("progress while stopped: %s\n", *progress == at_stop ? "none" : "some");
  kill(c, SIGCONT);
  if (waitpid(c, &st, WCONTINUED) != c) die("waitpid");
  printf("child continued: %s\n", WIFCONTINUED(st) ? "yes" : "no");
  if (waitpid(c, &st, 0) != c) die("waitpid");
  print_status("child", st);
  printf("iterations: %ld\n", *progress);
  return 0;
}

static int cmd_execvp(char **argv) {
  execvp(argv[0], argv);
  printf("execvp %s: %s\n", argv[0], strerrorname_np(errno));
  return 127;
}

static volatile sig_atomic_t winches;
static void on_winch(int sig) {
  (void)sig;
  winches++;
}

static int cmd_sigflood(char **argv) {
  int rounds = atoi(argv[0]);
  const char *dir = argv[1];
  char **prog = argv + 2;
  int ok = 0, chdir_failed = 0, exec_failed = 0, other = 0;
  for (int i = 0; i < rounds; i++) {
    pid_t c = fork();
    if (c < 0) die("fork");
    if (c == 0) {
      struct sigaction sa;
      memset(&sa, 0, sizeof(sa));
      sa.sa_handler = on_winch;
      sa.sa_flags = SA_RESTART;
      sigemptyset(&sa.sa_mask);
      sigaction(SIGWINCH, &sa, NULL);
      if (i > 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd < 0 || dup2(fd, 1) < 0) _exit(5);
      }
      for (int j = 0; j < 10; j++) {
        if (chdir(dir) != 0 || chdir("..") != 0) _exit(3);
      }
      if (chdir(dir) != 0) _exit(3);
      execv(prog[0], prog);
      _exit(4);
    }
    int st = 0;
    for (;;) {
      pid_t w = waitpid(c, &st, WNOHANG);
      if (w == c) break;
      if (w < 0) die("waitpid");
      kill(c, SIGWINCH);
      usleep(200);
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 3) chdir_failed++;
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 4) exec_failed++;
    else other++;
  }
  printf("sigflood: %d of %d rounds exited 0; chdir failed in %d, execv in %d, %d other\n", ok,
         rounds, chdir_failed, exec_failed, other);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: proctool COMMAND [ARG]... (see the source)\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *cmd = argv[1];
  char **a = argv + 2;
  int n = argc - 2;
#define NEED(k)                                                  \
  if (n < (k)) {                                                 \
    fprintf(stderr, "proctool %s: missing arguments\n", cmd);    \
    return 2;                                                    \
  }
  if (!strcmp(cmd, "fork")) { NEED(1); return cmd_fork(a); }
  if (!strcmp(cmd, "vfork")) { NEED(1); return cmd_vfork(a); }
  if (!strcmp(cmd, "clone3")) { NEED(1); return cmd_clone3(a); }
  if (!strcmp(cmd, "spawn")) { NEED(1); return cmd_spawn(a); }
  if (!strcmp(cmd, "thread-exec")) { NEED(1); return cmd_thread_exec(a); }
  if (!strcmp(cmd, "fexec")) { NEED(2); return cmd_fexec(a); }
  if (!strcmp(cmd, "argv0")) { NEED(2); return cmd_argv0(a); }
  if (!strcmp(cmd, "show")) return cmd_show(argc, argv);
  if (!strcmp(cmd, "pidof-self")) return cmd_pidof_self();
  if (!strcmp(cmd, "paths")) { NEED(2); return cmd_paths(a); }
  if (!strcmp(cmd, "eintr")) { NEED(1); return cmd_eintr(a); }
  if (!strcmp(cmd, "fifo-eintr")) { NEED(2); return cmd_fifo_eintr(a); }
  if (!strcmp(cmd, "stop")) { NEED(2); return cmd_stop(a); }
  if (!strcmp(cmd, "sigflood")) { NEED(3); return cmd_sigflood(a); }
  if (!strcmp(cmd, "execvp")) { NEED(1); return cmd_execvp(a); }
  fprintf(stderr, "proctool: unknown command %s\n", cmd);
  return 2;
}
