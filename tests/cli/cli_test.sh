#!/usr/bin/env bash
# The command line as a user meets it: bad input is refused before anything
# runs with one line on stderr naming the path and the cause, and exit 125;
# the program's own exit status (128+N on signal N), 126 and 127 pass
# through; --help and --version.
set -u
ovlbox=${OVLBOX:-}
if [ -z "$ovlbox" ]; then
  for c in "${TEST_SRCDIR:-}/ovlbox/supervisor/ovlbox" "$(dirname "$0")/../../bazel-bin/supervisor/ovlbox"; do
    [ -x "$c" ] && ovlbox=$c && break
  done
fi
[ -x "$ovlbox" ] || { echo "ovlbox binary not found (set OVLBOX)"; exit 1; }

tmp=$(mktemp -d /tmp/ovlbox-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/l1" "$tmp/l2" "$tmp/up" "$tmp/wk"
echo data > "$tmp/l1/file"
printf '#!/bin/sh\nexit 3\n' > "$tmp/l2/script"; chmod +x "$tmp/l2/script"
echo 'not a program' > "$tmp/l2/plain"; chmod 644 "$tmp/l2/plain"

passed=0 failed=0
# expect NAME STATUS STDERR-REGEX -- ARGS...
expect() {
  local name=$1 want=$2 pattern=$3; shift 4
  local err rc
  err=$("$ovlbox" "$@" 2>&1 >/dev/null); rc=$?
  local lines
  lines=$(printf '%s' "$err" | grep -c '')
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, want $want (stderr: $err)"; failed=$((failed+1)); return
  fi
  if [ -n "$pattern" ] && { ! printf '%s' "$err" | grep -qE "$pattern" || [ "$lines" -ne 1 ]; }; then
    echo "FAIL $name: stderr '$err' does not match '$pattern' in one line"; failed=$((failed+1)); return
  fi
  echo "ok $name"; passed=$((passed+1))
}

L="$tmp/l1:$tmp/l2"
expect missing-lower 125 "^ovlbox: --lower $tmp/nope: No such file or directory\$" -- --lower "$tmp/nope" -- true
expect lower-not-dir 125 "^ovlbox: --lower $tmp/l1/file: not a directory\$" -- --lower "$tmp/l1/file" -- true
expect same-lower-twice 125 "^ovlbox: --lower $tmp/l1: given twice" -- --lower "$tmp/l1:$tmp/l1" -- true
expect empty-lower-in-list 125 "^ovlbox: --lower .*: empty directory name\$" -- --lower "$tmp/l1::$tmp/l2" -- true
expect no-lower 125 "^ovlbox: --lower: at least one lower" -- -- true
expect no-program 125 "^ovlbox: no program given" -- --lower "$L"
expect unknown-option 125 "^ovlbox: --frobnicate: unknown option" -- --frobnicate --lower "$L" -- true
expect work-without-upper 125 "^ovlbox: --work $tmp/wk: needs --upper\$" -- --lower "$L" --work "$tmp/wk" -- true
expect missing-upper 125 "^ovlbox: --upper $tmp/nope: No such file or directory\$" -- --lower "$L" --upper "$tmp/nope" -- true
mkdir -p "$tmp/up/in"
expect lower-inside-upper 125 "^ovlbox: --lower $tmp/up/in: lies inside the upper dir $tmp/up\$" -- \
  --lower "$tmp/up/in" --upper "$tmp/up" --work "$tmp/wk" -- true
mkdir -p "$tmp/up/wk"
expect work-inside-upper 125 "^ovlbox: --work $tmp/up/wk: lies inside the upper dir $tmp/up\$" -- \
  --lower "$L" --upper "$tmp/up" --work "$tmp/up/wk" -- true
mkdir -p "$tmp/wk/l"
expect lower-inside-work 125 "^ovlbox: --lower $tmp/wk/l: lies inside the work dir $tmp/wk\$" -- \
  --lower "$tmp/wk/l" --upper "$tmp/up" --work "$tmp/wk" -- true
rmdir "$tmp/wk/l"
if mount -t tmpfs -o size=1m tmpfs "$tmp/wk" 2>/dev/null; then
  expect work-on-other-fs 125 "^ovlbox: --work $tmp/wk: is on another filesystem than the upper dir $tmp/up\$" -- \
    --lower "$L" --upper "$tmp/up" --work "$tmp/wk" -- true
  umount "$tmp/wk"
else
  echo "skip work-on-other-fs: cannot mount a tmpfs (needs root)"
fi
# A work dir that cannot be used (its work/ is a file): one line, exit 125,
# and the program never runs (the upper is readied while the program's
# first process installs the filter).
mkdir -p "$tmp/wk2" "$tmp/up2" && touch "$tmp/wk2/work"
expect work-unusable 125 "^ovlbox: --work $tmp/wk2/work: Not a directory\$" -- \
  --lower "$L" --upper "$tmp/up2" --work "$tmp/wk2" -- touch "$tmp/ran"
if [ -e "$tmp/ran" ] || [ -n "$(ls -A "$tmp/up2")" ]; then
  echo "FAIL work-unusable-nothing-ran: the program ran"; failed=$((failed+1))
else
  echo "ok work-unusable-nothing-ran"; passed=$((passed+1))
fi
rm -rf "$tmp/wk2" "$tmp/up2"
# An upper (and its default work dir) inside a lower is allowed, and hidden
# from the view.
mkdir -p "$tmp/l1/up"
expect upper-inside-lower-allowed 0 "" -- --lower "$tmp/l1" --upper "$tmp/l1/up" -- \
  sh -c "test ! -e $tmp/l1/up && test ! -e $tmp/l1/.up.ovlbox-work && test -e $tmp/l1/file"
rm -rf "$tmp/l1/up" "$tmp/l1/.up.ovlbox-work"

expect status-passes-through 3 "" -- --lower "$L" -- "$tmp/l1/script"
expect signal-status 143 "" -- --lower "$L" -- sh -c 'kill -TERM $$'
expect not-found 127 "^ovlbox: no-such-program-here: No such file or directory\$" -- --lower "$L" -- no-such-program-here
expect not-executable 126 "^ovlbox: $tmp/l1/plain: Permission denied\$" -- --lower "$L" -- "$tmp/l1/plain"
expect exit-zero 0 "" -- --lower "$L" -- true
expect no-preload 0 "" -- --no-preload --lower "$L" -- true
expect no-preload-status 3 "" -- --lower "$L" --no-preload -- sh -c 'exit 3'
if "$ovlbox" --help | grep -q -- '--no-preload'; then echo "ok help-no-preload"; passed=$((passed+1)); else echo "FAIL help-no-preload"; failed=$((failed+1)); fi

if "$ovlbox" --help | grep -q '^usage: ovlbox'; then echo "ok help"; passed=$((passed+1)); else echo "FAIL help"; failed=$((failed+1)); fi
if "$ovlbox" --version | grep -qE '^ovlbox [0-9]'; then echo "ok version"; passed=$((passed+1)); else echo "FAIL version"; failed=$((failed+1)); fi

# Nothing ovlbox refused may have touched the layers.
if [ -z "$(ls -A "$tmp/l2" | grep -v -e script -e plain)" ] && [ "$(cat "$tmp/l1/file")" = data ]; then
  echo "ok layers-untouched"; passed=$((passed+1))
else
  echo "FAIL layers-untouched"; failed=$((failed+1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
