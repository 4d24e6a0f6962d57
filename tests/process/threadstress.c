// threadstress: many threads doing file system calls in one tree at once,
// each answer checked against what the tree must hold.
//
//   threadstress ROOT THREADS ITERATIONS [write]
//
// ROOT holds the tree process_test.sh builds (spread over layers):
//   ROOT/dDD/fFFF   DD in 00..NDIRS-1, FFF in 000..NFILES-1; content
//                   "dDD/fFFF ok\n"; names with FFF % 7 == 3 are whited out
//                   (absent); names with FFF % 5 == 0 exist in two layers
//                   (the top one, with the right content, wins)
//   ROOT/links/lDD  symlink to ../dDD/f001
//   ROOT/tmp/       empty directory (for the write mix)
// Each thread runs ITERATIONS operations chosen pseudo-randomly: open+read
// +close (content must be the file's own), stat (size), fstat of an open
// file against stat of its path (same inode), openat relative to a
// directory descriptor, access, readlink, a full readdir of a directory
// (exactly the visible names, each once), and with "write" also create,
// write, read back and unlink a file of its own in ROOT/tmp.
// Prints one summary line; each wrong answer goes to stderr (the first 20).
// Exit status 0 when every answer was right.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NDIRS = 10, NFILES = 100 };

static const char *root;
static int iterations, do_write;
static atomic_long errors, ops;

static void bad(int thread, const char *fmt, const char *path, const char *detail) {
  long n = atomic_fetch_add(&errors, 1);
  if (n < 20) fprintf(stderr, "thread %d: %s %s: %s\n", thread, fmt, path, detail);
}

static int visible(int f) { return f % 7 != 3; }

static int expected_entries(void) {
  int n = 0;
  for (int f = 0; f < NFILES; f++) n += visible(f);
  return n;
}

// xorshift: a private pseudo-random sequence per thread.
static unsigned next(unsigned *s) {
  unsigned x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static void check_content(int t, const char *path, int fd, int d, int f) {
  char buf[64], want[64];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n < 0) {
    bad(t, "read", path, strerror(errno));
    return;
  }
  buf[n] = 0;
  snprintf(want, sizeof want, "d%02d/f%03d ok\n", d, f);
  if (strcmp(buf, want) != 0) bad(t, "content of", path, buf);
}

