// The in-process fast path (docs/design.md, "The preload library").
//
// ovlbox loads this library into every dynamically linked program it runs
// (through the /etc/ld.so.preload it shows the program). It answers a few
// read-only path calls on host files outside the view in the program
// itself, with no round trip to the supervisor: `open`/`openat` and
// `fopen` for reading, `stat`/`lstat`/`fstatat`, `fstat`, `readlink`,
// `access`/`eaccess` and `realpath` on absolute paths (and `fstat` on
// descriptors) whose object lies outside every layer. A compiler's system
// headers, an interpreter's standard library, the shared libraries a
// program loads later: the calls that make up most of a build and that the
// view never changes. Inside the view it answers lookups in directories
// that come from one lower alone, while the view is unchanged (the shared
// view state, preload/config.h), and in merged directories whose real
// directories the supervisor has listed there: a path of several names is
// walked natively, one name at a time, up to its last name. Its own
// directory streams (opendir, readdir...) list directories of one lower
// alone, and directories outside the view, with the kernel.
//
// Two kinds of change it makes itself, where they land in the upper as
// they are: attribute changes through a descriptor of an upper file
// (fchmod, fchown, futimens, futimes), and removals of a name in an upper
// directory that no lower has (unlink, unlinkat).
//
// Everything else, and everything in doubt, goes to the supervisor exactly
// as before, through the same system call with no cookie: the library
// answers only where the view cannot differ from what the kernel finds.
//
// How it stays outside the view: the supervisor's seccomp filter lets a
// call through without a notification only when its sixth argument
// register carries this run's cookie and the call is one of the library's
// (newfstatat, statx, readlinkat, faccessat2, fgetxattr, getdents64,
// openat without a write access mode, O_CREAT, O_TRUNC or O_TMPFILE,
// fchmod, fchown, utimensat with a NULL path, unlinkat without flags).
// For a lookup, the library makes such a call, then
// checks where the object it reached lies: on a filesystem that holds no
// layer (st_dev), or, on a layer's filesystem, at a real path
// (/proc/self/fd/N) below no layer root. Objects of a proc filesystem and
// anything that cannot be placed go to the supervisor.
//
// The configuration (cookie, layer devices and roots) is written by the
// supervisor into `ovlbox_preload_config` in the image it serves; an image
// with the configuration still blank does nothing.
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

// O_TMPFILE's own bit (O_TMPFILE also holds O_DIRECTORY).
#define TMPFILE_BIT 020000000

#include "overlay/dir_id.h"
#include "overlay/name_cookie.h"
#include "preload/config.h"

// Written by the supervisor in the image it serves (never changed at run
// time); `cookie` stays 0 in an image loaded any other way.
__attribute__((used, aligned(64))) EXPORT struct ovlbox_preload_config ovlbox_preload_config = {
    .magic = OVLBOX_PRELOAD_MAGIC};
#define cfg ovlbox_preload_config

static int enabled;

// glibc declares most pointer arguments of these functions nonnull, and
// the compiler then drops the NULL checks below (even with
// -fno-delete-null-pointer-checks); programs pass NULL anyway (Rust's
// standard library probes statx with NULLs and expects EFAULT). Every
// pointer from the program passes through this first.
#define UNTRUSTED(p) __extension__({ __typeof__(p) u_ = (p); __asm__("" : "+r"(u_)); u_; })

static uint64_t pure_dir(dev_t dev, ino_t ino);
static int single_name(const char* name);
static int upper_alone_at(long dirfd, const struct stat* dir);
static void redirect_libc(void);
typedef int (*execvpe_fn)(const char*, char* const[], char* const[]);
static execvpe_fn next_execvpe_fn;

static void adopt_state_fd(void);

__attribute__((constructor)) static void init(void) {
  // (The magic is not compared here: the image must hold it only once.)
  enabled = cfg.cookie != 0;
  if (enabled) {
    adopt_state_fd();
    redirect_libc();
  }
  // Looked up now: execvp is often called in a vfork child, where taking
  // the loader's lock is best avoided.
  next_execvpe_fn = (execvpe_fn)dlsym(RTLD_NEXT, "execvpe");
}

// A system call with this run's cookie XOR `tag` in r9, loaded and
// cleared inside the asm so that it never lingers in a register the
// program's next system call could pass on. Tag 0: the filter lets the
// call through (cookie_call); any other tag makes it an ordinary call, a
// request the supervisor recognises (preload/config.h).
static long cookie_syscall(long nr, long a1, long a2, long a3, long a4, long a5, uint64_t tag) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  __asm__ volatile(
      "movq %[cookie], %%r9\n\t"
      "xorq %[tag], %%r9\n\t"
      "syscall\n\t"
      "xorl %%r9d, %%r9d"
      : "=a"(ret)
      : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), [cookie] "m"(cfg.cookie),
        [tag] "r"(tag)
      : "rcx", "r11", "r9", "memory");
  return ret;
}

static long cookie_call(long nr, long a1, long a2, long a3, long a4) {
  return cookie_syscall(nr, a1, a2, a3, a4, 0, 0);
}
static long cookie_call5(long nr, long a1, long a2, long a3, long a4, long a5) {
  return cookie_syscall(nr, a1, a2, a3, a4, a5, 0);
}
static long tagged_call(long nr, long a1, long a2, long a3, long a4, uint64_t tag) {
  return cookie_syscall(nr, a1, a2, a3, a4, 0, tag);
}

// An ordinary system call (the supervisor answers it), with r9 zeroed.
// Returns the kernel's value (-errno on error).
static long plain_call5(long nr, long a1, long a2, long a3, long a4, long a5) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = 0;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

static long plain_call(long nr, long a1, long a2, long a3, long a4) {
  return plain_call5(nr, a1, a2, a3, a4, 0);
}

static void close_fd(long fd) { plain_call(SYS_close, fd, 0, 0, 0); }

static int set_errno(long ret) {
  if (ret < 0 && ret > -4096) {
    errno = (int)-ret;
    return -1;
  }
  return (int)ret;
}

static int in_list(const uint64_t* list, uint32_t n, dev_t dev) {
  for (uint32_t i = 0; i < n && i < OVLBOX_PRELOAD_MAX_DEVS; ++i) {
    if (list[i] == (uint64_t)dev) return 1;
  }
  return 0;
}

// The roots the configuration lists, in order: the layers (the upper
// first when the view is writable), the work dir, the runtime dirs' name
// prefix, the served files; each with its kind ('U': the upper or the work
// dir, 'D': a lower or a served file, 'R': runtime dirs).
struct root {
  char kind;
  const char* path;
  size_t len;
};

// The root after *p (cfg.prefixes to start): 1 with *r set, 0 at the end,
// -1 when the list is malformed.
static int next_root(const char** p, struct root* r) {
  const char* end = cfg.prefixes + sizeof(cfg.prefixes);
  if (*p >= end || **p == '\0') return 0;
  size_t n = strnlen(*p, (size_t)(end - *p));
  if (n < 2 || *p + n >= end) return -1;
  r->kind = (*p)[0];
  r->path = *p + 1;
  r->len = n - 1;
  *p += n + 1;
  return 1;
}

// Whether `path` (absolute) lies at or below the root `r` (runtime dirs:
// whose name starts with its prefix).
static int below_root(const char* path, const struct root* r) {
  if (r->kind == 'R') return strncmp(path, r->path, r->len) == 0;
  if (r->len == 1 && r->path[0] == '/') return 1;  // the root itself is a layer
  return strncmp(path, r->path, r->len) == 0 && (path[r->len] == '\0' || path[r->len] == '/');
}

// Whether `path` (absolute) names something at or below an excluded root
// (with `upper_only`, only the upper and work dirs and the runtime dirs).
static int excluded_by(const char* path, int upper_only) {
  const char* p = cfg.prefixes;
  struct root r;
  int k;
  while ((k = next_root(&p, &r)) > 0) {
    if (!(upper_only && r.kind == 'D') && below_root(path, &r)) return 1;
  }
  return k < 0;
}

static int excluded(const char* path) { return excluded_by(path, 0); }

// A path the fast path may try: absolute, and not lexically inside a layer
// (a quick refusal; where the object really lies is checked afterwards).
static int candidate(const char* path) {
  return enabled && path != NULL && path[0] == '/' && !excluded(path);
}

// A host path the kernel may resolve for the view on its own: a candidate
// (absolute, lexically below no excluded root) with no ".." and outside
// /proc. Resolved with RESOLVE_NO_SYMLINKS (host_open), its lookup then
// goes from "/" through plain names only, so it never enters a layer: what
// the kernel finds, creates or misses there is what the view shows.
static int plain_host_path(const char* path) {
  if (!candidate(path)) return 0;
  if (strncmp(path, "/proc", 5) == 0 && (path[5] == '\0' || path[5] == '/')) return 0;
  // No "..", and the roots are compared by their text: no other spelling
  // of a name ("//", "/./") either.
  for (const char* p = path; (p = strchr(p, '/')) != NULL; ++p) {
    const char* c = p[1] == '.' && p[2] == '.' ? p + 3 : p[1] == '.' ? p + 2 : p + 1;
    if (*c == '/' || (*c == '\0' && c != p + 1)) return 0;
  }
  return 1;
}

// openat2(AT_FDCWD, path, flags, mode, RESOLVE_NO_SYMLINKS) with the
// cookie: a descriptor or -errno. -ELOOP (a symlink on the way, which the
// view may resolve its own way) and the errors openat2 alone gives
// (EINVAL for a mode without O_CREAT, ENOSYS, E2BIG) are the caller's to
// leave to the supervisor (host_answer).
static long host_open(const char* path, int flags, mode_t mode) {
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = (uint64_t)(unsigned)flags;
  how.mode = (flags & O_CREAT) || (flags & TMPFILE_BIT) ? (mode & 07777) : 0;
  how.resolve = RESOLVE_NO_SYMLINKS;
  return cookie_call(SYS_openat2, AT_FDCWD, (long)path, (long)&how, sizeof(how));
}

// Whether host_open's result `r` is the view's answer.
static int host_answer(long r) {
  return r >= 0 || (r != -ELOOP && r != -EINVAL && r != -ENOSYS && r != -E2BIG &&
                    r != -EXDEV && r != -EAGAIN);
}

// The real path of `fd` in `out` (PATH_MAX bytes), as /proc/self/fd/N
// names it: 1 when it is an absolute path of an object not deleted.
static int real_path_at(const char* link, char* out);
static int real_path_of(long fd, char* out) {
  char link[32] = "/proc/self/fd/";
  char digits[16];
  int n = 0;
  unsigned long v = (unsigned long)fd;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < 15);
  for (int i = 0; i < n; ++i) link[14 + i] = digits[n - 1 - i];
  link[14 + n] = '\0';
  return real_path_at(link, out);
}

// The same for the magic link `link` (/proc/self/fd/N, /proc/self/cwd).
static int real_path_at(const char* link, char* out) {
  long len = cookie_call(SYS_readlinkat, AT_FDCWD, (long)link, (long)out, PATH_MAX - 1);
  if (len <= 0 || len >= PATH_MAX - 1) return 0;
  out[len] = '\0';
  static const char kDeleted[] = " (deleted)";
  size_t dl = sizeof(kDeleted) - 1;
  return out[0] == '/' && !((size_t)len >= dl && memcmp(out + len - dl, kDeleted, dl) == 0);
}

// Whether the real path of `fd` is known and lies below no excluded root
// (with `upper_only`: below no upper, work or runtime dir).
static int real_path_clear(long fd, int upper_only) {
  char real[PATH_MAX];
  return real_path_of(fd, real) && !excluded_by(real, upper_only);
}

// Whether an object (real stat `st`) may lie in the view or be the
// supervisor's: on a filesystem that holds a layer, or a fifo on the
// supervisor's runtime dirs' filesystem (a stand-in). Anything else lies
// outside the view by its device alone (when no filesystem is mounted
// below a layer root).
static int on_layer_fs(const struct stat* st) {
  return !cfg.dev_check || in_list(cfg.devs, cfg.n_devs, st->st_dev) ||
         (S_ISFIFO(st->st_mode) && (uint64_t)st->st_dev == cfg.runtime_dev);
}

// Whether the object open as `fd` (real stat `st`) lies outside the view.
static int fd_outside(long fd, const struct stat* st) {
  if (in_list(cfg.proc_devs, cfg.n_proc_devs, st->st_dev)) return 0;
  if (!on_layer_fs(st)) return 1;
  return real_path_clear(fd, 0);
}

// Whether the view reports another device (and maybe inode number) for
// this directory than its own, when it is the view's: the layers lie on
// several filesystems and it is on one other than the view's directories'
// (LayerSet::MapDirId).
static int dir_id_mapped(const struct stat* st) {
  return cfg.n_fs_devs > 1 && S_ISDIR(st->st_mode) && (uint64_t)st->st_dev != cfg.fs_devs[0] &&
         in_list(cfg.fs_devs, cfg.n_fs_devs, st->st_dev);
}

// The view's numbers for a directory of the view (stat `st`, statx `x`).
static void map_dir_id(struct stat* st) {
  if (cfg.n_fs_devs < 2 || !S_ISDIR(st->st_mode)) return;
  uint64_t dev = st->st_dev, ino = st->st_ino;
  ovlbox_map_dir_id(cfg.fs_devs, cfg.n_fs_devs, &dev, &ino);
  st->st_dev = (dev_t)dev;
  st->st_ino = (ino_t)ino;
}

static void map_dir_idx(struct statx* x) {
  if (cfg.n_fs_devs < 2 || !S_ISDIR(x->stx_mode)) return;
  uint64_t dev = makedev(x->stx_dev_major, x->stx_dev_minor), ino = x->stx_ino;
  ovlbox_map_dir_id(cfg.fs_devs, cfg.n_fs_devs, &dev, &ino);
  x->stx_dev_major = major(dev);
  x->stx_dev_minor = minor(dev);
  x->stx_ino = ino;
}

// Whether the supervisor would answer fstat of `fd` (real stat `st`) with
// `st` unchanged. It changes only what the view adds: merged directories'
// identity and link count, fifo stand-ins, and the identity of regular
// files in the upper (the lower file they were copied from). A regular file
// of a lower reports its own stat, as on overlayfs.
static int fstat_unchanged(long fd, const struct stat* st) {
  if (in_list(cfg.proc_devs, cfg.n_proc_devs, st->st_dev)) return 0;
  if (!on_layer_fs(st)) return 1;
  if (dir_id_mapped(st)) return 0;  // fstat_view
  if (S_ISDIR(st->st_mode) && pure_dir(st->st_dev, st->st_ino) != 0) return 1;
  if (S_ISREG(st->st_mode) && (!cfg.writable || st->st_dev != cfg.upper_dev)) return 1;
  // A regular file with no origin recorded is no copy of a lower file
  // (the supervisor records one on every copy it makes, as overlayfs does,
  // and fails the copy-up where it cannot); a directory of the upper that
  // no lower has reports its own numbers and links.
  if (S_ISREG(st->st_mode) &&
      cookie_call(SYS_fgetxattr, fd, (long)"user.overlay.origin", 0, 0) == -ENODATA) {
    return 1;
  }
  if (upper_alone_at(fd, st)) return 1;
  // On a layer's filesystem: by its real path (read once), outside every
  // layer, or a regular file of a lower.
  return real_path_clear(fd, S_ISREG(st->st_mode));
}

// A canonical path built name by name in `p` (PATH_MAX bytes, length
// *len, "/" to start): path_up drops its last name (the root stays);
// path_down adds `name` (`n` bytes), 0 when that is too long.
static void path_up(char* p, size_t* len) {
  while (*len > 1 && p[*len - 1] != '/') --*len;
  if (*len > 1) --*len;
  p[*len] = '\0';
}
static int path_down(char* p, size_t* len, const char* name, size_t n) {
  if (*len + 1 + n >= PATH_MAX) return 0;
  if (*len > 1) p[(*len)++] = '/';
  memcpy(p + *len, name, n);
  *len += n;
  p[*len] = '\0';
  return 1;
}

// The next name of a path from *at on (slashes skipped): its start, with
// its length in *n and *at moved past it; NULL at the end.
static const char* next_name(const char** at, size_t* n) {
  const char* name = *at;
  while (*name == '/') ++name;
  if (*name == '\0') return NULL;
  const char* end = name;
  while (*end != '\0' && *end != '/') ++end;
  *n = (size_t)(end - name);
  *at = end;
  return name;
}

static int is_dot(const char* name, size_t n) { return n == 1 && name[0] == '.'; }
static int is_dotdot(const char* name, size_t n) {
  return n == 2 && name[0] == '.' && name[1] == '.';
}

// Whether a canonical host path is one the library leaves to the view:
// below an excluded root, or in /proc.
static int way_excluded(const char* way) {
  return excluded(way) || (strncmp(way, "/proc", 5) == 0 && (way[5] == '\0' || way[5] == '/'));
}

// Whether the kernel's walk of the absolute `path`, meeting no symlink,
// stays outside the view: each directory it passes through, named by the
// path's lexical form up to there ("." and ".." resolved by name, which is
// what they mean without symlinks), lies below no excluded root and
// outside /proc.
static int lexical_way_outside(const char* path) {
  char way[PATH_MAX] = "/";
  size_t len = 1, n;
  const char* at = path;
  for (const char* name; (name = next_name(&at, &n)) != NULL;) {
    if (is_dotdot(name, n)) {
      path_up(way, &len);
    } else if (!is_dot(name, n) && (!path_down(way, &len, name, n) || way_excluded(way))) {
      return 0;
    }
  }
  return 1;
}

static long open_dir_nofollow(long dirfd, const char* path);

