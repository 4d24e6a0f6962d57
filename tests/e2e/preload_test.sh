#!/bin/bash
#
# End-to-end tests of the preload library (docs/design.md, "The preload
# library"): the calls it answers inside the program must give exactly what
# the supervisor, and the kernel's overlayfs, give.
#
# The cases stress the line it draws between the host and the view: host
# files (present, missing, behind symlinks), host symlinks and ".." that
# lead into the view (whose answers must be the view's, also after changes
# in the upper), /proc and /dev/fd, the lowers' own host paths, and real
# programs that make such calls by the thousand (a compiler writing
# dependency files, Python imports). Each case runs on a kernel overlay
# mount and under ovlbox (run_case / rw_case in lib.sh); a few checks run
# ovlbox alone: the library is loaded, --no-preload turns it off, an
# AddressSanitizer program (whose runtime must load first) still runs, and
# the answers with and without the library are the same.
#
# Run:  bazel test //tests/e2e:preload_test
#   or  sudo OVLBOX=/path/to/ovlbox PROBE=/path/to/probe tests/e2e/preload_test.sh
# Prints "ok NAME" / "FAIL NAME (reason)" and "N passed, N failed".

# Case commands are single-quoted on purpose: they expand inside sh -c.
# shellcheck disable=SC2016
set -u

if [ -n "${TEST_SRCDIR:-}" ] && [ -x "$TEST_SRCDIR/ovlbox/supervisor/ovlbox" ]; then
  OVLBOX=$TEST_SRCDIR/ovlbox/supervisor/ovlbox
fi
if [ -n "${TEST_SRCDIR:-}" ] && [ -x "$TEST_SRCDIR/ovlbox/tests/fixtures/probe" ]; then
  PROBE=$TEST_SRCDIR/ovlbox/tests/fixtures/probe
fi
if [ -n "${TEST_SRCDIR:-}" ] && [ -f "$TEST_SRCDIR/ovlbox/tests/e2e/lib.sh" ]; then
  E2E_DIR=$TEST_SRCDIR/ovlbox/tests/e2e
else
  E2E_DIR=$(cd "$(dirname "$0")" && pwd)
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$E2E_DIR/lib.sh"

e2e_init
if [ -z "${PROBE:-}" ] || [ ! -x "$PROBE" ]; then
  e2e_err "probe binary not found (set PROBE=/path/to/probe): '${PROBE:-}'"
  exit 1
fi
# The probe runs from a copy outside the view.
mkdir -p "$E2E_ROOT/bin"
cp "$PROBE" "$E2E_ROOT/bin/probe"
PROBE=$E2E_ROOT/bin/probe
make_layers

# Host symlinks into the view, next to the host file make_layers puts in
# $E2E_OUTSIDE (which also holds into-view -> merged/b.txt).
add_outside_links() {
  local o=$E2E_OUTSIDE v=$E2E_VIEW
  mkdir -p "$o/dir"
  _put "$o/dir/file.txt" "host file in a host dir"
  ln -sfn "$v/merged" "$o/dir-into-view"
  ln -sfn "$v" "$o/view-link"
  ln -sfn ../view/merged/a.txt "$o/rel-into-view"
  ln -sfn "$v/gone.txt" "$o/to-whiteout"
  ln -sfn "$o/dir" "$o/host-dir-link"
  ln -sfn "$o/nowhere" "$o/dangling"
  # For realpath's walk: a relative link through "..", a loop, a link to a
  # directory by a relative path, a chain.
  ln -sfn ../outside/dir/file.txt "$o/rel-up"
  ln -sfn loop-b "$o/loop-a"
  ln -sfn loop-a "$o/loop-b"
  ln -sfn dir "$o/dir-rel"
  ln -sfn host-dir-link "$o/chain"
}
add_outside_links

# For the walk memo and the cwd's identity (docs/design.md, "The walk
# memo"): the same names below a directory of the top lower alone (d1), a
# merged one (d2) and one of the middle lower alone (d3); and a directory
# of one lower that holds a fifo next to a file (not one whose names the
# library may open before it knows what they are).
add_memo_dirs() {
  local v=$E2E_VIEW l2=$E2E_L2
  _put "$v/cwdmove/d1/sub/f" "f in d1"
  _put "$v/cwdmove/d2/sub/f" "f in d2 (l1)"
  _put "$l2/cwdmove/d2/sub/f" "f in d2 (l2, hidden)"
  _put "$l2/cwdmove/d2/sub/g" "g in d2 (l2)"
  _put "$l2/cwdmove/d3/sub/f" "f in d3 (l2)"
  _put "$l2/cwdmove/d3/sub/g" "g in d3 (l2)"
  ln -s f "$v/cwdmove/d1/sub/lnk"
  _put "$v/cwdmove/fifos/in/a" "a next to a fifo"
  mkfifo "$v/cwdmove/fifos/in/p"
  cat >"$E2E_OUTSIDE/memo.py" <<'PY'
import ctypes, errno, os, threading

libc = ctypes.CDLL(None, use_errno=True)

def rd(p):
    try:
        with open(p) as f:
            return f.read().strip()
    except OSError as e:
        return "error " + errno.errorcode[e.errno]

def show(tag):
    print(tag, "|", rd("sub/f"), "|", rd("sub/f"), "|", rd("sub/g"), "|", os.path.exists("sub/g"),
          "|", rd("./sub/f"), flush=True)

os.chdir("cwdmove/d1")
show("chdir d1")
fds = {d: os.open("../" + d, os.O_RDONLY | os.O_DIRECTORY) for d in ("d1", "d2", "d3")}
os.fchdir(fds["d2"])
show("fchdir d2")
libc.syscall(81, fds["d3"])  # fchdir without libc's wrapper
show("raw fchdir d3")
libc.syscall(81, fds["d1"])
show("raw fchdir d1")
os.chdir("../d2")
show("chdir ../d2")
t = threading.Thread(target=lambda: os.fchdir(fds["d3"]))
t.start()
t.join()
show("another thread's fchdir d3")
if os.fork() == 0:
    os.fchdir(fds["d1"])
    show("child fchdir d1")
    os._exit(0)
os.wait()
show("parent after the child's fchdir")

os.chdir("../fifos")
print(rd("in/a"), rd("in/a"), rd("in/a"))
r = os.open("in/p", os.O_RDONLY | os.O_NONBLOCK)
w = os.open("in/p", os.O_WRONLY | os.O_NONBLOCK)
os.write(w, b"through the view's fifo")
print(os.read(r, 100).decode())
PY
}
add_memo_dirs

# For glibc's own opens and stats (docs/design.md, "glibc's own calls"):
# compiled locales in the view, read by setlocale through LOCPATH. The
# middle lower holds two copies of the host's C.utf8; the top one whites
# out the LC_CTYPE of the second, which then cannot load.
add_locales() {
  local src=/usr/lib/locale/C.utf8
  [ -d "$src" ] || return 0
  mkdir -p "$E2E_L2/locales"
  cp -r "$src" "$E2E_L2/locales/C.utf8"
  cp -r "$src" "$E2E_L2/locales/xx_XX.utf8"
  _whiteout "$E2E_VIEW/locales/xx_XX.utf8/LC_CTYPE"
}
add_locales
E2E_EXTRA_ENV="PROBE=$PROBE
OUT=$E2E_OUTSIDE
L2=$E2E_L2"

# ------------------------------------------------------------ host files

run_case host-files '"$PROBE" stat:/usr/include/stdio.h open:/usr/include/stdio.h:r \
  access:/usr/include/stdio.h:r access:/usr/include/stdio.h:x readlink:/usr/include/stdio.h \
  realpath:/usr/include/stdio.h realpath:/usr/include/../include/./stdio.h \
  open:/usr/include:dir stat:/usr/include/ open:/usr/include/stdio.h:dir \
  lstat:/bin realpath:/bin/sh realpath:/bin/ readlink:/bin \
  stat:/dev/null open:/dev/null:r realpath:/dev/null \
  "stat:$OUT/host.txt" "open:$OUT/host.txt:r" "realpath:$OUT/host-dir-link/file.txt" \
  "lstat:$OUT/host-dir-link" "readlink:$OUT/host-dir-link" "stat:$OUT/host-dir-link/" \
  open:/usr/include/stdio.h:path open:/usr/include:path open:/bin:path+nofollow open:/bin:path \
  open:/usr/include/no-such.h:path "open:$OUT/host-dir-link:path+nofollow"'

run_case host-missing '"$PROBE" stat:/usr/include/no-such.h open:/usr/include/no-such.h:r \
  access:/usr/include/no-such.h:f readlink:/usr/include/no-such.h lstat:/usr/include/no-such.h \
  realpath:/usr/include/no-such.h realpath:/usr/include/no-such/deeper/x.h \
  realpath:/usr/include/../no-such realpath:/no-such-dir/x stat:/no-such-dir/x/y \
  stat:/usr/include/stdio.h/x open:/usr/include/stdio.h/x:r realpath:/usr/include/stdio.h/x \
  stat:/usr/include/no-such/.. "stat:$OUT/dangling" "lstat:$OUT/dangling" \
  "realpath:$OUT/dangling" "open:$OUT/dangling:r" "stat:$OUT/dangling/x"'

# realpath of host paths as glibc walks them (the library resolves them
# itself): "." and ".." after a file or a directory, trailing slashes,
# symlink loops, relative links, links in the middle, missing names.
run_case host-realpath-walk '"$PROBE" "realpath:$OUT/dir/file.txt/." "realpath:$OUT/dir/file.txt/" \
  "realpath:$OUT/dir/file.txt/.." "realpath:$OUT/dir/./" "realpath:$OUT/dir/.//.." \
  "realpath:$OUT/dir/file.txt/./x" "realpath:$OUT/dir/.x" "realpath:$OUT/loop-a" \
  "realpath:$OUT/loop-a/x" "realpath:$OUT/rel-up" "realpath:$OUT/dir-rel/file.txt" \
  "realpath:$OUT/chain/file.txt" "realpath:$OUT/chain/../host.txt" "realpath:$OUT/chain/." \
  "realpath:$OUT/dir-rel/missing/.." "realpath:$OUT/dangling/x" "realpath:$OUT//dir//file.txt" \
  realpath:/ realpath:// realpath:/usr/bin/../lib realpath:/lib/x86_64-linux-gnu \
  "realpath:$OUT/dir-into-view/../README.txt/." "realpath:$OUT/chain/../view-link/merged/a.txt"'

# realpath of view paths that the library's quick answers leave (a name
# missing on the way, "..", "." or a trailing slash after a file, symlinks
# in the view): glibc's walk, made with the library's own readlink, must
# give glibc's answers, errno and partial result.
run_case view-realpath-walk '"$PROBE" "realpath:$VIEW/merged/no-such/x.h" \
  "realpath:$VIEW/merged/no-such/deeper/x.h" "realpath:$VIEW/merged/no-such/.." \
  "realpath:$VIEW/merged/sub/../a.txt" "realpath:$VIEW/merged/../etc/only3.conf" \
  "realpath:$VIEW/gonedir/inner/file.txt" "realpath:$VIEW/gone.txt/x" "realpath:$VIEW/merged/a.txt/" \
  "realpath:$VIEW/merged/a.txt/." "realpath:$VIEW/merged/a.txt/.." "realpath:$VIEW/merged/a.txt/x" \
  realpath:merged/no-such/x realpath:merged/sub/../../etc/./config.ini realpath:./gonedir/.. \
  "realpath:$VIEW/cwdmove/d1/sub/lnk" "realpath:$VIEW/cwdmove/d1/sub/lnk/" \
  "realpath:$VIEW/cwdmove/d1/sub/lnk/x" "realpath:$VIEW/cwdmove/d2/sub/../../d3/sub/g" \
  "realpath:$VIEW//merged///sub/./deep3.txt" "realpath:$VIEW/merged/sub/deep2.txt/../.." \
  "realpath:$OUT/view-link/merged/no-such/x" "realpath:$OUT/view-link/gonedir/x"'

# The same host paths opened and looked up by the supervisor alone (the
# dynamic loader's and libc's own calls always go there): one openat2 for
# plain names, each host symlink on the way read and followed while it
# leads to plain host paths, the view's walk for the rest.
E2E_OVLBOX_FLAGS=--no-preload run_case supervisor-host-paths '"$PROBE" \
  open:/lib/x86_64-linux-gnu/libc.so.6:r stat:/lib/x86_64-linux-gnu/libc.so.6 \
  "open:$OUT/chain/file.txt:r" "open:$OUT/dir-rel/file.txt:r" "open:$OUT/rel-up:r" \
  "open:$OUT/loop-a:r" "open:$OUT/loop-a/x:r" "open:$OUT/dangling:r" \
  "open:$OUT/host-dir-link:r+nofollow" "open:$OUT/host-dir-link/file.txt:r+nofollow" \
  "open:$OUT/host-dir-link:dir" "open:$OUT/dir/file.txt:dir" "open:$OUT/dir/file.txt/x:r" \
  "open:$OUT/dir/missing:r" "open:$OUT/dir:w" "open:$OUT/dir/file.txt:w" \
  "open:$OUT/into-view:r" "open:$OUT/dir-into-view/a.txt:r" "open:$OUT/to-whiteout:r" \
  "open:$OUT/view-link/gone.txt:r" "open:$OUT/rel-into-view:r" "stat:$OUT/chain/file.txt" \
  "stat:$OUT/dir-into-view/gone-in-merged.txt" "open:$L2/README.txt:r" "open:$VIEW/gone.txt:r" \
  open:/proc/self/cwd/README.txt:r open:/dev/fd/0:r open:/etc/ld.so.preload:r'

# /proc and /dev/fd: magic links and per-process answers stay the
# supervisor's (they name view files as the view shows them).
run_case proc-and-fd 'exec 3<merged/a.txt 4<"$OUT/host.txt"
  "$PROBE" readlink:/proc/self/fd/3 realpath:/proc/self/fd/3 stat:/proc/self/fd/3 \
    readlink:/dev/fd/3 realpath:/dev/fd/3 open:/dev/fd/3:r \
    readlink:/proc/self/fd/4 realpath:/dev/fd/4 open:/dev/fd/4:r \
    readlink:/proc/self/cwd realpath:/proc/self/cwd stat:/proc/self/cwd/README.txt \
    realpath:/proc/self/cwd/merged/../etc/config.ini' 

