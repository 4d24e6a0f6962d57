# shellcheck shell=bash disable=SC2016
#
# Helpers for the end-to-end differential tests of ovlbox.
#
# Every case runs one shell command twice over the same lower layers:
#   1. on a kernel overlayfs mount (the reference), and
#   2. under ovlbox,
# and compares stdout, stderr and exit status.  After each ovlbox run the
# lower layers are checked to be untouched (names, types, modes, owners,
# sizes, link counts, mtimes, ctimes, symlink targets, contents, xattrs).
#
# Where the view lives
# --------------------
# ovlbox shows the merged view at the topmost lower's own path; the kernel
# shows it at a mount point.  To make both runs see the view at the SAME
# absolute path (so absolute symlinks inside the layers that point into the
# view, pwd -P, /proc/self/cwd, error messages... are directly comparable)
# the topmost lower layer is stored at the view path itself:
#
#   $E2E_VIEW  topmost lower layer (L1); also where the view appears
#   $E2E_L2    second lower layer
#   $E2E_L3    third (bottom) lower layer
#
#   kernel run: mount -t overlay overlay \
#                     -o lowerdir=$E2E_VIEW:$E2E_L2:$E2E_L3,userxattr $E2E_VIEW
#               i.e. the overlay is mounted over L1 itself (the kernel opens
#               the lower dirs before the mount covers them), the command
#               runs, then the overlay is unmounted again.
#   ovlbox run: $OVLBOX --lower $E2E_VIEW:$E2E_L2:$E2E_L3 -- sh -c CMD
#               with nothing mounted on $E2E_VIEW.
#
# The layers are therefore built once and never copied, so both runs see
# exactly the same inodes, times and xattrs.  Each command starts with its
# working directory at the view root and gets a small fixed environment
# (see e2e_env) including VIEW=<view root> and SCRATCH=<a fresh, writable
# directory outside the view>.  Before comparing, the view root path is
# replaced by @VIEW@ in the captured output (the other layers by @L2@ and
# @L3@, the temp dir by @TMP@), which only makes diffs easier to read.
#
# Writable runs (workloads_test.sh, see run_rw_case below) use the same
# machinery with a chosen set of lower layers and an upper layer:
#
#   E2E_LOWERS  colon-separated lower layers, top first; the first one must
#               be $E2E_VIEW (default: $E2E_VIEW:$E2E_L2:$E2E_L3)
#   E2E_UPPER   when set, the kernel mount gets upperdir=$E2E_UPPER and
#               workdir=$E2E_WORK, and ovlbox gets --upper $E2E_UPPER (and
#               --work $E2E_WORK only if E2E_WORK is set: ovlbox's default
#               work dir is used otherwise)
#   E2E_EXTRA_ENV  newline-separated VAR=VALUE lines added to e2e_env
#   E2E_AS_USER UID:GID: both sides run as that user, ovlbox itself too
#               (set by a case's setup; the layers must let it in)
#
# Knobs (environment):
#   OVLBOX           the ovlbox binary (view_test.sh also looks in runfiles)
#   E2E_CASES        extended regex; only cases whose name matches run
#   E2E_TIMEOUT      seconds allowed per command and side (default 120)
#   E2E_DIFF_LINES   diff lines shown per failing case (default 60)
#   E2E_KEEP=1       keep the temp dir (layers and captured outputs)

E2E_PASSED=0
E2E_FAILED=0
E2E_FAILED_NAMES=
E2E_ROOT=
E2E_MOUNTED=0
E2E_PATH_DEFAULT=/usr/bin:/bin:/usr/sbin:/sbin

# The first lines of the Python scripts that cases run twice (with and
# without the preload library) and compare: probe(label, f) adds "label:
# what f returned" or "label: the error" to `out`; st(path, **kw) is a
# stat's mode and, for anything but a directory, its size.
E2E_PY_PROBE='import os, stat
out = []
def probe(label, f):
    try:
        out.append("%s: %s" % (label, f()))
    except OSError as e:
        out.append("%s: %s" % (label, e.strerror))
def st(p, **kw):
    s = os.stat(p, **kw)
    return "%o %d" % (s.st_mode, 0 if stat.S_ISDIR(s.st_mode) else s.st_size)
'

e2e_say() { printf '%s\n' "$*"; }
e2e_err() { printf 'e2e: %s\n' "$*" >&2; }