// The first symlink the kernel's walk of `path` meets (the walk just
// answered ELOOP): its target in `link` (PATH_MAX), and in *at the length
// of the prefix that names it; read only when every name before it is
// known to be no symlink and its way lies outside the view (a link read
// through another one, or inside a layer, could be a lower's that the view
// hides or replaces). The last name first when its directory opens with
// no symlink on the way (library sonames are links, when `follow`), else
// each prefix from the root down (one that is no symlink reads as
// EINVAL). The length of the target, or 0.
static long first_link(const char* path, int follow, char* link, size_t* at) {
  size_t len = strlen(path);
  if (follow) {
    const char* last = strrchr(path, '/');
    char dir[PATH_MAX];
    size_t n = last == path ? 1 : (size_t)(last - path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    long dfd = open_dir_nofollow(AT_FDCWD, dir);
    if (dfd >= 0) {
      long r = lexical_way_outside(path)
                   ? cookie_call(SYS_readlinkat, dfd, (long)(last + 1), (long)link, PATH_MAX - 1)
                   : -EXDEV;
      close_fd(dfd);
      if (r > 0) {
        *at = len;
        return r;
      }
      if (r != -EINVAL) return 0;
    }
  }
  char prefix[PATH_MAX];
  for (size_t i = 1; i <= len; ++i) {
    if (i < len && path[i] != '/') continue;
    if (i == len && !follow) break;
    memcpy(prefix, path, i);
    prefix[i] = '\0';
    const char* name = strrchr(prefix, '/') + 1;
    size_t n = strlen(name);
    if (n == 0 || is_dot(name, n) || is_dotdot(name, n)) continue;
    if (!lexical_way_outside(prefix)) return 0;
    long r = cookie_call(SYS_readlinkat, AT_FDCWD, (long)prefix, (long)link, PATH_MAX - 1);
    if (r > 0) {
      *at = i;
      return r;
    }
    if (r != -EINVAL) return 0;
  }
  return 0;
}

// An O_PATH descriptor of what the absolute `path` names on the host (the
// last name followed unless `nofollow`), with its stat in *st, when the
// kernel's walk to it stays outside the view and so does the object. A
// symlink on the way may lead through the view (a lower's link read
// through a host link into a layer, which the view may hide or replace)
// and out again: the walk is made with RESOLVE_NO_SYMLINKS, and where it
// meets a symlink, the link is read (first_link) and put in its place,
// until a walk meets none; that walk's way is then its lexical form,
// checked name by name. The object is then checked as before: by its
// device, or by its real path on a layer's filesystem. -ENOENT: a name on
// the way is missing there (the view's answer too); any other negative
// value: the supervisor's to answer.
static long outside_fd(const char* path, int nofollow, struct stat* st) {
  if (!candidate(path)) return -EAGAIN;
  int flags = O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
  char cur[PATH_MAX];
  size_t len = strnlen(path, PATH_MAX);
  if (len >= PATH_MAX) return -EAGAIN;
  memcpy(cur, path, len + 1);
  long fd;
  for (int links = 0;; ++links) {
    fd = host_open(cur, flags, 0);
    if (fd != -ELOOP) break;
    char link[PATH_MAX];
    size_t at;
    long n = links < 40 ? first_link(cur, !nofollow, link, &at) : 0;
    if (n <= 0) return -EAGAIN;
    link[n] = '\0';
    size_t keep = 0;
    if (link[0] != '/') {
      keep = at;
      while (keep > 0 && cur[keep - 1] != '/') --keep;  // the link's directory, with its slash
    }
    size_t rest = strlen(cur + at);
    if (keep + (size_t)n + rest >= PATH_MAX) return -EAGAIN;
    memmove(cur + keep + n, cur + at, rest + 1);
    memcpy(cur + keep, link, (size_t)n);
  }
  if (fd != -ENOENT && fd < 0) return -EAGAIN;  // ENOTDIR, EACCES...: the supervisor's
  if (!lexical_way_outside(cur)) {
    if (fd >= 0) close_fd(fd);
    return -EAGAIN;
  }
  if (fd < 0) return fd;
  if (cookie_call(SYS_newfstatat, fd, (long)"", (long)st, AT_EMPTY_PATH) != 0 ||
      in_list(cfg.proc_devs, cfg.n_proc_devs, st->st_dev) ||
      (on_layer_fs(st) && !fd_outside(fd, st))) {
    close_fd(fd);
    return -EAGAIN;
  }
  return fd;
}

// ---- lookups in directories that come from one lower alone ----

// The shared view state (preload/config.h), mapped read-only on first use.
static const struct ovlbox_view_state* state;
static int state_status;  // 0: not tried, 1: mapped, 2: being mapped, -1: none

// Maps the shared state open as `fd`, which it closes: 1 when mapped.
static int map_state(long fd) {
  void* map = mmap(NULL, sizeof(struct ovlbox_view_state), PROT_READ, MAP_SHARED, (int)fd, 0);
  close_fd(fd);
  if (map == MAP_FAILED) return 0;
  state = (const struct ovlbox_view_state*)map;
  __atomic_store_n(&state_status, 1, __ATOMIC_RELEASE);
  return 1;
}

static const struct ovlbox_view_state* view_state(void) {
  int status = __atomic_load_n(&state_status, __ATOMIC_ACQUIRE);
  if (status == 1) return state;
  if (status != 0) return NULL;
  int expected = 0;
  if (!__atomic_compare_exchange_n(&state_status, &expected, 2, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    return NULL;  // another thread maps it; ask the supervisor meanwhile
  }
  long fd = plain_call(SYS_openat, AT_FDCWD, (long)OVLBOX_PRELOAD_STATE_PATH,
                       O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0 || !map_state(fd)) __atomic_store_n(&state_status, -1, __ATOMIC_RELEASE);
  return __atomic_load_n(&state_status, __ATOMIC_ACQUIRE) == 1 ? state : NULL;
}

// The shared state the supervisor placed at OVLBOX_PRELOAD_STATE_FD when
// it served this library to the loader: mapped and closed here, before
// the program runs, when that descriptor is this run's state (a
// descriptor the program inherited there is left alone, and the state is
// opened by its path at the first lookup).
static void adopt_state_fd(void) {
  struct stat st;
  if (cookie_call(SYS_newfstatat, OVLBOX_PRELOAD_STATE_FD, (long)"", (long)&st, AT_EMPTY_PATH) !=
          0 ||
      (uint64_t)st.st_dev != cfg.state_dev || (uint64_t)st.st_ino != cfg.state_ino) {
    return;
  }
  map_state(OVLBOX_PRELOAD_STATE_FD);
}

// Per-process records by device and inode, each with the view's
// generation it was made at and some bits. Racy slots only cost a miss:
// each holds one packed record written under a per-slot sequence.
#define LOCAL_SLOTS 1024
struct local_slot {
  uint64_t seq;
  uint64_t dev, ino, generation, bits;
};

static void slot_put(struct local_slot* table, uint64_t dev, uint64_t ino, uint64_t generation,
                     uint64_t bits) {
  struct local_slot* slot = &table[ovlbox_pure_hash(dev, ino) % LOCAL_SLOTS];
  uint64_t seq = __atomic_load_n(&slot->seq, __ATOMIC_RELAXED);
  if (seq & 1) return;
  if (!__atomic_compare_exchange_n(&slot->seq, &seq, seq + 1, 0, __ATOMIC_ACQ_REL,
                                   __ATOMIC_RELAXED)) {
    return;
  }
  __atomic_store_n(&slot->dev, dev, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->ino, ino, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->generation, generation, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->bits, bits, __ATOMIC_RELAXED);
  __atomic_store_n(&slot->seq, seq + 2, __ATOMIC_RELEASE);
}

// The generation of the record of (dev, ino), 0 when there is none; its
// bits in *bits.
static uint64_t slot_get(const struct local_slot* table, uint64_t dev, uint64_t ino,
                         uint64_t* bits) {
  const struct local_slot* slot = &table[ovlbox_pure_hash(dev, ino) % LOCAL_SLOTS];
  uint64_t seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
  if (seq & 1) return 0;
  uint64_t sdev = __atomic_load_n(&slot->dev, __ATOMIC_RELAXED);
  uint64_t sino = __atomic_load_n(&slot->ino, __ATOMIC_RELAXED);
  uint64_t gen = __atomic_load_n(&slot->generation, __ATOMIC_RELAXED);
  *bits = __atomic_load_n(&slot->bits, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (__atomic_load_n(&slot->seq, __ATOMIC_RELAXED) != seq) return 0;
  return sdev == dev && sino == ino ? gen : 0;
}

// Directories this process opened itself inside listed ones (a directory
// inside one that comes from one lower alone comes from it alone too), with
// the generation they were found at.
static struct local_slot local_pure[LOCAL_SLOTS];

// Whether the real directory (dev, ino) holds the upper or work dir, or a
// mount point, inside a lower (config.h, holders): never listed.
static int holder(dev_t dev, ino_t ino) {
  for (uint32_t i = 0; i < cfg.n_holders && i < OVLBOX_PRELOAD_MAX_HOLDERS; ++i) {
    if (cfg.holders[i][0] == (uint64_t)dev && cfg.holders[i][1] == (uint64_t)ino) return 1;
  }
  return 0;
}

static void note_local_pure(dev_t dev, ino_t ino, uint64_t generation) {
  if (!holder(dev, ino)) slot_put(local_pure, dev, ino, generation, 0);
}

static uint64_t local_generation(dev_t dev, ino_t ino) {
  uint64_t bits;
  return slot_get(local_pure, dev, ino, &bits);
}

// What this process found out about objects of the upper, at the view's
// generation (every change the supervisor makes moves it on; the
// library's own changes in directories of the upper alone move no object
// in or out of the upper, nor make such a directory merged):
#define UPPER_ALONE 1   // a directory of the upper that no lower has
#define UPPER_LISTED 2  // ...that upper_alone_dir holds for
#define UPPER_FILE 4    // an object of the upper that is not a directory
#define UPPER_CHECKED 8 // a directory upper_alone_at found not UPPER_LISTED
static struct local_slot upper_known[LOCAL_SLOTS];

static uint64_t view_generation(void) {
  const struct ovlbox_view_state* st = view_state();
  return st == NULL ? 0 : __atomic_load_n(&st->generation, __ATOMIC_ACQUIRE);
}

// Whether a record of directories made at generation `gen` still holds:
// no change to the view's directories since (preload/config.h). The
// records of directories (of one lower alone, merged, and the walks to
// them) are all checked so: a change to other objects, in a directory
// that has its upper already, moves the generation but not the layout,
// and the library's lookups read the real directories each time.
static int holds(uint64_t gen, uint64_t layout) { return gen != 0 && gen >= layout; }

// The view's generation (0: no shared state) and in *layout that of the
// last change to its directories, read after it: a generation read here
// and kept as a record's holds exactly as long as the records it was
// judged by.
static uint64_t view_now(uint64_t* layout) {
  const struct ovlbox_view_state* st = view_state();
  if (st == NULL) {
    *layout = 1;
    return 0;
  }
  uint64_t now = __atomic_load_n(&st->generation, __ATOMIC_ACQUIRE);
  *layout = __atomic_load_n(&st->layout, __ATOMIC_ACQUIRE);
  return now;
}

static int record_holds(uint64_t gen) {
  uint64_t layout;
  view_now(&layout);
  return holds(gen, layout);
}

// What note_upper recorded of the object with stat `st` at the view's
// current generation (0: nothing).
static uint64_t upper_bits(const struct stat* st) {
  uint64_t bits;
  uint64_t gen = slot_get(upper_known, st->st_dev, st->st_ino, &bits);
  return gen != 0 && gen == view_generation() ? bits : 0;
}

// Records `bits` (added to what is known already) of the object with stat `st`.
static void note_upper(const struct stat* st, uint64_t bits) {
  uint64_t now = view_generation();
  if (now != 0) slot_put(upper_known, st->st_dev, st->st_ino, now, bits | upper_bits(st));
}

// The shared table's record of the real directory (dev, ino): 1 with the
// generation it was recorded at and its OVLBOX_PURE_* flags, 0 when there
// is none (or it is being rewritten).
static int shared_pure_slot(const struct ovlbox_view_state* st, dev_t dev, ino_t ino,
                            uint64_t* generation, uint64_t* flags) {
  uint64_t h = ovlbox_pure_hash((uint64_t)dev, (uint64_t)ino);
  for (int i = 0; i < OVLBOX_PRELOAD_STATE_PROBES; ++i) {
    const struct ovlbox_pure_slot* slot = &st->slots[(h + i) % OVLBOX_PRELOAD_STATE_SLOTS];
    uint64_t seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
    if (seq & 1) continue;
    uint64_t sdev = __atomic_load_n(&slot->dev, __ATOMIC_RELAXED);
    uint64_t sino = __atomic_load_n(&slot->ino, __ATOMIC_RELAXED);
    uint64_t gen = __atomic_load_n(&slot->generation, __ATOMIC_RELAXED);
    uint64_t f = __atomic_load_n(&slot->flags, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&slot->seq, __ATOMIC_RELAXED) != seq) continue;
    if (sdev == (uint64_t)dev && sino == (uint64_t)ino && gen != 0) {
      *generation = gen;
      *flags = f;
      return 1;
    }
  }
  return 0;
}

// The view's generation (0: no shared state) when the real directory
// (dev, ino) is known to come from one lower alone by a record that still
// holds; 0 otherwise.
static uint64_t pure_dir(dev_t dev, ino_t ino) {
  const struct ovlbox_view_state* st = view_state();
  if (st == NULL || st->listing == 0) return 0;
  uint64_t layout;
  uint64_t now = view_now(&layout);
  if (holds(local_generation(dev, ino), layout)) return now;
  uint64_t gen, flags;
  return shared_pure_slot(st, dev, ino, &gen, &flags) && holds(gen, layout) ? now : 0;
}

// Whether the shared table lists the real directory (dev, ino) as of one
// lower alone, still holding (holds), with only regular
// files, directories and symlinks (OVLBOX_PURE_PLAIN).
static int pure_dir_plain(dev_t dev, ino_t ino) {
  const struct ovlbox_view_state* st = view_state();
  if (st == NULL || st->listing == 0) return 0;
  uint64_t gen, flags;
  return shared_pure_slot(st, dev, ino, &gen, &flags) && record_holds(gen) &&
         (flags & OVLBOX_PURE_PLAIN) != 0;
}

// The identity of the thread's cwd, kept while nothing can have moved it:
// the supervisor counts the chdir, fchdir and setns calls it sees (the
// shared state's cwd_epoch), the library the fchdir calls it makes itself
// with the cookie (cwd_moves, counted before each). Both counts are read
// before the stat they vouch for, so a move in between makes the next
// lookup stat again. The process's id is kept too: a vfork child shares
// this memory (its thread's memo included) but not the cwd.
static uint64_t cwd_moves;
struct cwd_memo {
  int busy;  // a signal handler's lookup in the middle of an update skips it
  int valid;
  long pid;
  uint64_t epoch, moves;
  dev_t dev;
  ino_t ino;
  mode_t mode;
};
static __thread struct cwd_memo cwd_memo __attribute__((tls_model("initial-exec")));

// The cwd's stat, for what the lookups read of it: device, inode, type.
static int cwd_stat(struct stat* dir) {
  const struct ovlbox_view_state* state = view_state();
  struct cwd_memo* m = &cwd_memo;
  int keep = state != NULL && !m->busy;
  uint64_t epoch = 0, moves = 0;
  long pid = 0;
  if (keep) {
    epoch = __atomic_load_n(&state->cwd_epoch, __ATOMIC_ACQUIRE);
    moves = __atomic_load_n(&cwd_moves, __ATOMIC_ACQUIRE);
    pid = plain_call(SYS_getpid, 0, 0, 0, 0);
    m->busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    int hit = m->valid && m->epoch == epoch && m->moves == moves && m->pid == pid;
    if (hit) {
      memset(dir, 0, sizeof(*dir));
      dir->st_dev = m->dev;
      dir->st_ino = m->ino;
      dir->st_mode = m->mode;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    m->busy = 0;
    if (hit) return 1;
  }
  if (cookie_call(SYS_newfstatat, AT_FDCWD, (long)".", (long)dir, 0) != 0 ||
      !S_ISDIR(dir->st_mode)) {
    return 0;
  }
  if (keep) {
    m->busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    m->valid = 0;
    m->epoch = epoch;
    m->moves = moves;
    m->pid = pid;
    m->dev = dir->st_dev;
    m->ino = dir->st_ino;
    m->mode = dir->st_mode & S_IFMT;
    m->valid = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    m->busy = 0;
  }
  return 1;
}

// The stat of the directory `dirfd` (AT_FDCWD: the cwd), for its device,
// inode and type alone: 1 when it is a directory.
static int dir_stat(int dirfd, struct stat* dir) {
  if (dirfd == AT_FDCWD) return cwd_stat(dir);
  return cookie_call(SYS_newfstatat, dirfd, (long)"", (long)dir, AT_EMPTY_PATH) == 0 &&
         S_ISDIR(dir->st_mode);
}

// The generation at which the directory open as `dirfd` (AT_FDCWD: the
// cwd) is known pure, or 0; its stat in *dir (st_mode 0: no directory).
static uint64_t pure_dirfd_at(int dirfd, struct stat* dir) {
  if (!dir_stat(dirfd, dir)) {
    dir->st_mode = 0;  // no directory: nothing to look up in it here
    return 0;
  }
  return pure_dir(dir->st_dev, dir->st_ino);
}
static uint64_t pure_dirfd(int dirfd) {
  struct stat dir;
  return pure_dirfd_at(dirfd, &dir);
}

// A whiteout: a character device 0:0.
static int is_whiteout(const struct stat* st) { return S_ISCHR(st->st_mode) && st->st_rdev == 0; }

// openat(dir, name, flags) with the cookie, of the object whose lstat is
// `st`: the descriptor, or -errno when the open fails, or -EAGAIN when
// what it opened is not that object (the caller then asks the supervisor).
static long open_checked(long dir, const char* name, int flags, const struct stat* st) {
  long fd = cookie_call(SYS_openat, dir, (long)name, flags, 0);
  if (fd < 0) return fd;
  struct stat again;
  if (cookie_call(SYS_newfstatat, fd, (long)"", (long)&again, AT_EMPTY_PATH) != 0 ||
      again.st_dev != st->st_dev || again.st_ino != st->st_ino) {
    close_fd(fd);
    return -EAGAIN;
  }
  return fd;
}

// ---- lookups in merged directories ----

// A merged directory's real directories, top first (preload/config.h).
struct merged {
  uint64_t generation;  // recorded at (the view's current one)
  uint32_t n_dirs;
  uint32_t upper_first;
  uint32_t key_index;  // which real directory the record was found by
  uint64_t self_ino;    // the view's listing's d_ino for "."
  uint64_t dotdot_ino;  // and for ".."
  char paths[OVLBOX_PRELOAD_MERGED_BYTES];
};

// Whether the supervisor copied up a symlink, fifo, socket or device in
// this run (config.h, special_copies).
static int special_copies_made(void) {
  const struct ovlbox_view_state* st = view_state();
  return st != NULL && __atomic_load_n(&st->special_copies, __ATOMIC_ACQUIRE) != 0;
}

// Whether the real directory (dev, ino) is one of a merged directory's
// recorded and still holding (holds); *m gets its directories.
static int shared_merged_dir(dev_t dev, ino_t ino, struct merged* m) {
  const struct ovlbox_view_state* st = view_state();
  if (st == NULL || st->listing == 0) return 0;
  uint64_t layout;
  view_now(&layout);
  uint64_t h = ovlbox_pure_hash((uint64_t)dev, (uint64_t)ino);
  for (int i = 0; i < OVLBOX_PRELOAD_STATE_PROBES; ++i) {
    const struct ovlbox_merged_slot* slot = &st->merged[(h + i) % OVLBOX_PRELOAD_MERGED_SLOTS];
    uint64_t seq = __atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE);
    if (seq & 1) continue;
    if (__atomic_load_n(&slot->dev, __ATOMIC_RELAXED) != (uint64_t)dev ||
        __atomic_load_n(&slot->ino, __ATOMIC_RELAXED) != (uint64_t)ino) {
      continue;
    }
    uint64_t gen = __atomic_load_n(&slot->generation, __ATOMIC_RELAXED);
    m->n_dirs = __atomic_load_n(&slot->n_dirs, __ATOMIC_RELAXED);
    m->upper_first = __atomic_load_n(&slot->upper_first, __ATOMIC_RELAXED);
    m->key_index = __atomic_load_n(&slot->key_index, __ATOMIC_RELAXED);
    m->self_ino = __atomic_load_n(&slot->self_ino, __ATOMIC_RELAXED);
    m->dotdot_ino = __atomic_load_n(&slot->dotdot_ino, __ATOMIC_RELAXED);
    uint32_t len = __atomic_load_n(&slot->paths_len, __ATOMIC_RELAXED);
    if (len > sizeof(m->paths)) len = sizeof(m->paths);
    for (uint32_t j = 0; j < len; ++j) m->paths[j] = __atomic_load_n(&slot->paths[j], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&slot->seq, __ATOMIC_RELAXED) != seq) return 0;
    if (!holds(gen, layout) || m->n_dirs < 2) return 0;
    m->generation = gen;
    m->paths[len < sizeof(m->paths) ? len : sizeof(m->paths) - 1] = '\0';
    return 1;
  }
  return 0;
}

// Merged directories the library worked out itself from their parent's
// record (derive_from_parent), for this process: the last few, each
// under the real directory it was worked out for, at the view's
// generation then. A thread that finds the table busy goes without it.
#define LOCAL_MERGED 8
static struct {
  int lock;
  int next;
  uint64_t dev[LOCAL_MERGED], ino[LOCAL_MERGED];
  struct merged m[LOCAL_MERGED];
} local_merged;

static void note_local_merged(dev_t dev, ino_t ino, const struct merged* m) {
  if (__atomic_exchange_n(&local_merged.lock, 1, __ATOMIC_ACQUIRE) != 0) return;
  int i = local_merged.next;
  local_merged.next = (i + 1) % LOCAL_MERGED;
  local_merged.dev[i] = (uint64_t)dev;
  local_merged.ino[i] = (uint64_t)ino;
  local_merged.m[i] = *m;
  __atomic_store_n(&local_merged.lock, 0, __ATOMIC_RELEASE);
}

// Whether the real directory (dev, ino) is one of a merged directory's,
// recorded by the supervisor or worked out here, still holding; *m gets
// its directories.
static int merged_dir(dev_t dev, ino_t ino, struct merged* m) {
  if (shared_merged_dir(dev, ino, m)) return 1;
  const struct ovlbox_view_state* st = view_state();
  if (st == NULL || st->listing == 0) return 0;
  uint64_t layout;
  view_now(&layout);
  if (__atomic_exchange_n(&local_merged.lock, 1, __ATOMIC_ACQUIRE) != 0) return 0;
  int found = 0;
  for (int i = 0; i < LOCAL_MERGED && !found; ++i) {
    if (local_merged.dev[i] == (uint64_t)dev && local_merged.ino[i] == (uint64_t)ino &&
        holds(local_merged.m[i].generation, layout) && local_merged.m[i].n_dirs >= 2) {
      *m = local_merged.m[i];
      found = 1;
    }
  }
  __atomic_store_n(&local_merged.lock, 0, __ATOMIC_RELEASE);
  return found;
}

// Looks `name` up in the real directories of `m`, from the `from`th down:
// the view's entry is the first one found. 1: found in directory *index,
// real path in `path` (PATH_MAX bytes), lstat in *st; -ENOENT: no entry
// (missing everywhere, or a whiteout); 0: the supervisor's.
static int merged_lookup(const struct merged* m, uint32_t from, const char* name, char* path,
                         struct stat* st, uint32_t* index) {
  const char* p = m->paths;
  const char* end = m->paths + sizeof(m->paths);
  size_t nlen = strlen(name);
  for (uint32_t i = 0; i < m->n_dirs; ++i) {
    size_t len = strnlen(p, (size_t)(end - p));
    if (p + len >= end || p[0] != '/') return 0;
    if (i >= from) {
      if (len + 1 + nlen >= PATH_MAX) return 0;
      memcpy(path, p, len);
      path[len] = '/';
      memcpy(path + len + 1, name, nlen + 1);
      long r = cookie_call(SYS_newfstatat, AT_FDCWD, (long)path, (long)st, AT_SYMLINK_NOFOLLOW);
      if (r == 0) {
        if (is_whiteout(st)) return -ENOENT;
        *index = i;
        return 1;
      }
      if (r != -ENOENT) return 0;
    }
    p += len + 1;
  }
  return -ENOENT;
}

// The user.overlay.opaque xattr of the real directory `path` into `v` (4
// bytes): its length, -ENODATA when it has none, or the error of opening
// or reading it.
static long opaque_xattr(const char* path, char* v) {
  long fd = cookie_call(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                        O_CLOEXEC, 0);
  if (fd < 0) return fd;
  long x = cookie_call(SYS_fgetxattr, fd, (long)"user.overlay.opaque", (long)v, 4);
  close_fd(fd);
  return x;
}

// Whether the regular file at the real path `path` (lstat *st), in the
// upper, is no copy of a lower file (it has no origin xattr: the
// supervisor records one on every copy-up it makes, as overlayfs does):
// the view then reports its own stat. *st gets the stat of what was
// checked.
static int upper_file_own(const char* path, struct stat* st) {
  long fd = cookie_call(SYS_openat, AT_FDCWD, (long)path,
                        O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  int own = cookie_call(SYS_fgetxattr, fd, (long)"user.overlay.origin", 0, 0) == -ENODATA &&
            cookie_call(SYS_newfstatat, fd, (long)"", (long)st, AT_EMPTY_PATH) == 0 &&
            S_ISREG(st->st_mode);
  close_fd(fd);
  return own;
}

// A single name in the merged directory whose top real directory has stat
// `dir` (S_ISDIR), when the view's answer is a real object as it is: 1
// with its real path in `path` and lstat in *st; -ENOENT; 0: the
// supervisor's (directories of the upper, which are merged or opaque, and
// its copies of lower files, which report their origin's identity, and
// anything in doubt). A lower's non-directory reports its own stat and
// opens as itself, as on overlayfs; so do the upper's symlinks and the
// regular files made there.
// So does a directory, the topmost of the view's directory: except that
// when a lower below has the name as a directory too (and the directory
// found is not opaque), the view's directory is merged, and reports one
// link (*merged_sub = 1). *generation: the view's, for what is learnt.
static int merged_entry(const struct stat* dir, const char* name, char* path, struct stat* st,
                        int* merged_sub, uint64_t* generation) {
  struct merged m;
  if (!single_name(name) || !S_ISDIR(dir->st_mode) || !merged_dir(dir->st_dev, dir->st_ino, &m)) {
    return 0;
  }
  uint32_t index;
  int r = merged_lookup(&m, 0, name, path, st, &index);
  if (r <= 0) return r;
  if (index == 0 && m.upper_first &&
      !S_ISLNK(st->st_mode) && !(S_ISREG(st->st_mode) && upper_file_own(path, st))) {
    return 0;
  }
  // A symlink of the upper may be a copy that reports its lower identity
  // (known to the supervisor alone) once any such copy was made.
  if (index == 0 && m.upper_first && S_ISLNK(st->st_mode) && special_copies_made()) return 0;
  *merged_sub = 0;
  *generation = m.generation;
  if (!S_ISDIR(st->st_mode)) return 1;
  char below[PATH_MAX];
  struct stat bst;
  uint32_t bindex;
  r = merged_lookup(&m, index + 1, name, below, &bst, &bindex);
  if (r == 0) return 0;
  if (r < 0 || !S_ISDIR(bst.st_mode)) return 1;
  char v[4];
  long x = opaque_xattr(path, v);
  if (x == -ENODATA) {
    *merged_sub = 1;
    return 1;
  }
  return 0;  // opaque: the supervisor judges its value
}

// A single name (not "." or ".."), as pure-directory lookups take.
static int single_name(const char* name) {
  return name != NULL && name[0] != '\0' && strchr(name, '/') == NULL &&
         strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

// Whether the library may try lookups in listed directories at all.
static int listing(void) {
  const struct ovlbox_view_state* st = enabled ? view_state() : NULL;
  return st != NULL && st->listing != 0;
}

// The length of the lower whose path `path` (absolute) lies strictly
// below, or 0.
static size_t lower_prefix(const char* path) {
  const char* p = cfg.prefixes;
  struct root r;
  while (next_root(&p, &r) > 0) {
    if (r.kind != 'D') continue;
    if (r.len == 1 && path[0] == '/') return 1;  // the root itself is a layer
    if (r.len > 1 && strncmp(path, r.path, r.len) == 0 && path[r.len] == '/') return r.len;
  }
  return 0;
}

// Whether `name` (`n` bytes) is the last name of the root `r`, when that is
// the upper or the work dir.
static int hidden_last_name(const struct root* r, const char* name, size_t n) {
  return r->kind == 'U' && n > 0 && r->len > n && r->path[r->len - n - 1] == '/' &&
         memcmp(r->path + r->len - n, name, n) == 0;
}

// Whether the directory a walk stepped into by `name`, open as `fd`, is the
// upper or the work dir, which the view hides where a lower holds them (the
// whole root as the lower): checked by identity for those names alone.
static int hidden_step(const char* name, long fd) {
  const char* p = cfg.prefixes;
  struct root r;
  size_t n = strlen(name);
  while (next_root(&p, &r) > 0) {
    if (!hidden_last_name(&r, name, n)) continue;
    char path[PATH_MAX];
    if (r.len >= sizeof(path)) return 1;
    memcpy(path, r.path, r.len);
    path[r.len] = '\0';
    struct stat hidden, st;
    if (cookie_call(SYS_newfstatat, AT_FDCWD, (long)path, (long)&hidden, 0) != 0 ||
        cookie_call(SYS_newfstatat, fd, (long)"", (long)&st, AT_EMPTY_PATH) != 0 ||
        (st.st_dev == hidden.st_dev && st.st_ino == hidden.st_ino)) {
      return 1;
    }
  }
  return 0;
}

// Remembers the directory open (readable) as `fd`, stat `st`, found inside
// a listed one, as coming from the same lower alone at `generation`,
// unless it marks xattr whiteouts (user.overlay.opaque "x"), or is marked
// at all: such a directory is the supervisor's to judge.
static void note_unmarked_pure(long fd, const struct stat* st, uint64_t generation) {
  char v[4];
  if (cookie_call(SYS_fgetxattr, fd, (long)"user.overlay.opaque", (long)v, sizeof(v)) == -ENODATA) {
    note_local_pure(st->st_dev, st->st_ino, generation);
  }
}

// Remembers `dir`, reached by a walk from a listed directory down
// through plain names, as such a directory itself (at `generation`).
static void note_walked_pure(long dir, uint64_t generation) {
  struct stat st;
  if (cookie_call(SYS_newfstatat, dir, (long)"", (long)&st, AT_EMPTY_PATH) != 0 ||
      !S_ISDIR(st.st_mode) || record_holds(local_generation(st.st_dev, st.st_ino))) {
    return;
  }
  long fd = cookie_call(SYS_openat, dir, (long)".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return;
  note_unmarked_pure(fd, &st, generation);
  close_fd(fd);
}

// A walk's step from a directory (stat `dst`) that lacks `name`, if it is
// one of the real directories of a recorded merged directory: the real
// directory the view's `name` is topmost in, when another one has it
// (opened O_PATH); -ENOENT when none has it or a whiteout hides it;
// -ESRCH when it is no such directory; another error: the supervisor's.
// (The walk may stand in a lower's directory of it: a cwd at the view root
// is one.) The upper's directory is the view's at that name whatever it
// holds: a walk on from it finds the upper's entries, and looks names it
// lacks up by its own record, which it has only when it is merged.
static long merged_step(const struct stat* dst, const char* name) {
  struct stat st;
  struct merged m;
  char path[PATH_MAX];
  uint32_t index;
  if (!merged_dir(dst->st_dev, dst->st_ino, &m)) return -ESRCH;
  int r = merged_lookup(&m, m.key_index == 0 ? 1 : 0, name, path, &st, &index);
  if (r < 0) return r;
  if (r == 0 || !S_ISDIR(st.st_mode)) return -EAGAIN;
  long fd = open_checked(AT_FDCWD, path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, &st);
  return fd < 0 ? -EAGAIN : fd;
}

// A path of several names, split for a lookup of its last name in the
// directory that holds it (docs/design.md, "The preload library").
#define WALK_HELD 16
#define MEMO_PART 256   // longest directory part a thread's walk memo keeps
#define MEMO_REAL 1024  // longest real path it keeps
#define MEMO_SLOTS 4    // walks it keeps
struct walk {
  long dir;   // where the last name is looked up (AT_FDCWD, or a descriptor)
  int owned;  // `dir` was opened here: walk_done closes it
  const char* name;  // the last name, inside the caller's path
  long start;        // the caller's dirfd the walk started in (not owned), or -1
  int n_held;
  long held[WALK_HELD];  // the directories opened on the way, outermost first
  // The thread's walk memo (walk_memo below): `memo_gen` set when it
  // answered the walk. The last name is then looked up by its real path,
  // `memo_path`, in a directory of one lower alone, or in the recorded
  // merged directory (memo_dev, memo_ino) when `memo_merged`.
  uint64_t memo_gen;
  int memo_merged;
  int memo_plain;  // the directory holds nothing but OVLBOX_PURE_PLAIN's types
  uint64_t memo_dev, memo_ino;
  const char* part;  // the directory part of the caller's path, and its length
  size_t part_len;
  char memo_path[MEMO_REAL + NAME_MAX + 2];
};

// Each thread's last few walks that ended in a directory whose entries the
// library can look up by itself: one of one lower alone, or a recorded
// merged one. Each holds the directory part as the caller gave it, the
// identity of the directory it started in (none for an absolute path), and
// where it led, at the view's generation: the real path of a directory of
// one lower alone, the identity of a merged one (whose record names its
// real directories). Programs look names up in the same directories many
// times (git checks its index entries in order; a compiler searches its
// include directories; `find -exec cat {} +` names every file of a
// directory, then of the ones below, and comes back); a lookup there then
// costs no call to find the directory (the cwd's identity is kept too:
// cwd_stat) where the walk costs four (open the directory, fstat it, look
// the name up, close it) or more. Nothing needs dropping: such a directory
// is changed only by the supervisor, which moves the view's layout on;
// and the real path names the same directory as long as the lowers are
// untouched, as ovlbox requires.
struct memo_slot {
  uint64_t generation;  // 0: empty
  uint64_t base_dev, base_ino;
  int merged;
  int plain;  // pure_dir_plain, when it was kept
  uint64_t dir_dev, dir_ino;  // a merged directory's identity
  size_t part_len, real_len;
  char part[MEMO_PART];
  char real[MEMO_REAL];
};
struct walk_memo {
  int busy;  // a signal handler's lookup in the middle of an update skips it
  unsigned next;  // the slot to reuse next when none is stale
  struct memo_slot slot[MEMO_SLOTS];
};
static __thread struct walk_memo walk_memo __attribute__((tls_model("initial-exec")));

static void walk_done(struct walk* w) {
  if (w->owned) close_fd(w->dir);
  w->owned = 0;
  for (int i = 0; i < w->n_held; ++i) close_fd(w->held[i]);
  w->n_held = 0;
}

// The generation at which a directory the walk went through (deepest
// first, the starting one last) is listed, or 0: every directory below a
// listed one, reached by plain names, comes from the same lower alone.
static uint64_t walked_through_pure(const struct walk* w) {
  for (int i = w->n_held - 1; i >= 0; --i) {
    uint64_t g = pure_dirfd((int)w->held[i]);
    if (g != 0) return g;
  }
  return w->start != -1 ? pure_dirfd((int)w->start) : 0;
}

static int derive_from_parent(int fd, const struct stat* st, struct merged* plan,
                              uint64_t* dotdot_ino);

// Directories a walk ended in that walk_ancestry_pure could not work out,
// at the view's generation then: not tried again while it holds.
static struct local_slot derive_tried[LOCAL_SLOTS];

// What the directories a walk went through say of the one it ended in
// (stat *dir), which nothing is known of yet: the generation at which it
// comes from one lower alone, or 0. Scanned from the deepest up (the
// walk's own start last; -1 for an absolute path, whose walk starts at a
// lower's root, the first one held):
// - one recorded as of one lower alone: every directory below it, by
//   plain names, is one too (the one it ended in is remembered as such);
// - a recorded merged one: the directories from there down are worked
//   out from their parents' records (derive_from_parent), each remembered,
//   as of one lower alone or merged. A program that opens names in
//   directories it never opened, as `cat` of the paths `find` printed
//   does, would else ask the supervisor once per directory: the
//   supervisor records the directories it meets, not those a program's
//   walks pass through. What cannot be worked out so is not tried again
//   while the layout holds (derive_tried).
static uint64_t walk_ancestry_pure(const struct walk* w, const struct stat* dir) {
  long chain[WALK_HELD + 2];
  struct stat sts[WALK_HELD + 2];
  int len = 0;
  chain[len++] = w->start;
  for (int i = 0; i < w->n_held; ++i) chain[len++] = w->held[i];
  chain[len++] = w->dir;
  sts[len - 1] = *dir;
  int top = -1;  // the deepest recorded merged directory
  for (int j = len - 2; j >= 0 && top < 0; --j) {
    struct merged m;
    if (chain[j] == -1 || !dir_stat((int)chain[j], &sts[j])) return 0;
    uint64_t g = pure_dir(sts[j].st_dev, sts[j].st_ino);
    if (g != 0) {
      note_walked_pure(w->dir, g);
      return pure_dir(dir->st_dev, dir->st_ino);
    }
    if (merged_dir(sts[j].st_dev, sts[j].st_ino, &m)) top = j;
  }
  uint64_t layout, bits;
  view_now(&layout);
  if (top < 0 || holds(slot_get(derive_tried, dir->st_dev, dir->st_ino, &bits), layout)) {
    return 0;
  }
  uint64_t g = 0;
  for (int j = top + 1; j < len; ++j) {
    struct merged m;
    uint64_t dotdot;
    int r = derive_from_parent((int)chain[j], &sts[j], &m, &dotdot);
    if (r == 2) continue;  // merged: the next one is worked out from it
    // Of one lower alone: so is every directory below it.
    g = r == 1 ? pure_dir(sts[j].st_dev, sts[j].st_ino) : 0;
    if (g != 0 && j != len - 1) note_walked_pure(w->dir, g);
    break;
  }
  struct merged m;
  if (g == 0 && !merged_dir(dir->st_dev, dir->st_ino, &m)) {
    slot_put(derive_tried, dir->st_dev, dir->st_ino, layout, 0);
  }
  return g != 0 ? pure_dir(dir->st_dev, dir->st_ino) : 0;
}

// The generation at which the directory the walk ended in is known to come
// from one lower alone (recorded, or by the directories the walk went
// through: walk_ancestry_pure), or 0; its stat in *dir (st_mode 0: no
// directory).
static uint64_t walk_pure(const struct walk* w, struct stat* dir) {
  uint64_t g = pure_dirfd_at((int)w->dir, dir);
  if (g != 0 || !S_ISDIR(dir->st_mode) || !w->owned) return g;
  struct merged m;
  if (merged_dir(dir->st_dev, dir->st_ino, &m)) return 0;
  return walk_ancestry_pure(w, dir);
}

// The identity of the directory a walk of `path` starts in: `dirfd`'s
// (AT_FDCWD: the cwd's), or none (0, 0) for an absolute path.
static int walk_base(int dirfd, const char* path, uint64_t* dev, uint64_t* ino) {
  if (path[0] == '/') {
    *dev = *ino = 0;
    return 1;
  }
  struct stat st;
  if (!dir_stat(dirfd, &st)) return 0;
  *dev = (uint64_t)st.st_dev;
  *ino = (uint64_t)st.st_ino;
  return 1;
}

// The walk of `w->part` from `dirfd` answered by the thread's walk memo,
// when the last name `name` is a single one: 1 with *w set to look it up
// there.
static int memo_walk(int dirfd, const char* name, struct walk* w) {
  struct walk_memo* m = &walk_memo;
  if (w->part_len >= MEMO_PART || !single_name(name) || m->busy) return 0;
  size_t n = strlen(name);
  uint64_t layout;
  if (view_now(&layout) == 0) return 0;
  int hit = 0, based = 0;
  uint64_t dev = 0, ino = 0;
  // Busy while it reads too: a signal handler's lookup then leaves the
  // memo alone instead of changing it under this one.
  m->busy = 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  for (int i = 0; i < MEMO_SLOTS && !hit; ++i) {
    const struct memo_slot* s = &m->slot[i];
    if (!holds(s->generation, layout) || s->part_len != w->part_len ||
        memcmp(s->part, w->part, w->part_len) != 0 ||
        (!s->merged && s->real_len + 1 + n >= sizeof(w->memo_path))) {
      continue;
    }
    if (!based) {
      if (!walk_base(dirfd, w->part, &dev, &ino)) break;
      based = 1;
    }
    if (dev != s->base_dev || ino != s->base_ino) continue;
    w->memo_merged = s->merged;
    w->memo_plain = s->plain;
    if (s->merged) {
      w->memo_dev = s->dir_dev;
      w->memo_ino = s->dir_ino;
    } else {
      memcpy(w->memo_path, s->real, s->real_len);
      w->memo_path[s->real_len] = '/';
      memcpy(w->memo_path + s->real_len + 1, name, n + 1);
    }
    w->dir = AT_FDCWD;
    w->name = name;
    w->memo_gen = s->generation;
    hit = 1;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  m->busy = 0;
  return hit;
}

// Directories of one lower alone this process listed for lists_only_plain,
// with bits 1 (judged) and 2 (plain). A lower never changes: the records
// hold for the whole run.
static struct local_slot plain_known[LOCAL_SLOTS];

// Whether the directory of one lower alone open (O_PATH will do) as `fd`,
// stat `st`, is plain (OVLBOX_PURE_PLAIN), by its listing: read through
// once per process, for a directory the supervisor has not judged.
static int lists_only_plain(long fd, const struct stat* st) {
  uint64_t bits;
  if (slot_get(plain_known, st->st_dev, st->st_ino, &bits) != 0 && (bits & 1)) {
    return (bits & 2) != 0;
  }
  long dir = cookie_call(SYS_openat, fd, (long)".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir < 0) return 0;
  char buf[8192] __attribute__((aligned(8)));
  int plain;
  for (;;) {
    long n = cookie_call(SYS_getdents64, dir, (long)buf, sizeof(buf), 0);
    plain = n == 0 || (n > 0 && ovlbox_dirents_plain(buf, n));
    if (n <= 0 || !plain) break;
  }
  close_fd(dir);
  slot_put(plain_known, st->st_dev, st->st_ino, 1, plain ? 3 : 1);
  return plain;
}

// Keeps the walk `w` (started in `w->start`, ended in the directory open
// as `w->dir`, stat `dir`, whose entries the library looks up by itself at
// `generation`: one of one lower alone, or a recorded merged one when
// `merged`) in the thread's walk memo. Returns whether the directory of
// one lower alone holds only plain entries (pure_dir_plain,
// lists_only_plain), as far as it was kept.
static int memo_keep(const struct walk* w, const struct stat* dir, int merged,
                     uint64_t generation) {
  struct walk_memo* m = &walk_memo;
  uint64_t dev, ino;
  char real[PATH_MAX];
  if (m->busy || !w->owned || w->part_len >= MEMO_PART ||
      !walk_base((int)w->start, w->part, &dev, &ino)) {
    return 0;
  }
  size_t len = 0;
  int plain = 0;
  if (!merged) {
    if (!real_path_of(w->dir, real)) return 0;
    len = strlen(real);
    if (len >= MEMO_REAL) return 0;
    plain = pure_dir_plain(dir->st_dev, dir->st_ino) || lists_only_plain(w->dir, dir);
  }
  uint64_t layout;
  view_now(&layout);
  if (!holds(generation, layout)) return 0;
  m->busy = 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  // The slot of the same walk, else a stale one, else the next in turn.
  struct memo_slot* s = NULL;
  for (int i = 0; i < MEMO_SLOTS && s == NULL; ++i) {
    struct memo_slot* c = &m->slot[i];
    if (c->generation != 0 && c->part_len == w->part_len && c->base_dev == dev &&
        c->base_ino == ino && memcmp(c->part, w->part, w->part_len) == 0) {
      s = c;
    }
  }
  for (int i = 0; i < MEMO_SLOTS && s == NULL; ++i) {
    if (!holds(m->slot[i].generation, layout)) s = &m->slot[i];
  }
  if (s == NULL) s = &m->slot[m->next++ % MEMO_SLOTS];
  s->generation = 0;
  s->base_dev = dev;
  s->base_ino = ino;
  s->merged = merged;
  s->plain = plain;
  s->dir_dev = (uint64_t)dir->st_dev;
  s->dir_ino = (uint64_t)dir->st_ino;
  memcpy(s->part, w->part, w->part_len);
  s->part_len = w->part_len;
  memcpy(s->real, real, len);
  s->real_len = len;
  s->generation = generation;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  m->busy = 0;
  return plain;
}

// The walk below from `dirfd` through the names from `p` to `last` in one
// openat2 (RESOLVE_NO_SYMLINKS), which the kernel makes name by name as
// the walk below would, when no name is ".." or the upper's or work dir's
// (hidden_step) and the directory it ends in is known already (listed, of
// one lower alone or merged, or of the upper alone): its record is what
// makes the answer the view's, as at the end of the walk below. Else (and
// for a name missing on the way) the walk below, which also works out
// records from the directories it passes. The directory (a descriptor);
// -2: the walk below; -1: the kernel's walk failed (a name missing, not a
// directory), which the walk below, made from the same place, meets again.
static long open_known_dir(long dirfd, const char* p, const char* last) {
  size_t n = (size_t)(last - p);
  if (n == 0 || n >= PATH_MAX) return -2;
  for (const char* q = p; q < last;) {
    const char* e = q;
    while (e < last && *e != '/') ++e;
    size_t len = (size_t)(e - q);
    if (len == 2 && q[0] == '.' && q[1] == '.') return -2;
    const char* r = cfg.prefixes;
    struct root root;
    while (next_root(&r, &root) > 0) {
      if (hidden_last_name(&root, q, len)) return -2;
    }
    q = e;
    while (q < last && *q == '/') ++q;
  }
  char part[PATH_MAX];
  memcpy(part, p, n);
  part[n] = '\0';
  long fd = open_dir_nofollow(dirfd, part);
  if (fd < 0) return fd == -ELOOP || fd == -EXDEV ? -2 : -1;
  struct stat st;
  struct merged m;
  if (cookie_call(SYS_newfstatat, fd, (long)"", (long)&st, AT_EMPTY_PATH) != 0 ||
      !(pure_dir(st.st_dev, st.st_ino) != 0 || merged_dir(st.st_dev, st.st_ino, &m) ||
        (upper_bits(&st) & UPPER_LISTED))) {
    close_fd(fd);
    return -2;
  }
  return fd;
}

// open_known_dir from the walk's directory, which it then replaces. 1:
// walked; 0: the walk below; -1: the kernel's walk failed.
static int walk_in_one(struct walk* w, const char* p, const char* last) {
  long fd = open_known_dir(w->dir, p, last);
  if (fd < 0) return fd == -2 ? 0 : -1;
  if (w->owned) close_fd(w->dir);
  w->dir = fd;
  w->owned = 1;
  return 1;
}

// walk_in_one from `from` to `last`, else, when the kernel found a name
// missing, to the name before `last` (a compiler's lookups in the
// directories of its include path mostly miss that one), no higher than
// `floor`: 1: walked to `last`; 2: to *resume, the name before it, which
// the walk below looks up; 0: not at all.
static int walk_near(struct walk* w, const char* from, const char* floor, const char* last,
                     const char** resume) {
  int whole = walk_in_one(w, from, last);
  if (whole >= 0) return whole;
  const char* cut = last;
  while (cut > from && cut[-1] == '/') --cut;
  while (cut > from && cut[-1] != '/') --cut;
  const char* above = cut;
  while (above > from && above[-1] == '/') --above;
  if (above <= floor || walk_in_one(w, from, above) <= 0) return 0;
  *resume = cut;
  return 2;
}

// Walks `path` (relative to `dirfd`, or absolute inside a lower's path) up
// to its last name, natively, one plain name at a time, following no
// symlink. What the kernel finds there is the view's answer only where the
// directory reached is listed (checked by the caller for the last name, and
// here for a name missing on the way: the lookup fails there in the view
// too). 1: walked (*w set); -ENOENT: the answer; 0: the supervisor's.
//
// Why a native walk lands where the view would: each step stays in the
// layer it starts in, at the view path one name deeper, and a listed
// directory is the only real directory of its view path (the layers are
// then nested in no way, and hold no mount point; the supervisor checks).
// Starting in a real directory the view gave the program for its view path,
// or in a layer's own host path (where the kernel's answers are the
// program's anyway), the walk names what the view names.
static int walk_to_last(int dirfd, const char* path, struct walk* w) {
  w->dir = dirfd;
  w->owned = 0;
  w->name = path;
  w->start = dirfd;
  w->n_held = 0;
  w->memo_gen = 0;
  w->memo_merged = 0;
  w->memo_plain = 0;
  if (path == NULL || path[0] == '\0') return 0;
  const char* last = strrchr(path, '/');
  if (last == NULL) return 1;  // a single name: nothing to walk
  if (last[1] == '\0' || !listing()) return 0;
  w->part = path;
  w->part_len = (size_t)(last - path);
  if (memo_walk(dirfd, last + 1, w)) return 1;
  size_t start = 0;
  const char* p = path;
  int near;
  if (path[0] == '/') {
    start = lower_prefix(path);
    if (start == 0 || (size_t)(last - path) < start) return 0;
    // From "/" (the layer's root path then holds no symlink either).
    w->dir = AT_FDCWD;
    w->start = -1;
    near = walk_near(w, path, path + start, last, &p);
    if (near == 0) {
      char root[PATH_MAX];
      if (start >= sizeof(root)) return 0;
      memcpy(root, path, start);
      root[start] = '\0';
      long fd = cookie_call(SYS_openat, AT_FDCWD, (long)root, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
      if (fd < 0) return 0;
      w->dir = fd;
      w->owned = 1;
      p = path + start;
    }
  } else {
    near = walk_near(w, path, path, last, &p);
  }
  if (near == 1) {
    w->name = last + 1;
    return 1;
  }
  while (p < last) {
    while (*p == '/') ++p;
    if (p >= last) break;
    const char* slash = strchr(p, '/');
    size_t n = (size_t)(slash - p);
    char name[NAME_MAX + 1];
    if (n > NAME_MAX) break;
    memcpy(name, p, n);
    name[n] = '\0';
    if (strcmp(name, "..") == 0) break;
    if (strcmp(name, ".") != 0) {
      long fd = cookie_call(SYS_openat, w->dir, (long)name,
                            O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
      if (fd == -ENOENT) {
        // Missing here: missing in the view too when this directory comes
        // from one lower alone; else on in a lower below, when it is merged.
        struct stat dst;
        if (pure_dirfd_at((int)w->dir, &dst) == 0) {
          fd = S_ISDIR(dst.st_mode) ? merged_step(&dst, name) : -EAGAIN;
          if (fd == -ESRCH) fd = walked_through_pure(w) != 0 ? -ENOENT : -EAGAIN;
        }
        if (fd == -ENOENT) {
          walk_done(w);
          return -ENOENT;
        }
      }
      if (fd < 0) break;  // not a directory, a symlink: the supervisor's
      if (hidden_step(name, fd)) {
        close_fd(fd);
        break;  // into the upper or work dir, hidden in the view
      }
      if (w->owned) {
        if (w->n_held == WALK_HELD) {
          close_fd(fd);
          break;  // deeper than kept track of: the supervisor's
        }
        w->held[w->n_held++] = w->dir;
      }
      w->dir = fd;
      w->owned = 1;
    }
    p = slash;  // past this name only once it has been walked
  }
  if (p < last) {
    walk_done(w);
    return 0;
  }
  w->name = last + 1;
  return 1;
}

// The identity checks read the device, inode and type of a statx result
// (always filled in by the filesystems that hold layers).
static void identity_of(const struct statx* x, struct stat* st) {
  memset(st, 0, sizeof(*st));
  st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
  st->st_ino = x->stx_ino;
  st->st_mode = x->stx_mode;
  st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
}

#define STATX_LOOKUP_FLAGS (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)
#define STATX_IDENTITY (STATX_TYPE | STATX_MODE | STATX_INO)

// The view's entry for a walk's last name, as the library finds it.
struct entry {
  long dir;          // the entry is (dir, name): the walk's directory and
  const char* name;  // last name, or AT_FDCWD and `path`, its real path
  char path[PATH_MAX];
  struct stat st;       // its lstat (with a statx: identity and type only)
  int merged_sub;       // a merged directory: the view reports one link
  uint64_t generation;  // the view's, for what is learnt from it
  int upper;            // found in a directory of the upper alone
};

static int upper_alone_dir(long fd, const struct stat* st);
static int fast_upper_attr(long nr, int dirfd, const char* path, long a2, long a3, int follow,
                           int* ret);

// Whether the directory `dirfd` (AT_FDCWD: the cwd; stat `dir`) is one of
// the upper that no lower has, listed as the kernel lists it
// (upper_alone_dir): its entries are then the view's as they are,
// whiteouts aside. The check reads xattrs, which an O_PATH descriptor
// cannot: it opens the directory, once per generation (note_upper).
static int upper_alone_at(long dirfd, const struct stat* dir) {
  if (!S_ISDIR(dir->st_mode) || !cfg.writable || dir->st_dev != cfg.upper_dev) return 0;
  uint64_t known = upper_bits(dir);
  if (known & UPPER_LISTED) return 1;
  if (known & UPPER_CHECKED) return 0;
  long fd = cookie_call(SYS_openat, dirfd, (long)".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct stat st;
  int same = cookie_call(SYS_newfstatat, fd, (long)"", (long)&st, AT_EMPTY_PATH) == 0 &&
             st.st_dev == dir->st_dev && st.st_ino == dir->st_ino;
  int alone = same && upper_alone_dir(fd, &st);
  close_fd(fd);
  if (same) note_upper(&st, alone ? UPPER_ALONE | UPPER_LISTED : UPPER_CHECKED);
  return alone;
}

// Looks the walk's last name up where the view's answer is a real object
// the library can name: in a directory that comes from one lower alone,
// that directory's entry (a whiteout is none; a directory there comes from
// that lower alone too); in a directory of the upper that no lower has,
// likewise (upper_alone_at: no copy of a lower file lies there, so every
// entry's numbers are its own); in a recorded merged directory, a lower's
// object (merged_entry). With `sx`, the lookup is a statx for `mask`
// (flags `sx_flags`) into *sx. 1: found (*e); -ENOENT: no such entry; 0:
// the supervisor's. With `locate`, 2 when the directory is one of one
// lower alone that holds nothing but OVLBOX_PURE_PLAIN's types: e->dir and
// e->name then name the real entry, not looked up yet.
static int walk_entry(const struct walk* w, struct entry* e, struct statx* sx, int sx_flags,
                      unsigned mask, int locate) {
  if (!single_name(w->name)) return 0;
  struct stat dir;
  e->merged_sub = 0;
  e->upper = 0;
  if (w->memo_gen != 0 && !w->memo_merged) {
    // The directory the thread's walk memo names: the name by its real path.
    e->generation = w->memo_gen;
    e->dir = AT_FDCWD;
    e->name = w->memo_path;
    if (locate && w->memo_plain) return 2;
  } else if (w->memo_gen != 0) {
    // The merged directory the memo names, by its record.
    memset(&dir, 0, sizeof(dir));
    dir.st_dev = (dev_t)w->memo_dev;
    dir.st_ino = (ino_t)w->memo_ino;
    dir.st_mode = S_IFDIR;
    e->generation = 0;
  } else {
    e->generation = walk_pure(w, &dir);
    e->dir = w->dir;
    e->name = w->name;
    if (e->generation != 0 && memo_keep(w, &dir, 0, e->generation) && locate) return 2;
  }
  int merged = e->generation == 0;
  if (merged) {
    uint64_t seen = view_generation();
    int r = merged_entry(&dir, w->name, e->path, &e->st, &e->merged_sub, &e->generation);
    // A walk to a recorded merged directory is kept whatever the answer
    // for the name (memo_keep checks the layout has not moved).
    if (r != 0 && w->memo_gen == 0 && seen != 0) memo_keep(w, &dir, 1, seen);
    if (r < 0) return r;
    if (r == 0) {
      // No recorded merged directory: perhaps one of the upper alone.
      if (w->memo_gen != 0 || !upper_alone_at(w->dir, &dir)) return 0;
      e->upper = 1;
      e->merged_sub = 0;
      e->generation = 0;
      merged = 0;
    } else {
      e->dir = AT_FDCWD;
      e->name = e->path;
      if (sx == NULL) return 1;
    }
  }
  long r = sx != NULL ? cookie_call5(SYS_statx, e->dir, (long)e->name,
                                     sx_flags | AT_SYMLINK_NOFOLLOW, mask | STATX_IDENTITY,
                                     (long)sx)
                      : cookie_call(SYS_newfstatat, e->dir, (long)e->name, (long)&e->st,
                                    AT_SYMLINK_NOFOLLOW);
  if (merged) {
    // The real path merged_entry found: still the object it found there.
    struct stat id;
    if (r == 0) identity_of(sx, &id);
    return r == 0 && id.st_dev == e->st.st_dev && id.st_ino == e->st.st_ino;
  }
  if (r == -ENOENT) return -ENOENT;
  if (r != 0) return 0;
  if (sx != NULL) identity_of(sx, &e->st);
  return is_whiteout(&e->st) ? -ENOENT : 1;
}

// Walks `path` from `dirfd` up to its last name and lets `answer` answer
// the call there. 1 when answered (result in *ret), 0 to ask the supervisor.
typedef int (*walk_answer)(const struct walk* w, void* arg, int* ret);
static int answer_walked(int dirfd, const char* path, walk_answer answer, void* arg, int* ret) {
  struct walk w;
  int walked = walk_to_last(dirfd, path, &w);
  if (walked < 0) {
    *ret = set_errno(walked);
    return 1;
  }
  if (walked == 0) return 0;
  int answered = answer(&w, arg, ret);
  walk_done(&w);
  return answered;
}

// fstatat's arguments, for walked_stat.
struct stat_call {
  struct stat* st;
  int flags;
};

// fstatat of the walk's last name: the entry's own stat (a symlink to
// follow goes to the supervisor).
static int walked_stat(const struct walk* w, void* arg, int* ret) {
  const struct stat_call* c = arg;
  struct entry e;
  int r = walk_entry(w, &e, NULL, 0, 0, 0);
  if (r == 0 || (r > 0 && S_ISLNK(e.st.st_mode) && !(c->flags & AT_SYMLINK_NOFOLLOW))) return 0;
  if (r < 0) {
    *ret = set_errno(r);
    return 1;
  }
  if (e.merged_sub) e.st.st_nlink = 1;
  map_dir_id(&e.st);
  *c->st = e.st;
  *ret = 0;
  return 1;
}

// fstatat(dirfd, path) in a listed directory, after the walk to it.
static int fast_pure_stat(int dirfd, const char* path, struct stat* st, int flags, int* ret) {
  if (!enabled || (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)) != 0) return 0;
  struct stat_call c = {st, flags};
  return answer_walked(dirfd, path, walked_stat, &c, ret);
}

// readlinkat's arguments, for walked_readlink.
struct readlink_call {
  char* buf;
  size_t size;
};

// readlinkat of the walk's last name: a lower's symlink is the view's, its
// target as it is (overlayfs shows a layer's symlink unchanged); anything
// else found there is no symlink (EINVAL).
static int walked_readlink(const struct walk* w, void* arg, int* ret) {
  const struct readlink_call* c = arg;
  struct entry e;
  int r = walk_entry(w, &e, NULL, 0, 0, 0);
  if (r == 0) return 0;
  if (r < 0 || !S_ISLNK(e.st.st_mode)) {
    *ret = set_errno(r < 0 ? r : -EINVAL);
    return 1;
  }
  long n = cookie_call(SYS_readlinkat, e.dir, (long)e.name, (long)c->buf, (long)c->size);
  if (n < 0) return 0;
  *ret = (int)n;
  return 1;
}

// readlinkat(dirfd, path) in a listed directory, after the walk to it.
static int fast_pure_readlink(int dirfd, const char* path, char* buf, size_t size, int* ret) {
  if (!enabled || buf == NULL || size == 0 || size > INT_MAX) return 0;
  struct readlink_call c = {buf, size};
  return answer_walked(dirfd, path, walked_readlink, &c, ret);
}

// ---- stat ----

// 1 when answered (result in *ret), 0 to ask the supervisor.
static int fast_stat(const char* path, struct stat* st, int flags, int* ret) {
  if (!candidate(path) || (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)) != 0) return 0;
  struct stat tmp;
  long fd = outside_fd(path, (flags & AT_SYMLINK_NOFOLLOW) != 0, &tmp);
  if (fd == -ENOENT) {
    *ret = set_errno(fd);
    return 1;
  }
  if (fd < 0) return 0;
  close_fd(fd);
  *st = tmp;
  *ret = 0;
  return 1;
}

static int do_fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  int ret;
  path = UNTRUSTED(path);
  st = UNTRUSTED(st);
  if (st != NULL && fast_stat(path, st, flags, &ret)) return ret;
  if (st != NULL && fast_pure_stat(dirfd, path, st, flags, &ret)) return ret;
  return set_errno(plain_call(SYS_newfstatat, dirfd, (long)path, (long)st, flags));
}

EXPORT int stat(const char* path, struct stat* st) { return do_fstatat(AT_FDCWD, path, st, 0); }
EXPORT int stat64(const char* path, struct stat64* st) {
  return do_fstatat(AT_FDCWD, path, (struct stat*)st, 0);
}
EXPORT int lstat(const char* path, struct stat* st) {
  return do_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}
EXPORT int lstat64(const char* path, struct stat64* st) {
  return do_fstatat(AT_FDCWD, path, (struct stat*)st, AT_SYMLINK_NOFOLLOW);
}
static int empty_path(const char* path) { return path == NULL || path[0] == '\0'; }

EXPORT int fstatat(int dirfd, const char* path, struct stat* st, int flags) {
  path = UNTRUSTED(path);
  if ((flags & AT_EMPTY_PATH) && dirfd >= 0 && empty_path(path)) {
    return fstat(dirfd, st);
  }
  return do_fstatat(dirfd, path, st, flags);
}
EXPORT int fstatat64(int dirfd, const char* path, struct stat64* st, int flags) {
  return fstatat(dirfd, path, (struct stat*)st, flags);
}

static int derive_from_parent(int fd, const struct stat* st, struct merged* plan,
                              uint64_t* dotdot_ino);

// The stat of a directory of lowers alone open as `fd` (real stat `st`,
// which it becomes), by its own record or its parent's: the top real
// directory of a merged one reports its own stat with one link, as
// overlayfs reports a merged directory (View::FixStat), and a directory
// of one lower alone its own. A lower's directory below the top, and a
// directory with an upper directory, are the supervisor's.
static int lower_dir_stat(int fd, struct stat* st) {
  struct merged m;
  uint64_t dotdot;
  if (!S_ISDIR(st->st_mode)) return 0;
  if (!merged_dir(st->st_dev, st->st_ino, &m)) {
    int r = derive_from_parent(fd, st, &m, &dotdot);
    if (r != 2) return r == 1;
  }
  if (m.upper_first || m.key_index != 0) return 0;
  st->st_nlink = 1;
  return 1;
}

// fstat of `fd` as the view reports it, from its real stat *st (changed
// where the view's differs): 1, or 0 to ask the supervisor. A directory
// the view gives other numbers (dir_id_mapped) is answered only where it
// is known to be the view's.
static int fstat_view(long fd, struct stat* st) {
  if (dir_id_mapped(st)) {
    if (pure_dir(st->st_dev, st->st_ino) == 0 && !lower_dir_stat(fd, st)) return 0;
    map_dir_id(st);
    return 1;
  }
  return fstat_unchanged(fd, st) || lower_dir_stat(fd, st);
}

EXPORT int fstat(int fd, struct stat* st) {
  st = UNTRUSTED(st);
  if (enabled && fd >= 0 && st != NULL) {
    struct stat tmp;
    if (cookie_call(SYS_newfstatat, fd, (long)"", (long)&tmp, AT_EMPTY_PATH) == 0 &&
        fstat_view(fd, &tmp)) {
      *st = tmp;
      return 0;
    }
  }
  return set_errno(plain_call(SYS_newfstatat, fd, (long)"", (long)st, AT_EMPTY_PATH));
}
EXPORT int fstat64(int fd, struct stat64* st) { return fstat(fd, (struct stat*)st); }

// The layer whose root the real path `real` lies below, by the longest
// root the configuration lists (layers, work dir, runtime dirs), as the
// supervisor's LayerSet::Locate places it: 0 for the upper (in a writable
// view), 1 for a lower, -1 for anything else (the work dir, a runtime dir,
// outside every root); *len: the length of its root in `real`.
static int layer_of(const char* real, size_t* len) {
  const char* p = cfg.prefixes;
  struct root r;
  int k, index = 0, lowers = 1, best = -1;
  size_t best_len = 0;
  while ((k = next_root(&p, &r)) > 0) {
    // The layers come first (the upper first when writable), then the
    // work dir ('U'), the runtime dirs ('R') and the served files.
    int kind = -1;
    if (index++ == 0 && cfg.writable) {
      kind = r.kind == 'U' ? 0 : -1;
    } else if (lowers && r.kind == 'D') {
      kind = 1;
    } else {
      lowers = 0;
    }
    if (below_root(real, &r) && (best_len == 0 || r.len > best_len)) {
      best = kind;
      best_len = r.len;
    }
  }
  *len = best_len;
  return k < 0 ? -1 : best;
}

// The length of the upper's root in the real path `real` when it lies in
// the upper layer (0: it does not).
static size_t upper_prefix(const char* real) {
  size_t len;
  return layer_of(real, &len) == 0 ? len : 0;
}

static int in_upper(const char* real) { return upper_prefix(real) != 0; }

// The length of the upper's root, the first root the configuration lists
// (0 in a view with no upper).
static size_t upper_root_len(void) {
  if (!cfg.writable || cfg.prefixes[0] != 'U') return 0;
  return strnlen(cfg.prefixes + 1, sizeof(cfg.prefixes) - 1);
}

// An attribute change through a descriptor (fchmod, fchown, futimens) of a
// file of the upper that is not a fifo, or a directory of the upper that
// no lower has: the supervisor would make it in place on that file, as the
// kernel's overlayfs does (UpperFileOf, supervisor/handlers_write.cc), so
// the library makes it itself, with the program's own credentials (the
// supervisor reads such a directory's attributes again before it relies
// on what it cached of them: View::CachedDir). It works on a private
// duplicate of `fd`: the file it checked is the file it changes, even if
// another thread reuses the number meanwhile. Returns 1 with *ret set when
// answered here; anything else (a lower file to copy up first, a merged
// directory, a stand-in, a file outside the upper) goes to the supervisor.
static int fast_fd_change(long nr, int fd, long a2, long a3, long a4, int* ret) {
  if (!enabled || !cfg.writable || fd < 0) return 0;
  long dup = plain_call(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0, 0);
  if (dup < 0) return 0;
  struct stat st;
  char real[PATH_MAX];
  int mine = cookie_call(SYS_newfstatat, dup, (long)"", (long)&st, AT_EMPTY_PATH) == 0 &&
             st.st_dev == cfg.upper_dev && !S_ISFIFO(st.st_mode) &&
             !in_list(cfg.proc_devs, cfg.n_proc_devs, st.st_dev);
  if (mine && S_ISDIR(st.st_mode)) {
    mine = upper_alone_at(dup, &st);
  } else if (mine && !(upper_bits(&st) & UPPER_FILE)) {
    mine = real_path_of(dup, real) && in_upper(real);
    if (mine) note_upper(&st, UPPER_FILE);
  }
  if (mine) *ret = set_errno(cookie_call(nr, dup, a2, a3, a4));
  close_fd(dup);
  return mine;
}

EXPORT int fchmod(int fd, mode_t mode) {
  int ret;
  if (fast_fd_change(SYS_fchmod, fd, mode, 0, 0, &ret)) return ret;
  return set_errno(plain_call(SYS_fchmod, fd, mode, 0, 0));
}

// fchmodat with AT_SYMLINK_NOFOLLOW (and lchmod): glibc before 2.39 makes
// it an O_PATH open (a stop of the tracer), an fstatat and a chmod through
// /proc/self/fd, two calls to the supervisor; fchmodat2 is one, and the
// supervisor answers it whether the kernel has it or not.
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
EXPORT int fchmodat(int dirfd, const char* path, mode_t mode, int flags) {
  path = UNTRUSTED(path);
  int ret;
  if ((flags & ~AT_SYMLINK_NOFOLLOW) == 0 &&
      fast_upper_attr(SYS_fchmodat2, dirfd, path, mode, 0, !(flags & AT_SYMLINK_NOFOLLOW), &ret)) {
    return ret;
  }
  if (enabled && flags == AT_SYMLINK_NOFOLLOW) {
    return set_errno(plain_call(SYS_fchmodat2, dirfd, (long)path, mode, flags));
  }
  typedef int (*fchmodat_fn)(int, const char*, mode_t, int);
  static fchmodat_fn next;
  if (next == NULL) next = (fchmodat_fn)dlsym(RTLD_NEXT, "fchmodat");
  if (next == NULL) return set_errno(-ENOSYS);
  return next(dirfd, path, mode, flags);
}
EXPORT int lchmod(const char* path, mode_t mode) {
  return fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW);
}
EXPORT int chmod(const char* path, mode_t mode) {
  path = UNTRUSTED(path);
  int ret;
  if (fast_upper_attr(SYS_fchmodat2, AT_FDCWD, path, mode, 0, 1, &ret)) return ret;
  return set_errno(plain_call(SYS_chmod, (long)path, mode, 0, 0));
}

EXPORT int fchownat(int dirfd, const char* path, uid_t uid, gid_t gid, int flags) {
  path = UNTRUSTED(path);
  int ret;
  if ((flags & AT_EMPTY_PATH) && dirfd >= 0 && path != NULL && empty_path(path) &&
      (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) == 0) {
    if (fast_fd_change(SYS_fchown, dirfd, uid, gid, 0, &ret)) return ret;
  } else if ((flags & ~AT_SYMLINK_NOFOLLOW) == 0 &&
             fast_upper_attr(SYS_fchownat, dirfd, path, uid, gid, !(flags & AT_SYMLINK_NOFOLLOW),
                             &ret)) {
    return ret;
  }
  return set_errno(plain_call5(SYS_fchownat, dirfd, (long)path, uid, gid, flags));
}
EXPORT int chown(const char* path, uid_t uid, gid_t gid) {
  path = UNTRUSTED(path);
  int ret;
  if (fast_upper_attr(SYS_fchownat, AT_FDCWD, path, uid, gid, 1, &ret)) return ret;
  return set_errno(plain_call(SYS_chown, (long)path, uid, gid, 0));
}
EXPORT int lchown(const char* path, uid_t uid, gid_t gid) {
  path = UNTRUSTED(path);
  int ret;
  if (fast_upper_attr(SYS_fchownat, AT_FDCWD, path, uid, gid, 0, &ret)) return ret;
  return set_errno(plain_call(SYS_lchown, (long)path, uid, gid, 0));
}

EXPORT int fchown(int fd, uid_t uid, gid_t gid) {
  int ret;
  if (fast_fd_change(SYS_fchown, fd, uid, gid, 0, &ret)) return ret;
  return set_errno(plain_call(SYS_fchown, fd, uid, gid, 0));
}

EXPORT int futimens(int fd, const struct timespec times[2]) {
  times = UNTRUSTED(times);
  // As glibc's: a negative descriptor is EBADF (utimensat would take
  // AT_FDCWD with a NULL path as the cwd).
  if (fd < 0) return set_errno(-EBADF);
  int ret;
  if (fast_fd_change(SYS_utimensat, fd, 0, (long)times, 0, &ret)) return ret;
  return set_errno(plain_call(SYS_utimensat, fd, 0, (long)times, 0));
}

// Whether no lower has a directory at `rel` (relative to the layer roots,
// "" for the root): an upper directory there is then all the view shows
// at `rel`, with no lower entry to hide and so no whiteout to make. 1: no
// lower has one; 0: a lower has one (or a symlink on the way that leads to
// one); -1: a lower's answer was neither (a refusal): the supervisor
// decides then.
static int upper_alone(const char* rel) {
  size_t relen = strlen(rel);
  if (relen == 0) return 0;  // the root: merged
  const char* p = cfg.prefixes;
  struct root r;
  int k;
  // The lowers: the 'D' roots right after the upper.
  if (next_root(&p, &r) <= 0) return 0;
  while ((k = next_root(&p, &r)) > 0 && r.kind == 'D') {
    char path[PATH_MAX];
    if (r.len + 1 + relen >= sizeof(path)) return 0;
    memcpy(path, r.path, r.len);
    path[r.len] = '/';
    memcpy(path + r.len + 1, rel, relen + 1);
    long fd = cookie_call(SYS_openat, AT_FDCWD, (long)path,
                          O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd >= 0) {
      close_fd(fd);
      return 0;
    }
    if (fd != -ENOENT && fd != -ENOTDIR) return -1;
  }
  return k >= 0 ? 1 : -1;
}

// The directory part of the relative `path` with every name in it plain
// (no "", "." or ".."): 1 with `out` (PATH_MAX) holding it, "" when the
// path is a single name; 0 otherwise.
static int plain_dir_part(const char* path, const char* last, char* out) {
  size_t n = (size_t)(last - path);
  if (n == 0) {
    out[0] = '\0';
    return 1;
  }
  if (n >= PATH_MAX) return 0;
  memcpy(out, path, n - 1);  // without the slash before the last name
  out[n - 1] = '\0';
  for (char* p = out;;) {
    char* e = strchr(p, '/');
    size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
    if (len == 0 || len > NAME_MAX || (len == 1 && p[0] == '.') ||
        (len == 2 && p[0] == '.' && p[1] == '.')) {
      return 0;
    }
    if (e == NULL) return 1;
    p = e + 1;
  }
}

// What upper_alone found for a few paths relative to the layer roots,
// most recent first: the lowers do not change while the view is in use,
// so an answer holds for good. A thread that finds the table busy
// (another thread, or a signal handler interrupting this one) goes
// without it.
#define UPPER_ALONE_CACHE 8
static struct {
  int lock;
  int used;
  char alone[UPPER_ALONE_CACHE];
  char rel[UPPER_ALONE_CACHE][PATH_MAX];
} upper_alone_cache;

static int upper_alone_cached(const char* rel) {
  int answer = -1;
  if (__atomic_exchange_n(&upper_alone_cache.lock, 1, __ATOMIC_ACQUIRE) != 0) {
    return upper_alone(rel) == 1;
  }
  for (int i = 0; i < upper_alone_cache.used && answer < 0; ++i) {
    if (strcmp(upper_alone_cache.rel[i], rel) == 0) answer = upper_alone_cache.alone[i];
  }
  __atomic_store_n(&upper_alone_cache.lock, 0, __ATOMIC_RELEASE);
  if (answer >= 0) return answer;
  answer = upper_alone(rel);
  if (answer < 0 || strlen(rel) >= PATH_MAX) return 0;
  if (__atomic_exchange_n(&upper_alone_cache.lock, 1, __ATOMIC_ACQUIRE) == 0) {
    int n = upper_alone_cache.used < UPPER_ALONE_CACHE ? upper_alone_cache.used + 1
                                                       : UPPER_ALONE_CACHE;
    memmove(upper_alone_cache.rel[1], upper_alone_cache.rel[0], (size_t)(n - 1) * PATH_MAX);
    memmove(upper_alone_cache.alone + 1, upper_alone_cache.alone, (size_t)(n - 1));
    strcpy(upper_alone_cache.rel[0], rel);
    upper_alone_cache.alone[0] = (char)answer;
    upper_alone_cache.used = n;
    __atomic_store_n(&upper_alone_cache.lock, 0, __ATOMIC_RELEASE);
  }
  return answer;
}

// openat2(dirfd, path, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS), natively.
static long open_dir_nofollow(long dirfd, const char* path) {
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS;
  return cookie_call(SYS_openat2, dirfd, (long)path, (long)&how, sizeof(how));
}

// Whether the directory open as `dir` is one of the upper that no lower
// has: known so (note_upper), or found so by its real path (then noted).
static int upper_alone_known(long dir) {
  struct stat st;
  if (cookie_call(SYS_newfstatat, dir, (long)"", (long)&st, AT_EMPTY_PATH) != 0 ||
      !S_ISDIR(st.st_mode)) {
    return 0;
  }
  if (upper_bits(&st) & UPPER_ALONE) return 1;
  char real[PATH_MAX];
  size_t at;
  if (!real_path_of(dir, real) || layer_of(real, &at) != 0 || real[at] != '/' ||
      !upper_alone_cached(real + at + 1)) {
    return 0;
  }
  note_upper(&st, UPPER_ALONE);
  return 1;
}

// The upper's directory at `rel` ("" or "/a/b", below its root), then
// `part` ("" or "c/d") below that, opened without following a symlink; -1
// otherwise.
static long open_upper_dir(const char* rel, const char* part) {
  char up[PATH_MAX];
  size_t ulen = upper_root_len(), rlen = strlen(rel), plen = strlen(part);
  if (ulen == 0 || ulen + rlen + 1 + plen >= sizeof(up)) return -1;
  memcpy(up, cfg.prefixes + 1, ulen);
  memcpy(up + ulen, rel, rlen);
  size_t at = ulen + rlen;
  if (plen > 0) up[at++] = '/';
  memcpy(up + at, part, plen + 1);
  return open_dir_nofollow(AT_FDCWD, up);
}

// For a start `dirfd` (AT_FDCWD: the cwd) in the top lower: the upper's
// directory at the same view path (the root's path holds no symlink), then
// `part` below it, opened without following a symlink; -1 otherwise.
static long upper_twin(int dirfd, const char* part) {
  long start = dirfd == AT_FDCWD ? cookie_call(SYS_openat, AT_FDCWD, (long)".",
                                               O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
                                 : plain_call(SYS_fcntl, dirfd, F_DUPFD_CLOEXEC, 0, 0);
  if (start < 0) return -1;
  char real[PATH_MAX];
  size_t at;
  int layer = real_path_of(start, real) ? layer_of(real, &at) : -1;
  close_fd(start);
  if (layer != 1) return -1;
  return open_upper_dir(at == 1 ? real : real + at, part);  // at 1: the root is the lower
}

static int view_root(struct root* r);

// upper_alone_parent for an absolute `path` (last name `last`) below the
// view's root by plain names: the upper's directory at the same place
// below the upper's root, opened without following a symlink, when it is
// one that no lower has. The upper is the top layer: where its
// directories reach, by plain names, they are the view's directories
// there (an install into `--lower /` names everything absolutely).
static long upper_alone_parent_abs(const char* path, const char* last, const char** name) {
  struct root top;
  if (!single_name(last) || !view_root(&top) || !below_root(path, &top)) return -1;
  const char* rel = path + 1;
  if (top.len > 1) {
    if (path[top.len] != '/') return -1;
    rel = path + top.len + 1;
  }
  char part[PATH_MAX];
  if (last <= rel || !plain_dir_part(rel, last, part)) return -1;
  long dir = open_upper_dir("", part);
  if (dir >= 0 && !upper_alone_known(dir)) {
    close_fd(dir);
    return -1;
  }
  if (dir >= 0) *name = last;
  return dir;
}

// The directory part of `path`, opened natively from `dirfd`
// (AT_FDCWD: the cwd) without following a symlink (an absolute path:
// upper_alone_parent_abs), when it is a directory
// of the upper that no lower has: such a directory is all the view shows
// at its path, with no lower entry to hide, so a name made or removed
// there is made or removed as it is. A start in a lower stands for the
// view's directory at its path, whose top is the upper's directory there
// when there is one (upper_twin). Returns a private descriptor of the
// directory (the caller closes it; the directory checked is the directory
// changed even if another thread reuses the program's number meanwhile)
// with *name set to the last name, or -1.
static long upper_alone_parent(int dirfd, const char* path, const char** name) {
  if (!enabled || !cfg.writable || path == NULL) return -1;
  const char* slash = strrchr(path, '/');
  const char* last = slash != NULL ? slash + 1 : path;
  char part[PATH_MAX];
  if (path[0] == '/') return upper_alone_parent_abs(path, last, name);
  if (!single_name(last) || !plain_dir_part(path, last, part)) return -1;
  long dir = part[0] != '\0' ? open_dir_nofollow(dirfd, part)
                              : cookie_call(SYS_openat, dirfd, (long)".",
                                            O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (dir >= 0 && !upper_alone_known(dir)) {
    close_fd(dir);
    dir = -1;
  }
  if (dir < 0) {
    dir = upper_twin(dirfd, part);
    if (dir >= 0 && !upper_alone_known(dir)) {
      close_fd(dir);
      return -1;
    }
  }
  if (dir >= 0) *name = last;
  return dir;
}

// unlink or mkdir (`nr`: SYS_unlinkat or SYS_mkdirat) of a host path of
// plain names (plain_host_path), in its directory opened the same way.
static int fast_host_change(long nr, const char* path, mode_t mode, int* ret) {
  if (!plain_host_path(path)) return 0;
  const char* last = strrchr(path, '/');
  const char* name = last + 1;
  if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
  char dir_path[PATH_MAX];
  size_t n = last == path ? 1 : (size_t)(last - path);  // "/name": in "/"
  if (n >= sizeof(dir_path)) return 0;
  memcpy(dir_path, path, n);
  dir_path[n] = '\0';
  long dir = open_dir_nofollow(AT_FDCWD, dir_path);
  if (!host_answer(dir)) return 0;
  long r = dir;
  if (dir >= 0) {
    r = nr == SYS_mkdirat ? cookie_call(SYS_mkdirat, dir, (long)name, mode, 0)
                          : cookie_call(SYS_unlinkat, dir, (long)name, 0, 0);
    close_fd(dir);
  }
  *ret = set_errno(r);
  return 1;
}

// unlink/unlinkat(dirfd, path, 0): a host path of plain names, or a name
// in a directory of the upper that no lower has: the supervisor would
// unlink it in place, with no whiteout (Writer::Remove,
// overlay/writer.cc), so the library does, with the program's own
// credentials. A whiteout device found there (an earlier run's, under a
// lower directory that has gone since) is not the view's to remove: the
// supervisor answers.
static int fast_unlink(int dirfd, const char* path, int* ret) {
  if (fast_host_change(SYS_unlinkat, path, 0, ret)) return 1;
  const char* name;
  long dir = upper_alone_parent(dirfd, path, &name);
  if (dir < 0) return 0;
  struct stat st;
  int mine = !(cookie_call(SYS_newfstatat, dir, (long)name, (long)&st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISCHR(st.st_mode) && st.st_rdev == 0);
  if (mine) *ret = set_errno(cookie_call(SYS_unlinkat, dir, (long)name, 0, 0));
  close_fd(dir);
  return mine;
}

// open/openat in a directory of the upper that no lower has, of a regular
// file or a directory there (O_PATH too), or of a new name with O_CREAT: the object the
// view gives is the real one, opened or made as the kernel makes it (the
// program's umask and credentials). Symlinks (which the view follows its
// own way), fifos (which get stand-ins), devices and whiteouts go to the
// supervisor.
static int fast_upper_open(int dirfd, const char* path, int flags, mode_t mode, int* ret) {
  if ((flags & TMPFILE_BIT) || ((flags & O_CREAT) && (flags & O_DIRECTORY))) return 0;
  const char* name;
  long dir = upper_alone_parent(dirfd, path, &name);
  if (dir < 0) return 0;
  struct stat st;
  long r = cookie_call(SYS_newfstatat, dir, (long)name, (long)&st, AT_SYMLINK_NOFOLLOW);
  int mine = r == -ENOENT || (r == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)));
  if (mine) {
    long fd = cookie_call(SYS_openat, dir, (long)name, flags | O_NOFOLLOW, mode);
    if (fd == -ELOOP || fd == -EEXIST) {
      mine = 0;  // made meanwhile (a symlink the view follows, a whiteout): the supervisor's
    } else {
      // A file of the upper: the changes made next through the descriptor
      // (tar: owner, mode, times) need not read its real path.
      if (fd >= 0 && !(flags & O_PATH) &&
          cookie_call(SYS_newfstatat, fd, (long)"", (long)&st, AT_EMPTY_PATH) == 0 &&
          !S_ISDIR(st.st_mode)) {
        note_upper(&st, UPPER_FILE);
      }
      *ret = set_errno(fd);
    }
  }
  close_fd(dir);
  return mine;
}

// mkdir/mkdirat in a directory of the upper that no lower has. A name
// taken there (possibly by a whiteout, which the view does not show) goes
// to the supervisor.
static int fast_upper_mkdir(int dirfd, const char* path, mode_t mode, int* ret) {
  const char* name;
  long dir = upper_alone_parent(dirfd, path, &name);
  if (dir < 0) return 0;
  long r = cookie_call(SYS_mkdirat, dir, (long)name, mode, 0);
  close_fd(dir);
  if (r == -EEXIST) return 0;
  *ret = set_errno(r);
  return 1;
}

// An attribute change by name (`nr`: SYS_fchownat with `a2` and `a3` the
// owner and group, SYS_fchmodat2 with `a2` the mode, SYS_utimensat with
// `a2` the times) in a directory of the upper that no lower has: the
// object there is the view's, in the upper already, and the supervisor
// would change it in place, as overlayfs does; so the library does, with
// the program's own credentials. The change never follows a symlink: one
// the caller follows (which the view follows its own way), a fifo (which
// has a stand-in), a device and a whiteout go to the supervisor; a
// symlink swapped in meanwhile is changed itself, in the upper. A
// directory changed here is one of the upper alone too, whose attributes
// the supervisor reads again before relying on them (View::CachedDir).
static int fast_upper_attr(long nr, int dirfd, const char* path, long a2, long a3, int follow,
                           int* ret) {
  const char* name;
  long dir = upper_alone_parent(dirfd, path, &name);
  if (dir < 0) return 0;
  struct stat st;
  long r = cookie_call(SYS_newfstatat, dir, (long)name, (long)&st, AT_SYMLINK_NOFOLLOW);
  int mine = r == -ENOENT ||
             (r == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ||
                         (S_ISLNK(st.st_mode) && !follow && nr != SYS_fchmodat2)));
  if (mine && r == 0) {
    r = nr == SYS_fchownat
            ? cookie_call5(SYS_fchownat, dir, (long)name, a2, a3, AT_SYMLINK_NOFOLLOW)
            : cookie_call(nr, dir, (long)name, a2, AT_SYMLINK_NOFOLLOW);
    if (r == -ENOSYS) mine = 0;  // no fchmodat2 in this kernel: the supervisor's
  }
  if (mine) *ret = set_errno(r);
  close_fd(dir);
  return mine;
}

// rmdir/unlinkat(AT_REMOVEDIR) of a directory in a directory of the upper
// that no lower has: it is one of the upper alone too, with nothing below
// it to hide, and the supervisor would remove it in place (Writer::Remove),
// so the library does. One that holds names (possibly whiteouts alone,
// which the view does not show) goes to the supervisor; a whiteout is no
// name of the view's. The supervisor finds a removed directory gone from
// its cache when it next uses it (View::CachedDir).
static int fast_rmdir(int dirfd, const char* path, int* ret) {
  const char* name;
  long dir = upper_alone_parent(dirfd, path, &name);
  if (dir < 0) return 0;
  struct stat st;
  long r = cookie_call(SYS_newfstatat, dir, (long)name, (long)&st, AT_SYMLINK_NOFOLLOW);
  int mine = r == -ENOENT || (r == 0 && !is_whiteout(&st));
  if (mine && r == 0) {
    r = S_ISDIR(st.st_mode) ? cookie_call(SYS_unlinkat, dir, (long)name, AT_REMOVEDIR, 0)
                            : -ENOTDIR;
    if (r == -ENOTEMPTY || r == -EEXIST) mine = 0;
  }
  if (mine) *ret = set_errno(r);
  close_fd(dir);
  return mine;
}

EXPORT int rmdir(const char* path) {
  path = UNTRUSTED(path);
  int ret;
  if (fast_rmdir(AT_FDCWD, path, &ret)) return ret;
  return set_errno(plain_call(SYS_rmdir, (long)path, 0, 0, 0));
}

EXPORT int mkdirat(int dirfd, const char* path, mode_t mode) {
  path = UNTRUSTED(path);
  int ret;
  if (fast_host_change(SYS_mkdirat, path, mode, &ret)) return ret;
  if (fast_upper_mkdir(dirfd, path, mode, &ret)) return ret;
  return set_errno(plain_call(SYS_mkdirat, dirfd, (long)path, mode, 0));
}

EXPORT int mkdir(const char* path, mode_t mode) {
  path = UNTRUSTED(path);
  int ret;
  if (fast_host_change(SYS_mkdirat, path, mode, &ret)) return ret;
  if (fast_upper_mkdir(AT_FDCWD, path, mode, &ret)) return ret;
  return set_errno(plain_call(SYS_mkdir, (long)path, mode, 0, 0));
}

EXPORT int unlinkat(int dirfd, const char* path, int flags) {
  path = UNTRUSTED(path);
  int ret;
  if (flags == 0 && fast_unlink(dirfd, path, &ret)) return ret;
  if (flags == AT_REMOVEDIR && fast_rmdir(dirfd, path, &ret)) return ret;
  return set_errno(plain_call(SYS_unlinkat, dirfd, (long)path, flags, 0));
}

EXPORT int unlink(const char* path) {
  path = UNTRUSTED(path);
  int ret;
  if (fast_unlink(AT_FDCWD, path, &ret)) return ret;
  return set_errno(plain_call(SYS_unlink, (long)path, 0, 0, 0));
}

static int do_utimensat(int dirfd, const char* path, const struct timespec times[2], int flags) {
  int ret;
  if ((flags & ~AT_SYMLINK_NOFOLLOW) == 0 &&
      fast_upper_attr(SYS_utimensat, dirfd, path, (long)times, 0, !(flags & AT_SYMLINK_NOFOLLOW),
                      &ret)) {
    return ret;
  }
  return set_errno(plain_call(SYS_utimensat, dirfd, (long)path, (long)times, flags));
}
EXPORT int utimensat(int dirfd, const char* path, const struct timespec times[2], int flags) {
  path = UNTRUSTED(path);
  times = UNTRUSTED(times);
  // glibc's: a NULL path is EINVAL (futimens is the call for a descriptor).
  if (path == NULL) return set_errno(-EINVAL);
  return do_utimensat(dirfd, path, times, flags);
}

// utimes and lutimes: as utimensat, microseconds checked as glibc does.
static int utimes_common(const char* path, const struct timeval tv[2], int flags) {
  if (tv == NULL) return do_utimensat(AT_FDCWD, path, NULL, flags);
  struct timespec ts[2];
  for (int i = 0; i < 2; ++i) {
    if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000) return set_errno(-EINVAL);
    ts[i].tv_sec = tv[i].tv_sec;
    ts[i].tv_nsec = tv[i].tv_usec * 1000;
  }
  return do_utimensat(AT_FDCWD, path, ts, flags);
}
EXPORT int utimes(const char* path, const struct timeval tv[2]) {
  return utimes_common(UNTRUSTED(path), UNTRUSTED(tv), 0);
}
EXPORT int lutimes(const char* path, const struct timeval tv[2]) {
  return utimes_common(UNTRUSTED(path), UNTRUSTED(tv), AT_SYMLINK_NOFOLLOW);
}

EXPORT int futimes(int fd, const struct timeval tv[2]) {
  tv = UNTRUSTED(tv);
  if (tv == NULL) return futimens(fd, NULL);
  struct timespec ts[2];
  for (int i = 0; i < 2; ++i) {
    if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000) return set_errno(-EINVAL);
    ts[i].tv_sec = tv[i].tv_sec;
    ts[i].tv_nsec = tv[i].tv_usec * 1000;
  }
  return futimens(fd, ts);
}

// statx: what coreutils and Rust's standard library use. The same answers
// as stat's, made with statx itself so that every field the caller asks
// for is the kernel's.

// statx's arguments, for walked_statx.
struct statx_call {
  struct statx* buf;
  int flags;
  unsigned mask;
};

// statx of the walk's last name, as walked_stat.
static int walked_statx(const struct walk* w, void* arg, int* ret) {
  const struct statx_call* c = arg;
  struct entry e;
  struct statx tmp;
  int r = walk_entry(w, &e, &tmp, c->flags, c->mask, 0);
  if (r == 0 || (r > 0 && S_ISLNK(e.st.st_mode) && !(c->flags & AT_SYMLINK_NOFOLLOW))) return 0;
  if (r < 0) {
    *ret = set_errno(r);
    return 1;
  }
  if (e.merged_sub) tmp.stx_nlink = 1;
  map_dir_idx(&tmp);
  *c->buf = tmp;
  *ret = 0;
  return 1;
}

static int fast_statx(int dirfd, const char* path, int flags, unsigned mask, struct statx* buf,
                      int* ret) {
  if (!enabled || (flags & ~STATX_LOOKUP_FLAGS) != 0) return 0;
  struct statx tmp;
  struct stat id;
  mask |= STATX_IDENTITY;
  if (candidate(path)) {
    long fd = outside_fd(path, (flags & AT_SYMLINK_NOFOLLOW) != 0, &id);
    if (fd == -ENOENT) {
      *ret = set_errno(fd);
      return 1;
    }
    if (fd < 0) return 0;
    long r = cookie_call5(SYS_statx, fd, (long)"", (flags & ~AT_SYMLINK_NOFOLLOW) | AT_EMPTY_PATH,
                          mask, (long)&tmp);
    close_fd(fd);
    if (r != 0) return 0;
    *buf = tmp;
    *ret = 0;
    return 1;
  }
  struct statx_call c = {buf, flags, mask};
  return answer_walked(dirfd, path, walked_statx, &c, ret);
}

EXPORT int statx(int dirfd, const char* path, int flags, unsigned int mask, struct statx* buf) {
  int ret;
  path = UNTRUSTED(path);
  buf = UNTRUSTED(buf);
  if (buf == NULL) {
    // the kernel's EFAULT
  } else if (enabled && (flags & AT_EMPTY_PATH) && dirfd >= 0 && empty_path(path) &&
      (flags & ~(STATX_LOOKUP_FLAGS | AT_EMPTY_PATH)) == 0) {
    // Of a descriptor: as fstat.
    struct statx tmp;
    struct stat id;
    if (cookie_call5(SYS_statx, dirfd, (long)"", flags, mask | STATX_IDENTITY, (long)&tmp) == 0) {
      identity_of(&tmp, &id);
      if (dir_id_mapped(&id) ? pure_dir(id.st_dev, id.st_ino) != 0 : fstat_unchanged(dirfd, &id)) {
        map_dir_idx(&tmp);
        *buf = tmp;
        return 0;
      }
    }
  } else if (fast_statx(dirfd, path, flags, mask, buf, &ret)) {
    return ret;
  }
  return set_errno(plain_call5(SYS_statx, dirfd, (long)path, flags, mask, (long)buf));
}

// The stat entry points of binaries built before glibc 2.33. On x86_64 the
// versions they pass (0 and 1) both mean the kernel's struct stat.
static int check_ver(int ver) {
  if (ver != 0 && ver != 1) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}
EXPORT int __xstat(int ver, const char* path, struct stat* st) {
  return check_ver(ver) ? -1 : stat(path, st);
}
EXPORT int __xstat64(int ver, const char* path, struct stat64* st) {
  return check_ver(ver) ? -1 : stat(path, (struct stat*)st);
}
EXPORT int __lxstat(int ver, const char* path, struct stat* st) {
  return check_ver(ver) ? -1 : lstat(path, st);
}
EXPORT int __lxstat64(int ver, const char* path, struct stat64* st) {
  return check_ver(ver) ? -1 : lstat(path, (struct stat*)st);
}
EXPORT int __fxstat(int ver, int fd, struct stat* st) {
  return check_ver(ver) ? -1 : fstat(fd, st);
}
EXPORT int __fxstat64(int ver, int fd, struct stat64* st) {
  return check_ver(ver) ? -1 : fstat(fd, (struct stat*)st);
}
EXPORT int __fxstatat(int ver, int dirfd, const char* path, struct stat* st, int flags) {
  return check_ver(ver) ? -1 : fstatat(dirfd, path, st, flags);
}
EXPORT int __fxstatat64(int ver, int dirfd, const char* path, struct stat64* st, int flags) {
  return check_ver(ver) ? -1 : fstatat(dirfd, path, (struct stat*)st, flags);
}

// ---- fchdir ----

// Made with the cookie, counted first (cwd_stat): without it, the
// supervisor would have to be asked just to count it.
EXPORT int fchdir(int fd) {
  if (!enabled) return set_errno(plain_call(SYS_fchdir, fd, 0, 0, 0));
  __atomic_add_fetch(&cwd_moves, 1, __ATOMIC_SEQ_CST);
  return set_errno(cookie_call(SYS_fchdir, fd, 0, 0, 0));
}

// ---- open ----

static int fast_open(const char* path, int flags, int* ret) {
  if (!candidate(path)) return 0;
  // (O_PATH too: the tracer would have the kernel open the same object.)
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | TMPFILE_BIT))) {
    return 0;
  }
  struct stat st;
  long way = outside_fd(path, (flags & O_NOFOLLOW) != 0, &st);
  if (way == -ENOENT) {
    *ret = set_errno(way);
    return 1;
  }
  if (way < 0) return 0;
  close_fd(way);
  if (S_ISLNK(st.st_mode)) return 0;
  int layer_fs = on_layer_fs(&st);
  // Opening has no side effect on a regular file or a directory; anything
  // else on a layer's filesystem is left to the supervisor unopened.
  if (layer_fs && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return 0;
  long fd = open_checked(AT_FDCWD, path, flags, &st);
  if (fd == -EAGAIN || (fd < 0 && layer_fs)) return 0;
  if (fd >= 0 && layer_fs && !fd_outside(fd, &st)) {
    close_fd(fd);
    return 0;
  }
  *ret = fd < 0 ? set_errno(fd) : (int)fd;
  return 1;
}

// openat(dirfd, "..") for reading, of a directory that comes from one
// lower alone whose real parent does too, or of a directory of the upper
// alone: the view's parent is then that real directory (tree walkers climb
// back up this way).
static int walked_open_parent(const struct walk* w, int flags, int* ret) {
  struct stat dir, parent;
  int pure = walk_pure(w, &dir) != 0;
  // A directory of the upper that no lower has lies in another
  // (upper_alone_dir): its real parent is the view's.
  int upper = !pure && upper_alone_at(w->dir, &dir);
  if (!(pure || upper) ||
      cookie_call(SYS_newfstatat, w->dir, (long)"..", (long)&parent, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISDIR(parent.st_mode) || (pure && pure_dir(parent.st_dev, parent.st_ino) == 0)) {
    return 0;
  }
  long fd = open_checked(w->dir, "..", flags, &parent);
  if (fd < 0) return 0;
  *ret = (int)fd;
  return 1;
}

// openat for reading of an entry walk_entry located in a directory that
// holds only regular files, directories and symlinks: opened first (that
// has no side effect there). What opens is a regular file or a
// directory, the view's object; a symlink (ELOOP) and any other failure
// but a missing name are the supervisor's. A directory asked for as one
// (O_DIRECTORY: opendir, tree walkers) is remembered as of one lower
// alone, for the lookups that follow in it.
static int open_plain(const struct entry* e, int flags, int* ret) {
  long fd = cookie_call(SYS_openat, e->dir, (long)e->name, flags | O_NOFOLLOW, 0);
  if (fd == -ENOENT) {
    *ret = set_errno(fd);
    return 1;
  }
  if (fd < 0) return 0;
  if (!(flags & O_DIRECTORY)) {
    *ret = (int)fd;
    return 1;
  }
  struct stat st;
  if (cookie_call(SYS_newfstatat, fd, (long)"", (long)&st, AT_EMPTY_PATH) != 0 ||
      !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
    close_fd(fd);
    return 0;
  }
  if (S_ISDIR(st.st_mode)) note_unmarked_pure(fd, &st, e->generation);
  *ret = (int)fd;
  return 1;
}

// openat of the walk's last name for reading, of a regular file or a
// directory (walk_entry): the view's object is that real object. A
// directory of one lower alone opened this way is remembered as such.
static int walked_open(const struct walk* w, void* arg, int* ret) {
  int flags = *(const int*)arg;
  if (w->name != NULL && strcmp(w->name, "..") == 0) return walked_open_parent(w, flags, ret);
  struct entry e;
  // (O_PATH opens a symlink itself even where the call follows it: such
  // an open looks the name up first.)
  int r = walk_entry(w, &e, NULL, 0, 0, !(flags & O_PATH));
  if (r == 2) return open_plain(&e, flags, ret);
  if (r < 0) {
    *ret = set_errno(r);
    return 1;
  }
  if (r == 0 || !(S_ISREG(e.st.st_mode) || S_ISDIR(e.st.st_mode))) return 0;
  long fd = open_checked(e.dir, e.name, flags | O_NOFOLLOW, &e.st);
  if (fd < 0) return 0;
  if (S_ISDIR(e.st.st_mode) && !e.merged_sub && !e.upper) {
    note_unmarked_pure(fd, &e.st, e.generation);
  }
  *ret = (int)fd;
  return 1;
}

// openat(dirfd, path) for reading in a listed directory, after the walk.
static int fast_pure_open(int dirfd, const char* path, int flags, int* ret) {
  if (!enabled || (flags & O_ACCMODE) != O_RDONLY ||
      (flags & (O_CREAT | O_TRUNC | TMPFILE_BIT)) != 0) {
    return 0;
  }
  return answer_walked(dirfd, path, walked_open, &flags, ret);
}

// open/openat of a host path of plain names (plain_host_path), with any
// flags: made by the kernel as it is, in one call. Host paths through a
// symlink are fast_open's (for reading) or the supervisor's.
static int fast_host_open(const char* path, int flags, mode_t mode, int* ret) {
  if (!plain_host_path(path)) return 0;
  long fd = host_open(path, flags, mode);
  if (!host_answer(fd)) return 0;
  *ret = set_errno(fd);
  return 1;
}

// The opens the library makes itself, each where its answer is the
// view's: 1 when answered (descriptor or -1 with errno in *ret).
static int fast_any_open(int dirfd, const char* path, int flags, mode_t mode, int* ret) {
  return fast_host_open(path, flags, mode, ret) || fast_open(path, flags, ret) ||
         fast_pure_open(dirfd, path, flags, ret) || fast_upper_open(dirfd, path, flags, mode, ret);
}

static int do_openat(int dirfd, const char* path, int flags, mode_t mode) {
  int ret;
  path = UNTRUSTED(path);
  if (fast_any_open(dirfd, path, flags, mode, &ret)) return ret;
  return set_errno(plain_call(SYS_openat, dirfd, (long)path, flags, mode));
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & TMPFILE_BIT) ? va_arg(ap, mode_t) : 0;
}

EXPORT int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_openat(AT_FDCWD, path, flags, mode);
}
EXPORT int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, mode);
}
EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_openat(dirfd, path, flags, mode);
}
EXPORT int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  return do_openat(dirfd, path, flags | O_LARGEFILE, mode);
}
// _FORTIFY_SOURCE's checked variants (no mode: they abort on O_CREAT
// without one in glibc; here the supervisor sees the call as it is).
EXPORT int __open_2(const char* path, int flags) { return do_openat(AT_FDCWD, path, flags, 0); }
EXPORT int __open64_2(const char* path, int flags) {
  return do_openat(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}
EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  return do_openat(dirfd, path, flags, 0);
}
EXPORT int __openat64_2(int dirfd, const char* path, int flags) {
  return do_openat(dirfd, path, flags | O_LARGEFILE, 0);
}