# ------------------------------------------------------------ into the view

run_case host-links-into-view '"$PROBE" "stat:$OUT/into-view" "open:$OUT/into-view:r" \
  "realpath:$OUT/into-view" "access:$OUT/into-view:r" \
  "open:$OUT/dir-into-view/a.txt:r" "stat:$OUT/dir-into-view/gone-in-merged.txt" \
  "realpath:$OUT/dir-into-view/gone-in-merged.txt" "open:$OUT/dir-into-view/c.txt:r" \
  "realpath:$OUT/dir-into-view/../README.txt" "open:$OUT/dir-into-view/../README.txt:r" \
  "stat:$OUT/view-link/gone.txt" "open:$OUT/view-link/gone.txt:r" \
  "open:$OUT/view-link/etc/config.ini:r" "realpath:$OUT/view-link/merged/../etc/only3.conf" \
  "open:$OUT/rel-into-view:r" "realpath:$OUT/rel-into-view" "stat:$OUT/to-whiteout" \
  "open:$OUT/to-whiteout:r" "readlink:$OUT/to-whiteout" "stat:$OUT/view-link/opq/old1.txt"'

# The view's own path, and a lower's host path: never answered in the
# program (the first is the view, the second the host's plain directory).
run_case view-and-lower-paths '"$PROBE" "stat:$VIEW/gone.txt" "open:$VIEW/merged/a.txt:r" \
  "realpath:$VIEW/merged/../README.txt" "realpath:$VIEW/gone.txt" \
  "open:$L2/README.txt:r" "stat:$L2/gone.txt" "realpath:$L2/merged"'

# ------------------------------------------------------------ the walk memo

# Multi-name paths relative to a cwd moved by chdir, by fchdir through libc
# and without it, by another thread, in a child; and a fifo opened by a
# multi-name path in a directory whose files the memo answers.
run_case cwd-moves 'python3 "$OUT/memo.py"'
# A vfork child shares the parent's memory (the library's memos too), not
# its cwd.
# Opens by a path the memo answers, in a directory of one lower that holds
# only files, directories and symlinks: O_PATH of a symlink follows it
# unless O_NOFOLLOW says otherwise.
run_case memo-open-flags 'cd cwdmove/d1 && "$PROBE" open:sub/f:r open:sub/f:r open:sub/lnk:r \
  open:sub/lnk:path open:sub/lnk:path+nofollow open:sub/lnk:r+nofollow open:sub/f:dir \
  open:sub/missing:r open:sub:r open:sub/lnk:dir'
run_case cwd-vfork 'cd cwdmove/d1 && "$PROBE" vforkchdir:../d3:sub/f vforkchdir:../d2:sub/f \
  vforkchdir:../d1:sub/f'

# ------------------------------------------------------------ programs

# NULL pointers where glibc's prototypes say nonnull (Rust probes statx so):
# the same errors as the kernel's, not a crash in the library.
# Calls glibc makes from inside itself, where no symbol of the library is
# seen: setlocale's opens and fstats of the locale files, nftw's and
# glob's listings and stats, freopen's open. The library answers them
# (redirected entry points); they must be the view's.
run_case libc-internal-calls 'for l in C.UTF-8 xx_XX.UTF-8; do
    LOCPATH=$VIEW/locales LC_ALL=$l locale charmap 2>&1
    LOCPATH=$VIEW/locales LC_ALL=$l date -d @0 "+%A %B" 2>&1
  done
  "$PROBE" nftw:merged nftw:opq nftw:typechange-file nftw:locales glob:"merged/*" glob:"*/sub" \
    glob:"gone*" freopen:merged/b.txt freopen:gone.txt freopen:$OUT/host.txt freopen:opq1/l2.txt'

run_case null-arguments '"$PROBE" nullargs:/usr/include/stdio.h nullargs:merged/a.txt'

run_case python-imports 'python3 -c "
import json, os, email.mime.text, sqlite3, importlib.util
print(os.path.realpath(json.__file__)); print(importlib.util.find_spec(\"email\").origin)
print(os.path.exists(\"/usr/lib/python3/no_such_module.py\"), os.path.isdir(os.path.dirname(os.__file__)))
print(open(\"merged/a.txt\").read().strip())"'

# ------------------------------------------------------------ ovlbox alone

check() {
  local name=$1 why
  shift
  _case_selected "$name" || return 0
  if why=$("$@" 2>&1); then
    E2E_PASSED=$((E2E_PASSED + 1))
    e2e_say "ok $name"
  else
    _fail "$name" "$why"
  fi
}

in_ovlbox() {
  (cd "$E2E_VIEW" && env -i PATH=$E2E_PATH_DEFAULT LC_ALL=C \
    timeout -k 5 60 "$OVLBOX" "$@")
}

library_loaded() {
  local with without
  with=$(in_ovlbox --lower "$E2E_VIEW:$E2E_L2:$E2E_L3" -- sh -c 'grep -c ovlbox-preload /proc/self/maps')
  without=$(in_ovlbox --no-preload --lower "$E2E_VIEW:$E2E_L2:$E2E_L3" -- \
    sh -c 'grep -c ovlbox-preload /proc/self/maps')
  [ "${with:-0}" -ge 1 ] || { echo "not loaded (maps lines: ${with:-none})"; return 1; }
  [ "${without:-0}" = 0 ] || { echo "--no-preload still loads it"; return 1; }
  # Served, not written: nothing appears in the host's /etc.
  [ ! -e /etc/ovlbox-preload.so ] || { echo "/etc/ovlbox-preload.so exists on the host"; return 1; }
}
check preload-loaded library_loaded

# The same answers with and without the library, identities included.
same_answers() {
  local args=(
    ids:/usr/include/stdio.h ids:/usr/include realpath:/usr/include/stdio.h
    stat:/usr/include/no-such.h realpath:/usr/include/no-such/x.h
    "ids:$E2E_OUTSIDE/into-view" "ids:$E2E_OUTSIDE/dir-into-view/a.txt"
    "realpath:$E2E_OUTSIDE/dir-into-view/../README.txt" "ids:$E2E_VIEW/merged/a.txt"
    "stat:$E2E_OUTSIDE/to-whiteout" open:/usr/include/stdio.h:r
  )
  local with without
  with=$(in_ovlbox --lower "$E2E_VIEW:$E2E_L2:$E2E_L3" -- "$PROBE" "${args[@]}")
  without=$(in_ovlbox --no-preload --lower "$E2E_VIEW:$E2E_L2:$E2E_L3" -- "$PROBE" "${args[@]}")
  [ -n "$with" ] && [ "$with" = "$without" ] ||
    { diff <(echo "$without") <(echo "$with") | head -20; return 1; }
}
check preload-same-answers same_answers

# A fifo's stand-in (in the supervisor's runtime dir, $TMPDIR) reports the
# view's fifo through fstat, also when $TMPDIR is on a filesystem that
# holds no layer: the library places other objects there by device alone.
fifo_standin_elsewhere() {
  local top=$E2E_ROOT/ff/top up=$E2E_ROOT/ff/upper tmp out
  tmp=$(mktemp -d /dev/shm/ovlbox-e2e-tmp.XXXXXX 2>/dev/null) || tmp=$(mktemp -d)
  mkdir -p "$top" "$up"
  mkfifo "$top/fifo"
  out=$(cd "$top" && env -i PATH=$E2E_PATH_DEFAULT TMPDIR="$tmp" timeout 60 "$OVLBOX" \
    --lower "$top" --upper "$up" -- python3 -c '
import os
fd = os.open("fifo", os.O_RDWR)
a, b = os.fstat(fd), os.stat("fifo")
print("same" if (a.st_dev, a.st_ino, a.st_mode) == (b.st_dev, b.st_ino, b.st_mode) else
      "fstat %d:%d stat %d:%d" % (a.st_dev, a.st_ino, b.st_dev, b.st_ino))
' 2>&1)
  rm -rf "$tmp"
  [ "$out" = same ] || { echo "$out"; return 1; }
}
check fifo-standin-elsewhere fifo_standin_elsewhere

# A directory below a listed one that marks xattr whiteouts (overlayfs
# 6.7+: a zero-size file with user.overlay.whiteout in a directory with
# user.overlay.opaque=x) is not taken for one the library may answer in.
# (The kernel lists such a whiteout in a directory of one layer but hides
# it from lookups, so this compares ovlbox with and without the library.)
xattr_whiteouts() {
  local top=$E2E_ROOT/xw/top bottom=$E2E_ROOT/xw/bottom with without
  mkdir -p "$top/pure/xw" "$bottom/other"
  _setxattr "$top/pure/xw" user.overlay.opaque x
  : >"$top/pure/xw/gone"
  _setxattr "$top/pure/xw/gone" user.overlay.whiteout ""
  _put "$top/pure/xw/kept" "kept"
  local script='
import os
pure = os.open("pure", os.O_RDONLY | os.O_DIRECTORY)
xw = os.open("xw", os.O_RDONLY | os.O_DIRECTORY, dir_fd=pure)
for n in ["gone", "kept"]:
    try:
        print(n, os.stat(n, dir_fd=xw).st_size)
    except OSError as e:
        print(n, e.strerror)
'
  with=$(cd "$top" && env -i PATH=$E2E_PATH_DEFAULT timeout 60 "$OVLBOX" --lower "$top:$bottom" -- python3 -c "$script" 2>&1)
  without=$(cd "$top" && env -i PATH=$E2E_PATH_DEFAULT timeout 60 "$OVLBOX" --no-preload --lower "$top:$bottom" -- python3 -c "$script" 2>&1)
  [ "$with" = "$without" ] || { printf 'with: %s / without: %s\n' "$with" "$without" | tr '\n' ' '; return 1; }
  case $with in *"gone No such file"*) ;; *) echo "gone is visible: $with" | tr '\n' ' '; return 1 ;; esac
}
check xattr-whiteouts-below-listed xattr_whiteouts

# An upper inside its lower stays hidden in every directory, also where the
# library would otherwise answer lookups itself.
upper_inside_lower() {
  local low=$E2E_ROOT/inside/low with without
  mkdir -p "$low/a/b"
  _put "$low/a/b/f" "f"
  local script='
import os
a = os.open("a", os.O_RDONLY | os.O_DIRECTORY)
b = os.open("b", os.O_RDONLY | os.O_DIRECTORY, dir_fd=a)
root = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
for fd, n in [(b, "up"), (b, "f"), (b, ".up.ovlbox-work"), (root, "a")]:
    try:
        print(n, oct(os.stat(n, dir_fd=fd, follow_symlinks=False).st_mode))
    except OSError as e:
        print(n, e.strerror)
'
  mkdir -p "$low/a/b/up"
  with=$(cd "$low" && env -i PATH=$E2E_PATH_DEFAULT timeout 60 "$OVLBOX" --lower "$low" --upper "$low/a/b/up" -- python3 -c "$script" 2>&1)
  rm -rf "$low/a/b/up" "$low/a/b/.up.ovlbox-work"
  mkdir -p "$low/a/b/up"
  without=$(cd "$low" && env -i PATH=$E2E_PATH_DEFAULT timeout 60 "$OVLBOX" --no-preload --lower "$low" --upper "$low/a/b/up" -- python3 -c "$script" 2>&1)
  [ "$with" = "$without" ] || { printf 'with: %s / without: %s\n' "$with" "$without" | tr '\n' ' '; return 1; }
  case $with in *"up No such file"*) ;; *) echo "the upper is visible: $with" | tr '\n' ' '; return 1 ;; esac
}
check upper-inside-lower upper_inside_lower

# Mount points inside a lower (a tmpfs on a directory, a file bound over
# another): the directories that hold them are never listed, every other
# one is, and the library's answers are the supervisor's (which show the
# mounted filesystem, as the host does). In a private mount namespace.
mounts_inside_lower() {
  local low=$E2E_ROOT/mounted/low up=$E2E_ROOT/mounted/up with without
  mkdir -p "$low/a/mnt" "$low/a/sib" "$low/b/c" "$up"
  _put "$low/a/f" "f under a"
  _put "$low/a/mnt/hidden-by-mount" "under the mount point"
  _put "$low/a/sib/g" "g"
  _put "$low/b/c/file" "file"
  _put "$low/b/bound" "before the bind"
  _put "$E2E_ROOT/mounted/other" "bound over b/bound"
  local script="$E2E_PY_PROBE"'
for p in ["a", "a/f", "a/mnt", "a/mnt/t", "a/mnt/d/e", "a/mnt/hidden-by-mount", "a/sib/g",
          "b/c/file", "b/bound", "a/mnt/d/../t", "a/./mnt/d"]:
    probe("stat " + p, lambda: st(p))
    probe("lstat " + p, lambda: st(p, follow_symlinks=False))
    probe("read " + p, lambda: open(p).read() if not os.path.isdir(p) else "dir")
for d in ["a", "a/mnt", "a/mnt/d", "b", "b/c"]:
    probe("list " + d, lambda: " ".join(sorted(os.listdir(d))))
fd = os.open("a", os.O_RDONLY | os.O_DIRECTORY)
for n in ["mnt", "mnt/t", "f", "sib/g"]:
    probe("at a " + n, lambda: st(n, dir_fd=fd))
os.chdir("a/mnt")
probe("cwd t", lambda: st("t"))
probe("cwd d/e", lambda: st("d/e"))
print("\n".join(out))
'
  local inner='mount -t tmpfs -o size=1m tmpfs "$1/a/mnt" && mkdir "$1/a/mnt/d" && echo t > "$1/a/mnt/t" &&
echo e > "$1/a/mnt/d/e" && mount --bind "$2" "$1/b/bound" || exit 1
cd "$1" && env -i PATH="$4" timeout 60 "$3" $5 --lower "$1" --upper "$6" -- python3 -c "$7" 2>&1'
  with=$(unshare -m sh -c "$inner" sh "$low" "$E2E_ROOT/mounted/other" "$OVLBOX" "$E2E_PATH_DEFAULT" "" "$up" "$script")
  rm -rf "$up" && mkdir "$up"
  without=$(unshare -m sh -c "$inner" sh "$low" "$E2E_ROOT/mounted/other" "$OVLBOX" "$E2E_PATH_DEFAULT" --no-preload "$up" "$script")
  [ "$with" = "$without" ] || { diff <(echo "$without") <(echo "$with") | head -20 | tr '\n' ' '; return 1; }
  case $with in *"read a/mnt/t: t"*"read b/bound: bound over b/bound"*) ;; *) echo "the mounts do not show: $with" | tr '\n' ' '; return 1 ;; esac
}
if needs unshare; then
  check mounts-inside-lower mounts_inside_lower
fi

# One lower inside another: the real directory r/y/z is view z (from the
# bottom lower alone) and also part of view y/z (merged with the bottom's
# y/y/z). Knowing the first must not answer lookups in the second.
nested_lowers() {
  local r=$E2E_ROOT/nested/r with without
  _put "$r/y/z/a" "a"
  _put "$r/y/y/z/b" "b"
  local args=(stat:z/a stat:y/z/b open:y/z/b:r stat:y/z/a "stat:$r/y/z/b")
  with=$(cd "$r" && env -i PATH=$E2E_PATH_DEFAULT timeout 60 "$OVLBOX" --lower "$r:$r/y" -- "$PROBE" "${args[@]}" 2>&1)
  without=$(cd "$r" && env -i PATH=$E2E_PATH_DEFAULT timeout 60 "$OVLBOX" --no-preload --lower "$r:$r/y" -- "$PROBE" "${args[@]}" 2>&1)
  [ "$with" = "$without" ] || { diff <(echo "$without") <(echo "$with") | head -20; return 1; }
  case $with in *"stat y/z/b => file"*) ;; *) echo "y/z/b is missing from the view: $with" | tr '\n' ' '; return 1 ;; esac
}
check nested-lowers nested_lowers

