#!/bin/bash
#
# CPython's own tests of files, directories, sockets and imports, run in a
# view: every test must end the same way under ovlbox as on a kernel
# overlayfs mount of the same layers (pass, fail, error or skip; a few fail
# on the kernel's overlay too, and must then fail under ovlbox as well).
# These are thousands of small checks written by others against POSIX
# semantics: renames over directories, hard links, O_TMPFILE, unlink of
# open files, sockets bound by path, mmap, zip and tar round trips,
# imports of freshly written modules, the exact errno of each failure.
#
# The tests' scratch files go to $TMPDIR, a directory present in both
# lowers (merged) inside the view; the cwd is the view root.
#
# Needs root (kernel overlay mounts) and CPython's test package
# (Debian: libpython3.11-testsuite); skips otherwise. Knobs:
#   OVLBOX                the ovlbox binary
#   STDLIB_TESTS          the test modules (default: the list below)
#   STDLIB_PYTHON         the interpreter (default: python3)
#   STDLIB_KEEP=1         keep the scratch dir
#
# Run:  bazel test //tests/e2e:stdlib_test
#   or  sudo OVLBOX=/path/to/ovlbox tests/e2e/stdlib_test.sh
set -u
export LC_ALL=C
PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH

if [ -n "${TEST_SRCDIR:-}" ] && [ -x "$TEST_SRCDIR/ovlbox/supervisor/ovlbox" ]; then
  OVLBOX=$TEST_SRCDIR/ovlbox/supervisor/ovlbox
fi
if [ -z "${OVLBOX:-}" ] || [ ! -x "$OVLBOX" ]; then
  echo "stdlib_test: ovlbox binary not found (set OVLBOX): '${OVLBOX:-}'" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "skipped: this test needs root because kernel overlay mounts need root"
  exit 0
fi
PY=${STDLIB_PYTHON:-python3}
if ! "$PY" -c 'import test.test_os, test.libregrtest' 2>/dev/null; then
  echo "skipped: $PY has no test package (Debian: apt-get install libpython3.11-testsuite)"
  exit 0
fi