// fopen: glibc's fopen opens from inside libc, where nothing can
// interpose the open, so the library opens where open would
// (fast_any_open) and hands the descriptor to fdopen. Modes it does not know (",ccs=")
// and everything else stay glibc's.
typedef FILE* (*fopen_fn)(const char*, const char*);

// fopen's open flags for `mode` ("r", "w", "a", then "+", "b", "c", "e",
// "m", "x"), and in `fd_mode` the mode for fdopen; 0 for a mode it does
// not know.
static int fopen_flags(const char* mode, int* flags, char* fd_mode) {
  int acc;
  switch (mode[0]) {
    case 'r': acc = 0; *flags = O_RDONLY; break;
    case 'w': acc = 1; *flags = O_WRONLY | O_CREAT | O_TRUNC; break;
    case 'a': acc = 1; *flags = O_WRONLY | O_CREAT | O_APPEND; break;
    default: return 0;
  }
  int n = 0;
  fd_mode[n++] = mode[0];
  for (const char* m = mode + 1; *m != '\0'; ++m) {
    switch (*m) {
      case '+':
        *flags = (*flags & ~O_ACCMODE) | O_RDWR;
        if (n < 2) fd_mode[n++] = '+';
        break;
      case 'x':
        if (!acc) return 0;
        *flags |= O_EXCL;
        break;
      case 'e': *flags |= O_CLOEXEC; break;
      case 'b': case 'c': case 'm': break;
      default: return 0;  // ",ccs=" and anything new
    }
  }
  fd_mode[n] = '\0';
  return 1;
}