# The host's own /etc/ld.so.preload keeps working: its libraries load after
# ovlbox's. (In a private mount namespace, over a copy of /etc.)
host_preload_kept() {
  local dir=$E2E_ROOT/hostpre out
  mkdir -p "$dir/etc"
  printf '#include <unistd.h>\n__attribute__((constructor)) static void hello(void) { write(2, "host preload ran\\n", 17); }\n' >"$dir/hello.c"
  gcc -shared -fPIC -o "$dir/libhello.so" "$dir/hello.c" || { echo "cannot build the host library"; return 1; }
  cp -a /etc/. "$dir/etc/"
  [ -e /etc/ld.so.preload ] && cp /etc/ld.so.preload "$dir/etc/ld.so.preload"
  echo "$dir/libhello.so" >>"$dir/etc/ld.so.preload"
  out=$(cd "$E2E_VIEW" && unshare -m sh -c 'mount --bind "$1/etc" /etc && exec env -i PATH=/usr/bin:/bin "$2" --lower "$3" -- sh -c "grep -c ovlbox-preload /proc/self/maps; cat /etc/ld.so.preload"' \
    sh "$dir" "$OVLBOX" "$E2E_VIEW:$E2E_L2:$E2E_L3" 2>&1)
  case $out in
    *"host preload ran"*) ;;
    *) echo "the host's library did not run: $out" | tr '\n' ' '; return 1 ;;
  esac
  printf '%s\n' "$out" | grep -qx '[1-9][0-9]*' || { echo "ovlbox's library not loaded: $out" | tr '\n' ' '; return 1; }
  printf '%s\n' "$out" | grep -qx "/etc/ovlbox-preload.so" || { echo "list: $out" | tr '\n' ' '; return 1; }
  printf '%s\n' "$out" | grep -qx "$dir/libhello.so" || { echo "list lost the host entry: $out" | tr '\n' ' '; return 1; }
}
if needs gcc unshare; then
  check host-ld-so-preload-kept host_preload_kept
fi

# The dynamic loader gets its files as descriptor 1000 (its fstat of them
# then passes the filter: docs/design.md, "The loader's files"): a
# descriptor 1000 the program inherited stays its own in every program it
# starts, and opens after the loading (a library loaded with dlopen, a
# file) get the lowest free number, as natively.
loader_fds() {
  local script='exec 1000</etc/hostname
    readlink /proc/self/fd/1000
    head -c 3 <&1000; echo
    python3 -c "import ctypes, os; ctypes.CDLL(\"libm.so.6\"); print(os.open(\"/etc/hostname\", os.O_RDONLY), os.readlink(\"/proc/self/fd/1000\"))"
    exec 1000<&-
    python3 -c "import ctypes, os; ctypes.CDLL(\"libz.so.1\"); print(os.open(\"/etc/hostname\", os.O_RDONLY), os.path.exists(\"/proc/self/fd/1000\"))"'
  local want out
  want=$(cd "$E2E_VIEW" && env -i PATH=$E2E_PATH_DEFAULT bash -c "$script" 2>&1)
  out=$(in_ovlbox --lower "$E2E_VIEW:$E2E_L2:$E2E_L3" -- bash -c "$script" 2>&1)
  [ "$out" = "$want" ] || { diff <(echo "$want") <(echo "$out") | head -10; return 1; }
  # Below a limit of 1000 open files the loader's files get the lowest
  # numbers, and programs run as they do natively.
  out=$(ulimit -n 256 && in_ovlbox --lower "$E2E_VIEW:$E2E_L2:$E2E_L3" -- \
    bash -c 'python3 -c "import ctypes; ctypes.CDLL(\"libz.so.1\"); print(\"low limit ok\")"' 2>&1)
  [ "$out" = "low limit ok" ] || { echo "with ulimit -n 256: $out" | head -3; return 1; }
}
if needs bash python3; then
  check loader-descriptors loader_fds
fi

# The shared state the supervisor hands the library as descriptor 1001
# (preload/config.h) never shows in the program: not in its descriptors,
# and a descriptor 1001 the program inherited stays its own (the library
# then opens the state by its path).
state_fd() {
  local script='ls /proc/self/fd | sort -n | tr "\n" " "; echo
    python3 -c "import os; print(sorted(int(f) for f in os.listdir(\"/proc/self/fd\")))"
    exec 1001</etc/hostname
    python3 -c "import os; print(os.readlink(\"/proc/self/fd/1001\"), os.read(1001, 3), len(os.listdir(\"/proc/self/fd\")))"
    stat -c "%n %s" /etc/hostname /usr/include/stdio.h'
  local want out
  want=$(cd "$E2E_VIEW" && env -i PATH=$E2E_PATH_DEFAULT bash -c "$script" 2>&1)
  out=$(in_ovlbox --lower "$E2E_VIEW:$E2E_L2:$E2E_L3" -- bash -c "$script" 2>&1)
  [ "$out" = "$want" ] || { diff <(echo "$want") <(echo "$out") | head -10; return 1; }
}
if needs bash python3; then
  check state-descriptor state_fd
fi

asan_runs() {
  local src=$E2E_ROOT/asan.c bin=$E2E_ROOT/bin/asan-hello out
  printf '#include <stdio.h>\nint main(void) { puts("asan ok"); return 0; }\n' >"$src"
  gcc -fsanitize=address -o "$bin" "$src" 2>/dev/null ||
    { echo "cannot build with -fsanitize=address here (libasan missing)"; return 1; }
  # (LeakSanitizer cannot run under ptrace, which every ovlbox program is:
  # docs/design.md, "Known limits".)
  out=$(in_ovlbox --lower "$E2E_VIEW:$E2E_L2:$E2E_L3" -- \
    env ASAN_OPTIONS=detect_leaks=0 "$bin" 2>&1) ||
    { echo "status $?: $out" | head -3; return 1; }
  [ "$out" = "asan ok" ] || { echo "output: $out" | head -3; return 1; }
}
if needs gcc; then
  check asan-program asan_runs
fi

# ------------------------------------------------------------ writable
# (last: each one rebuilds the layers)

# ------------------------------------------------------------ after changes

setup_changes() {
  _put "$E2E_VIEW/merged/a.txt" "a from l1"
  _put "$E2E_L2/merged/b.txt" "b from l2"
  _put "$E2E_L2/merged/c.txt" "c from l2"
  _put "$E2E_VIEW/README.txt" "readme"
  _put "$E2E_VIEW/gone.txt" "gone"
  add_outside_links
}

# Changes made in the view must show through host paths that lead into it.
rw_case host-links-see-changes "" setup_changes 'echo changed > merged/a.txt
  echo new > merged/new.txt; rm merged/b.txt; mkdir merged/newdir
  touch -d @1600000000 merged/a.txt merged/new.txt merged/newdir
  "$PROBE" "open:$OUT/dir-into-view/a.txt:r" "stat:$OUT/dir-into-view/new.txt" \
    "realpath:$OUT/dir-into-view/new.txt" "access:$OUT/dir-into-view/new.txt:w" \
    "stat:$OUT/dir-into-view/b.txt" "open:$OUT/into-view:r" "realpath:$OUT/into-view" \
    "stat:$OUT/dir-into-view/newdir" "realpath:$OUT/dir-into-view/newdir/missing" \
    "open:$OUT/rel-into-view:r" "statx:$OUT/dir-into-view/a.txt" "statx:$OUT/into-view" \
    "statx:$OUT/dir-into-view/b.txt" "fopen:$OUT/dir-into-view/a.txt"
  cat "$OUT/dir-into-view/new.txt" "$OUT/rel-into-view"'

# fstat of regular files of a lower is answered in the program; of the
# upper's (copied up, with the identity of their origin) and of merged
# directories it is the supervisor's.
rw_case fstat-identities "python3" setup_changes 'python3 -c "
import os
def same(name, path, f):
    a, b = os.fstat(f.fileno()), os.stat(path)
    print(name, a.st_ino == b.st_ino, a.st_dev == b.st_dev, a.st_size == b.st_size, a.st_nlink == b.st_nlink)
    return a