# e2e_init: skip unless root and kernel overlay mounts work; set up the temp
# dir, the cleanup trap and the paths.  Needs $OVLBOX to be set.
e2e_init() {
  PATH=$E2E_PATH_DEFAULT:$PATH
  export LC_ALL=C
  ulimit -c 0 2>/dev/null

  if [ "$(id -u)" != 0 ]; then
    e2e_say "skipped: this test needs root because kernel overlay mounts need root"
    exit 0
  fi
  local tool
  for tool in python3 git find sort sha256sum diff cmp mount umount mountpoint mknod mkfifo timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      e2e_err "required tool not found: $tool"
      exit 1
    fi
  done
  if [ -z "${OVLBOX:-}" ] || [ ! -x "$OVLBOX" ]; then
    e2e_err "ovlbox binary not found (set OVLBOX=/path/to/ovlbox): '${OVLBOX:-}'"
    exit 1
  fi
  case $OVLBOX in
    /*) ;;
    *) OVLBOX=$(cd "$(dirname "$OVLBOX")" && pwd)/$(basename "$OVLBOX") ;;
  esac

  E2E_ROOT=$(mktemp -d /tmp/ovlbox-e2e.XXXXXX) || { e2e_err "mktemp failed"; exit 1; }
  chmod 755 "$E2E_ROOT"
  trap e2e_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP

  E2E_BASE=$E2E_ROOT/base          # parent of the layers (shows up as "..")
  E2E_VIEW=$E2E_BASE/view          # L1, topmost lower, and the view path
  E2E_L2=$E2E_BASE/l2
  E2E_L3=$E2E_BASE/l3
  E2E_OUTSIDE=$E2E_BASE/outside    # host files outside the view
  E2E_SCRATCH=$E2E_ROOT/scratch    # writable, recreated for every run
  E2E_HOME=$E2E_ROOT/home
  E2E_OUT=$E2E_ROOT/out            # captured outputs
  mkdir -p "$E2E_BASE" "$E2E_HOME" "$E2E_OUT"
  # E2E_OUT_TMPFS=1: the captured outputs, and so the uppers and work dirs
  # of the cases with an upper, on a tmpfs of their own (the layers on
  # another filesystem than the upper).
  if [ -n "${E2E_OUT_TMPFS:-}" ]; then
    mount -t tmpfs -o size=2g,mode=0755 tmpfs "$E2E_OUT" || { e2e_err "cannot mount a tmpfs"; exit 1; }
  fi

  # Probe: can this machine mount a read-only overlay at all?
  local probe=$E2E_ROOT/probe perr
  mkdir -p "$probe/a" "$probe/b" "$probe/m"
  if ! perr=$(mount -t overlay overlay -o "lowerdir=$probe/a:$probe/b,userxattr" "$probe/m" 2>&1); then
    e2e_say "skipped: kernel overlay mount failed ($perr)"
    exit 0
  fi
  umount "$probe/m"
  rm -rf "$probe"
}

# e2e_probe_upper: skip unless the kernel can mount an overlay with an
# upper layer in the temp dir (user xattrs on its file system).
e2e_probe_upper() {
  local probe=$E2E_ROOT/probe perr
  mkdir -p "$probe/l" "$probe/u" "$probe/w" "$probe/m"
  if ! perr=$(mount -t overlay overlay \
    -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w,userxattr" "$probe/m" 2>&1); then
    e2e_say "skipped: kernel overlay mount with an upper layer failed ($perr)"
    exit 0
  fi
  umount "$probe/m"
  rm -rf "$probe"
}

e2e_cleanup() {
  local st=$?
  trap - EXIT INT TERM HUP
  if [ -n "$E2E_ROOT" ]; then
    if [ -n "${E2E_OUT_TMPFS:-}" ] && mountpoint -q "$E2E_OUT" 2>/dev/null; then
      if [ -n "${E2E_KEEP:-}" ]; then
        cp -a "$E2E_OUT" "$E2E_ROOT/out.kept" 2>/dev/null
      fi
      umount "$E2E_OUT" 2>/dev/null || umount -l "$E2E_OUT"
    fi
    if [ -n "${E2E_VIEW:-}" ]; then
      while mountpoint -q "$E2E_VIEW" 2>/dev/null; do
        umount "$E2E_VIEW" 2>/dev/null || umount -l "$E2E_VIEW" || break
      done
    fi
    if [ -n "${E2E_KEEP:-}" ]; then
      e2e_err "kept $E2E_ROOT"
    else
      rm -rf "$E2E_ROOT"
    fi
  fi
  exit "$st"
}

# ---------------------------------------------------------------- layers

# _put FILE CONTENT: write CONTENT (plus newline) to FILE, creating parents.
_put() {
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "$2" >"$1"
}

# _setxattr PATH NAME VALUE (never follows symlinks)
_setxattr() {
  if command -v setfattr >/dev/null 2>&1; then
    setfattr -h -n "$2" -v "$3" "$1"
  else
    python3 -c 'import os, sys
os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)' "$1" "$2" "$3"
  fi
}

# _whiteout PATH: overlayfs whiteout (character device 0/0)
_whiteout() {
  mkdir -p "$(dirname "$1")"
  mknod "$1" c 0 0
}

# _opaque DIR: mark DIR opaque (hides the same directory of lower layers)
_opaque() {
  mkdir -p "$1"
  _setxattr "$1" user.overlay.opaque y
}

# make_layers: build the three lower layers (see the header for where).
#   L3 (bottom), L2 (middle), L1 = $E2E_VIEW (top).
make_layers() {
  local v=$E2E_VIEW l2=$E2E_L2 l3=$E2E_L3 o=$E2E_OUTSIDE
  mkdir -p "$v" "$l2" "$l3" "$o"
  _put "$o/host.txt" "a host file outside the view"

  # --- files present in several layers: the upper-most wins
  _put "$l3/README.txt" "readme from l3 (bottom)"
  _put "$l2/README.txt" "readme from l2 (middle)"
  _put "$l3/etc/config.ini" "[main]
source = l3
level = 3"
  _put "$l3/etc/only3.conf" "only in l3"
  _put "$l2/etc/config.ini" "[main]
source = l2"
  _put "$v/etc/config.ini" "[main]
source = l1
top = yes"
  chmod 0644 "$l3/etc/config.ini"
  chmod 0600 "$l2/etc/config.ini"
  chmod 0640 "$v/etc/config.ini"

  # --- a directory merged from all three layers
  _put "$l3/merged/a.txt" "a from l3"
  _put "$l3/merged/b.txt" "b from l3"
  _put "$l3/merged/c.txt" "c from l3"
  _put "$l3/merged/sub/deep3.txt" "deep3 from l3"
  _put "$l2/merged/b.txt" "b from l2 (longer than the l3 one)"
  _put "$l2/merged/d.txt" "d from l2"
  _put "$l2/merged/sub/deep2.txt" "deep2 from l2"
  _put "$v/merged/a.txt" "a from l1"
  _put "$v/merged/e.txt" "e from l1"
  _setxattr "$l3/merged" user.dirattr from-l3
  _setxattr "$v/merged" user.topattr from-l1

  # --- whiteouts: L1 hides a file and a directory of L3 and a file of L2,
  #     L2 hides a file and a directory of L3, and a name whited out in L2
  #     is re-created in L1.
  _put "$l3/gone.txt" "must not be visible"
  _put "$l3/gonedir/inner/file.txt" "must not be visible"
  _put "$l3/gonedir/top.txt" "must not be visible"
  _whiteout "$v/gone.txt"
  _whiteout "$v/gonedir"
  _put "$l2/only2-gone.txt" "must not be visible"
  _whiteout "$v/only2-gone.txt"
  _put "$l3/mid-gone.txt" "must not be visible"
  _put "$l3/mid-gonedir/x.txt" "must not be visible"
  _whiteout "$l2/mid-gone.txt"
  _whiteout "$l2/mid-gonedir"
  _put "$l3/revived.txt" "old revived from l3"
  _whiteout "$l2/revived.txt"
  _put "$v/revived.txt" "revived in l1"
  _put "$l3/merged/gone-in-merged.txt" "must not be visible"
  _whiteout "$l2/merged/gone-in-merged.txt"

  # --- opaque directories: opq is opaque in L2 (L3 part hidden, merged with
  #     L1); opq1 is opaque in L1 (everything below hidden).
  _put "$l3/opq/old1.txt" "must not be visible"
  _put "$l3/opq/old2/x.txt" "must not be visible"
  _opaque "$l2/opq"
  _put "$l2/opq/new.txt" "new from l2"
  _put "$v/opq/top.txt" "top from l1"
  _put "$l3/opq1/l3.txt" "must not be visible"
  _put "$l2/opq1/l2.txt" "must not be visible"
  _opaque "$v/opq1"
  _put "$v/opq1/only1.txt" "only1 from l1"

  # --- type changes between layers
  _put "$l3/typechange-dir/inside.txt" "must not be visible"
  _put "$l2/typechange-dir" "typechange-dir is a file in l2"
  _put "$l3/typechange-file" "must not be visible"
  _put "$l2/typechange-file/inside.txt" "typechange-file is a dir in l2"

  # --- an executable script that lives only in L2, with data from L3
  _put "$l2/sub/script.sh" '#!/bin/sh
echo "script: $(basename "$0") args: $#: $*"
echo "cwd: $(pwd)"
cat "$(dirname "$0")/data.txt"
exit 3'
  chmod 0755 "$l2/sub/script.sh"
  _put "$l3/sub/data.txt" "data for script (l3)"

  # --- a small C program whose header is overridden in L1
  _put "$l3/src/hello.c" '#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "greeting.h"

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "merged";
  char buf[4096];
  printf("%s\n", GREETING);
  if (getcwd(buf, sizeof buf)) printf("cwd: %s\n", buf);
  DIR *d = opendir(dir);
  if (!d) { printf("opendir %s: %s\n", dir, strerror(errno)); return 1; }
  char *names[256]; int n = 0; struct dirent *e;
  while ((e = readdir(d)) && n < 256) {
    snprintf(buf, sizeof buf, "%s type=%d", e->d_name, (int)e->d_type);
    names[n++] = strdup(buf);
  }
  closedir(d);
  qsort(names, n, sizeof names[0], cmp);
  for (int i = 0; i < n; i++) printf("entry %s\n", names[i]);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  int fd = openat(dfd, "b.txt", O_RDONLY);
  ssize_t r = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  if (r >= 0) { buf[r] = 0; printf("openat b.txt: %s", buf); }
  else printf("openat b.txt: %s\n", strerror(errno));
  struct stat st;
  if (fstatat(dfd, "sub", &st, AT_SYMLINK_NOFOLLOW) == 0)
    printf("sub: mode=%o nlink=%lu\n", (unsigned)st.st_mode, (unsigned long)st.st_nlink);
  fd = open("newfile", O_WRONLY | O_CREAT, 0644);
  printf("create newfile: %s\n", fd >= 0 ? "ok" : strerror(errno));
  fd = open("merged/a.txt", O_RDWR);
  printf("open merged/a.txt O_RDWR: %s\n", fd >= 0 ? "ok" : strerror(errno));
  printf("access merged/a.txt W_OK: %s\n", access("merged/a.txt", W_OK) == 0 ? "ok" : strerror(errno));
  r = readlink("links/abs", buf, sizeof buf - 1);
  if (r >= 0) { buf[r] = 0; printf("readlink links/abs: %s\n", buf); }
  char *rp = realpath("links/chain1", NULL);
  printf("realpath links/chain1: %s\n", rp ? rp : strerror(errno));
  return 0;
}'
  _put "$l3/src/greeting.h" '#define GREETING "hello from the l3 header"'
  _put "$v/src/greeting.h" '#define GREETING "hello from the l1 header"'
  _put "$l3/src/selfinfo.c" '#include <limits.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) n = 0;
  buf[n] = 0;
  printf("argv0: %s\nexe: %s\n", argv[0], buf);
  if (getcwd(buf, sizeof buf)) printf("cwd: %s\n", buf);
  return argc - 1;
}'
  # a prebuilt ELF executable living only in L2
  mkdir -p "$l2/bin"
  if command -v cc >/dev/null 2>&1; then
    cc -O1 -o "$l2/bin/selfinfo" "$l3/src/selfinfo.c" ||
      { e2e_err "cc failed"; exit 1; }
  fi

  # --- names with spaces and non-ASCII bytes; a directory merged from two
  _put "$l2/dir with space/file name.txt" "spaced file from l2"
  _put "$v/dir with space/another file.txt" "another spaced file from l1"
  _put "$l3/with  two  spaces.txt" "two spaces"
  _put "$l3/$(printf 'caf\303\251.txt')" "non-ascii name"

  # --- empty dir, deep path spread over layers
  mkdir -p "$l2/empty"
  mkdir -p "$l3/deep/a/b/c/d/e/f/g/h/i/j"
  _put "$l3/deep/a/b/c/d/e/f/g/h/i/j/leaf.txt" "deep leaf from l3"
  _put "$l2/deep/a/b/c/mid.txt" "mid from l2"
  _put "$v/deep/a/b/c/d/e/f/top.txt" "deep top from l1"

  # --- hardlinks inside L3 (one name overridden in L1) and across L2/L3
  _put "$l3/hl/a" "hardlinked content"
  ln "$l3/hl/a" "$l3/hl/b"
  ln "$l3/hl/a" "$l3/hl/c"
  _put "$v/hl/c" "c replaced in l1"
  ln "$l3/hl/a" "$l2/cross-layer-link"

  # --- special files
  mkfifo "$l2/pipe"
  mkdir -p "$l3/dev"
  mknod "$l3/dev/nullish" c 1 3

  # --- modes, owners, fixed times
  _put "$l3/perm/secret.txt" "mode 0600"
  chmod 0600 "$l3/perm/secret.txt"
  _put "$l3/perm/readonly.txt" "mode 0444"
  chmod 0444 "$l3/perm/readonly.txt"
  _put "$l3/perm/suid.sh" "#!/bin/sh"
  chmod 4755 "$l3/perm/suid.sh"
  _put "$l3/perm/owned.txt" "owned by 12345:54321"
  chown 12345:54321 "$l3/perm/owned.txt"
  mkdir -p "$l3/perm/private" "$l3/perm/sticky"
  chmod 0700 "$l3/perm/private"
  chmod 1777 "$l3/perm/sticky"
  _put "$l2/perm/old.txt" "an old file"
  touch -h -d '2001-02-03 04:05:06.123456789 UTC' "$l2/perm/old.txt"

  # --- xattrs: a normal user one and a user.overlay.* one (private to
  #     overlayfs with userxattr; the kernel hides it in the view)
  _put "$l2/attrs.txt" "file with xattrs"
  _setxattr "$l2/attrs.txt" user.foo bar
  _setxattr "$l2/attrs.txt" user.overlay.secret hidden
  mkdir -p "$l2/attrdir"
  _setxattr "$l2/attrdir" user.foo dirvalue

  # --- a larger binary file
  python3 -c 'import random, sys
r = random.Random(42)
sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(300000)))' >"$l3/big.bin"

  # --- symlinks (relative, absolute into the view, chains across layers,
  #     dangling, loop, pointing at a whiteout, to a host file outside)
  mkdir -p "$v/links" "$l2/links" "$l3/links" "$l3/links3"
  ln -s ../merged/a.txt "$v/links/rel"
  ln -s ../deep/a/b "$v/links/reldir"
  ln -s "$v/merged/b.txt" "$v/links/abs"
  ln -s "$v/docs" "$v/links/absdir"
  ln -s chain2 "$v/links/chain1"
  ln -s chain3 "$l2/links/chain2"
  ln -s ../README.txt "$l3/links/chain3"
  ln -s ../does-not-exist "$v/links/dangling"
  ln -s loop2 "$v/links/loop1"
  ln -s loop1 "$l2/links/loop2"
  ln -s ../gone.txt "$v/links/to-whiteout"
  ln -s "$o/host.txt" "$v/links/outside"
  ln -s .. "$v/links/dotdot"
  ln -s . "$v/links/self"
  ln -s "$v/etc/config.ini" "$l3/links3/abs3"
  ln -s sub "$v/sublink"
  _put "$l3/docs/manual.txt" "the manual (l3)"
  _put "$l3/docs/chapter 1.txt" "chapter one (l3)"
  _put "$l2/docs/chapter 2.txt" "chapter two (l2)"

  # --- a python script in L1 importing a module from L3 and data from L2
  _put "$v/py/tool.py" '#!/usr/bin/env python3
import json, os, sys
import helper
print(helper.greet(sys.argv[1:]))
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "data.json")) as f:
    print(json.load(f))
print("file:", __file__)
print("realpath:", os.path.realpath(__file__))
print("cwd:", os.getcwd())
print("listdir:", sorted(os.listdir(here)))'
  chmod 0755 "$v/py/tool.py"
  _put "$l3/py/helper.py" 'def greet(args):
    return "helper from l3 greets %s" % (args,)'
  _put "$l2/py/data.json" '{"layer": "l2", "items": [1, 2, 3]}'

  # --- a git repository committed in L3, modified in L2 and L1
  _make_repo "$l3/repo" || { e2e_err "git repository setup failed"; exit 1; }
  _put "$l2/repo/lib/util.py" 'def util():
    return "modified in l2"'
  _put "$v/repo/README.md" "# demo repo
modified in l1"
  _put "$v/repo/untracked.txt" "new untracked file in l1"
  _whiteout "$v/repo/to-delete.txt"

  # --- a large directory merged from three layers (getdents paging), with
  #     whiteouts, and a file name of the maximum length
  mkdir -p "$l3/many" "$l2/many" "$v/many"
  local i
  for i in $(seq 1 400); do printf 'l3 %s\n' "$i" >"$l3/many/entry-$i.txt"; done
  for i in $(seq 300 700); do printf 'l2 %s\n' "$i" >"$l2/many/entry-$i.txt"; done
  for i in $(seq 1 50); do mknod "$l2/many/entry-$((i * 2)).txt" c 0 0; done
  for i in $(seq 650 750); do printf 'l1 %s\n' "$i" >"$v/many/entry-$i.txt"; done
  for i in $(seq 1 25); do mknod "$v/many/entry-$((i * 4 + 300)).txt" c 0 0; done
  _put "$l3/many/$(printf 'n%.0s' $(seq 1 255))" "longest name"

  # --- a host symlink outside the view pointing into it
  ln -s "$v/merged/b.txt" "$o/into-view"

  # extra marker only visible in the topmost layer
  _put "$v/top-only.txt" "only in l1"
}

_make_repo() {
  local r=$1
  mkdir -p "$r/lib"
  _put "$r/README.md" "# demo repo"
  _put "$r/main.c" 'int main(void) { return 0; }'
  _put "$r/lib/util.py" 'def util():
    return "original"'
  _put "$r/to-delete.txt" "will be deleted by a whiteout"
  (
    cd "$r" || exit 1
    export HOME=$E2E_HOME GIT_CONFIG_NOSYSTEM=1 \
      GIT_AUTHOR_DATE='2020-01-02T03:04:05Z' GIT_COMMITTER_DATE='2020-01-02T03:04:05Z'
    g() { git -c user.name=x -c user.email=x@y -c init.defaultBranch=main "$@"; }
    g init -q &&
      g add README.md main.c lib/util.py &&
      g commit -q -m "initial commit" &&
      g add to-delete.txt &&
      GIT_COMMITTER_DATE='2020-01-03T00:00:00Z' GIT_AUTHOR_DATE='2020-01-03T00:00:00Z' \
        g commit -q -m "add to-delete.txt"
  ) >/dev/null
}

# ---------------------------------------------------------------- manifest

# e2e_manifest DIR...: everything about the trees that must not change
# (find's listing of the metadata, then tree_manifest.py's of contents and
# xattrs). Access times are left out on purpose: reading a file may update
# them.
e2e_manifest() {
  local d
  for d in "$@"; do
    printf '### %s\n' "$d"
    (
      cd "$d" || exit 1
      find . -printf '%p %y %m %U %G %s %n %T@ %C@ %l\n' | sort
      # Contents and xattrs, by a walk that also reaches below PATH_MAX.
      python3 "$E2E_DIR/tree_manifest.py" view . 0
    )
  done
}

# ---------------------------------------------------------------- running

# e2e_env: the fixed environment every command gets.
e2e_env() {
  printf '%s\n' \
    "PATH=$E2E_PATH_DEFAULT" \
    "HOME=$E2E_HOME" \
    "USER=$(id -un)" \
    "LOGNAME=$(id -un)" \
    "LC_ALL=C" \
    "LANG=C" \
    "TZ=UTC" \
    "TERM=dumb" \
    "VIEW=$E2E_VIEW" \
    "SCRATCH=$E2E_SCRATCH" \
    "PYTHONHASHSEED=0" \
    "GIT_CONFIG_NOSYSTEM=1" \
    "GIT_PAGER=cat" \
    "PAGER=cat"
  [ -z "${E2E_EXTRA_ENV:-}" ] || printf '%s\n' "$E2E_EXTRA_ENV"
}

# e2e_lowers: the lower layers, colon-separated, top first.
e2e_lowers() { printf '%s\n' "${E2E_LOWERS:-$E2E_VIEW:$E2E_L2:$E2E_L3}"; }

# e2e_lower_dirs: the lower layers, one per line, top first.
e2e_lower_dirs() { e2e_lowers | tr ':' '\n'; }

e2e_kernel_mount() {
  if mountpoint -q "$E2E_VIEW"; then
    e2e_err "$E2E_VIEW is already a mount point"
    return 1
  fi
  local opts
  opts="lowerdir=$(e2e_lowers)"
  if [ -n "${E2E_UPPER:-}" ]; then
    opts="$opts,upperdir=$E2E_UPPER,workdir=$E2E_WORK"
  fi
  mount -t overlay overlay -o "$opts,userxattr" "$E2E_VIEW" &&
    E2E_MOUNTED=1
}

e2e_kernel_umount() {
  [ "$E2E_MOUNTED" = 1 ] || return 0
  umount "$E2E_VIEW" || umount -l "$E2E_VIEW" || return 1
  E2E_MOUNTED=0
}

# The ovlbox layer arguments, one per line.  E2E_LOWER_STYLE=repeated
# passes one --lower per layer instead of the colon-separated list.
e2e_lower_args() {
  local d
  if [ "${E2E_LOWER_STYLE:-colon}" = repeated ]; then
    e2e_lower_dirs | while IFS= read -r d; do printf '%s\n' --lower "$d"; done
  else
    printf '%s\n' --lower "$(e2e_lowers)"
  fi
  if [ -n "${E2E_UPPER:-}" ]; then
    printf '%s\n' --upper "$E2E_UPPER"
    [ -z "${E2E_WORK:-}" ] || printf '%s\n' --work "$E2E_WORK"
  fi
}

# _run_side SIDE OUTDIR CMD: run CMD once (kernel: inside the mounted
# overlay; ovlbox: under $OVLBOX) and write OUTDIR/{stdout,stderr,status}.
_run_side() {
  local side=$1 dir=$2 cmd=$3 st
  local -a env prefix
  mapfile -t env < <(e2e_env)
  prefix=()
  if [ "$side" = ovlbox ]; then
    mapfile -t prefix < <(e2e_lower_args)
    # E2E_OVLBOX_FLAGS: options before the layers (--no-preload).
    # shellcheck disable=SC2086
    prefix=("$OVLBOX" ${E2E_OVLBOX_FLAGS:-} "${prefix[@]}" --)
  fi
  # E2E_AS_USER=UID:GID: both sides run as that user (ovlbox itself too,
  # as an unprivileged user runs it; the kernel's mount is root's).
  if [ -n "${E2E_AS_USER:-}" ]; then
    if [ "$side" = ovlbox ]; then
      install -m 0755 "$OVLBOX" "$E2E_ROOT/ovlbox-as-user"
      prefix[0]=$E2E_ROOT/ovlbox-as-user
    fi
    prefix=(setpriv --reuid="${E2E_AS_USER%%:*}" --regid="${E2E_AS_USER#*:}" --clear-groups
      "${prefix[@]}")
  fi
  rm -rf "$E2E_SCRATCH"
  mkdir -p "$E2E_SCRATCH" "$dir"
  [ -z "${E2E_AS_USER:-}" ] || chown "$E2E_AS_USER" "$E2E_SCRATCH" "$E2E_HOME"
  # Where this side's changes go, for _render.
  : >"$dir/upper"
  if [ -n "${E2E_UPPER:-}" ]; then
    printf '%s\n' "$E2E_UPPER" >"$dir/upper"
    if [ -n "${E2E_WORK:-}" ]; then
      printf '%s\n' "$E2E_WORK" >>"$dir/upper"
    else
      printf '%s\n' "$(dirname "$E2E_UPPER")/.$(basename "$E2E_UPPER").ovlbox-work" >>"$dir/upper"
    fi
  fi
  # The braces send the parent shell's own "Killed"/"Segmentation fault"
  # notices to /dev/null; the command's stderr goes to the file.
  {
    (
      cd "$E2E_VIEW" || exit 125
      exec env -i "${env[@]}" timeout -k 5 "${E2E_TIMEOUT:-120}" \
        "${prefix[@]}" sh -c "$cmd"
    ) </dev/null >"$dir/stdout" 2>"$dir/stderr"
    st=$?
  } 2>/dev/null
  echo "$st" >"$dir/status"
}

# _render DIR: the comparable text form of one side's result.
_render() {
  local dir=$1 f
  local sv sl s2 s3 st
  sv=$(_sed_escape "$E2E_VIEW")
  s2=$(_sed_escape "$E2E_L2")
  s3=$(_sed_escape "$E2E_L3")
  sl=$(_sed_escape "$E2E_ROOT")
  local -a upper=(-e '')
  if [ -s "$dir/upper" ]; then
    # The upper and work dirs differ between the sides: both read @UPPER@
    # and @WORK@.
    upper=(-e "s|$(_sed_escape "$(sed -n 1p "$dir/upper")")|@UPPER@|g"
      -e "s|$(_sed_escape "$(sed -n 2p "$dir/upper")")|@WORK@|g")
  fi
  st=$(cat "$dir/status")
  printf 'exit status: %s\n' "$st"
  for f in stdout stderr; do
    printf -- '--- %s ---\n' "$f"
    sed "${upper[@]}" -e "s|$sv|@VIEW@|g" -e "s|$s2|@L2@|g" -e "s|$s3|@L3@|g" \
      -e "s|$sl|@TMP@|g" "$dir/$f"
    if [ -s "$dir/$f" ] && [ -n "$(tail -c 1 "$dir/$f")" ]; then
      printf '\n[no newline at end of %s]\n' "$f"
    fi
  done
}

_sed_escape() { printf '%s' "$1" | sed -e 's/[]\/$*.^|[]/\\&/g'; }

_case_selected() {
  [ -z "${E2E_CASES:-}" ] && return 0
  printf '%s\n' "$1" | grep -Eq -- "$E2E_CASES"
}

_fail() {
  local name=$1 why=$2
  E2E_FAILED=$((E2E_FAILED + 1))
  E2E_FAILED_NAMES="$E2E_FAILED_NAMES $name"
  e2e_say "FAIL $name${why:+ ($why)}"
}

# run_case NAME 'shell command': compare the command on the kernel overlay
# and under ovlbox; then check the lower layers are untouched.
run_case() {
  local name=$1 cmd=$2 out why=
  _case_selected "$name" || return 0
  out=$E2E_OUT/$name
  if [ -e "$out" ]; then
    e2e_err "duplicate case name: $name"
    _fail "$name" "duplicate case name"
    return 1
  fi
  mkdir -p "$out"
  printf '%s\n' "$cmd" >"$out/cmd"
  [ -n "${E2E_BASELINE:-}" ] || E2E_BASELINE=$(e2e_manifest "$E2E_VIEW" "$E2E_L2" "$E2E_L3")

  if ! e2e_kernel_mount; then
    _fail "$name" "kernel overlay mount failed"
    return 1
  fi
  _run_side kernel "$out/kernel" "$cmd"
  if ! e2e_kernel_umount; then
    _fail "$name" "cannot unmount the kernel overlay"
    exit 1
  fi

  _run_side ovlbox "$out/ovlbox" "$cmd"
  _render "$out/kernel" >"$out/kernel.txt"
  _render "$out/ovlbox" >"$out/ovlbox.txt"

  # Lower layers must be untouched.
  local after
  after=$(e2e_manifest "$E2E_VIEW" "$E2E_L2" "$E2E_L3")
  if [ "$after" != "$E2E_BASELINE" ]; then
    why="lower layers modified"
    printf '%s\n' "$E2E_BASELINE" >"$out/manifest.before"
    printf '%s\n' "$after" >"$out/manifest.after"
    E2E_BASELINE=$after   # report each modification once
  fi
  if ! cmp -s "$out/kernel.txt" "$out/ovlbox.txt"; then
    local ks os
    ks=$(cat "$out/kernel/status")
    os=$(cat "$out/ovlbox/status")
    if [ "$ks" != "$os" ]; then
      why="${why:+$why, }exit status kernel=$ks ovlbox=$os"
    else
      why="${why:+$why, }output differs"
    fi
  fi

  if [ -z "$why" ]; then
    E2E_PASSED=$((E2E_PASSED + 1))
    e2e_say "ok $name"
    return 0
  fi
  _fail "$name" "$why"
  _show_diffs "$out"
  _save_failure "$name" "$out"
  return 1
}

_show_diffs() {
  local out=$1 n=${E2E_DIFF_LINES:-60} total
  sed -e '1s/^/    command: /' -e '1!s/^/             /' "$out/cmd" | head -n 8 | cut -c 1-240
  if ! cmp -s "$out/kernel.txt" "$out/ovlbox.txt"; then
    total=$(diff -a -u --label kernel --label ovlbox "$out/kernel.txt" "$out/ovlbox.txt" | wc -l)
    diff -a -u --label kernel --label ovlbox "$out/kernel.txt" "$out/ovlbox.txt" |
      head -n "$n" | cut -c 1-240 | sed 's/^/    /'
    [ "$total" -le "$n" ] || printf '    ... (%s more diff lines)\n' "$((total - n))"
  fi
  if [ -e "$out/manifest.before" ]; then
    printf '    lower layers changed:\n'
    diff -a -u --label before --label after "$out/manifest.before" "$out/manifest.after" |
      head -n "$n" | cut -c 1-240 | sed 's/^/    /'
  fi
}

# Keep failing cases' outputs where Bazel collects test artifacts.
_save_failure() {
  [ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ] || return 0
  mkdir -p "$TEST_UNDECLARED_OUTPUTS_DIR/$1" &&
    cp "$2"/*.txt "$2"/manifest.* "$TEST_UNDECLARED_OUTPUTS_DIR/$1/" 2>/dev/null
  return 0
}

# ---------------------------------------------------------------- writable runs
#
# run_rw_case runs a workload that writes, over freshly built lower layers:
#   1. on a kernel overlay mount with upper layer kernel-upper,
#   2. under ovlbox with upper layer ovlbox-upper (and its default work dir),
# and compares
#   - exit status, stdout and stderr, as run_case does;
#   - the view afterwards: tree_manifest.py view, read through the kernel
#     mount and through ovlbox respectively;
#   - the two upper layers on disk: tree_manifest.py upper;
#   - the view the kernel shows when it mounts ovlbox-upper, which must be
#     the view ovlbox showed (ovlbox's upper is a valid overlayfs upper);
#   - and checks that the lower layers are untouched (e2e_manifest) and
#     that ovlbox's default work dir exists beside its upper and holds no
#     files afterwards.
# Both sides see the same lower layers: the kernel never writes to them.
# Per case, $E2E_OUT/NAME holds the captured outputs, the manifests
# (*.view.txt, *.upper.txt) and, while the case runs, the upper and work
# dirs (kernel-upper, kernel-work, ovlbox-upper, check-work).

_now() { date +%s.%N; }
_seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# e2e_reset_layers: empty lower layers $E2E_VIEW, $E2E_L2, $E2E_L3 (and
# the host dir $E2E_OUTSIDE), for a case to fill.
e2e_reset_layers() {
  if mountpoint -q "$E2E_VIEW" 2>/dev/null; then
    e2e_err "$E2E_VIEW is still a mount point"
    return 1
  fi
  rm -rf "$E2E_BASE" && mkdir -p "$E2E_VIEW" "$E2E_L2" "$E2E_L3" "$E2E_OUTSIDE"
}

# _tree_manifest SIDE MODE DIR T0 [VOLATILE_GLOB]...: tree_manifest.py
# MODE of DIR, run with its cwd in DIR, under ovlbox when SIDE is ovlbox
# (with the current layers), directly otherwise.
_tree_manifest() {
  local side=$1 mode=$2 dir=$3 st
  shift 3
  local -a env prefix=()
  mapfile -t env < <(e2e_env)
  if [ "$side" = ovlbox ]; then
    mapfile -t prefix < <(e2e_lower_args)
    prefix=("$OVLBOX" "${prefix[@]}" --)
  fi
  {
    (
      cd "$dir" || exit 125
      exec env -i "${env[@]}" PYTHONDONTWRITEBYTECODE=1 timeout -k 5 "${E2E_TIMEOUT:-120}" \
        "${prefix[@]}" python3 "$E2E_DIR/tree_manifest.py" "$mode" . "$@"
    ) </dev/null 2>"$E2E_ROOT/manifest.err"
    st=$?
  } 2>/dev/null
  if [ "$st" != 0 ]; then
    printf 'tree_manifest.py failed with exit status %s:\n' "$st"
    sed 's/^/  /' "$E2E_ROOT/manifest.err"
  fi
}

# _lowers_changed OUT BASELINE: compares the lower layers with BASELINE;
# on a change keeps both manifests in OUT and returns 0.
_lowers_changed() {
  local out=$1 baseline=$2 after
  local -a lowers
  mapfile -t lowers < <(e2e_lower_dirs)
  after=$(e2e_manifest "${lowers[@]}")
  [ "$after" != "$baseline" ] || return 1
  printf '%s\n' "$baseline" >"$out/manifest.before"
  printf '%s\n' "$after" >"$out/manifest.after"
  return 0
}

# run_rw_case NAME SETUP 'shell command' [VOLATILE_GLOB]...
#   SETUP: a function that fills the emptied lower layers; it may set
#   E2E_LOWERS (default for these cases: $E2E_VIEW:$E2E_L2).
#   VOLATILE_GLOB: paths (relative to the view or upper root) whose content
#   and mtime legitimately differ between runs; see tree_manifest.py.
# The command runs with its cwd at the view root, as for run_case, and must
# succeed on the kernel (exit status 0).
run_rw_case() {
  local name=$1 setup=$2 cmd=$3
  shift 3
  _case_selected "$name" || return 0
  local out=$E2E_OUT/$name why='' t_case t0 k_start k_end o_start o_end baseline
  local E2E_LOWERS=$E2E_VIEW:$E2E_L2 E2E_UPPER='' E2E_WORK='' E2E_AS_USER=''
  if [ -e "$out" ]; then
    e2e_err "duplicate case name: $name"
    _fail "$name" "duplicate case name"
    return 1
  fi
  mkdir -p "$out"
  printf '%s\n' "$cmd" >"$out/cmd"
  t_case=$(_now)

  if ! e2e_reset_layers || ! "$setup" >"$out/setup.log" 2>&1; then
    _fail "$name" "setting up the lower layers failed"
    sed 's/^/    /' "$out/setup.log" | tail -n 20
    return 1
  fi
  local -a lowers
  mapfile -t lowers < <(e2e_lower_dirs)
  baseline=$(e2e_manifest "${lowers[@]}")
  local ku=$out/kernel-upper kw=$out/kernel-work ou=$out/ovlbox-upper cw=$out/check-work
  mkdir -p "$ku" "$kw" "$ou" "$cw"
  # ovlbox run by a user makes its default work dir beside its upper.
  [ -z "${E2E_AS_USER:-}" ] || chown "$E2E_AS_USER" "$ku" "$kw" "$ou" "$cw" "$out"
  # The upper roots are the view root: same times on both sides.
  touch -d '2000-01-01 00:00:00 UTC' "$ku" "$ou"
  # Whatever the workload writes gets an mtime after t0 (the clock that
  # stamps files is coarse: leave it time to pass t0).
  t0=$(date +%s%N)
  sleep 0.05

  # 1. The reference: the kernel, with its own upper.
  rm -rf "$E2E_HOME" && mkdir -p "$E2E_HOME"
  E2E_UPPER=$ku E2E_WORK=$kw
  if ! e2e_kernel_mount 2>"$out/mount.err"; then
    _fail "$name" "kernel overlay mount failed: $(head -n 1 "$out/mount.err")"
    return 1
  fi
  k_start=$(_now)
  _run_side kernel "$out/kernel" "$cmd"
  k_end=$(_now)
  _tree_manifest kernel view "$E2E_VIEW" "$t0" "$@" >"$out/kernel.view.txt"
  if ! e2e_kernel_umount; then
    _fail "$name" "cannot unmount the kernel overlay"
    exit 1
  fi
  if _lowers_changed "$out" "$baseline"; then
    _fail "$name" "the kernel run changed the lower layers: the case is wrong"
    return 1
  fi

  # 2. ovlbox, with its own upper and its default work dir.
  rm -rf "$E2E_HOME" && mkdir -p "$E2E_HOME"
  E2E_UPPER=$ou E2E_WORK=
  o_start=$(_now)
  _run_side ovlbox "$out/ovlbox" "$cmd"
  o_end=$(_now)
  _tree_manifest ovlbox view "$E2E_VIEW" "$t0" "$@" >"$out/ovlbox.view.txt"
  _tree_manifest host upper "$ku" "$t0" "$@" >"$out/kernel.upper.txt"
  _tree_manifest host upper "$ou" "$t0" "$@" >"$out/ovlbox.upper.txt"

  # 3. The kernel's view of ovlbox's upper.
  E2E_UPPER=$ou E2E_WORK=$cw
  if e2e_kernel_mount 2>"$out/mount.err"; then
    _tree_manifest kernel view "$E2E_VIEW" "$t0" "$@" >"$out/check.view.txt"
    if ! e2e_kernel_umount; then
      _fail "$name" "cannot unmount the kernel overlay"
      exit 1
    fi
  else
    { echo "the kernel cannot mount ovlbox's upper:"; cat "$out/mount.err"; } >"$out/check.view.txt"
  fi
  E2E_UPPER='' E2E_WORK=''

  _render "$out/kernel" >"$out/kernel.txt"
  _render "$out/ovlbox" >"$out/ovlbox.txt"
  local ks os
  ks=$(cat "$out/kernel/status")
  os=$(cat "$out/ovlbox/status")
  if [ "$ks" != 0 ]; then
    # Every workload succeeds on the kernel; if not, the case is broken.
    why="the kernel run failed with exit status $ks: the case is wrong"
  elif [ "$ks" != "$os" ]; then
    why="exit status kernel=$ks ovlbox=$os"
  elif ! cmp -s "$out/kernel.txt" "$out/ovlbox.txt"; then
    why="output differs"
  fi
  cmp -s "$out/kernel.view.txt" "$out/ovlbox.view.txt" || why="${why:+$why, }view differs"
  cmp -s "$out/kernel.upper.txt" "$out/ovlbox.upper.txt" || why="${why:+$why, }upper differs"
  cmp -s "$out/check.view.txt" "$out/ovlbox.view.txt" ||
    why="${why:+$why, }kernel's view of ovlbox's upper differs"
  _lowers_changed "$out" "$baseline" && why="${why:+$why, }lower layers modified"
  # ovlbox's default work dir: beside its upper, and left empty.
  local owork=$out/.ovlbox-upper.ovlbox-work
  if [ ! -d "$owork" ]; then
    why="${why:+$why, }no default work dir $owork"
  elif [ -n "$(find "$owork" ! -type d -print -quit)" ]; then
    why="${why:+$why, }files left in the work dir"
    find "$owork" ! -type d >"$out/work-leftovers.txt"
  fi

  local times
  times="kernel $(_seconds "$k_start" "$k_end")s, ovlbox $(_seconds "$o_start" "$o_end")s, whole case $(_seconds "$t_case" "$(_now)")s"
  if [ -z "$why" ]; then
    E2E_PASSED=$((E2E_PASSED + 1))
    e2e_say "ok $name"
    e2e_say "    time: $times"
    [ -n "${E2E_KEEP:-}" ] || rm -rf "$ku" "$kw" "$ou" "$cw" "$owork"
    return 0
  fi
  _fail "$name" "$why"
  e2e_say "    time: $times"
  _show_rw_diffs "$out"
  _save_failure "$name" "$out"
  return 1
}

# _show_pair_diff TITLE A B: the head of the diff of two files, if any.
_show_pair_diff() {
  local title=$1 a=$2 b=$3 n=${E2E_DIFF_LINES:-60} total
  cmp -s "$a" "$b" && return 0
  printf '    %s:\n' "$title"
  total=$(diff -a -u --label "$(basename "$a")" --label "$(basename "$b")" "$a" "$b" | wc -l)
  diff -a -u --label "$(basename "$a")" --label "$(basename "$b")" "$a" "$b" |
    head -n "$n" | cut -c 1-240 | sed 's/^/    /'
  [ "$total" -le "$n" ] || printf '    ... (%s more diff lines)\n' "$((total - n))"
}

_show_rw_diffs() {
  local out=$1
  sed -e '/./,$!d' "$out/cmd" | sed -e '1s/^/    command: /' -e '1!s/^/             /' |
    head -n 8 | cut -c 1-240
  if [ "$(cat "$out/kernel/status")" != 0 ]; then
    printf '    kernel run:\n'
    head -n "${E2E_DIFF_LINES:-60}" "$out/kernel.txt" | cut -c 1-240 | sed 's/^/    /'
  fi
  _show_pair_diff "output" "$out/kernel.txt" "$out/ovlbox.txt"
  _show_pair_diff "view afterwards" "$out/kernel.view.txt" "$out/ovlbox.view.txt"
  _show_pair_diff "upper on disk" "$out/kernel.upper.txt" "$out/ovlbox.upper.txt"
  _show_pair_diff "kernel's view of ovlbox's upper (vs ovlbox's view)" \
    "$out/check.view.txt" "$out/ovlbox.view.txt"
  [ ! -e "$out/manifest.before" ] ||
    _show_pair_diff "lower layers" "$out/manifest.before" "$out/manifest.after"
  if [ -e "$out/work-leftovers.txt" ]; then
    printf '    left in the work dir:\n'
    head -n 20 "$out/work-leftovers.txt" | sed 's/^/    /'
  fi
}

# ------------------------------------------------------------ writable suites

# needs TOOL...: true when every TOOL is installed (looked up in the PATH
# the commands get); sets MISSING to those that are not.
MISSING=
needs() {
  local t
  MISSING=
  for t in "$@"; do
    case $t in
      python3-venv) PATH=$E2E_PATH_DEFAULT python3 -c 'import ensurepip, venv' >/dev/null 2>&1 ;;
      python3-pip) PATH=$E2E_PATH_DEFAULT python3 -c 'import setuptools, wheel, pip' >/dev/null 2>&1 ;;
      *) PATH=$E2E_PATH_DEFAULT command -v "$t" >/dev/null 2>&1 ;;
    esac || MISSING="$MISSING $t"
  done
  [ -z "$MISSING" ]
}

# rw_case NAME TOOLS SETUP CMD [VOLATILE_GLOB]...: run_rw_case when the
# tools the case needs are installed, a failure saying which are missing
# otherwise.
rw_case() {
  local name=$1 tools=$2
  shift 2
  _case_selected "$name" || return 0
  # shellcheck disable=SC2086
  if ! needs $tools; then
    _fail "$name" "not installed:$MISSING"
    return 1
  fi
  run_rw_case "$name" "$@"
}

# git_in DIR ARGS...: git in DIR with a fixed identity and dates, for the
# setups of the writable suites (deterministic packs, no automatic gc).
git_in() {
  local dir=$1
  shift
  (
    cd "$dir" &&
      HOME=$E2E_HOME GIT_CONFIG_NOSYSTEM=1 \
        GIT_AUTHOR_NAME=Setup GIT_AUTHOR_EMAIL=setup@example.com \
        GIT_COMMITTER_NAME=Setup GIT_COMMITTER_EMAIL=setup@example.com \
        GIT_AUTHOR_DATE=2020-01-02T03:04:05Z GIT_COMMITTER_DATE=2020-01-02T03:04:05Z \
        git -c init.defaultBranch=main -c pack.threads=1 -c gc.auto=0 "$@"
  )
}

# e2e_finish: print the summary line; returns non-zero if anything failed.
e2e_finish() {
  if [ "$E2E_FAILED" -gt 0 ]; then
    e2e_say "failed cases:$E2E_FAILED_NAMES"
  fi
  e2e_say "$E2E_PASSED passed, $E2E_FAILED failed"
  [ "$E2E_FAILED" -eq 0 ]
}