static FILE* do_fopen(const char* path, const char* mode, int large, fopen_fn* next,
                      const char* next_name) {
  path = UNTRUSTED(path);
  mode = UNTRUSTED(mode);
  int flags;
  char fd_mode[4];
  if (enabled && path != NULL && mode != NULL && fopen_flags(mode, &flags, fd_mode)) {
    if (large) flags |= O_LARGEFILE;
    int fd;
    if (fast_any_open(AT_FDCWD, path, flags, 0666, &fd)) {
      if (fd < 0) return NULL;  // errno is set
      FILE* f = fdopen(fd, fd_mode);
      if (f == NULL) {
        int err = errno;
        close_fd(fd);
        errno = err;
      }
      return f;
    }
  }
  if (*next == NULL) *next = (fopen_fn)dlsym(RTLD_NEXT, next_name);
  if (*next == NULL) {
    errno = ENOSYS;
    return NULL;
  }
  return (*next)(path, mode);
}

EXPORT FILE* fopen(const char* path, const char* mode) {
  static fopen_fn next;
  return do_fopen(path, mode, 0, &next, "fopen");
}
EXPORT FILE* fopen64(const char* path, const char* mode) {
  static fopen_fn next;
  return do_fopen(path, mode, 1, &next, "fopen64");
}