tests=${STDLIB_TESTS:-"test_os test_shutil test_tempfile test_pathlib test_glob test_posix
  test_posixpath test_fileio test_stat test_tarfile test_zipfile test_socket test_import
  test_py_compile test_compileall test_zipimport test_mmap test_fcntl test_linecache
  test_filecmp test_fileinput test_mailbox test_dbm test_shelve test_urllib test_genericpath
  test_pkgutil test_runpy"}
# A VSOCK test waits for a connection that never comes on some hosts,
# natively too.
ignore=('-i' '*VSOCK*')

root=$(mktemp -d /tmp/ovlbox-stdlib.XXXXXX)
view=$root/view l2=$root/l2 mnt_upper=$root/kernel-upper mnt_work=$root/kernel-work
# Unmounts the kernel's overlay: a test may leave a process behind that
# still uses it for a moment (a server's child); after a few tries, those
# left are killed.
unmount_view() {
  local i p
  for i in 1 2 3 4 5 6 7 8 9 10; do
    mountpoint -q "$view" 2>/dev/null || return 0
    umount "$view" 2>/dev/null && return 0
    if [ "$i" -ge 5 ]; then
      for p in /proc/[0-9]*; do
        case $(readlink "$p/cwd" 2>/dev/null) in "$view"|"$view"/*) kill -9 "${p#/proc/}" 2>/dev/null ;; esac
      done
    fi
    sleep 1
  done
  umount "$view"
}
cleanup() {
  unmount_view
  if [ "${STDLIB_KEEP:-0}" = 1 ]; then echo "kept $root"; else rm -rf "$root"; fi
}
trap cleanup EXIT
mkdir -p "$view/tmp" "$l2/tmp" "$l2/data" "$mnt_upper" "$mnt_work" "$root/ovlbox-upper"
echo "from the lower" >"$l2/data/lower.txt"
echo "in the top lower's tmp" >"$view/tmp/top.txt"
echo "in the lower's tmp" >"$l2/tmp/below.txt"

# run SIDE: the tests ($tests, with the options in $select), verbose; one
# line per test, "name (module.Class.name) outcome", in $root/SIDE.out.
select=("${ignore[@]}")
run() {
  local side=$1
  local -a prefix=()
  if [ "$side" = ovlbox ]; then
    rm -rf "$root/ovlbox-upper" "$root/.ovlbox-upper.ovlbox-work" && mkdir -p "$root/ovlbox-upper"
    prefix=("$OVLBOX" --lower "$view:$l2" --upper "$root/ovlbox-upper" --)
  fi
  rm -rf "${root:?}/home" && mkdir -p "$root/home"
  # shellcheck disable=SC2086
  (cd "$view" && exec env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME="$root/home" LC_ALL=C.UTF-8 \
    TMPDIR="$view/tmp" PYTHONHASHSEED=0 timeout -k 10 600 "${prefix[@]}" \
    "$PY" -m test -v "${select[@]}" $tests) >"$root/$side.log" 2>&1
  local status=$?
  echo "$side: exit status $status"
  if [ "$status" -ge 124 ]; then
    echo "FAIL: the $side run did not finish in 600 s (a test waits for something that never comes):"
    tail -5 "$root/$side.log" | sed 's/^/    /'
    echo "0 passed, 1 failed"
    exit 1
  fi
  # unittest's verbose stream: "name (id) ... " when a test starts, its
  # outcome at the end of that line or, after whatever the test printed,
  # on a line of its own; the "FAIL: name (id)" and "ERROR: name (id)"
  # reports at the end are definitive.
  "$PY" - "$root/$side.log" >"$root/$side.out" <<'PYEOF'
import re, sys
start = re.compile(r"^([A-Za-z_0-9]+ \([A-Za-z_0-9.]+\)) \.\.\. ?(.*)$")
end = re.compile(r"^(ok|FAIL|ERROR|skipped|expected failure|unexpected success)\b")
report = re.compile(r"^(FAIL|ERROR): ([A-Za-z_0-9]+ \([A-Za-z_0-9.]+\))$")
outcome, pending = {}, None
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    m = start.match(line)
    if m:
        pending = m.group(1)
        outcome.setdefault(pending, "unfinished")
        line = m.group(2)
    r = report.match(line)
    if r:
        outcome[r.group(2)] = r.group(1)
        continue
    e = end.match(line)
    if e and pending:
        outcome[pending] = e.group(1)
        pending = None
for test in sorted(outcome):
    print(test, outcome[test])
PYEOF
  sort -u -o "$root/$side.out" "$root/$side.out"
}

mount -t overlay overlay -o "lowerdir=$view:$l2,upperdir=$mnt_upper,workdir=$mnt_work,userxattr" \
  "$view" || { echo "FAIL: kernel overlay mount failed"; exit 1; }
run kernel
unmount_view || { echo "FAIL: cannot unmount the kernel overlay"; exit 1; }
run ovlbox

k=$(wc -l <"$root/kernel.out")
echo "tests: kernel $k, ovlbox $(wc -l <"$root/ovlbox.out")"
if [ "$k" -lt 100 ]; then
  echo "FAIL: the kernel run listed only $k tests"
  tail -20 "$root/kernel.log"
  exit 1
fi
# differ OUT [IDS]: the tests that ended otherwise in $root/OUT than on the
# kernel (or ran on one side only); with IDS, a file of test names, only
# those, each of which must have run.
differ() {
  "$PY" - "$root/kernel.out" "$root/$1" ${2:+"$root/$2"} <<'PYEOF'
import sys
def load(p):
    out = {}
    for line in open(p, encoding="utf-8", errors="replace"):
        test, _, outcome = line.rstrip("\n").rpartition(") ")
        out[test + ")"] = outcome
    return out
k, o = load(sys.argv[1]), load(sys.argv[2])
if len(sys.argv) > 3:
    tests = {l.rstrip("\n") for l in open(sys.argv[3]) if l.strip()}
else:
    tests = set(k) | set(o)
for t in sorted(tests):
    if k.get(t) != o.get(t):
        print("%s: kernel %s, ovlbox %s" % (t, k.get(t, "not run"), o.get(t, "not run")))
PYEOF
}
first=$(differ ovlbox.out)
if [ -z "$first" ]; then
  echo "1 passed, 0 failed"
  exit 0
fi
# A test that ended otherwise gets one more run under ovlbox alone: those
# that time things or race threads may end otherwise on a busy machine.
mv "$root/ovlbox.out" "$root/ovlbox.first.out"
mv "$root/ovlbox.log" "$root/ovlbox.first.log"
select=("${ignore[@]}")
while read -r name; do select+=(-m "$name"); done < <(sed -nE 's/^([A-Za-z_0-9]+) \(.*/\1/p' <<<"$first" | sort -u)
tests=$(sed -nE 's/^[A-Za-z_0-9]+ \(test\.([A-Za-z_0-9]+)\..*/\1/p' <<<"$first" | sort -u | tr '\n' ' ')
run ovlbox
sed -nE 's/^(.*\)): kernel .*/\1/p' <<<"$first" >"$root/again.ids"
still=$(differ ovlbox.out again.ids)
if [ -z "$still" ]; then
  echo "ended otherwise at first, as on the kernel's overlay when run again:"
  sed 's/^/    /' <<<"$first"
  echo "1 passed, 0 failed"
  exit 0
fi
echo "FAIL: tests that end otherwise under ovlbox than on the kernel's overlay:"
sed 's/^/    /' <<<"$still"
echo "0 passed, 1 failed"
exit 1