static void *worker(void *arg) {
  int t = (int)(long)arg;
  unsigned seed = 2463534242u + 7919u * (unsigned)t;
  char path[512], rel[64], detail[128];
  int dirfds[NDIRS];
  for (int d = 0; d < NDIRS; d++) {
    snprintf(path, sizeof path, "%s/d%02d", root, d);
    dirfds[d] = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfds[d] < 0) bad(t, "open dir", path, strerror(errno));
  }
  int want_entries = expected_entries();
  for (int i = 0; i < iterations; i++) {
    unsigned r = next(&seed);
    int d = (int)(r % NDIRS), f = (int)((r / NDIRS) % NFILES);
    int op = (int)((r >> 20) % (do_write ? 9 : 8));
    snprintf(rel, sizeof rel, "d%02d/f%03d", d, f);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    atomic_fetch_add(&ops, 1);
    switch (op) {
      case 0:
      case 1: {  // open, read, close
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          if (!(errno == ENOENT && !visible(f))) bad(t, "open", path, strerror(errno));
          break;
        }
        if (!visible(f)) bad(t, "open", path, "a whited-out file opened");
        check_content(t, path, fd, d, f);
        close(fd);
        break;
      }
      case 2: {  // stat: size
        struct stat st;
        if (stat(path, &st) != 0) {
          if (!(errno == ENOENT && !visible(f))) bad(t, "stat", path, strerror(errno));
          break;
        }
        if (!visible(f) || st.st_size != 12 || !S_ISREG(st.st_mode)) {
          snprintf(detail, sizeof detail, "mode %o size %lld", (unsigned)st.st_mode,
                   (long long)st.st_size);
          bad(t, "stat", path, detail);
        }
        break;
      }
      case 3: {  // fstat of an open file == stat of its path
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          if (!(errno == ENOENT && !visible(f))) bad(t, "open", path, strerror(errno));
          break;
        }
        struct stat a, b;
        if (fstat(fd, &a) != 0 || stat(path, &b) != 0) {
          bad(t, "fstat/stat", path, strerror(errno));
        } else if (a.st_ino != b.st_ino || a.st_dev != b.st_dev || a.st_size != b.st_size) {
          bad(t, "fstat vs stat", path, "different objects");
        }
        check_content(t, path, fd, d, f);
        close(fd);
        break;
      }
      case 4: {  // openat relative to a directory descriptor
        snprintf(rel, sizeof rel, "f%03d", f);
        int fd = openat(dirfds[d], rel, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          if (!(errno == ENOENT && !visible(f))) bad(t, "openat", path, strerror(errno));
          break;
        }
        if (!visible(f)) bad(t, "openat", path, "a whited-out file opened");
        check_content(t, path, fd, d, f);
        close(fd);
        break;
      }
      case 5: {  // access, readlink
        int rc = access(path, R_OK);
        if ((rc == 0) != visible(f)) bad(t, "access", path, rc ? strerror(errno) : "exists");
        char lp[512], target[64], want[64];
        snprintf(lp, sizeof lp, "%s/links/l%02d", root, d);
        ssize_t n = readlink(lp, target, sizeof target - 1);
        snprintf(want, sizeof want, "../d%02d/f001", d);
        if (n < 0) {
          bad(t, "readlink", lp, strerror(errno));
        } else {
          target[n] = 0;
          if (strcmp(target, want) != 0) bad(t, "readlink", lp, target);
        }
        break;
      }
      case 6:
      case 7: {  // a whole directory listing
        if (r % 4 != 0) {  // listings are slower: fewer of them
          struct stat st;
          snprintf(path, sizeof path, "%s/d%02d", root, d);
          if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) bad(t, "stat dir", path, strerror(errno));
          break;
        }
        snprintf(path, sizeof path, "%s/d%02d", root, d);
        DIR *dir = opendir(path);
        if (!dir) {
          bad(t, "opendir", path, strerror(errno));
          break;
        }
        char seen[NFILES] = {0};
        int count = 0;
        struct dirent *e;
        while ((e = readdir(dir))) {
          if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
          int ff;
          char extra;
          if (sscanf(e->d_name, "f%3d%c", &ff, &extra) != 1 || ff < 0 || ff >= NFILES ||
              !visible(ff) || seen[ff]) {
            bad(t, "readdir", path, e->d_name);
            continue;
          }
          seen[ff] = 1;
          count++;
        }
        closedir(dir);
        if (count != want_entries) {
          snprintf(detail, sizeof detail, "%d entries, want %d", count, want_entries);
          bad(t, "readdir", path, detail);
        }
        break;
      }
      case 8: {  // create, write, read back, unlink a private file
        char content[64], buf[64];
        snprintf(path, sizeof path, "%s/tmp/t%02d-%d", root, t, i);
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
          bad(t, "create", path, strerror(errno));
          break;
        }
        int len = snprintf(content, sizeof content, "thread %d iteration %d\n", t, i);
        if (write(fd, content, len) != len) bad(t, "write", path, strerror(errno));
        close(fd);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (n != len || memcmp(buf, content, len) != 0) bad(t, "read back", path, "wrong content");
        if (fd >= 0) close(fd);
        if (unlink(path) != 0) bad(t, "unlink", path, strerror(errno));
        break;
      }
    }
  }
  for (int d = 0; d < NDIRS; d++)
    if (dirfds[d] >= 0) close(dirfds[d]);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: threadstress ROOT THREADS ITERATIONS [write]\n");
    return 2;
  }
  root = argv[1];
  int nthreads = atoi(argv[2]);
  iterations = atoi(argv[3]);
  do_write = argc > 4 && strcmp(argv[4], "write") == 0;
  if (nthreads < 1 || nthreads > 256 || iterations < 1) return 2;
  pthread_t th[256];
  for (int t = 0; t < nthreads; t++)
    if (pthread_create(&th[t], NULL, worker, (void *)(long)t) != 0) {
      perror("pthread_create");
      return 1;
    }
  for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
  printf("threads %d, operations %ld, wrong answers %ld\n", nthreads, (long)ops, (long)errors);
  return errors ? 1 : 0;
}