// ---- readlink, access ----

static ssize_t do_readlinkat(int dirfd, const char* path, char* buf, size_t size) {
  path = UNTRUSTED(path);
  if (candidate(path) && (ssize_t)size > 0) {
    struct stat st;
    long fd = outside_fd(path, 1, &st);
    if (fd == -ENOENT) return set_errno(fd);
    if (fd >= 0) {
      long n = S_ISLNK(st.st_mode)
                   ? cookie_call(SYS_readlinkat, fd, (long)"", (long)UNTRUSTED(buf), (long)size)
                   : -EINVAL;
      close_fd(fd);
      if (n >= 0 || n == -EINVAL) return set_errno(n);
    }
  }
  int ret;
  buf = UNTRUSTED(buf);
  if (fast_pure_readlink(dirfd, path, buf, size, &ret)) return ret;
  long n = plain_call(SYS_readlinkat, dirfd, (long)path, (long)buf, (long)size);
  if (n < 0 && n > -4096) {
    errno = (int)-n;
    return -1;
  }
  return n;
}

EXPORT ssize_t readlink(const char* path, char* buf, size_t size) {
  return do_readlinkat(AT_FDCWD, path, buf, size);
}
EXPORT ssize_t readlinkat(int dirfd, const char* path, char* buf, size_t size) {
  return do_readlinkat(dirfd, path, buf, size);
}