lower = same(\"lower\", \"merged/c.txt\", open(\"merged/c.txt\"))
old = open(\"merged/a.txt\")
before = same(\"before copy-up\", \"merged/a.txt\", old)
with open(\"merged/a.txt\", \"a\") as w:
    w.write(\"more\\n\")
after = same(\"after copy-up\", \"merged/a.txt\", open(\"merged/a.txt\"))
print(\"copy-up keeps the identity\", before.st_ino == after.st_ino, after.st_size)
with open(\"merged/new.txt\", \"w\") as w:
    w.write(\"new\\n\")
same(\"new file\", \"merged/new.txt\", open(\"merged/new.txt\"))
d = os.open(\"merged\", os.O_RDONLY | os.O_DIRECTORY)
a, b = os.fstat(d), os.stat(\"merged\")
print(\"merged dir\", a.st_ino == b.st_ino, a.st_nlink == b.st_nlink)
"'

# The same after changes: a copy-up (which keeps its origin's identity), a
# new file, a removal and a new directory, seen by glibc's own calls.
# posix_spawn's file actions open in the child, on its own small stack.
rw_case libc-internal-after-changes "python3" setup_changes 'echo changed >> merged/a.txt
  echo new > merged/new.txt; rm merged/b.txt; mkdir merged/newdir
  python3 -c "
import os
acts = [(os.POSIX_SPAWN_OPEN, 0, \"merged/a.txt\", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, \"merged/newdir/out.txt\", os.O_WRONLY | os.O_CREAT, 0o644)]
pid = os.posix_spawn(\"/bin/cat\", [\"cat\"], os.environ, file_actions=acts)
print(\"spawned cat:\", os.waitpid(pid, 0)[1])
try:
    os.posix_spawn(\"/bin/cat\", [\"cat\"], os.environ,
                   file_actions=[(os.POSIX_SPAWN_OPEN, 0, \"merged/b.txt\", os.O_RDONLY, 0)])
except OSError as e:
    print(\"spawn with a removed file:\", os.strerror(e.errno))
"
  touch -d @1600000000 merged merged/a.txt merged/new.txt merged/newdir merged/newdir/out.txt
  "$PROBE" nftw:merged glob:"merged/*" freopen:merged/a.txt freopen:merged/b.txt \
    freopen:merged/new.txt freopen:merged/newdir/out.txt'

setup_pure() {
  setup_changes
  mkdir -p "$E2E_L2/pure/sub/deeper" "$E2E_VIEW/mixed"
  _put "$E2E_L2/pure/f.txt" "f from l2"
  _put "$E2E_L2/pure/sub/g.txt" "g from l2"
  _put "$E2E_L2/pure/sub/deeper/h.txt" "h from l2"
  ln -s f.txt "$E2E_L2/pure/link"
  _whiteout "$E2E_L2/pure/wh"
  _put "$E2E_L2/mixed/m.txt" "m from l2"
}

# Directories that come from one lower alone: the library answers lookups
# and opens in them itself, until the view changes. Descriptors opened
# before a change must see it, in the directory and below.
rw_case pure-dirs-after-changes "python3" setup_pure 'python3 -c "
import os
def show(label, name, fd):
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        print(label, name, oct(st.st_mode), st.st_size, st.st_nlink)
    except OSError as e:
        print(label, name, e.strerror)
def read(label, name, fd):
    try:
        f = os.open(name, os.O_RDONLY, dir_fd=fd)
        print(label, name, os.read(f, 100)); os.close(f)
    except OSError as e:
        print(label, name, e.strerror)
pure = os.open(\"pure\", os.O_RDONLY | os.O_DIRECTORY)
sub = os.open(\"sub\", os.O_RDONLY | os.O_DIRECTORY, dir_fd=pure)
deeper = os.open(\"deeper\", os.O_RDONLY | os.O_DIRECTORY, dir_fd=sub)
mixed = os.open(\"mixed\", os.O_RDONLY | os.O_DIRECTORY)
for n in [\"f.txt\", \"sub\", \"link\", \"wh\", \"nope\"]:
    show(\"before\", n, pure)
read(\"before\", \"f.txt\", pure); read(\"before\", \"g.txt\", sub); show(\"before\", \"h.txt\", deeper)
print(\"fstat sub\", os.fstat(sub).st_nlink == os.stat(\"pure/sub\").st_nlink, os.fstat(sub).st_ino == os.stat(\"pure/sub\").st_ino)
show(\"mixed\", \"m.txt\", mixed)
with open(\"pure/f.txt\", \"a\") as w: w.write(\"more\\n\")
open(\"pure/sub/new.txt\", \"w\").write(\"new\\n\")
os.unlink(\"pure/sub/deeper/h.txt\")
os.mkdir(\"pure/sub/deeper/d2\")
for n in [\"f.txt\", \"sub\", \"nope\"]:
    show(\"after\", n, pure)
read(\"after\", \"f.txt\", pure); read(\"after\", \"new.txt\", sub); show(\"after\", \"new.txt\", sub)
show(\"after\", \"h.txt\", deeper); show(\"after\", \"d2\", deeper)
print(\"listing\", sorted(os.listdir(deeper)), sorted(os.listdir(sub)))
"'

setup_pure_paths() {
  setup_pure
  ln -s sub "$E2E_L2/pure/sublink"
  # The same tree in the top lower: walks from the view root start there.
  mkdir -p "$E2E_VIEW/tp/sub/deeper"
  _put "$E2E_VIEW/tp/f.txt" "f from l1"
  _put "$E2E_VIEW/tp/sub/g.txt" "g from l1"
  _put "$E2E_VIEW/tp/sub/deeper/h.txt" "h from l1"
  ln -s f.txt "$E2E_VIEW/tp/link"
  ln -s sub "$E2E_VIEW/tp/sublink"
  _whiteout "$E2E_VIEW/tp/wh"
  _put "$E2E_L2/mixed/only2/x.txt" "x from l2"
  _put "$E2E_VIEW/mixed/only1/y.txt" "y from l1"
  _put "$E2E_L2/opq/hidden.txt" "hidden by the opaque dir above"
  _opaque "$E2E_VIEW/opq"
  _put "$E2E_VIEW/opq/shown.txt" "shown"
  mkdir -p "$E2E_L2/gonedir"
  _put "$E2E_L2/gonedir/x.txt" "x"
  _whiteout "$E2E_VIEW/gonedir"
}

# Paths of several names that lead into directories of one lower alone,
# relative and absolute, walked by the library up to their last name:
# missing names on the way, "." and "..", symlinks, whiteouts, opaque
# directories, names a merged directory has from a lower below the one the
# walk starts in; fopen, eaccess and statx; then the same after changes.
# Each round runs twice: the first lookups (answered by the supervisor)
# record the directories, the second round's are the library's. tp/ lies in
# the top lower, where walks from the view root start; pure/ in the lower
# below it, where they cannot. Host paths ending in "/", "/." or "/.."
# whose directory is missing.
rw_case pure-dir-paths "" setup_pure_paths 'p() {
    d=$1
    "$PROBE" stat:$d/sub/g.txt lstat:$d/sub/deeper/h.txt open:$d/sub/g.txt:r \
      stat:$d/nope/x open:$d/nope/x:r stat:$d/f.txt/x stat:$d/wh/x open:$d/wh/x:r stat:$d/wh \
      stat:$d/sublink/g.txt open:$d/sublink/g.txt:r stat:./$d/./sub//g.txt \
      stat:$d/sub/../f.txt stat:$d/sub/ lstat:$d/sub/deeper stat:$d/sub/new.txt open:$d/sub/new.txt:r \
      "stat:$PWD/$d/sub/g.txt" "open:$PWD/$d/sub/deeper/h.txt:r" "stat:$PWD/$d/nope/x" \
      fopen:$d/sub/g.txt fopen:$d/nope/x "fopen:$PWD/$d/f.txt:e" fopen:$d/sub/new.txt \
      eaccess:$d/sub/g.txt:r eaccess:$d/sub/g.txt:x eaccess:$d/wh:f \
      statx:$d/sub/g.txt statx:$d/link:nofollow statx:$d/link statx:$d/wh statx:$d/nope/x \
      "statx:$PWD/$d/sub/deeper/h.txt" statx:$d/sub/new.txt statx:$d/sub/deeper/h.txt \
      readlink:$d/link readlink:$d/sublink readlink:$d/f.txt readlink:$d/wh readlink:$d/nope/x \
      "readlink:$PWD/$d/link" readlink:$d/sublink/g.txt
    stat -c "%n %s %h %F %a" $d/f.txt $d/sub $d/link 2>&1
  }
  q() {
    "$PROBE" stat:mixed/only2/x.txt open:mixed/only2/x.txt:r stat:mixed/only1/y.txt \
      stat:opq/hidden.txt stat:opq/shown.txt stat:gonedir/x.txt open:gonedir/x.txt:r \
      "stat:$PWD/mixed/only2/x.txt" "stat:$PWD/opq/hidden.txt" "stat:$PWD/gonedir/x.txt" \
      fopen:mixed/only2/x.txt fopen:/usr/include/stdio.h fopen:/usr/include/no-such.h \
      eaccess:/usr/bin/env:x eaccess:/usr/no-such/x:f eaccess:mixed/only2/x.txt:w \
      stat:/usr/include/no-such/. stat:/usr/include/no-such/ stat:/usr/lib/../include/no-such/.. \
      realpath:/usr/include/no-such/. access:/usr/no-such/../x:f statx:mixed/only2/x.txt \
      statx:opq/hidden.txt statx:/usr/include/stdio.h statx:/usr/include/no-such/x
  }
  for round in 1 2; do p tp; p pure; q; done
  for d in tp pure; do
    echo new > $d/sub/new.txt; rm $d/sub/deeper/h.txt; mkdir $d/sub/deeper/d2
    echo more >> $d/sub/g.txt
    touch -d @1600000000 $d/sub/g.txt $d/sub/new.txt $d/sub $d/sub/deeper $d/sub/deeper/d2
  done
  rm -r opq; mkdir opq; rm mixed/only2/x.txt; touch -d @1600000000 opq mixed/only2
  echo "-- after changes"
  for round in 1 2; do p tp; p pure; q; done
  "$PROBE" stat:tp/sub/deeper/d2 stat:tp/sub/deeper/h.txt "stat:$PWD/tp/sub/deeper/h.txt"'

# The same directory part looked up many times in a row (each thread's walk
# memo, docs/design.md): from other starts with the same part (another
# cwd, another descriptor, a descriptor number reused for another
# directory), by absolute path, from several threads at once, and after
# changes that make the directory merged, remove it or put another in its
# place. Every lookup is made three times, so that the memo is filled and
# then used. size.txt differs in size between pure/ and tp/.
setup_walk_memo() {
  setup_pure_paths
  _put "$E2E_L2/pure/sub/size.txt" "pure"
  _put "$E2E_VIEW/tp/sub/size.txt" "the top lower"
  _put "$E2E_L2/pure/sub/deeper/size.txt" "pure, deeper"
}
rw_case walk-memo "python3" setup_walk_memo 'python3 -c "
import os, threading
def st(label, path, fd=None):
    out = []
    for i in range(3):
        try:
            s = os.stat(path, dir_fd=fd, follow_symlinks=False)
            out.append((oct(s.st_mode), s.st_size, s.st_nlink))
        except OSError as e:
            out.append(e.strerror)
    same = all(o == out[0] for o in out)
    print(label, path, out[0], \"same\" if same else \"DIFFERENT %s\" % out)
def rd(label, path, fd=None):
    for i in range(2):
        try:
            f = os.open(path, os.O_RDONLY, dir_fd=fd); d = os.read(f, 100); os.close(f)
        except OSError as e:
            d = e.strerror
    print(label, path, d)
top = os.getcwd()
for n in [\"size.txt\", \"g.txt\", \"new.txt\", \"wh\", \"deeper\", \"link\", \"nope\"]:
    st(\"cwd top\", \"pure/sub/\" + n); st(\"cwd top\", \"tp/sub/\" + n)
rd(\"cwd top\", \"pure/sub/g.txt\"); rd(\"cwd top\", \"tp/sub/g.txt\")
st(\"abs\", top + \"/pure/sub/size.txt\"); st(\"abs\", top + \"/tp/sub/size.txt\")
for d in [\"pure\", \"tp\", \"pure\"]:
    os.chdir(top + \"/\" + d)
    st(\"cwd \" + d, \"sub/size.txt\"); st(\"cwd \" + d, \"sub/deeper/size.txt\"); rd(\"cwd \" + d, \"sub/g.txt\")
os.chdir(top)
for d in [\"pure\", \"tp\", \"pure\", \"tp\"]:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    st(\"fd %s\" % d, \"sub/size.txt\", fd); rd(\"fd %s\" % d, \"sub/g.txt\", fd)
    os.close(fd)
errors = []
def worker(d, n):
    for i in range(200):
        s = os.stat(\"%s/sub/size.txt\" % d)
        if s.st_size != n: errors.append((d, s.st_size))
sizes = {d: os.stat(d + \"/sub/size.txt\").st_size for d in [\"pure\", \"tp\"]}
ts = [threading.Thread(target=worker, args=(d, sizes[d])) for d in [\"pure\", \"tp\"] * 3]
for t in ts: t.start()
for t in ts: t.join()
print(\"threads\", errors)
with open(\"pure/sub/g.txt\", \"a\") as w: w.write(\"more\\n\")
st(\"appended\", \"pure/sub/g.txt\"); rd(\"appended\", \"pure/sub/g.txt\")
st(\"deeper\", \"pure/sub/deeper/h.txt\")
os.unlink(\"pure/sub/deeper/h.txt\")
st(\"unlinked\", \"pure/sub/deeper/h.txt\")
st(\"tp before\", \"tp/sub/deeper/h.txt\")
import shutil
shutil.rmtree(\"tp/sub\")
st(\"removed\", \"tp/sub/size.txt\"); st(\"removed\", \"tp/sub/deeper/h.txt\")
os.makedirs(\"tp/sub/deeper\"); open(\"tp/sub/g.txt\", \"w\").write(\"made again\\n\")
st(\"made again\", \"tp/sub/g.txt\"); rd(\"made again\", \"tp/sub/g.txt\"); st(\"made again\", \"tp/sub/deeper/h.txt\")
st(\"after\", \"pure/sub/size.txt\"); st(\"after\", \"pure/sub/g.txt\")
print(\"threads\", sizes)
"'

setup_streams() {
  setup_pure_paths
  mkdir -p "$E2E_VIEW/tp/many" "$E2E_OUTSIDE/hostdir"
  for i in $(seq 1 400); do : >"$E2E_VIEW/tp/many/entry-with-a-long-name-$i"; done
  _whiteout "$E2E_VIEW/tp/many/gone"
  # A char device 0:0 outside the view is an entry like any other.
  mknod "$E2E_OUTSIDE/hostdir/cdev" c 0 0
  : >"$E2E_OUTSIDE/hostdir/file"
  # Merged directories of the two lowers (listed by the library as the
  # supervisor lists them): a whiteout in the top lower hiding a lower
  # file and a lower directory, merged and opaque subdirectories, and a
  # file over a lower directory.
  local v=$E2E_VIEW/mw l2=$E2E_L2/mw
  _put "$v/a.txt" "a" && _put "$l2/b.txt" "b" && _put "$l2/gone" "hidden by a whiteout"
  _whiteout "$v/gone" && _whiteout "$v/gonedir" && _put "$l2/gonedir/x" "hidden"
  _put "$v/sub/s1" "s1" && _put "$l2/sub/s2" "s2" && _whiteout "$v/sub/s3" && _put "$l2/sub/s3" "x"
  _put "$v/sub/deep/d1" "d1" && _put "$l2/sub/deep/d2" "d2" && mkdir -p "$l2/sub/only2/o"
  _opaque "$v/opq" && _put "$v/opq/shown" "shown" && _put "$l2/opq/under" "hidden"
  _put "$v/fileover" "a file over a directory" && _put "$l2/fileover/x" "hidden"
}

# Directory streams (opendir, fdopendir, readdir, readdir_r, telldir,
# seekdir, rewinddir, dirfd): the library lists directories of one lower
# alone whose parent is one too, and host directories, with the kernel;
# the rest with the supervisor. Entries, whiteouts, d_ino and d_type, ".."
# of a directory whose parent is merged, a listing larger than one buffer,
# and changes made while a stream is open (seen after rewinddir). Each
# round runs twice: the second finds the directories recorded.
rw_case dir-streams "" setup_streams 'l() {
    "$PROBE" dirstream:tp dirstream:tp/sub dirstream:tp/sub/deeper dirstream:tp/many \
      dirstream:pure dirstream:pure/sub dirstream:pure/sub/deeper dirstream:mixed \
      dirstream:mixed/only2 dirstream:opq dirstream:. "dirstream:$OUT/hostdir" \
      dirstream:/usr/include/linux/netfilter dirstream:tp/sub/../sub dirstream:nope \
      dirstream:mw dirstream:mw/sub dirstream:mw/sub/deep dirstream:mw/sub/only2 dirstream:mw/opq
    (cd mw/sub && "$PROBE" dirstream:. dirstream:deep dirstream:.. && ls -ai deep | sort -k2)
  }
  u() {
    python3 -c "
import os
# Climbing back up with openat(fd, \"..\"), as tree walkers do.
for round in [1, 2]:
    for d in [\"pure/sub/deeper\", \"pure/sub\", \"pure\", \"tp/sub\", \"tp\", \"mixed/only2\", \"opq\"]:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        up = os.open(\"..\", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        st = os.fstat(up)
        print(d, \"..\", sorted(os.listdir(up)), st.st_ino == os.stat(d + \"/..\").st_ino, st.st_nlink)
        os.close(up); os.close(fd)
"
  }
  for round in 1 2; do l; done
  u
  "$PROBE" dirchange:tp/sub:new1 dirchange:pure/sub/deeper:new2 dirchange:mixed:new3 \
    dirchange:tp/many:new4 dirchange:mw/sub/deep:new5
  rm tp/sub/g.txt pure/sub/deeper/h.txt tp/many/entry-with-a-long-name-7 mw/b.txt mw/sub/deep/d2
  mkdir pure/sub/made mw/sub/only2/new
  echo "-- after changes"
  for round in 1 2; do l; done
  u
  python3 -c "
import os
for d in [\"tp/sub\", \"pure/sub\", \"tp/many\"]:
    with os.scandir(d) as it:
        print(d, sorted((e.name, e.is_dir(follow_symlinks=False), e.inode() == os.lstat(e.path).st_ino) for e in it)[:5])
"'

# Directories made in the view: in the upper, with no lower directory at
# their path, the library lists them with the kernel (below another such
# directory, not marked impure). Entries of every type, "." and "..",
# changes while a stream is open, a directory a copy is renamed into
# (impure: its copy lists its lower number), one whose parent is merged
# or the root, and one over a name a lower has.
rw_case upper-dir-streams "python3" setup_streams 'mkdir -p new/a/b new/c mw/made &&
  echo 1 > new/a/f1 && echo 2 > new/a/b/f2 && ln -s f1 new/a/l && mkfifo new/a/fifo &&
  for i in $(seq 1 300); do : > new/a/b/entry-with-a-long-name-$i; done &&
  echo more >> mw/a.txt && mv mw/a.txt new/c/moved && echo m > mw/made/m &&
  rm -rf tp/sub && mkdir tp/sub && echo s > tp/sub/again
  for round in 1 2; do
    "$PROBE" dirstream:new dirstream:new/a dirstream:new/a/b dirstream:new/c dirstream:mw/made \
      dirstream:tp/sub
  done
  (cd new/a/b && "$PROBE" dirstream:. dirstream:.. && ls -a .. | sort)
  "$PROBE" dirchange:new/a:added dirchange:new/a/b:added2
  python3 -c "
import os
for d in [\"new\", \"new/a\", \"new/c\", \"mw/made\", \"tp/sub\"]:
    with os.scandir(d) as it:
        print(d, sorted((e.name, e.is_dir(follow_symlinks=False), e.inode() == os.lstat(e.path).st_ino) for e in it)[:6])
    print(d, \"..\", os.stat(d + \"/..\").st_ino == os.stat(os.path.dirname(d) or \".\").st_ino)
"
  rm -rf new && ls'

setup_merged() {
  setup_changes
  mkdir -p "$E2E_VIEW/mg/both" "$E2E_L2/mg/both" "$E2E_L2/mg/only2/deep" "$E2E_VIEW/mg/only1"
  _put "$E2E_VIEW/mg/top.txt" "top from l1"
  _put "$E2E_L2/mg/top.txt" "top from l2, shadowed"
  _put "$E2E_L2/mg/low.txt" "low from l2"
  _whiteout "$E2E_VIEW/mg/hidden.txt"
  _put "$E2E_L2/mg/hidden.txt" "hidden by the whiteout above"
  _whiteout "$E2E_VIEW/mg/hiddendir"
  _put "$E2E_L2/mg/hiddendir/x.txt" "below a whited-out directory"
  ln -s low.txt "$E2E_L2/mg/lowlink"
  ln -s only2 "$E2E_L2/mg/dirlink"
  _put "$E2E_L2/mg/only2/deep/d.txt" "d from l2"
  _put "$E2E_VIEW/mg/only1/e.txt" "e from l1"
  _put "$E2E_VIEW/mg/both/b1.txt" "b1 from l1"
  _put "$E2E_L2/mg/both/b2.txt" "b2 from l2"
  _put "$E2E_L2/mg/both/sub/s.txt" "s from l2"
  _put "$E2E_L2/mg/opq/under.txt" "hidden by the opaque directory above"
  _opaque "$E2E_VIEW/mg/opq"
  _put "$E2E_VIEW/mg/opq/shown.txt" "shown"
  mkfifo "$E2E_L2/mg/fifo"
}

# Lookups in merged directories (the library reads the directories that
# make one up, top first): names from each lower, shadowed names,
# whiteouts in a lower and in the upper, symlinks (followed by the
# supervisor), directories (the supervisor's), paths walked on through a
# merged directory into a directory of the lower below, opaque
# directories, files copied up (the upper's, with their origin's
# identity), and the same after changes. Each round runs twice: the first
# lookups record the directories, the second round's are the library's.
rw_case merged-lookups "" setup_merged 'p() {
    "$PROBE" stat:mg/top.txt stat:mg/low.txt lstat:mg/low.txt stat:mg/hidden.txt \
      stat:mg/hiddendir stat:mg/hiddendir/x.txt stat:mg/lowlink lstat:mg/lowlink \
      stat:mg/dirlink/deep/d.txt stat:mg/only2/deep/d.txt open:mg/only2/deep/d.txt:r \
      stat:mg/only2/nope/x stat:mg/nope stat:mg/nope/x open:mg/nope/x:r stat:mg/hidden.txt/x \
      stat:mg/top.txt/x stat:mg/low.txt/x open:mg/low.txt/x:r stat:mg/both/b1.txt \
      stat:mg/both/b2.txt stat:mg/both/sub/s.txt open:mg/both/b2.txt:r stat:mg/both/new.txt \
      stat:mg/opq/shown.txt stat:mg/opq/under.txt stat:mg/only1/e.txt stat:mg/fifo \
      open:mg/top.txt:r open:mg/low.txt:r open:mg/hidden.txt:r open:mg/lowlink:r \
      fopen:mg/low.txt fopen:mg/hidden.txt statx:mg/low.txt statx:mg/lowlink:nofollow \
      statx:mg/lowlink statx:mg/hidden.txt statx:mg/both/b2.txt statx:mg/only2/deep/d.txt \
      eaccess:mg/low.txt:r eaccess:mg/hidden.txt:f stat:mg/new.txt stat:mg/gone/x \
      stat:mg/both stat:mg/only2 stat:mg/only1 stat:mg/opq stat:mg/both/sub statx:mg/both \
      statx:mg/only2 open:mg/both:dir open:mg/only2:dir dirstream:mg/both dirstream:mg/only2 \
      dirstream:mg/both/sub stat:mg/only2/deep open:mg/low.txt:path open:mg/only2/deep/d.txt:path \
      open:mg/lowlink:path+nofollow open:mg/lowlink:path open:mg/both:path open:mg/hidden.txt:path \
      open:mg/only2/deep:path+dir readlink:mg/lowlink readlink:mg/dirlink readlink:mg/low.txt \
      readlink:mg/hidden.txt readlink:mg/nope readlink:mg/only2 readlink:mg/dirlink/deep \
      readlink:mg/only2/deep/d.txt readlink:mg/lowlink/x
    (cd mg && "$PROBE" stat:low.txt stat:hidden.txt open:low.txt:r stat:only2/deep/d.txt \
      statx:top.txt stat:nope stat:both stat:only2 dirstream:only2 dirstream:both &&
      stat -c "%n %s %h %i" low.txt only2/deep/d.txt 2>&1 && stat -c "%n %h %i" both only2 only1 2>&1)
    stat -c "%n %s %h %F %a %i" mg/low.txt mg/top.txt mg/both/b2.txt mg/only2/deep/d.txt \
      mg/lowlink 2>&1
    stat -c "%n %s %h %F %a" mg/new.txt mg/both/new.txt 2>&1
  }
  for round in 1 2; do p; done
  echo more >> mg/low.txt
  echo new > mg/new.txt
  echo new > mg/both/new.txt
  rm mg/top.txt mg/both/b2.txt
  mkdir -p mg/gone && rm -r mg/gone
  echo shadow > mg/hiddendir
  touch -d @1600000000 mg/low.txt mg/new.txt mg/both/new.txt mg/hiddendir mg mg/both
  echo "-- after changes"
  for round in 1 2; do p; done'

# Paths in merged directories that have their upper directory: names
# made there (their own identity), lower files copied up there (their
# origin's), symlinks made there, and directories of the upper alone,
# looked up, opened, canonicalised (realpath, relative to a cwd in the view
# and absolute) and as the cwd (getcwd), each round twice (the first
# records the directories); then cwds removed from the view. What the
# library answers itself must be what the kernel's overlayfs shows.
rw_case merged-upper-paths "" setup_merged 'mkdir -p mg/both/newsub mg/only2/deep/nd &&
  echo made > mg/both/made.txt && echo more >> mg/both/b2.txt && ln -s made.txt mg/both/ulink &&
  echo f > mg/only2/deep/nd/f && echo g > mg/both/newsub/g && mkdir -p newtop/a/b &&
  echo h > newtop/a/b/h && touch -d @1600000000 newtop/a/b/h newtop/a/b newtop/a newtop &&
  touch -h -d @1600000000 mg/both/made.txt mg/both/b2.txt mg/both/ulink mg/both/newsub/g \
    mg/both/newsub mg/only2/deep/nd/f mg/only2/deep/nd mg/only2/deep mg/only2 mg/both mg &&
  p() {
    "$PROBE" realpath:mg/both/made.txt realpath:mg/both/b2.txt realpath:mg/both/b1.txt \
      realpath:mg/both/ulink realpath:mg/both/none realpath:mg/both/newsub \
      realpath:mg/both/newsub/g realpath:mg/both/newsub/none realpath:mg/only2/deep/nd/f \
      realpath:mg/only2/deep/d.txt realpath:mg/both/sub/s.txt realpath:mg/hidden.txt \
      "realpath:$PWD/mg/both/made.txt" "realpath:$PWD/mg/only2/deep/nd" \
      "realpath:$PWD/mg/both/newsub/g" "realpath:$PWD/mg/none" \
      stat:mg/both/made.txt lstat:mg/both/ulink stat:mg/both/ulink statx:mg/both/made.txt \
      open:mg/both/made.txt:r open:mg/both/b2.txt:r open:mg/both/newsub/g:r \
      readlink:mg/both/ulink readlink:mg/both/made.txt readlink:mg/both/b2.txt \
      stat:mg/both/newsub stat:mg/only2/deep/nd/f open:mg/only2/deep/nd:dir
    stat -c "%n %s %h %F %i" mg/both/b2.txt mg/low.txt mg/only2/deep/d.txt 2>&1
    stat -c "%n %s %h %F" mg/both/made.txt mg/both/ulink mg/both/newsub mg/only2/deep/nd/f 2>&1
    for d in mg mg/both mg/both/sub mg/only1 mg/only2/deep mg/only2/deep/nd mg/both/newsub mg/opq \
        newtop newtop/a newtop/a/b; do
      (cd "$d" && "$PROBE" chdir:. realpath:. realpath:none realpath:sub/s.txt realpath:made.txt \
        realpath:deep/nd/f realpath:h realpath:b/h && python3 -c "import os; print(\"py\", os.getcwd())")
    done
  }
  for round in 1 2; do p; done
  echo "-- removed"
  mkdir newtop/a/gone && (cd newtop/a/gone && "$PROBE" chdir:. && rmdir ../gone &&
    "$PROBE" chdir:. realpath:x && python3 -c "import os; os.getcwd()" 2>&1 | tail -1)
  mkdir mg/both/rm && (cd mg/both/rm && rmdir ../rm && "$PROBE" chdir:. realpath:x &&
    python3 -c "import os; os.getcwd()" 2>&1 | tail -1)
  (cd mg/only1 && "$PROBE" chdir:. && rm -r ../only1 && "$PROBE" chdir:. realpath:e.txt stat:e.txt &&
    python3 -c "import os; os.getcwd()" 2>&1 | tail -1)
  (cd mg/only2/deep && "$PROBE" chdir:. && cd .. && mv deep deep2 2>&1; "$PROBE" chdir:deep realpath:deep/d.txt)
  (cd mg/both/newsub && "$PROBE" chdir:. && mv ../newsub ../moved && "$PROBE" chdir:. realpath:g &&
    python3 -c "import os; print(os.getcwd())")'

# Walks down from a recorded merged directory through directories no
# lookup has met yet (`cat` of the paths `find` printed): the library works
# each one out from its parent's record, as of one lower alone or merged,
# in a fresh process each time (the first probe only makes the supervisor
# record the merged directory). Directories of one lower alone below merged
# ones, reached in the top lower and in a lower below it; merged ones
# below merged ones; an opaque directory hiding the same one below; a
# whited-out directory; paths relative, absolute and from a cwd inside;
# then the same after changes in the upper put directories of the upper
# over them (a copy-up deep down, a directory removed and made again).
setup_walks_below() {
  setup_changes
  _put "$E2E_VIEW/wb/m1/m2/p1/p2/f.txt" "f from l1, below two merged directories"
  _put "$E2E_VIEW/wb/m1/m2/p1/top.txt" "top of p1, l1"
  _put "$E2E_L2/wb/m1/m2/x.txt" "x from l2"
  _put "$E2E_VIEW/wb/m1/m2/m4/hi.txt" "hi from l1"
  _put "$E2E_L2/wb/m1/m2/m4/low.txt" "low from l2, in a merged directory below a merged one"
  _put "$E2E_L2/wb/m1/only2/a/b/g.txt" "g from l2 alone"
  _put "$E2E_L3/wb/m1/m2/m3/y.txt" "y from l3"
  _put "$E2E_L2/wb/m1/m2/m3/z.txt" "z from l2"
  _put "$E2E_L2/wb/m1/opq/o/hidden.txt" "hidden by the opaque directory above"
  _opaque "$E2E_VIEW/wb/m1/opq"
  _put "$E2E_VIEW/wb/m1/opq/o/shown.txt" "shown"
  _whiteout "$E2E_VIEW/wb/m1/wo"
  _put "$E2E_L2/wb/m1/wo/w.txt" "below a whited-out directory"
  mkfifo "$E2E_L2/wb/m1/only2/a/fifo"
  ln -s b "$E2E_L2/wb/m1/only2/a/blink"
}
rw_case walks-below-merged "" setup_walks_below 'p() {
    "$PROBE" stat:wb/m1/none >/dev/null
    "$PROBE" stat:wb/m1/m2/m4/low.txt open:wb/m1/m2/m4/low.txt:r stat:wb/m1/m2/m4/hi.txt \
      stat:wb/m1/m2/m4 dirstream:wb/m1/m2/m4
    "$PROBE" open:wb/m1/m2/p1/p2/f.txt:r stat:wb/m1/m2/p1/p2/f.txt stat:wb/m1/m2/p1/top.txt \
      open:wb/m1/only2/a/b/g.txt:r stat:wb/m1/only2/a/b/g.txt statx:wb/m1/only2/a/b/g.txt \
      stat:wb/m1/only2/a/fifo lstat:wb/m1/only2/a/blink stat:wb/m1/only2/a/blink/g.txt \
      readlink:wb/m1/only2/a/blink open:wb/m1/m2/m3/y.txt:r open:wb/m1/m2/m3/z.txt:r \
      stat:wb/m1/m2/m3/y.txt stat:wb/m1/m2/m3 stat:wb/m1/m2/p1/p2 open:wb/m1/opq/o/shown.txt:r \
      stat:wb/m1/opq/o/hidden.txt open:wb/m1/opq/o/hidden.txt:r stat:wb/m1/opq/o \
      stat:wb/m1/wo/w.txt open:wb/m1/wo/w.txt:r stat:wb/m1/m2/p1/nope stat:wb/m1/m2/p1/p2/nope/x \
      "open:$PWD/wb/m1/m2/p1/p2/f.txt:r" "stat:$PWD/wb/m1/only2/a/b/g.txt" \
      "stat:$PWD/wb/m1/opq/o/hidden.txt" open:wb/m1/only2/a/b:dir dirstream:wb/m1/only2/a/b \
      dirstream:wb/m1/m2/m3 open:wb/m1/m2/p1/p2/f.txt:path
    "$PROBE" stat:wb/m1/none >/dev/null
    (cd wb/m1 && "$PROBE" stat:m2/p1/p2/f.txt open:only2/a/b/g.txt:r stat:m2/m3/z.txt \
      stat:opq/o/hidden.txt stat:wo/w.txt)
    cat wb/m1/m2/p1/p2/f.txt wb/m1/only2/a/b/g.txt wb/m1/m2/m3/y.txt 2>&1
    stat -c "%n %s %h %F" wb/m1/m2/p1/p2 wb/m1/m2/p1 wb/m1/m2/m3 wb/m1/only2/a/b wb/m1/opq/o 2>&1
  }
  for round in 1 2; do p; done
  echo more >> wb/m1/m2/p1/p2/f.txt
  echo new > wb/m1/only2/a/b/new.txt
  rm -r wb/m1/only2/a
  mkdir -p wb/m1/only2/a/b && echo again > wb/m1/only2/a/b/g.txt
  rm wb/m1/m2/m3/y.txt
  touch -d @1600000000 wb/m1/m2/p1/p2/f.txt wb/m1/m2/p1/p2 wb/m1/only2/a/b/g.txt wb/m1/only2/a/b \
    wb/m1/only2/a wb/m1/m2/m3
  echo "-- after changes"
  for round in 1 2; do p; done'

# chmod without following symlinks (glibc's fchmodat with
# AT_SYMLINK_NOFOLLOW, as tar restores directory modes): made one
# fchmodat2 call by the library; symlinks refuse, lower files copy up.
setup_chmod_nofollow() {
  _put "$E2E_L2/lw/file" "a lower file"
  mkdir -p "$E2E_L2/lw/dir/sub"
  ln -s file "$E2E_L2/lw/link"
}
rw_case chmod-nofollow python3 setup_chmod_nofollow 'mkdir -p cn/d && touch cn/f && ln -s f cn/l && python3 -c "
import os
for p in (\"cn/f\", \"cn/l\", \"cn/d\", \"cn/missing\", \"lw/file\", \"lw/dir\", \"lw/dir/sub\", \"lw/link\", \"lw/nothing/x\"):
    try:
        os.chmod(p, 0o700, follow_symlinks=False)
        print(p, oct(os.lstat(p).st_mode))
    except NotImplementedError:
        print(p, \"refused\")
    except OSError as e:
        print(p, e.strerror)
"'

# A host symlink into the view, then a lower's symlink that leads back out
# to the host: the view's entry decides (removed, or replaced in the
# upper), never the lower's link read through the host path. Also by the
# supervisor alone, which opens such paths itself when they stay outside.
setup_links_out() {
  mkdir -p "$E2E_OUTSIDE/dir"
  _put "$E2E_OUTSIDE/dir/file.txt" "host file in a host dir"
  ln -sfn "$E2E_VIEW" "$E2E_OUTSIDE/view-link"
  ln -s /usr/include/stdio.h "$E2E_VIEW/abs-out"
  ln -s /usr/include/stdio.h "$E2E_VIEW/abs-replaced"
  ln -s ../outside/dir/file.txt "$E2E_VIEW/rel-out"
}
links_out_cmd='rm abs-out && ln -sfn /usr/include/limits.h abs-replaced && rm rel-out &&
  "$PROBE" "open:$OUT/view-link/abs-out:r" "open:$OUT/view-link/abs-replaced:r" \
    "open:$OUT/view-link/rel-out:r" "stat:$OUT/view-link/abs-replaced" "realpath:$OUT/view-link/abs-replaced"'
rw_case links-out-of-the-view "" setup_links_out "$links_out_cmd"
E2E_OVLBOX_FLAGS=--no-preload rw_case links-out-of-the-view-supervisor "" setup_links_out "$links_out_cmd"

setup_fdattr() {
  mkdir -p "$E2E_VIEW/fa/dir" "$E2E_L2/fa" "$E2E_L2/fa/dir2"
  _put "$E2E_VIEW/fa/l1.txt" "from l1"
  _put "$E2E_L2/fa/l2.txt" "from l2"
  _put "$E2E_L2/fa/grown.txt" "copied up by an append"
  mkfifo "$E2E_L2/fa/fifo"
  chmod 0604 "$E2E_VIEW/fa/l1.txt" "$E2E_L2/fa/l2.txt"
}

# Attribute changes through a descriptor (fchmod, fchown, futimens,
# futimes): the library makes them itself on files of the upper (new
# files, files copied up, opened for reading or writing); files of a lower
# are copied up first, and directories and fifos keep their attributes in
# the supervisor's hands. Each round runs twice, then again after the
# files changed by path. What the library changes itself must be what the
# supervisor, and the kernel, change.
rw_case fd-attributes "" setup_fdattr 'echo new > fa/new.txt && mkdir fa/newdir &&
  echo more >> fa/grown.txt && mkfifo fa/newfifo &&
  rm -f "$OUT/fdattr-host.txt" && echo host > "$OUT/fdattr-host.txt" &&
  p() {
    "$PROBE" fdattr:fa/new.txt fdattr:fa/new.txt:rw fdattr:fa/grown.txt fdattr:fa/grown.txt:w \
      fdattr:fa/l2.txt:rw fdattr:fa/dir:dir fdattr:fa/dir2:dir \
      fdattr:fa/newdir:dir fdattr:fa/fifo:rw fdattr:fa/newfifo:rw \
      "fdattr:$OUT/fdattr-host.txt" stat:fa/new.txt
    # A lower file opened for reading: the changes land in its copy (the
    # descriptor itself goes on showing the lower file: docs/design.md).
    "$PROBE" fdattr:fa/l1.txt | sed "s/ mode=.*//"
    "$PROBE" stat:fa/l1.txt
    stat -c "%n %a %s %h %X %Y" fa/new.txt fa/grown.txt fa/l1.txt fa/l2.txt fa/dir fa/dir2 \
      fa/newdir fa/fifo fa/newfifo "$OUT/fdattr-host.txt" 2>&1
  }
  for round in 1 2; do p; done
  chmod 0600 fa/new.txt fa/l1.txt fa/dir && touch -d @1300000000 fa/grown.txt fa/dir2
  echo "-- after changes"
  for round in 1 2; do p; done'

setup_fdattr_nobody() {
  mkdir -p "$E2E_VIEW/fa" "$E2E_L2/fa/low"
  chmod 0777 "$E2E_VIEW/fa" "$E2E_L2/fa" "$E2E_L2/fa/low"
  _put "$E2E_L2/fa/low/f.txt" "in a lower directory"
  _put "$E2E_L2/fa/low/sub/f.txt" "below it"
}

# A directory's mode changed through a descriptor is the supervisor's to
# make (its directory cache answers permission checks): an unprivileged
# caller that takes the search bit off its own directory, new or copied
# up, can no longer look names up in it.
rw_case fd-attributes-dirs "setpriv python3" setup_fdattr_nobody 'mkdir -p fa/mine/sub &&
  touch fa/mine/f.txt fa/mine/sub/f.txt &&
  chown -R 65534:65534 fa/mine && ls fa/low >/dev/null &&
  setpriv --reuid=65534 --regid=65534 --clear-groups python3 -c "
import os
def look(d):
    for name in (\"f.txt\", \"nope\", \"sub/f.txt\"):
        try:
            os.stat(d + \"/\" + name)
            print(\" \", name, \"found\")
        except OSError as e:
            print(\" \", name, e.strerror)
for d in [\"fa/mine\", \"fa/low\"]:
    look(d)
    for mode in (0o640, 0o750, 0o640):
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fchmod(fd, mode)
            print(d, oct(mode), \"fchmod ok\")
        except OSError as e:
            print(d, oct(mode), \"fchmod\", e.strerror)
        os.close(fd)
        look(d)
"'

setup_upper_attrs() {
  mkdir -p "$E2E_VIEW/ua/low" "$E2E_L2/ua/low"
  _put "$E2E_L2/ua/low/l.txt" "from l2"
  _put "$E2E_L2/ua/low/m.txt" "moved below a new directory"
  chmod 0777 "$E2E_VIEW/ua"
}

# Attribute changes by name and directory removals the library makes
# itself, in directories of the upper that no lower has: chmod, chown,
# lchown and utimes of files, directories and symlinks (followed or not),
# and rmdir, from the cwd and through directory descriptors, with the
# errors the kernel gives. Around them, the supervisor must see what the
# library changed behind its back: a directory's new mode when an
# unprivileged caller creates below it (the supervisor's directory cache
# answers that check), and a directory removed and made again at the same
# path (a link made there later lands in the new one).
rw_case upper-attributes "python3 setpriv" setup_upper_attrs 'umask 022 &&
  mkdir -p new/d/sub/deeper new/r/a/b ua/new/x && touch new/d/f new/d/sub/g &&
  ln -s f new/d/l && ln -s nowhere new/d/dangling && mkfifo new/d/fifo &&
  chmod 0777 new new/d new/d/sub new/d/sub/deeper &&
  ln -s x new/d/sub/deeper/s0 && echo more >> ua/low/l.txt &&
  python3 -c "
import os
def op(what, f):
    try:
        f()
        print(what, \"ok\")
    except OSError as e:
        print(what, e.strerror)
op(\"chmod dir\", lambda: os.chmod(\"new/d/sub/deeper\", 0o751))
op(\"chmod file\", lambda: os.chmod(\"new/d/f\", 0o640))
op(\"chmod via link\", lambda: os.chmod(\"new/d/l\", 0o604))
op(\"chmod dangling\", lambda: os.chmod(\"new/d/dangling\", 0o604))
op(\"chmod fifo\", lambda: os.chmod(\"new/d/fifo\", 0o600))
op(\"chmod missing\", lambda: os.chmod(\"new/d/nope\", 0o600))
op(\"chmod lower copy\", lambda: os.chmod(\"ua/low/l.txt\", 0o600))
op(\"chown file\", lambda: os.chown(\"new/d/f\", 1, 2))
op(\"chown via link\", lambda: os.chown(\"new/d/l\", 3, 4))
op(\"lchown link\", lambda: os.chown(\"new/d/l\", 5, 6, follow_symlinks=False))
op(\"chown dir\", lambda: os.chown(\"new/d/sub/deeper\", 7, 8))
op(\"chown new in merged\", lambda: os.chown(\"ua/new/x\", 9, 9))
op(\"utime dir\", lambda: os.utime(\"new/d/sub/deeper\", (1000000000, 1100000000)))
op(\"utime file\", lambda: os.utime(\"new/d/f\", ns=(1200000000123456789, 1300000000987654321)))
op(\"utime via link\", lambda: os.utime(\"new/d/l\", (1400000000, 1500000000)))
op(\"utime link\", lambda: os.utime(\"new/d/l\", (1600000000, 1700000000), follow_symlinks=False))
op(\"utime dangling\", lambda: os.utime(\"new/d/dangling\", (1, 2)))
op(\"utime missing\", lambda: os.utime(\"new/d/nope\", (1, 2)))
d = os.open(\"new/d\", os.O_RDONLY | os.O_DIRECTORY)
op(\"fchmodat\", lambda: os.chmod(\"sub\", 0o777, dir_fd=d))
op(\"fchownat nofollow\", lambda: os.chown(\"dangling\", 10, 11, dir_fd=d, follow_symlinks=False))
op(\"utimensat\", lambda: os.utime(\"sub/g\", (1800000000, 1900000000), dir_fd=d))
os.close(d)
op(\"rmdir leaf\", lambda: os.rmdir(\"new/r/a/b\"))
op(\"rmdir again\", lambda: os.rmdir(\"new/r/a/b\"))
op(\"rmdir file\", lambda: os.rmdir(\"new/d/f\"))
op(\"rmdir link\", lambda: os.rmdir(\"new/d/l\"))
op(\"rmdir full\", lambda: os.rmdir(\"new/d\"))
r = os.open(\"new/r\", os.O_RDONLY | os.O_DIRECTORY)
op(\"rmdir at\", lambda: os.rmdir(\"a\", dir_fd=r))
op(\"rmdir at missing\", lambda: os.rmdir(\"a\", dir_fd=r))
os.close(r)
" && stat -c "%n %a %u %g %h %F" new/d/* new/d/sub/* new/r ua/low/l.txt ua/new/x &&
  stat -c "%n %X %Y" new/d/f new/d/l new/d/sub/g new/d/sub/deeper &&
  ls -a new/r &&
  echo "-- an unprivileged caller below a directory the library closed" &&
  chown 0:0 new/d/sub/deeper && chmod 0777 new/d/sub/deeper &&
  setpriv --reuid=65533 --regid=65533 --clear-groups ln -s x new/d/sub/deeper/s1 &&
  chmod 0700 new/d/sub &&
  { setpriv --reuid=65533 --regid=65533 --clear-groups ln -s x new/d/sub/deeper/s2; echo "s2: $?"; } &&
  chmod 0777 new/d/sub && chmod 0555 new/d/sub/deeper &&
  { setpriv --reuid=65533 --regid=65533 --clear-groups ln -s x new/d/sub/deeper/s3; echo "s3: $?"; } &&
  chown 65533 new/d/sub/deeper && chmod 0755 new/d/sub/deeper &&
  setpriv --reuid=65533 --regid=65533 --clear-groups ln -s x new/d/sub/deeper/s4 &&
  ls -a new/d/sub/deeper &&
  echo "-- a directory removed and made again" &&
  mkdir -p new/c/d && ln -s x new/c/d/old && rm -r new/c && mkdir -p new/c/d &&
  ln -s y new/c/d/s && mkfifo new/c/d/p && ls -a new/c new/c/d &&
  echo "-- a copy moved into a directory of the upper alone keeps its number" &&
  i0=$(stat -c %i ua/low/m.txt) && mv ua/low/m.txt new/r/m.txt && mkdir new/r/later &&
  i1=$(stat -c %i new/r/m.txt) && i2=$(cd new/r && stat -c %i m.txt) &&
  i3=$(python3 -c "import os; print(os.fstat(os.open(\"new/r/m.txt\", os.O_RDONLY)).st_ino)") &&
  i4=$(python3 -c "import os; d = os.open(\"new/r\", os.O_RDONLY); print(os.stat(\"m.txt\", dir_fd=d).st_ino)") &&
  for i in "$i1" "$i2" "$i3" "$i4"; do [ "$i" = "$i0" ] && echo same || echo "differs: $i0 $i"; done' 2>&1

setup_removed() {
  mkdir -p "$E2E_VIEW/rm/low/sub" "$E2E_L2/rm/both/sub" "$E2E_VIEW/rm/one/sub"
  _put "$E2E_VIEW/rm/top.txt" "next to the removed ones"
  _put "$E2E_VIEW/rm/one/kept.txt" "kept"
  _put "$E2E_L2/rm/both/x.txt" "x"
}

# Directories removed from the view while the program holds them: ".."
# from them, through /proc/self/fd/N and as a base, leads back to the
# view's directories above them, as the kernel's unhashed dentries do,
# also past a parent removed with them (not through the removed upper
# directory's real parent, whose names are the upper's alone). A
# directory of the upper alone (removed by the library), a lower's (a
# whiteout), a merged one, and one whose parent stays. (Still apart from
# the kernel, docs/design.md: a removed parent reached by one ".." is
# not found, where the kernel shows it empty.)
rw_case removed-in-use "python3" setup_removed 'mkdir -p new/a/b && python3 -c "
import os, shutil
held = {\"new/a/b\": \"new/a\", \"rm/low/sub\": \"rm/low\", \"rm/both/sub\": \"rm/both\",
        \"rm/one/sub\": \"rm/one/sub\"}
fds = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in held}
for p in held.values():
    shutil.rmtree(p)
def show(what, f):
    try:
        print(what, f())
    except OSError as e:
        print(what, e.strerror)
for p, fd in fds.items():
    base = \"/proc/self/fd/%d\" % fd
    rests = [\"../..\", \"../../..\", \"../../top.txt\", \"../../../rm/top.txt\", \"x\"]
    if p == \"rm/one/sub\":
        rests += [\"..\", \"./..\", \"../kept.txt\", \"../sub\"]
    for rest in rests:
        show(p + \" \" + rest, lambda: sorted(os.listdir(base + \"/\" + rest)) if not rest.endswith(\".txt\") and rest != \"x\" else open(base + \"/\" + rest).read().strip())
        show(p + \" at \" + rest, lambda: os.stat(rest, dir_fd=fd).st_nlink > 0)
"' 2>&1

setup_removed_links() {
  mkdir -p "$E2E_VIEW/rl/merged/sub" "$E2E_L2/rl/merged/sub" "$E2E_L2/rl/low/sub" \
    "$E2E_VIEW/rl/copied/sub" "$E2E_L2/rl/empty"
  _put "$E2E_L2/rl/merged/b.txt" "b"
  _put "$E2E_VIEW/rl/copied/c.txt" "c"
  _put "$E2E_L2/rl/file.txt" "held open, then removed"
  _put "$E2E_L2/rl/low/sub/f.txt" "in a lower directory removed later"
  _put "$E2E_L2/rl/repl/f.txt" "in a lower directory replaced later"
}

# The link count of a directory removed while held (as descriptor and as
# cwd): overlayfs keeps reporting one link for a merged one (in two
# lowers, copied up from a lower before it was removed, or a lower's
# whose names were removed first, which copies it up), and the real count
# for a lower's empty directory removed at once and a new one of the upper.
# Changes to them then (by name from the cwd, and through the descriptor)
# succeed and leave the lowers as they were (checked after every case);
# nothing can be made in them. A lower's file removed while held open:
# changes through the descriptor are refused, as overlayfs refuses them.
rw_case removed-links "python3" setup_removed_links 'mkdir -p rl/new/sub && echo x >> rl/copied/c.txt && python3 -c "
import os, shutil
ROOT = os.getcwd()
names = [\"rl/merged\", \"rl/low\", \"rl/copied\", \"rl/new\", \"rl/empty\"]
fds = {n: os.open(n, os.O_RDONLY | os.O_DIRECTORY) for n in names}
for n in names:
    print(n, \"before\", os.fstat(fds[n]).st_nlink, os.stat(n).st_nlink)
for n in names:
    shutil.rmtree(n)
for n in names:
    os.fchdir(fds[n])
    print(n, \"removed\", os.fstat(fds[n]).st_nlink, os.stat(\".\").st_nlink)
    for what, op in [(\"chmod\", lambda: os.chmod(\".\", 0o700)), (\"fchmod\", lambda: os.chmod(fds[n], 0o711)),
                     (\"utime\", lambda: os.utime(\".\", (1, 2))), (\"futimens\", lambda: os.utime(fds[n], (3, 4))),
                     (\"chown\", lambda: os.chown(\".\", 0, 0)), (\"fchown\", lambda: os.chown(fds[n], 0, 0)),
                     (\"setxattr\", lambda: os.setxattr(\".\", \"user.x\", b\"1\")),
                     (\"fsetxattr\", lambda: os.setxattr(fds[n], \"user.y\", b\"2\")),
                     (\"create\", lambda: os.close(os.open(\"new.txt\", os.O_CREAT | os.O_WRONLY))),
                     (\"mkdir\", lambda: os.mkdir(\"newdir\"))]:
        try:
            op(); print(n, what, \"ok\")
        except OSError as e:
            print(n, what, e.strerror)
os.chdir(\"/\")
fd = os.open(ROOT + \"/rl/file.txt\", os.O_RDONLY)
os.unlink(ROOT + \"/rl/file.txt\")
for what, op in [(\"fchmod\", lambda: os.chmod(fd, 0o600)), (\"futimens\", lambda: os.utime(fd, (1, 2))),
                 (\"fchown\", lambda: os.chown(fd, 0, 0)), (\"fsetxattr\", lambda: os.setxattr(fd, \"user.q\", b\"1\"))]:
    try:
        op(); print(\"removed file\", what, \"ok\")
    except OSError as e:
        print(\"removed file\", what, e.strerror)
"' 2>&1

# rename() of the view's root onto itself (by its absolute path and by
# "../NAME": one dentry, left as it is; RENAME_NOREPLACE finds it taken),
# as "." or "ROOT/." (busy), and to or from a name inside it (another
# mount: EXDEV), with each flag.
rw_case rename-view-root "python3" setup_removed_links 'python3 -c "
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
root = os.getcwd()
def rn(a, b, f):
    r = libc.renameat2(-100, a.encode(), -100, b.encode(), f)
    e = ctypes.get_errno()
    print(a.replace(root, \"ROOT\"), b.replace(root, \"ROOT\"), f, \"ok\" if r == 0 else os.strerror(e))
for f in (0, 1, 2):
    rn(root, root, f); rn(root + \"/.\", root + \"/.\", f); rn(\".\", \".\", f)
    up = \"../\" + os.path.basename(root)
    rn(up, up, f); rn(root, root + \"/rl\", f); rn(root + \"/rl\", root, f)
print(sorted(os.listdir(\"rl\")))
"'

# A cwd removed from the view together with its parents: as overlayfs'
# unhashed dentries, "." and ".." (and "../..") still name the removed
# directories themselves, which can be stat'ed, opened and entered with
# chdir, and in which nothing is found, listed (glibc's readdir ends at the
# kernel's ENOENT) or made; rmdir("..") is ENOTEMPTY
# and rmdir(".") EINVAL before anything is looked up, as are the checks of
# rename ("." is EBUSY) and of open (O_CREAT with a trailing slash is
# EISDIR); anything else made there is ENOENT. A lower's directory that
# an opaque one replaced while held is removed the same way.
rw_case removed-parents "python3" setup_removed_links 'mkdir -p rl/new/sub/deep && python3 -c "
import ctypes, os, shutil, socket
libc = ctypes.CDLL(None, use_errno=True)
def rename2(a, b, flags):
    if libc.renameat2(-100, a.encode(), -100, b.encode(), flags) != 0:
        raise OSError(ctypes.get_errno(), \"renameat2\")
def tryit(what, f, *a, **k):
    try:
        r = f(*a, **k)
        print(what, \"ok\", sorted(r) if isinstance(r, list) else r if isinstance(r, (int, str)) else \"\")
    except OSError as e:
        print(what, os.strerror(e.errno))
for start in (\"rl/low/sub\", \"rl/new/sub/deep\", \"rl/merged/sub\"):
    top = os.getcwd()
    os.chdir(start)
    shutil.rmtree(os.path.join(top, start.split(\"/\")[0], start.split(\"/\")[1]))
    for p in (\".\", \"..\", \"../..\", \"../x\"):
        tryit(start + \" stat \" + p, lambda p: os.stat(p).st_mode & 0o170000 == 0o040000, p)
        tryit(start + \" open \" + p, lambda p: os.close(os.open(p, os.O_RDONLY)), p)
        tryit(start + \" list \" + p, os.listdir, p)
    tryit(start + \" rename . n2\", os.rename, \".\", \"n2\")
    tryit(start + \" rename n2 .\", os.rename, \"n2\", \".\")
    tryit(start + \" rename . n2 noreplace\", rename2, \".\", \"n2\", 1)
    tryit(start + \" rename n2 n3\", os.rename, \"n2\", \"n3\")
    tryit(start + \" rename in\", os.rename, os.path.join(top, \"rl/copied/c.txt\"), \"moved\")
    tryit(start + \" creat n4/\", os.open, \"n4/\", os.O_CREAT | os.O_WRONLY)
    tryit(start + \" creat n4\", os.open, \"n4\", os.O_CREAT | os.O_WRONLY)
    tryit(start + \" mkfifo\", os.mkfifo, \"p\")
    tryit(start + \" symlink\", os.symlink, \"x\", \"s\")
    tryit(start + \" link\", os.link, os.path.join(top, \"rl/copied/c.txt\"), \"l\")
    tryit(start + \" bind\", lambda: socket.socket(socket.AF_UNIX).bind(\"sock\"))
    tryit(start + \" rename ../.. ../../s2\", rename2, \"../..\", \"../../s2\", 1)
    tryit(start + \" rmdir ..\", os.rmdir, \"..\")
    tryit(start + \" rmdir .\", os.rmdir, \".\")
    tryit(start + \" mkdir ../n\", os.mkdir, \"../n\")
    tryit(start + \" chdir .\", os.chdir, \".\")
    tryit(start + \" chdir ..\", os.chdir, \"..\")
    tryit(start + \" stat . after\", lambda: os.stat(\".\").st_mode & 0o170000 == 0o040000)
    tryit(start + \" chdir ..\", os.chdir, \"..\")
    tryit(start + \" list . after\", os.listdir, \".\")
    os.chdir(top)
fd = os.open(\"rl/repl\", os.O_RDONLY | os.O_DIRECTORY)
os.unlink(\"rl/repl/f.txt\")
os.mkdir(\"rl/newrepl\")
os.rename(\"rl/newrepl\", \"rl/repl\")
st = os.fstat(fd)
print(\"replaced\", oct(st.st_mode), st.st_nlink, os.stat(\".\", dir_fd=fd).st_nlink, sorted(os.listdir(fd)))
tryit(\"replaced creat\", os.open, \"x\", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
os.fchdir(fd)
tryit(\"replaced getcwd\", os.getcwd)
tryit(\"replaced list .\", os.listdir, \".\")
tryit(\"replaced list ..\", os.listdir, \"..\")
os.chdir(top)
os.makedirs(\"rl/over/t\")
os.makedirs(\"rl/from/src/in\")
os.chdir(\"rl/over/t\")
os.rename(os.path.join(top, \"rl/from/src\"), os.path.join(top, \"rl/over/t\"))
tryit(\"over list ..\", os.listdir, \"..\")
tryit(\"over list ../t\", os.listdir, \"../t\")
tryit(\"over list .\", os.listdir, \".\")
os.chdir(top)
print(sorted(os.listdir(\"rl\")), sorted(os.listdir(\"rl/repl\")))
"'

setup_unlinks() {
  mkdir -p "$E2E_VIEW/ul/both" "$E2E_L2/ul/both" "$E2E_L2/ul/low"
  _put "$E2E_VIEW/ul/both/a.txt" "a from l1"
  _put "$E2E_L2/ul/both/b.txt" "b from l2"
  _put "$E2E_L2/ul/low/c.txt" "c from l2"
  _put "$E2E_L2/ul/low/d.txt" "d from l2"
}

# Removals the library makes itself: names in directories of the upper
# that no lower has (made by the program), through a directory descriptor
# (rm -r) and in the cwd, each directory listed before and after (a
# listing the supervisor kept would miss them). Around them, removals that
# need a whiteout (a lower's name, in a directory copied up or merged) stay
# the supervisor's.
rw_case upper-unlinks "python3" setup_unlinks 'mkdir -p new/x/y && echo 1 > new/f1 &&
  echo 2 > new/x/f2 && echo 3 > new/x/y/f3 && ln -s f1 new/link && mkfifo new/x/fifo &&
  echo more >> ul/low/c.txt && echo new > ul/low/new.txt && echo new > ul/both/new.txt &&
  ls -a new new/x ul/low ul/both && python3 -c "
import os
def rm(d, name):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.unlink(name, dir_fd=fd)
        print(\"unlink\", d, name, \"ok\")
    except OSError as e:
        print(\"unlink\", d, name, e.strerror)
    os.close(fd)
for d, name in [(\"new\", \"f1\"), (\"new\", \"f1\"), (\"new\", \"x\"), (\"new\", \"link\"),
                (\"new/x\", \"fifo\"), (\"new/x\", \"nope\"), (\"ul/low\", \"c.txt\"),
                (\"ul/low\", \"d.txt\"), (\"ul/low\", \"new.txt\"), (\"ul/both\", \"a.txt\"),
                (\"ul/both\", \"b.txt\"), (\"ul/both\", \"new.txt\"), (\"ul\", \"low\")]:
    rm(d, name)
" && (cd new/x && rm f2 && rm -f nope && ls -a) && ls -a new new/x ul/low ul/both &&
  cat ul/low/c.txt ul/low/d.txt 2>&1; rm -r new && ls new 2>&1; mkdir new && ls -a new'

setup_creates() {
  mkdir -p "$E2E_VIEW/uc/both" "$E2E_L2/uc/both" "$E2E_L2/uc/low"
  _put "$E2E_VIEW/uc/both/a.txt" "a from l1"
  _put "$E2E_L2/uc/low/c.txt" "c from l2"
  chmod 0777 "$E2E_VIEW/uc"
}

# Files and directories the library makes and opens itself: in
# directories of the upper that no lower has, reached from the cwd or a
# directory descriptor through several names, with the program's umask and
# credentials (an unprivileged caller refused where the kernel refuses
# it). Names that are symlinks, fifos, or in directories a lower also has
# stay the supervisor's. Every directory is listed before and after.
rw_case upper-creates "python3 setpriv" setup_creates 'umask 027 && mkdir -p new/a/b &&
  ls -a new new/a new/a/b && python3 -c "
import os
def op(what, f):
    try:
        r = f()
        if isinstance(r, int) and r > 2:
            st = os.fstat(r)
            os.write(r, what.encode() + b\"\\n\") if (os.get_blocking(r) or True) and what.startswith(\"w\") else None
            os.close(r)
            r = \"fd mode=%o size=%d\" % (st.st_mode & 0o7777, st.st_size)
        print(what, r)
    except OSError as e:
        print(what, e.strerror)
d = os.open(\"new/a\", os.O_RDONLY | os.O_DIRECTORY)
op(\"w creat\", lambda: os.open(\"new/a/b/f1\", os.O_WRONLY | os.O_CREAT, 0o666))
op(\"w excl again\", lambda: os.open(\"new/a/b/f1\", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
op(\"w append\", lambda: os.open(\"new/a/b/f1\", os.O_WRONLY | os.O_APPEND))
op(\"r read\", lambda: os.open(\"new/a/b/f1\", os.O_RDONLY))
op(\"w trunc dirfd\", lambda: os.open(\"b/f1\", os.O_WRONLY | os.O_TRUNC, dir_fd=d))
op(\"w creat dirfd\", lambda: os.open(\"b/f2\", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640, dir_fd=d))
op(\"r missing\", lambda: os.open(\"b/nope\", os.O_RDONLY, dir_fd=d))
op(\"r dir\", lambda: os.open(\"b\", os.O_RDONLY | os.O_DIRECTORY, dir_fd=d))
op(\"w dir\", lambda: os.open(\"b\", os.O_WRONLY, dir_fd=d))
op(\"w notdir\", lambda: os.open(\"b/f1/x\", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d))
op(\"mkdir\", lambda: os.mkdir(\"c\", 0o777, dir_fd=d))
op(\"mkdir again\", lambda: os.mkdir(\"c\", 0o777, dir_fd=d))
op(\"mkdir deep\", lambda: os.mkdir(\"new/a/c/d\", 0o700))
op(\"o_path file\", lambda: os.open(\"b/f1\", os.O_PATH, dir_fd=d))
op(\"o_path dir\", lambda: os.open(\"new/a/c\", os.O_PATH | os.O_DIRECTORY))
op(\"o_path missing\", lambda: os.open(\"b/nope\", os.O_PATH, dir_fd=d))
os.symlink(\"f1\", \"new/a/b/link\")
os.mkfifo(\"new/a/b/fifo\")
op(\"w via symlink\", lambda: os.open(\"new/a/b/link\", os.O_WRONLY | os.O_APPEND))
op(\"w fifo\", lambda: os.open(\"new/a/b/fifo\", os.O_RDWR))
op(\"w lower dir\", lambda: os.open(\"uc/low/new.txt\", os.O_WRONLY | os.O_CREAT, 0o644))
op(\"w lower name, copied-up dir\", lambda: os.open(\"uc/low/c.txt\", os.O_WRONLY | os.O_APPEND))
op(\"r lower name, copied-up dir\", lambda: os.open(\"uc/low/c.txt\", os.O_RDONLY))
op(\"w merged dir\", lambda: os.open(\"uc/both/a.txt\", os.O_WRONLY | os.O_APPEND))
op(\"mkdir lower dir\", lambda: os.mkdir(\"uc/low/sub\"))
os.close(d)
" && ls -a new new/a new/a/b new/a/c uc/low uc/both && cat new/a/b/f1 uc/both/a.txt &&
  mkdir new/locked && chmod 0755 new/locked &&
  setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "umask 022; touch new/locked/x 2>/dev/null; echo \$?; mkdir new/locked/y 2>/dev/null; echo \$?; mkdir uc/nb && touch uc/nb/f && mkdir uc/nb/g && ls -la uc/nb | tail -n +2 | cut -c1-10" 2>&1'

setup_root_walks() {
  mkdir -p "$E2E_VIEW/rw/wd/sub" "$E2E_L2/rw/wd/sub" "$E2E_L2/rw/wd2/x" "$E2E_L2/rw/keep/deep"
  _put "$E2E_VIEW/rw/wd/sub/f.txt" "f from l1"
  _put "$E2E_L2/rw/wd/sub/g.txt" "g from l2"
  _put "$E2E_L2/rw/wd2/x/h.txt" "h from l2"
  _put "$E2E_L2/rw/keep/deep/k.txt" "k from l2"
}

# Walks from the cwd at the view root, whose real directory is the top
# lower's while the view root is merged with the upper (the supervisor
# records a merged directory under each of its real directories): names
# made in the upper, directories removed (whiteouts) or replaced by files
# in the upper over a lower's directories, and names only a lower below
# has. Each round runs twice.
rw_case root-walks "" setup_root_walks 'p() {
    "$PROBE" stat:rw/wd/sub/f.txt stat:rw/wd/sub/g.txt stat:rw/wd2/x/h.txt open:rw/wd2/x/h.txt:r \
      stat:rw/keep/deep/k.txt readlink:rw/keep/deep/k.txt stat:rw/new/a/n.txt open:rw/new/a/n.txt:r \
      stat:rw/nope/x stat:rw stat:rw/keep
  }
  for round in 1 2; do p; done
  rm -r rw/wd && rm -r rw/wd2 && echo file > rw/wd2 && mkdir -p rw/new/a && echo n > rw/new/a/n.txt
  touch -d @1600000000 rw/new/a/n.txt rw/new/a rw/new rw/wd2 rw
  echo "-- after changes"
  for round in 1 2; do p; done
  cd rw && "$PROBE" stat:wd/sub/g.txt stat:wd2/x/h.txt stat:keep/deep/k.txt stat:new/a/n.txt'

# Writes to host paths: made by the kernel in the program when the path
# reaches its directory through plain names; through a host symlink into
# the view (or a ".."), the view's, with copy-up and whiteouts in the
# upper and the lowers untouched. fopen for writing too (glibc opens from
# inside libc; the library opens and hands the descriptor to fdopen), and
# mkdir.
# (The host dir is made afresh by the case itself: each side writes it.)
setup_host_writes() {
  mkdir -p "$E2E_VIEW/merged" "$E2E_L2/merged"
  _put "$E2E_VIEW/merged/a.txt" "a from l1"
  _put "$E2E_VIEW/merged/d.txt" "d from l1"
  _put "$E2E_VIEW/merged/e.txt" "e from l1"
  _put "$E2E_L2/merged/b.txt" "b from l2"
  _put "$E2E_L2/merged/c.txt" "c from l2"
}

rw_case host-writes "python3" setup_host_writes 'H=$OUT/hw
  rm -rf "$H" && mkdir -p "$H/sub" && echo "host file" > "$H/old.txt" &&
  ln -s "$VIEW/merged" "$H/into" && ln -s "$H/sub" "$H/sublink"
  echo one > "$H/new.txt" && echo two >> "$H/new.txt" && cat "$H/new.txt"
  echo trunc > "$H/old.txt" && cat "$H/old.txt"
  echo via-link > "$H/sublink/s.txt" && cat "$H/sub/s.txt"
  echo into-view > "$H/into/hw-new.txt"
  echo appended >> "$H/into/a.txt"
  echo dotdot > "$H/sub/../into/hw-dotdot.txt"
  echo dotdot2 > "$OUT/../view/merged/hw-dotdot2.txt" && rm "$OUT/../view/merged/e.txt"
  rm "$H/into/b.txt" && rm "$H/new.txt" && rm "$H/sublink/s.txt"
  rm "$H/missing.txt" 2>/dev/null || echo "rm missing: $?"
  rm "$H/into/missing.txt" 2>/dev/null || echo "rm missing in view: $?"
  mkdir "$H/made" "$H/sublink/made2" "$H/into/made3" "$OUT/../view/merged/made4" &&
    mkdir -m 700 "$H/made/deep" && stat -c "%n %a" "$H/made/deep" "$H/sub/made2"
  mkdir "$H/made" 2>/dev/null || echo "mkdir again: $?"
  mkdir "$H/nodir/x" 2>/dev/null || echo "mkdir in missing: $?"
  mkdir "$H/old.txt/x" 2>/dev/null || echo "mkdir in file: $?"
  python3 -c "
import os, sys
H = sys.argv[1]
def op(what, f):
    try:
        r = f()
        print(what, \"ok\" if r is None or isinstance(r, int) else r)
    except OSError as e:
        print(what, e.strerror)
def fo(path, mode, data=None):
    f = open(path, mode)
    if data is not None: f.write(data)
    pos = f.tell()
    f.close()
    return \"pos %d\" % pos
op(\"fopen w\", lambda: fo(H + \"/f.txt\", \"w\", \"abc\"))
op(\"fopen a\", lambda: fo(H + \"/f.txt\", \"a\", \"def\"))
op(\"fopen r+\", lambda: fo(H + \"/f.txt\", \"r+\", \"X\"))
op(\"fopen x\", lambda: fo(H + \"/f.txt\", \"x\"))
op(\"fopen w in view\", lambda: fo(H + \"/into/c.txt\", \"w\", \"replaced\"))
op(\"fopen a in view\", lambda: fo(H + \"/into/hw-new.txt\", \"a\", \"more\"))
op(\"fopen w dir\", lambda: fo(H + \"/sub\", \"w\"))
op(\"fopen w nodir\", lambda: fo(H + \"/nodir/x\", \"w\"))
op(\"open excl\", lambda: os.close(os.open(H + \"/f.txt\", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)))
op(\"open notdir\", lambda: os.open(H + \"/old.txt/x\", os.O_WRONLY | os.O_CREAT, 0o600))
op(\"open trunc view\", lambda: os.close(os.open(H + \"/into/d.txt\", os.O_WRONLY | os.O_TRUNC)))
op(\"unlink dir\", lambda: os.unlink(H + \"/sub\"))
op(\"unlink root name\", lambda: os.unlink(\"/no-such-name-here\"))
print(open(H + \"/f.txt\").read())
" "$H"
  ls "$H" "$H/sub" && ls merged && cat merged/a.txt merged/c.txt merged/hw-new.txt merged/hw-dotdot.txt merged/hw-dotdot2.txt'

setup_cproj() {
  mkdir -p "$E2E_VIEW/src" "$E2E_L2/include"
  printf '#include <stdio.h>\n#include <string.h>\n#include <sys/stat.h>\n#include "proj.h"\nint main(void) { printf("%%d\\n", (int)strlen(PROJ)); return 0; }\n' \
    >"$E2E_VIEW/src/main.c"
  printf '#define PROJ "ovlbox"\n' >"$E2E_L2/include/proj.h"
}

# gcc canonicalises every include path (realpath) and lists the system
# headers it read in the dependency file.
rw_case gcc-system-headers "gcc" setup_cproj 'gcc -O1 -Iinclude -MMD -MP -c -o src/main.o src/main.c &&
  gcc -o src/main src/main.o && ./src/main && sed -e "s/ \\\\$//" src/main.d | tr " " "\n" | grep -v "^$" | sort -u'

# PATH searches that try execve on one directory after another: the
# library answers ENOENT itself for a host directory that lacks the name,
# and leaves every other try to the supervisor: a directory of the view
# (where a program made in the upper is found, and one a whiteout removed
# is not, though its lower still has it), a host symlink into the view, a
# name found on the host. Through Python's subprocess (its own loop of
# execve), posix_spawnp (libc's loop), env (execvp) and the shell.
setup_exec_search() {
  mkdir -p "$E2E_VIEW/pbin" "$E2E_OUTSIDE/hbin"
  printf '#!/bin/sh\necho lowprog "$@"\n' >"$E2E_VIEW/pbin/lowprog"
  printf '#!/bin/sh\necho goneprog "$@"\n' >"$E2E_VIEW/pbin/goneprog"
  chmod 0755 "$E2E_VIEW/pbin/lowprog" "$E2E_VIEW/pbin/goneprog"
  ln -sfn "$E2E_VIEW/pbin" "$E2E_OUTSIDE/vbin-link"
}
rw_case exec-path-search "python3" setup_exec_search 'printf "#!/bin/sh\necho upprog \"\$@\"\n" >pbin/upprog &&
  chmod 0755 pbin/upprog && rm pbin/goneprog &&
  for P in "$OUT/hbin:$OUT/nodir:$VIEW/pbin:/usr/bin:/bin" "$OUT/hbin:$OUT/vbin-link:/usr/bin"; do
    PATH=$P python3 -c "
import os, subprocess
for argv in ([\"upprog\", \"a\"], [\"lowprog\", \"b\"], [\"goneprog\"], [\"nosuchprog\"], [\"true\"]):
    try:
        print(argv[0], subprocess.run(argv).returncode, flush=True)
    except OSError as e:
        print(argv[0], e.__class__.__name__, e.errno, flush=True)
    try:
        pid = os.posix_spawnp(argv[0], argv + [\"spawn\"], os.environ)
        print(argv[0], \"spawn\", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
    except OSError as e:
        print(argv[0], \"spawn\", e.errno, flush=True)
"
    PATH=$P env upprog env; echo "env goneprog: $(PATH=$P env goneprog 2>&1 >/dev/null | wc -l) $?"
    PATH=$P sh -c "upprog sh; lowprog sh; goneprog 2>/dev/null; echo sh \$?"
  done'

e2e_finish