static int do_faccessat(int dirfd, const char* path, int mode, int flags) {
  path = UNTRUSTED(path);
  if (candidate(path) && (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW)) == 0 &&
      (mode & ~(R_OK | W_OK | X_OK)) == 0) {
    struct stat st;
    long fd = outside_fd(path, (flags & AT_SYMLINK_NOFOLLOW) != 0, &st);
    if (fd == -ENOENT) return set_errno(fd);
    if (fd >= 0) {
      long r = cookie_call(SYS_faccessat2, fd, (long)"", mode,
                           (flags & AT_EACCESS) | AT_EMPTY_PATH);
      close_fd(fd);
      return set_errno(r);
    }
  }
  if (flags == 0) return set_errno(plain_call(SYS_faccessat, dirfd, (long)path, mode, 0));
  return set_errno(plain_call(SYS_faccessat2, dirfd, (long)path, mode, flags));
}

EXPORT int access(const char* path, int mode) { return do_faccessat(AT_FDCWD, path, mode, 0); }
// GNU make finds programs with eaccess; glibc's own makes its lookups
// from inside libc (a stat, for root), where nothing can interpose them.
EXPORT int euidaccess(const char* path, int mode) {
  return do_faccessat(AT_FDCWD, path, mode, AT_EACCESS);
}
EXPORT int eaccess(const char* path, int mode) {
  return do_faccessat(AT_FDCWD, path, mode, AT_EACCESS);
}
EXPORT int faccessat(int dirfd, const char* path, int mode, int flags) {
  return do_faccessat(dirfd, path, mode, flags);
}

// ---- realpath ----

typedef char* (*realpath_fn)(const char*, char*);
typedef char* (*realpath_chk_fn)(const char*, char*, size_t);

// Whether glibc's realpath checks that the name before `end` (the rest of
// the path after it) is a directory: when slashes and "." lead from it to
// the end of the path or to a "..".
static int suffix_needs_dir(const char* end) {
  while (*end == '/') {
    while (*end == '/') ++end;
    if (*end == '\0') return 1;
    if (*end != '.') return 0;
    ++end;
    if (*end == '\0') return 1;                                      // "/."
    if (*end == '.' && (end[1] == '\0' || end[1] == '/')) return 1;  // ".."
  }
  return 0;
}

static int view_dir_known(const char* path);

// glibc's realpath (stdlib/canonicalize.c), step for step: a readlink of
// each prefix, the access check of a directory before ".." or a trailing
// slash, a symlink's target put in its place. glibc calls its internal
// readlink, which no preload can interpose; these calls are the library's.
// With `host`, an absolute host path by the kernel's own answers (the
// cookie), while every prefix it resolves lies outside the view (else 0:
// the view must answer). Without, any path, by the library's readlink and
// faccessat, which answer most names of the view in the program, and no
// readlink at all of a prefix known to be a directory of the view
// (view_dir_known). 1: `out` (PATH_MAX) holds the canonical path; -1:
// failed with *err, and `out` holds what glibc leaves in a caller's buffer
// on ENOENT or EACCES (the canonical part that exists, and the name that
// failed); 0: glibc's realpath must answer (a buffer here too small).
static int realpath_walk(const char* path, char* out, int host, int* err) {
  if (host ? !candidate(path) : path[0] == '\0') return 0;
  char rest[PATH_MAX];  // the names still to resolve
  size_t rest_len = strnlen(path, PATH_MAX);
  if (rest_len >= PATH_MAX) return 0;
  memcpy(rest, path, rest_len + 1);
  size_t len = 1, n;  // out holds the canonical path resolved so far
  out[0] = '/';
  out[1] = '\0';
  if (path[0] != '/') {
    if (getcwd(out, PATH_MAX) == NULL) {
      if (errno == ERANGE) return 0;
      *err = errno;
      out[0] = '\0';
      return -1;
    }
    len = strlen(out);
  }
  int links = 0;
  const char* at = rest;
  for (const char* name; (name = next_name(&at, &n)) != NULL;) {
    if (is_dot(name, n)) continue;
    if (is_dotdot(name, n)) {
      path_up(out, &len);
      continue;
    }
    if (!path_down(out, &len, name, n) || (host && way_excluded(out))) return 0;
    if (!host && view_dir_known(out)) continue;  // a directory: no symlink
    char link[PATH_MAX];
    long r;
    if (host) {
      r = cookie_call(SYS_readlinkat, AT_FDCWD, (long)out, (long)link, PATH_MAX - 1);
    } else if ((r = do_readlinkat(AT_FDCWD, out, link, PATH_MAX - 1)) < 0) {
      r = -errno;
    }
    if (r == -EINVAL) {  // no symlink
      if (suffix_needs_dir(at)) {
        if (len + 1 >= PATH_MAX) return 0;
        out[len] = '/';
        out[len + 1] = '\0';
        long ok = host ? cookie_call(SYS_faccessat2, AT_FDCWD, (long)out, F_OK, AT_EACCESS)
                       : (do_faccessat(AT_FDCWD, out, F_OK, AT_EACCESS) == 0 ? 0 : -errno);
        out[len] = '\0';
        if (ok != 0) {
          *err = (int)-ok;
          return -1;
        }
      }
      continue;
    }
    if (r < 0) {
      *err = (int)-r;
      return -1;
    }
    if (r >= PATH_MAX - 1) return 0;
    if (++links > 40) {
      *err = ELOOP;
      return -1;
    }
    // A symlink: its target, then what followed it, from its directory (or
    // from the root for an absolute target).
    size_t tail = strlen(at);
    if ((size_t)r + tail >= PATH_MAX) return 0;
    memmove(rest + r, at, tail + 1);
    memcpy(rest, link, (size_t)r);
    at = rest;
    if (link[0] == '/') {
      len = 1;
      out[1] = '\0';
    } else {
      path_up(out, &len);
    }
  }
  return 1;
}

// The view's root: the topmost lower's root in the configuration.
static int view_root(struct root* r) {
  const char* p = cfg.prefixes;
  int k;
  while ((k = next_root(&p, r)) > 0 && r->kind != 'D') {
  }
  return k > 0;
}

// Whether the cwd (its stat in *cwd) is a directory of the view the
// library looks names up in itself: of one lower alone or a recorded
// merged one, still holding (a directory removed from the view is in no
// record), or one of the upper alone (removed, it is deleted: its real
// path says so).
static int cwd_listed(struct stat* cwd) {
  struct merged m;
  return cwd_stat(cwd) &&
         (pure_dir(cwd->st_dev, cwd->st_ino) != 0 || merged_dir(cwd->st_dev, cwd->st_ino, &m) ||
          upper_alone_at(AT_FDCWD, cwd));
}

// The view path of the real directory `real` (absolute), when it lies in
// a layer: the view's root (the topmost lower's path), then the
// directory's place below its layer's root. Without redirects (userxattr
// turns them off) a layer's directory stands for the view directory at
// its own place and no other. 1 when `out` (PATH_MAX) holds it.
static int view_path_of_dir(const char* real, char* out) {
  size_t root_len;
  struct root r;
  if (layer_of(real, &root_len) < 0 || !view_root(&r)) return 0;
  const char* rel = root_len == 1 ? real : real + root_len;  // "" or "/..."
  size_t top = r.len == 1 ? 0 : r.len;  // the view at "/": no root part
  size_t rel_len = strlen(rel);
  if (top + rel_len + 1 >= PATH_MAX) return 0;
  memcpy(out, r.path, top);
  memcpy(out + top, rel, rel_len + 1);
  if (out[0] == '\0') memcpy(out, "/", 2);
  return 1;
}

// The real path of the directory a walk looks its last name up in, in
// `real` (PATH_MAX): where the thread's walk memo led, or the walk's own
// directory (the cwd's: this thread's).
static int walk_dir_real(const struct walk* w, char* real) {
  if (w->memo_gen != 0 && !w->memo_merged) {
    size_t len = strlen(w->memo_path) - strlen(w->name) - 1;
    memcpy(real, w->memo_path, len);
    real[len] = '\0';
    return 1;
  }
  if (w->memo_gen != 0) {
    struct merged m;
    if (!merged_dir((dev_t)w->memo_dev, (ino_t)w->memo_ino, &m)) return 0;
    size_t len = strnlen(m.paths, sizeof(m.paths));
    if (len == 0 || len >= sizeof(m.paths)) return 0;
    memcpy(real, m.paths, len + 1);
    return 1;
  }
  if (w->dir == AT_FDCWD) return real_path_at("/proc/thread-self/cwd", real);
  return real_path_of(w->dir, real);
}

// realpath of a path the library walks to its last name itself (plain
// names; no "..", no trailing slash), relative to a cwd in the view
// (cwd_listed) or absolute below the view's root: the view path of the directory the name is looked up in
// (one of one lower alone, a recorded merged one, or one of the upper
// alone, each canonical: every directory above it in the view is one),
// then the name, when that is no symlink. 1: `out` (PATH_MAX) holds it;
// -1: the name is missing, and `out` holds what glibc's realpath leaves
// in a caller's buffer then (the directory's path and the name), or no
// caller's buffer was given; -2: a name on the way is missing (which one
// decides what is left in the buffer); 0: the supervisor's.
static int walked_realpath(const char* path, char* out, int partial) {
  if (!enabled || path == NULL || path[0] == '\0' || !listing()) return 0;
  // (A walk may also pass through another lower's own host path, which is
  // the host's, not the view's.)
  struct root top;
  struct stat cwd;
  if (path[0] == '/' ? !view_root(&top) || !below_root(path, &top) || strcmp(path, top.path) == 0
                     : !cwd_listed(&cwd)) {
    return 0;
  }
  struct walk w;
  int walked = walk_to_last(AT_FDCWD, path, &w);
  if (walked < 0) {
    // A directory on the way is missing: ENOENT, and with no buffer of the
    // caller's there is no partial answer to leave in it; else which name
    // is missing decides what is left there (realpath_walk finds it).
    out[0] = '\0';
    return partial ? -2 : -1;
  }
  if (walked <= 0) return 0;
  struct entry e;
  int r = walk_entry(&w, &e, NULL, 0, 0, 0);
  char real[PATH_MAX];
  int answer = 0;
  if (r != 0 && (r < 0 || !S_ISLNK(e.st.st_mode)) && walk_dir_real(&w, real) &&
      view_path_of_dir(real, out)) {
    size_t len = strlen(out), n = strlen(w.name);
    if (len + 1 + n < PATH_MAX) {
      if (len > 1) out[len++] = '/';
      memcpy(out + len, w.name, n + 1);
      answer = r < 0 ? -1 : 1;
    }
  }
  walk_done(&w);
  return answer;
}

// getcwd where the cwd is a directory of the view the library looks names
// up in itself (cwd_listed): its view path (view_path_of_dir). 1 when
// `out` (PATH_MAX) holds it.
static int fast_getcwd(char* out) {
  struct stat cwd;
  if (!enabled || !listing() || !cwd_listed(&cwd)) return 0;
  char real[PATH_MAX];
  struct stat again;
  // The link read, then the identity checked again: the cwd did not move
  // in between.
  return real_path_at("/proc/thread-self/cwd", real) &&
         cookie_call(SYS_newfstatat, AT_FDCWD, (long)".", (long)&again, 0) == 0 &&
         again.st_dev == cwd.st_dev && again.st_ino == cwd.st_ino && view_path_of_dir(real, out);
}

typedef char* (*getcwd_fn)(char*, size_t);

EXPORT char* getcwd(char* buf, size_t size) {
  buf = UNTRUSTED(buf);
  char view[PATH_MAX];
  if (!(buf != NULL && size == 0) && fast_getcwd(view)) {
    size_t n = strlen(view) + 1;
    if (buf == NULL) {
      if (size != 0 && size < n) {
        errno = ERANGE;
        return NULL;
      }
      char* copy = malloc(size != 0 ? size : n);
      if (copy == NULL) {
        errno = ENOMEM;
        return NULL;
      }
      memcpy(copy, view, n);
      return copy;
    }
    if (size < n) {
      errno = ERANGE;
      return NULL;
    }
    memcpy(buf, view, n);
    return buf;
  }
  static getcwd_fn next;
  if (next == NULL) next = (getcwd_fn)dlsym(RTLD_NEXT, "getcwd");
  if (next == NULL) {
    errno = ENOSYS;
    return NULL;
  }
  return next(buf, size);
}

// The canonical view path of `path` from the supervisor, in one call, for
// a path the host fast path does not place: 1 when `out` (PATH_MAX) holds
// it. Failures are left to glibc, for the exact errno and for what its
// realpath leaves in a caller's buffer then.
static int view_realpath(const char* path, char* out) {
  if (!enabled || path == NULL || path[0] == '\0') return 0;
  long n = tagged_call(SYS_readlinkat, AT_FDCWD, (long)path, (long)out, PATH_MAX - 1,
                       OVLBOX_PRELOAD_REALPATH_TAG);
  if (n <= 0 || n >= PATH_MAX - 1 || out[0] != '/') return 0;
  out[n] = '\0';
  return 1;
}

// Whether the absolute path `path` is, in the view, a directory the library
// knows (walk_in_one reaches a listed one), so no symlink: realpath_walk
// skips its readlink, also for a name in the root, which holds mount
// points and is never listed.
static int view_dir_known(const char* path) {
  if (path[0] != '/' || path[1] == '\0' || lower_prefix(path) == 0) return 0;
  long fd = open_known_dir(AT_FDCWD, path, path + strlen(path));
  if (fd < 0) return 0;
  close_fd(fd);
  return 1;
}

EXPORT char* realpath(const char* path, char* resolved) {
  char buf[PATH_MAX];
  path = UNTRUSTED(path);
  resolved = UNTRUSTED(resolved);
  int err = ENOENT;
  int fast = path == NULL ? 0 : realpath_walk(path, buf, 1, &err);
  if (fast == 0) fast = walked_realpath(path, buf, resolved != NULL);
  if (fast == 0 && view_realpath(path, buf)) fast = 1;
  // Missing on the way (-2), or not answered: glibc's walk, made here.
  if (fast == -2 || (fast == 0 && path != NULL && enabled && listing())) {
    fast = realpath_walk(path, buf, 0, &err);
  }
  if (fast < 0) {
    if (resolved != NULL && (err == ENOENT || err == EACCES)) {
      memcpy(resolved, buf, strlen(buf) + 1);
    }
    errno = err;
    return NULL;
  }
  if (fast > 0) {
    if (resolved != NULL) {
      memcpy(resolved, buf, strlen(buf) + 1);
      return resolved;
    }
    char* copy = strdup(buf);
    if (copy == NULL) errno = ENOMEM;
    return copy;
  }
  static realpath_fn next;
  if (next == NULL) next = (realpath_fn)dlsym(RTLD_NEXT, "realpath");
  if (next == NULL) {
    errno = ENOSYS;
    return NULL;
  }
  return next(path, resolved);
}

EXPORT char* __realpath_chk(const char* path, char* resolved, size_t resolvedlen) {
  if (resolvedlen >= PATH_MAX || resolved == NULL) return realpath(path, resolved);
  static realpath_chk_fn next;
  if (next == NULL) next = (realpath_chk_fn)dlsym(RTLD_NEXT, "__realpath_chk");
  if (next == NULL) {
    errno = ENOSYS;
    return NULL;
  }
  return next(path, resolved, resolvedlen);
}

// GNU's realpath(path, NULL), which libiberty's lrealpath (GCC) prefers.
EXPORT char* canonicalize_file_name(const char* path) { return realpath(path, NULL); }

// ---- execve of host programs ----

// execve of a plain host path (plain_host_path) that the kernel's walk,
// meeting no symlink (host_open), finds missing: ENOENT, the kernel's
// answer and the view's, with no notification. The PATH searches of posix_spawnp, Python's
// subprocess and the like try execve on one directory after another
// (execvp's is shortened below). Any other call is the supervisor's, also
// the run of a host program: making that one unseen, with the cookie,
// saved nothing measurable and moved new programs between CPUs more often
// (docs/performance.md). Safe in a vfork child: system calls and the
// stack only.
EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  path = UNTRUSTED(path);
  if (plain_host_path(path)) {
    long fd = host_open(path, O_PATH | O_CLOEXEC, 0);
    if (fd == -ENOENT) return set_errno(fd);
    if (fd >= 0) close_fd(fd);
  }
  return set_errno(plain_call(SYS_execve, (long)path, (long)argv, (long)envp, 0));
}

// ---- PATH searches ----

// glibc's execvp tries execve on each PATH directory in turn, from inside
// libc, and every try that fails reaches the supervisor: a compiler driver
// that runs `as` through a PATH of ten directories makes ten. The library
// looks the name up along PATH first: a directory where the kernel says
// the name is missing (a host path outside the view, the lookup that stat
// gets here) is skipped, and the call is made on the first directory it
// cannot rule out, with that directory's path, which is the call glibc
// would have made next. Anything else goes to glibc's own execvpe, which
// searches as it always does: a name with a '/', PATH unset
// or with an empty or relative entry, no directory left, a path too long,
// or a failing call on the directory found (exec failures have no side
// effects, so glibc can make the whole search again).

// The first PATH candidate for `file` in `buf`; 0 when the library cannot
// tell or finds none.
static int path_candidate(const char* file, char* buf, size_t size) {
  if (!enabled || file == NULL || file[0] == '\0' || strchr(file, '/') != NULL) return 0;
  const char* path = getenv("PATH");
  if (path == NULL) return 0;
  size_t flen = strlen(file);
  int saved = errno;
  for (const char* p = path;;) {
    const char* end = strchr(p, ':');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len == 0 || p[0] != '/' || len + 1 + flen + 1 > size) break;
    memcpy(buf, p, len);
    buf[len] = '/';
    memcpy(buf + len + 1, file, flen + 1);
    struct stat st;
    int ret;
    if (!fast_stat(buf, &st, 0, &ret) || ret == 0) {
      errno = saved;
      return 1;
    }
    if (end == NULL) break;
    p = end + 1;
  }
  errno = saved;
  return 0;
}

// Makes the call on the first candidate; returns only when there is none
// or the call failed (glibc then searches from the start).
static void search_and_exec(const char* file, char* const argv[], char* const envp[]) {
  char buf[PATH_MAX];
  if (path_candidate(file, buf, sizeof(buf))) {
    plain_call(SYS_execve, (long)buf, (long)argv, (long)envp, 0);
  }
}

// glibc's execvp is execvpe with the process's environment.
EXPORT int execvp(const char* file, char* const argv[]) { return execvpe(file, argv, environ); }

EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  file = UNTRUSTED(file);
  search_and_exec(file, argv, envp);
  if (next_execvpe_fn == NULL) next_execvpe_fn = (execvpe_fn)dlsym(RTLD_NEXT, "execvpe");
  if (next_execvpe_fn == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return next_execvpe_fn(file, argv, envp);
}

// ---- directory streams ----

// glibc's opendir, fdopendir and readdir make their fstat and getdents64
// calls from inside libc, where nothing can interpose them: every
// directory a program lists would cost the supervisor an fstat and two
// listings. These streams list a directory with the kernel instead, with
// the cookie, where the kernel's listing is the view's: a directory
// outside the view, a directory of one lower alone whose parent comes
// from one lower alone too, and a directory of the upper that no lower has
// (upper_alone_dir). overlayfs lists such a directory as its real
// directory lists itself, whiteouts included, and its ".." entry then
// names what the view's does. The choice is made when the stream is
// opened or rewound; a directory changed after that may or may not show
// the change, as POSIX allows. Every other directory is listed by the
// supervisor, through the same getdents64 without the cookie. In an image
// with no configuration every call goes to glibc's own functions.
enum dir_source { DIR_SUPERVISOR, DIR_KERNEL, DIR_KERNEL_PURE, DIR_MERGED };

#define DIR_BUF_SIZE 32768

struct ovl_dir {
  int fd;
  enum dir_source source;
  pthread_mutex_t lock;
  size_t size;    // bytes of listing in buf
  size_t offset;  // the next entry in buf
  long filepos;   // telldir: the position after the entry returned last
  char* list;     // DIR_MERGED: the whole listing (size bytes), else NULL
  uint64_t dotdot_ino;  // DIR_KERNEL_PURE: the view's d_ino for "..", or 0
  _Alignas(8) char buf[DIR_BUF_SIZE];
};

typedef DIR* (*opendir_fn)(const char*);
typedef DIR* (*fdopendir_fn)(int);
typedef int (*closedir_fn)(DIR*);
typedef struct dirent64* (*readdir_fn)(DIR*);
typedef int (*readdir_r_fn)(DIR*, struct dirent64*, struct dirent64**);
typedef void (*rewinddir_fn)(DIR*);
typedef void (*seekdir_fn)(DIR*, long);
typedef long (*telldir_fn)(DIR*);
typedef int (*dirfd_fn)(DIR*);

// glibc's version of `name` (for an image with no configuration).
static void* libc_next(void** slot, const char* name) {
  void* fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
  if (fn == NULL) {
    fn = dlsym(RTLD_NEXT, name);
    __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
  }
  return fn;
}
#define LIBC_NEXT(type, name)          \
  __extension__({                      \
    static void* slot_;                \
    (type) libc_next(&slot_, name);    \
  })

// Whether this process's streams are the library's: fixed for the life
// of the image (not the constructor's `enabled`, which another library's
// constructor may run before).
static int own_streams(void) { return cfg.cookie != 0; }

// Whether the real directory `real` directly holds a root the
// configuration lists (a layer, the work dir, a runtime dir, a served
// file), which the view's listing leaves out.
static int holds_root(const char* real) {
  size_t len = strlen(real);
  const char* p = cfg.prefixes;
  struct root r;
  int k;
  while ((k = next_root(&p, &r)) > 0) {
    if (r.len > len + 1 && strncmp(r.path, real, len) == 0 && r.path[len] == '/' &&
        memchr(r.path + len + 1, '/', r.len - len - 1) == NULL) {
      return 1;
    }
  }
  return k < 0;
}

// Whether the directory open as `fd` (stat `st`) is one of the upper that
// no lower has, below another such directory, marked neither impure nor
// opaque and holding no root: the view lists it as the kernel does (the
// supervisor's listing of it, overlay/dirlist.cc, is its real entries with
// their real numbers, "." its own and ".." its parent's, the parent being
// no merged directory). Names made and removed there by the library or the
// supervisor show at once: the kernel lists the real directory.
static int upper_alone_dir(long fd, const struct stat* st) {
  if (!cfg.writable || st->st_dev != cfg.upper_dev) return 0;
  char real[PATH_MAX];
  size_t root;
  if (!real_path_of(fd, real) || layer_of(real, &root) != 0 || real[root] != '/') return 0;
  const char* rel = real + root + 1;
  const char* slash = strrchr(rel, '/');
  if (slash == NULL) return 0;  // its parent is the view's root: merged
  char parent[PATH_MAX];
  memcpy(parent, rel, (size_t)(slash - rel));
  parent[slash - rel] = '\0';
  if (!upper_alone_cached(rel) || !upper_alone_cached(parent) || holds_root(real)) return 0;
  char v[4];
  return cookie_call(SYS_fgetxattr, fd, (long)"user.overlay.impure", (long)v, sizeof(v)) ==
             -ENODATA &&
         cookie_call(SYS_fgetxattr, fd, (long)"user.overlay.opaque", (long)v, sizeof(v)) ==
             -ENODATA;
}

// Who lists the directory open as `fd` for the view; for DIR_MERGED, the
// real directories in *plan; for DIR_KERNEL_PURE, in *dotdot_ino the
// view's number for ".." when it is not the real one (0: it is).
static enum dir_source dir_source_of(int fd, struct merged* plan, uint64_t* dotdot_ino) {
  *dotdot_ino = 0;
  if (!enabled) return DIR_SUPERVISOR;
  struct stat st;
  if (cookie_call(SYS_newfstatat, fd, (long)"", (long)&st, AT_EMPTY_PATH) != 0 ||
      !S_ISDIR(st.st_mode)) {
    return DIR_SUPERVISOR;
  }
  if (pure_dir(st.st_dev, st.st_ino) != 0) {
    struct stat parent;
    if (cookie_call(SYS_newfstatat, fd, (long)"..", (long)&parent, AT_SYMLINK_NOFOLLOW) == 0 &&
        pure_dir(parent.st_dev, parent.st_ino) != 0) {
      return DIR_KERNEL_PURE;
    }
  }
  if (merged_dir(st.st_dev, st.st_ino, plan)) {
    return plan->upper_first ? DIR_SUPERVISOR : DIR_MERGED;
  }
  if (upper_alone_dir(fd, &st)) return DIR_KERNEL_PURE;
  switch (derive_from_parent(fd, &st, plan, dotdot_ino)) {
    case 1:
      return DIR_KERNEL_PURE;
    case 2:
      return DIR_MERGED;
  }
  return fd_outside(fd, &st) ? DIR_KERNEL : DIR_SUPERVISOR;
}

// ---- merged listings ----
//
// A merged directory whose real directories are all lowers' (recorded at
// a record that still holds) is listed here as the supervisor lists
// it (overlay/dirlist.cc, ListMerged): every real directory's names, top
// first, each name once, a whiteout device hiding the name below it; "."
// and ".." with the numbers the record gives; in overlayfs' order (the
// lowest directory's names first, in its order, then the others in the
// order they were read); each entry's d_off the position of the entry
// after it (overlay/name_cookie.h). The positions are then the
// supervisor's, so telldir and seekdir mean the same on either listing.


struct mentry {
  uint64_t cookie;
  uint64_t ino;
  uint32_t name_off;
  uint16_t name_len;
  unsigned char type;
  unsigned char hidden;     // a whiteout: the name is taken, not listed
  unsigned char in_lowest;  // listed in the lowest directory's order
};

struct mlist {
  struct mentry* e;
  size_t n, cap;
  char* names;
  size_t names_len, names_cap;
  uint32_t* table;  // open addressing: index + 1 into e, 0 empty
  size_t table_cap;  // a power of two, at least twice n
  uint32_t* lowest;  // indices into e, in the lowest directory's order
  size_t n_lowest;   // (at most n: lowest has room for cap entries)
};

static void mlist_free(struct mlist* l) {
  free(l->e);
  free(l->names);
  free(l->table);
  free(l->lowest);
}

static int mlist_rehash(struct mlist* l, size_t cap) {
  uint32_t* t = calloc(cap, sizeof(*t));
  if (t == NULL) return 0;
  for (size_t i = 0; i < l->n; ++i) {
    size_t k = l->e[i].cookie & (cap - 1);
    while (t[k] != 0) k = (k + 1) & (cap - 1);
    t[k] = (uint32_t)(i + 1);
  }
  free(l->table);
  l->table = t;
  l->table_cap = cap;
  return 1;
}

// Adds `name` unless it is there already: 1 added, 0 there, -1 no memory.
// From the lowest directory (`lowest`), the name takes its place in that
// directory's order, added or not.
static int mlist_add(struct mlist* l, const char* name, size_t len, uint64_t ino,
                     unsigned char type, int hidden, int lowest) {
  uint64_t cookie = ovlbox_name_cookie(name, len);
  if (l->table_cap < 2 * (l->n + 1) && !mlist_rehash(l, l->table_cap ? 2 * l->table_cap : 64)) {
    return -1;
  }
  size_t k = cookie & (l->table_cap - 1);
  for (; l->table[k] != 0; k = (k + 1) & (l->table_cap - 1)) {
    struct mentry* o = &l->e[l->table[k] - 1];
    if (o->cookie == cookie && o->name_len == len && memcmp(l->names + o->name_off, name, len) == 0) {
      if (lowest && !o->in_lowest) {
        o->in_lowest = 1;
        l->lowest[l->n_lowest++] = l->table[k] - 1;
      }
      return 0;
    }
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    struct mentry* e = realloc(l->e, cap * sizeof(*e));
    if (e == NULL) return -1;
    l->e = e;
    uint32_t* order = realloc(l->lowest, cap * sizeof(*order));
    if (order == NULL) return -1;
    l->lowest = order;
    l->cap = cap;
  }
  if (l->names_len + len + 1 > l->names_cap) {
    size_t cap = l->names_cap ? 2 * l->names_cap : 4096;
    while (cap < l->names_len + len + 1) cap *= 2;
    char* names = realloc(l->names, cap);
    if (names == NULL) return -1;
    l->names = names;
    l->names_cap = cap;
  }
  struct mentry* e = &l->e[l->n];
  e->cookie = cookie;
  e->ino = ino;
  e->name_off = (uint32_t)l->names_len;
  e->name_len = (uint16_t)len;
  e->type = type;
  e->hidden = (unsigned char)hidden;
  e->in_lowest = (unsigned char)(lowest != 0);
  if (lowest) l->lowest[l->n_lowest++] = (uint32_t)l->n;
  memcpy(l->names + l->names_len, name, len);
  l->names[l->names_len + len] = '\0';
  l->names_len += len + 1;
  l->table[k] = (uint32_t)(++l->n);
  return 1;
}

// Adds the names of the real directory `path` (not yet in the list);
// `lowest`: the lowest of the directories. `buf` (DIR_BUF_SIZE bytes) is
// scratch space. 1, or 0 on any failure.
static int mlist_add_dir(struct mlist* l, const char* path, int lowest, char* buf) {
  long fd = cookie_call(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  int ok = 1;
  for (;;) {
    long n = cookie_call(SYS_getdents64, fd, (long)buf, DIR_BUF_SIZE, 0);
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    for (long off = 0; off < n && ok;) {
      struct dirent64* d = (struct dirent64*)(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      size_t len = strlen(name);
      unsigned char type = d->d_type;
      int hidden = 0;
      if (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.'))) {
        type = DT_DIR;  // its number: the record's (merged_listing)
      } else if (type == DT_CHR || type == DT_UNKNOWN) {
        struct stat st;
        if (cookie_call(SYS_newfstatat, fd, (long)name, (long)&st, AT_SYMLINK_NOFOLLOW) != 0) {
          hidden = 1;  // gone meanwhile: not listed, as the supervisor hides it
        } else {
          hidden = is_whiteout(&st);
          type = (unsigned char)IFTODT(st.st_mode);
        }
      }
      if (mlist_add(l, name, len, d->d_ino, type, hidden, lowest) < 0) ok = 0;
    }
    if (!ok) break;
  }
  close_fd(fd);
  return ok;
}

static size_t dirent_size(size_t name_len) {
  return (offsetof(struct dirent64, d_name) + name_len + 1 + 7) & ~(size_t)7;
}

static char* put_dirent(char* at, uint64_t ino, uint64_t off, unsigned char type,
                        const char* name, size_t len) {
  size_t reclen = dirent_size(len);
  memset(at, 0, reclen);
  struct dirent64* d = (struct dirent64*)at;
  d->d_ino = ino;
  d->d_off = (off64_t)off;
  d->d_reclen = (unsigned short)reclen;
  d->d_type = type;
  memcpy(d->d_name, name, len);
  return at + reclen;
}

// A directory of the view that has no record of its own, through its
// parent's (a merged directory of the view, recorded): its real
// directories are the parent's real directories' entries of its name, top
// first, down to an opaque one or one that is not a directory, as the
// supervisor builds them (View::BuildStack). `fd` must be one of them, and
// none may be the upper's or mark xattr whiteouts. 1: a directory of that
// one lower alone, listed as its real directory lists itself but for "..",
// whose number the view takes from the parent (*dotdot_ino); 2: merged,
// its real directories in *plan; 0: the supervisor's.
static int derive_from_parent(int fd, const struct stat* st, struct merged* plan,
                              uint64_t* dotdot_ino) {
  char real[PATH_MAX];
  struct stat pst;
  struct merged p;
  // The parent's record first: most directories asked about have none.
  if (cookie_call(SYS_newfstatat, fd, (long)"..", (long)&pst, AT_SYMLINK_NOFOLLOW) != 0 ||
      !merged_dir(pst.st_dev, pst.st_ino, &p) || !real_path_of(fd, real)) {
    return 0;
  }
  const char* name = strrchr(real, '/') + 1;
  size_t name_len = strlen(name);
  if (!single_name(name)) return 0;
  int n = 0, is_fd = 0, fd_index = 0, opaque_any = 0;
  size_t used = 0;
  uint64_t top_ino = 0;
  const char* dir = p.paths;
  for (uint32_t j = 0; j < p.n_dirs; ++j, dir += strlen(dir) + 1) {
    char path[PATH_MAX];
    size_t len = strlen(dir);
    if (len + 1 + name_len >= sizeof(path)) return 0;
    memcpy(path, dir, len);
    path[len] = '/';
    memcpy(path + len + 1, name, name_len + 1);
    struct stat cst;
    long r = cookie_call(SYS_newfstatat, AT_FDCWD, (long)path, (long)&cst, AT_SYMLINK_NOFOLLOW);
    if (r == -ENOENT) continue;
    if (r != 0) return 0;
    if (!S_ISDIR(cst.st_mode)) {
      if (n == 0) return 0;  // a whiteout or a file on top: not this directory
      break;
    }
    if (holder(cst.st_dev, cst.st_ino)) return 0;
    if (j == 0 && p.upper_first) return 0;  // the upper's: the supervisor's
    char v[4];
    long x = opaque_xattr(path, v);
    if (x == 1 && v[0] == 'x') return 0;  // may hold xattr whiteouts
    if (x < 0 && x != -ENODATA) return 0;
    opaque_any |= x != -ENODATA;
    if (used + len + 1 + name_len + 1 > sizeof(plan->paths)) return 0;
    memcpy(plan->paths + used, path, len + 1 + name_len + 1);
    used += len + 1 + name_len + 1;
    if (!is_fd && cst.st_dev == st->st_dev && cst.st_ino == st->st_ino) {
      is_fd = 1;
      fd_index = n;
    }
    if (n++ == 0) top_ino = cst.st_ino;
    if (x == 1 && v[0] == 'y') break;  // opaque: nothing below shows
  }
  if (n == 0 || !is_fd) return 0;
  // A directory's ".." in the view's listing (overlay/dirlist.cc,
  // DotDotIno): of one lower alone below a merged parent, the parent's
  // number; merged, the parent's when the parent (not the root) has an
  // upper directory, else its own top directory's real "..".
  if (n == 1) {
    *dotdot_ino = p.self_ino;
    if (!opaque_any) note_local_pure(st->st_dev, st->st_ino, p.generation);
    return 1;
  }
  int parent_root = p.upper_first && upper_prefix(p.paths) == strlen(p.paths);
  if (p.upper_first && !parent_root) {
    plan->dotdot_ino = p.self_ino;
  } else {
    struct stat up;
    char dots[PATH_MAX];
    size_t top_len = strlen(plan->paths);
    if (top_len + 3 >= sizeof(dots)) return 0;
    memcpy(dots, plan->paths, top_len);
    memcpy(dots + top_len, "/..", 4);
    if (cookie_call(SYS_newfstatat, AT_FDCWD, (long)dots, (long)&up, 0) != 0) return 0;
    plan->dotdot_ino = up.st_ino;
  }
  plan->n_dirs = (uint32_t)n;
  plan->upper_first = 0;
  plan->key_index = (uint32_t)fd_index;  // which of them `fd` is
  plan->self_ino = top_ino;
  plan->generation = p.generation;
  note_local_merged(st->st_dev, st->st_ino, plan);
  return 2;
}

// The listing of the merged directory `m` (real directories, "." and
// ".." numbers, generation) into d->list and d->size: 1, or 0 when it is
// no longer the view's (the view changed meanwhile).
static int merged_listing(struct ovl_dir* d, const struct merged* plan) {
  struct mlist l;
  memset(&l, 0, sizeof(l));
  const char* path = plan->paths;
  int ok = 1;
  for (uint32_t i = 0; i < plan->n_dirs && ok; ++i) {
    ok = mlist_add_dir(&l, path, i + 1 == plan->n_dirs, d->buf);
    path += strlen(path) + 1;
  }
  // Made while the record holds: still the view's now (its directories
  // are all lowers': nothing in them changes before the layout does).
  ok = ok && record_holds(plan->generation);
  // The order: the lowest directory's names, then the others as read.
  uint32_t* order = NULL;
  size_t n = 0;
  if (ok) {
    order = malloc((l.n ? l.n : 1) * sizeof(*order));
    ok = order != NULL;
  }
  if (ok) {
    for (size_t i = 0; i < l.n_lowest; ++i) {
      if (!l.e[l.lowest[i]].hidden) order[n++] = l.lowest[i];
    }
    for (size_t i = 0; i < l.n; ++i) {
      if (!l.e[i].hidden && !l.e[i].in_lowest) order[n++] = (uint32_t)i;
    }
  }
  char* list = NULL;
  size_t size = 0;
  if (ok) {
    for (size_t i = 0; i < n; ++i) size += dirent_size(l.e[order[i]].name_len);
    list = malloc(size ? size : 1);
    ok = list != NULL;
  }
  if (ok) {
    char* at = list;
    for (size_t i = 0; i < n; ++i) {
      const struct mentry* e = &l.e[order[i]];
      const char* name = l.names + e->name_off;
      uint64_t ino = e->ino;
      if (e->name_len == 1 && name[0] == '.') ino = plan->self_ino;
      if (e->name_len == 2 && name[0] == '.' && name[1] == '.') ino = plan->dotdot_ino;
      uint64_t next = i + 1 < n ? ovlbox_dir_pos(i + 1, l.e[order[i + 1]].cookie) : OVLBOX_DIR_EOF;
      at = put_dirent(at, ino, next, e->type, name, e->name_len);
    }
    d->list = list;
    d->size = size;
    d->offset = 0;
  }
  free(order);
  mlist_free(&l);
  return ok;
}

// Chooses who lists the stream's directory (at its start), and makes the
// listing when it is the library's own. `check_offset`: a descriptor the
// program handed over, whose position may be one of the supervisor's.
static void choose_source(struct ovl_dir* d, int check_offset) {
  struct merged plan;
  d->size = d->offset = 0;
  d->filepos = 0;
  d->list = NULL;
  d->source = dir_source_of(d->fd, &plan, &d->dotdot_ino);
  // The view numbers its listings' positions itself: a stream the
  // supervisor has read from already stays the supervisor's.
  if (check_offset && (d->source == DIR_KERNEL_PURE || d->source == DIR_MERGED) &&
      plain_call(SYS_lseek, d->fd, 0, SEEK_CUR, 0) != 0) {
    d->source = DIR_SUPERVISOR;
  }
  if (d->source == DIR_MERGED && !merged_listing(d, &plan)) d->source = DIR_SUPERVISOR;
}

static DIR* new_stream(int fd, int check_offset) {
  struct ovl_dir* d = malloc(sizeof(*d));
  if (d == NULL) return NULL;
  d->fd = fd;
  pthread_mutex_init(&d->lock, NULL);
  choose_source(d, check_offset);
  return (DIR*)d;
}

EXPORT DIR* opendir(const char* path) {
  path = UNTRUSTED(path);
  if (!own_streams()) return LIBC_NEXT(opendir_fn, "opendir")(path);
  if (path != NULL && path[0] == '\0') {
    errno = ENOENT;
    return NULL;
  }
  int fd = do_openat(AT_FDCWD, path, O_RDONLY | O_NONBLOCK | O_DIRECTORY | O_LARGEFILE | O_CLOEXEC,
                     0);
  if (fd < 0) return NULL;
  DIR* d = new_stream(fd, 0);
  if (d == NULL) {
    close_fd(fd);
    errno = ENOMEM;
  }
  return d;
}

EXPORT DIR* fdopendir(int fd) {
  if (!own_streams()) return LIBC_NEXT(fdopendir_fn, "fdopendir")(fd);
  struct stat st;
  long r = cookie_call(SYS_newfstatat, fd, (long)"", (long)&st, AT_EMPTY_PATH);
  if (r != 0) {
    set_errno(r);
    return NULL;
  }
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return NULL;
  }
  long flags = plain_call(SYS_fcntl, fd, F_GETFL, 0, 0);
  if (flags < 0) {
    set_errno(flags);
    return NULL;
  }
  if ((flags & O_ACCMODE) == O_WRONLY) {
    errno = EINVAL;
    return NULL;
  }
  // As glibc's: a descriptor the program hands over is closed on exec.
  r = plain_call(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC, 0);
  if (r < 0) {
    set_errno(r);
    return NULL;
  }
  DIR* d = new_stream(fd, 1);
  if (d == NULL) errno = ENOMEM;
  return d;
}

EXPORT int closedir(DIR* dir) {
  dir = UNTRUSTED(dir);
  if (!own_streams()) return LIBC_NEXT(closedir_fn, "closedir")(dir);
  if (dir == NULL) {
    errno = EINVAL;
    return -1;
  }
  struct ovl_dir* d = (struct ovl_dir*)dir;
  int fd = d->fd;
  pthread_mutex_destroy(&d->lock);
  free(d->list);
  free(d);
  return set_errno(plain_call(SYS_close, fd, 0, 0, 0));
}

// The next entry (the caller holds the lock), or NULL with errno set on
// an error and kept at the end of the listing.
static struct dirent64* next_entry(struct ovl_dir* d) {
  if (d->list != NULL) {
    if (d->offset >= d->size) return NULL;
    struct dirent64* e = (struct dirent64*)(d->list + d->offset);
    d->offset += e->d_reclen;
    d->filepos = e->d_off;
    return e;
  }
  if (d->offset >= d->size) {
    long n = d->source == DIR_SUPERVISOR
                 ? plain_call(SYS_getdents64, d->fd, (long)d->buf, sizeof(d->buf), 0)
                 : cookie_call(SYS_getdents64, d->fd, (long)d->buf, sizeof(d->buf), 0);
    if (n <= 0) {
      // As glibc's: the listing of a removed directory ends quietly.
      if (n < 0 && n != -ENOENT) errno = (int)-n;
      return NULL;
    }
    d->size = (size_t)n;
    d->offset = 0;
  }
  struct dirent64* e = (struct dirent64*)(d->buf + d->offset);
  d->offset += e->d_reclen;
  d->filepos = e->d_off;
  if (d->dotdot_ino != 0 && e->d_name[0] == '.' && e->d_name[1] == '.' && e->d_name[2] == '\0') {
    e->d_ino = d->dotdot_ino;
  }
  return e;
}

EXPORT struct dirent64* readdir64(DIR* dir) {
  dir = UNTRUSTED(dir);
  if (!own_streams()) return LIBC_NEXT(readdir_fn, "readdir64")(dir);
  if (dir == NULL) {
    errno = EINVAL;
    return NULL;
  }
  struct ovl_dir* d = (struct ovl_dir*)dir;
  pthread_mutex_lock(&d->lock);
  struct dirent64* e = next_entry(d);
  pthread_mutex_unlock(&d->lock);
  return e;
}
// On x86_64 struct dirent and struct dirent64 are the same.
EXPORT struct dirent* readdir(DIR* dir) {
  if (!own_streams()) return (struct dirent*)LIBC_NEXT(readdir_fn, "readdir")(dir);
  return (struct dirent*)readdir64(dir);
}

static int read_entry_r(DIR* dir, struct dirent64* entry, struct dirent64** result) {
  struct ovl_dir* d = (struct ovl_dir*)dir;
  pthread_mutex_lock(&d->lock);
  int saved = errno;
  errno = 0;
  struct dirent64* e = next_entry(d);
  int err = errno;
  errno = saved;
  if (e != NULL) {
    size_t len = e->d_reclen < sizeof(*entry) ? e->d_reclen : sizeof(*entry);
    memcpy(entry, e, len);
    entry->d_reclen = (unsigned short)len;
    entry->d_name[sizeof(entry->d_name) - 1] = '\0';
    err = 0;
  }
  *result = e != NULL ? entry : NULL;
  pthread_mutex_unlock(&d->lock);
  return e != NULL ? 0 : err;
}
EXPORT int readdir64_r(DIR* dir, struct dirent64* entry, struct dirent64** result) {
  dir = UNTRUSTED(dir);
  if (!own_streams()) return LIBC_NEXT(readdir_r_fn, "readdir64_r")(dir, entry, result);
  return read_entry_r(dir, entry, result);
}
EXPORT int readdir_r(DIR* dir, struct dirent* entry, struct dirent** result) {
  dir = UNTRUSTED(dir);
  if (!own_streams()) {
    return LIBC_NEXT(readdir_r_fn, "readdir_r")(dir, (struct dirent64*)entry,
                                                (struct dirent64**)result);
  }
  return read_entry_r(dir, (struct dirent64*)entry, (struct dirent64**)result);
}

EXPORT void rewinddir(DIR* dir) {
  dir = UNTRUSTED(dir);
  if (!own_streams()) {
    LIBC_NEXT(rewinddir_fn, "rewinddir")(dir);
    return;
  }
  struct ovl_dir* d = (struct ovl_dir*)dir;
  pthread_mutex_lock(&d->lock);
  plain_call(SYS_lseek, d->fd, 0, SEEK_SET, 0);
  free(d->list);
  choose_source(d, 0);  // the view may have changed since
  pthread_mutex_unlock(&d->lock);
}

// Where the listing d->list goes on from the position `pos`, as a byte
// offset into it: the entry at the position's index (ovlbox_dir_pos). The
// list is the stream's own, made once, so the index is the entry that
// telldir named (the supervisor, whose listing may change between calls,
// also checks the name: overlay/dirlist.cc, ResumeIndex).
static size_t list_resume(const struct ovl_dir* d, uint64_t pos) {
  if (pos >= OVLBOX_DIR_EOF) return d->size;
  size_t at = 0;
  for (uint64_t i = 0; i < pos >> 32 && at < d->size; ++i) {
    at += ((const struct dirent64*)(d->list + at))->d_reclen;
  }
  return at;
}

EXPORT void seekdir(DIR* dir, long pos) {
  dir = UNTRUSTED(dir);
  if (!own_streams()) {
    LIBC_NEXT(seekdir_fn, "seekdir")(dir, pos);
    return;
  }
  struct ovl_dir* d = (struct ovl_dir*)dir;
  pthread_mutex_lock(&d->lock);
  d->filepos = pos;
  if (d->list != NULL) {
    d->offset = list_resume(d, (uint64_t)pos);
  } else {
    plain_call(SYS_lseek, d->fd, pos, SEEK_SET, 0);
    d->size = d->offset = 0;
  }
  pthread_mutex_unlock(&d->lock);
}

EXPORT long telldir(DIR* dir) {
  dir = UNTRUSTED(dir);
  if (!own_streams()) return LIBC_NEXT(telldir_fn, "telldir")(dir);
  struct ovl_dir* d = (struct ovl_dir*)dir;
  pthread_mutex_lock(&d->lock);
  long pos = d->filepos;
  pthread_mutex_unlock(&d->lock);
  return pos;
}

EXPORT int dirfd(DIR* dir) {
  dir = UNTRUSTED(dir);
  if (!own_streams()) return LIBC_NEXT(dirfd_fn, "dirfd")(dir);
  if (dir == NULL) {
    errno = EINVAL;
    return -1;
  }
  return ((struct ovl_dir*)dir)->fd;
}

// glibc's own calls. Inside libc, stdio, setlocale, gettext, iconv, the
// name service and opendir open and fstat files through libc's internal
// entry points, where no symbol a preload library defines is seen: each of
// those calls (a dozen locale and message catalog opens per process, the
// fstat behind every stdio stream) went to the supervisor. At start the
// library points those entry points at its own functions, with a jump
// written over their first bytes (x86-64 only): `__open64_nocancel`,
// `open64` (alias `__open`), `openat64`, `__fstat64` and `fstatat64` (which
// stat and lstat enter too), and `execve` (alias `__execve`, which execv,
// execvpe, posix_spawn and system call). Each replacement is the function the library
// already exports under the same contract, so libc's callers get exactly
// what a program calling it gets, including errno. A symbol that is not
// libc's, is smaller than the jump, or whose page cannot be made writable
// (a memory-deny-write-execute policy) is left alone, and so is all of
// libc in a process that already runs a second thread: their calls go to
// the supervisor as before. The loader (ld.so) has its own copies, which
// stay.
#if defined(__x86_64__)
#include <link.h>
#include <sys/auxv.h>
#include <sys/single_threaded.h>

#define JUMP_SIZE 14  // jmp *0(%rip), then the target's address

struct redirect {
  const char* name;
  const char* version;
  void* to;
  unsigned char* from;
};

// libc's dynamic symbol table, found once by dl_iterate_phdr (dladdr
// would scan every symbol of libc on each call: 80 us for five).
struct libc_syms {
  uintptr_t base;
  const ElfW(Sym)* sym;
  const char* str;
  const uint32_t* gnu_hash;
};

static uintptr_t dyn_ptr(uintptr_t base, ElfW(Addr) p) { return p < base ? base + p : p; }

static int find_libc(struct dl_phdr_info* info, size_t size, void* arg) {
  (void)size;
  struct libc_syms* l = arg;
  const char* base = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
  base = base ? base + 1 : info->dlpi_name;
  if (base == NULL || strncmp(base, "libc.so", 7) != 0) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
    const ElfW(Dyn)* d = (const ElfW(Dyn)*)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    for (; d->d_tag != DT_NULL; ++d) {
      if (d->d_tag == DT_SYMTAB) l->sym = (const ElfW(Sym)*)dyn_ptr(info->dlpi_addr, d->d_un.d_ptr);
      if (d->d_tag == DT_STRTAB) l->str = (const char*)dyn_ptr(info->dlpi_addr, d->d_un.d_ptr);
      if (d->d_tag == DT_GNU_HASH) {
        l->gnu_hash = (const uint32_t*)dyn_ptr(info->dlpi_addr, d->d_un.d_ptr);
      }
    }
  }
  l->base = info->dlpi_addr;
  return 1;
}

// libc's symbol `name` whose address is `at`, by its GNU hash table.
static const ElfW(Sym)* libc_symbol(const struct libc_syms* l, const char* name, uintptr_t at) {
  const uint32_t* h = l->gnu_hash;
  uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
  if (nbuckets == 0) return NULL;
  const uint32_t* buckets = (const uint32_t*)((const ElfW(Addr)*)(h + 4) + bloom_size);
  const uint32_t* chain = buckets + nbuckets;
  uint32_t hash = 5381;
  for (const unsigned char* c = (const unsigned char*)name; *c; ++c) hash = hash * 33 + *c;
  uint32_t i = buckets[hash % nbuckets];
  if (i < symoffset) return NULL;
  for (;; ++i) {
    uint32_t ch = chain[i - symoffset];
    const ElfW(Sym)* s = &l->sym[i];
    if ((ch | 1) == (hash | 1) && l->base + s->st_value == at &&
        strcmp(l->str + s->st_name, name) == 0) {
      return s;
    }
    if (ch & 1) return NULL;
  }
}

// The address of libc's `name`@`version`, when it is a function of libc
// at least JUMP_SIZE bytes long; NULL otherwise.
static unsigned char* libc_entry(const struct libc_syms* l, const char* name, const char* version) {
  void* at = dlvsym(RTLD_NEXT, name, version);
  if (at == NULL) return NULL;
  const ElfW(Sym)* s = libc_symbol(l, name, (uintptr_t)at);
  if (s == NULL || ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_size < JUMP_SIZE) return NULL;
  return at;
}

// Writes the jumps of the entries of `r` (n of them, all lying in [lo,
// hi)), making those pages writable meanwhile. 0 when the span is not
// small (libc's text lies in one mapping; a wide span would make much of
// it writable at once) and nothing was written; 1 otherwise, also where
// the pages cannot be made writable.
static int patch_span(struct redirect* r, size_t n, uintptr_t lo, uintptr_t hi, uintptr_t page) {
  lo &= ~(page - 1);
  hi = (hi + page - 1) & ~(page - 1);
  if (hi - lo > 64 * page) return 0;
  if (plain_call(SYS_mprotect, (long)lo, (long)(hi - lo), PROT_READ | PROT_WRITE | PROT_EXEC, 0) != 0) {
    return 1;
  }
  for (size_t i = 0; i < n; ++i) {
    if (r[i].from == NULL) continue;
    unsigned char code[JUMP_SIZE] = {0xff, 0x25, 0, 0, 0, 0};
    uint64_t to = (uint64_t)(uintptr_t)r[i].to;
    memcpy(code + 6, &to, sizeof(to));
    memcpy(r[i].from, code, sizeof(code));
  }
  plain_call(SYS_mprotect, (long)lo, (long)(hi - lo), PROT_READ | PROT_EXEC, 0);
  return 1;
}

static void redirect_libc(void) {
  struct redirect r[] = {
      {"__open64_nocancel", "GLIBC_PRIVATE", (void*)open64, NULL},
      {"open64", "GLIBC_2.2.5", (void*)open64, NULL},
      {"openat64", "GLIBC_2.4", (void*)openat64, NULL},
      {"__fstat64", "GLIBC_PRIVATE", (void*)fstat, NULL},
      {"fstatat64", "GLIBC_2.33", (void*)fstatat, NULL},
      {"execve", "GLIBC_2.2.5", (void*)execve, NULL},
  };
  size_t n = sizeof(r) / sizeof(r[0]);
  // The jumps are written 14 bytes at a time: only while no other thread
  // can be running libc (another library's constructor may have started
  // one before this one runs).
  if (!__libc_single_threaded) return;
  struct libc_syms l = {0, NULL, NULL, NULL};
  if (dl_iterate_phdr(find_libc, &l) == 0 || l.sym == NULL || l.str == NULL || l.gnu_hash == NULL) {
    return;
  }
  uintptr_t page = getauxval(AT_PAGESZ);
  if (page == 0) page = 4096;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (size_t i = 0; i < n; ++i) {
    r[i].from = libc_entry(&l, r[i].name, r[i].version);
    if (r[i].from == NULL) continue;
    uintptr_t a = (uintptr_t)r[i].from;
    if (a < lo) lo = a;
    if (a + JUMP_SIZE > hi) hi = a + JUMP_SIZE;
  }
  if (hi == 0) return;
  // Written in one span where they lie close together (two mprotect
  // calls), else each in its own pages.
  if (patch_span(r, n, lo, hi, page)) return;
  for (size_t i = 0; i < n; ++i) {
    uintptr_t a = (uintptr_t)r[i].from;
    if (a != 0) patch_span(&r[i], 1, a, a + JUMP_SIZE, page);
  }
}
#else
static void redirect_libc(void) {}
#endif
