#!/usr/bin/env bash
# Faults a user's upper meets: a full upper filesystem gives the program
# ENOSPC and leaves no partial entry; ovlbox killed with SIGKILL in the
# middle of copying up a large file leaves no partial file in the upper (and
# the next run cleans the work dir); a copy-up stops when the program that
# caused it dies. The lowers stay untouched throughout.
set -u
ovlbox=${OVLBOX:-}
if [ -z "$ovlbox" ]; then
  for c in "${TEST_SRCDIR:-}/ovlbox/supervisor/ovlbox" "$(dirname "$0")/../../bazel-bin/supervisor/ovlbox"; do
    [ -x "$c" ] && ovlbox=$c && break
  done
fi
[ -x "$ovlbox" ] || { echo "ovlbox binary not found (set OVLBOX)"; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: needs root to mount a small tmpfs as the upper"
  echo "0 passed, 0 failed"
  exit 0
fi

tmp=$(mktemp -d /tmp/ovlbox-faults.XXXXXX)
cleanup() {
  umount "$tmp/small" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0 failed=0
ok() { echo "ok $1"; passed=$((passed+1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed+1)); }

mkdir -p "$tmp/l1" "$tmp/l2" "$tmp/small"
head -c $((8 << 20)) /dev/urandom > "$tmp/l2/big8m"
echo small > "$tmp/l2/small"
# A large file for the kill tests: copying it takes a noticeable time.
head -c $((64 << 20)) /dev/urandom > "$tmp/l2/chunk"
for i in $(seq 24); do cat "$tmp/l2/chunk"; done > "$tmp/l2/huge"
rm "$tmp/l2/chunk"
manifest() { (cd "$1" && find . -printf '%p %y %m %s %T@\n' | sort && find . -type f -exec sha256sum {} + | sort); }
lower_before=$(manifest "$tmp/l2")

# 1. A full upper: copy-up of an 8 MiB file into a 4 MiB tmpfs.
mount -t tmpfs -o size=4m tmpfs "$tmp/small"
mkdir "$tmp/small/u"
out=$("$ovlbox" --lower "$tmp/l1:$tmp/l2" --upper "$tmp/small/u" -- \
  sh -c "echo more >> $tmp/l1/big8m" 2>&1); rc=$?
if [ $rc -ne 0 ] && printf '%s' "$out" | grep -q 'No space left on device' &&
   [ ! -e "$tmp/small/u/big8m" ] && [ -z "$(ls -A "$tmp/small/.u.ovlbox-work/work")" ]; then
  ok enospc-copy-up
else
  fail enospc-copy-up "rc=$rc out='$out' upper: $(ls -A "$tmp/small/u") work: $(ls -A "$tmp/small/.u.ovlbox-work/work" 2>&1)"
fi
# The view is still usable: a small change fits and lands.
out=$("$ovlbox" --lower "$tmp/l1:$tmp/l2" --upper "$tmp/small/u" -- \
  sh -c "echo more >> $tmp/l1/small && cat $tmp/l1/small" 2>&1)
if [ "$out" = "$(printf 'small\nmore')" ] && [ "$(cat "$tmp/small/u/small")" = "$(printf 'small\nmore')" ]; then
  ok small-change-after-enospc
else
  fail small-change-after-enospc "out='$out'"
fi
# A new file larger than the space left: ENOSPC for the writer.
out=$("$ovlbox" --lower "$tmp/l1:$tmp/l2" --upper "$tmp/small/u" -- \
  sh -c "head -c 8388608 /dev/zero > $tmp/l1/new" 2>&1); rc=$?
if [ $rc -ne 0 ] && printf '%s' "$out" | grep -q 'No space left on device'; then
  ok enospc-write
else
  fail enospc-write "rc=$rc out='$out'"
fi
umount "$tmp/small"

# 2. ovlbox killed with SIGKILL while it copies up a 1.5 GiB file.
mkdir -p "$tmp/u2"
"$ovlbox" --lower "$tmp/l1:$tmp/l2" --upper "$tmp/u2" -- sh -c "echo x >> $tmp/l1/huge" &
pid=$!
sleep 0.4
kill -9 $pid
wait $pid 2>/dev/null
sleep 0.2
if [ ! -e "$tmp/u2/huge" ] || [ "$(stat -c %s "$tmp/u2/huge")" -eq $(((64 << 20) * 24 + 2)) ]; then
  ok kill-9-no-partial-file
else
  fail kill-9-no-partial-file "upper has a partial huge: $(stat -c %s "$tmp/u2/huge")"
fi
if pgrep -f "echo x >> $tmp/l1/huge" >/dev/null; then
  fail kill-9-program-dies "the program outlived ovlbox"
else
  ok kill-9-program-dies
fi
# The next run cleans what the killed one left in the work dir.
"$ovlbox" --lower "$tmp/l1:$tmp/l2" --upper "$tmp/u2" -- true
if [ -z "$(ls -A "$tmp/.u2.ovlbox-work/work")" ]; then
  ok stale-work-cleaned
else
  fail stale-work-cleaned "$(ls -A "$tmp/.u2.ovlbox-work/work")"
fi

# 3. The program that caused a copy-up dies: the copy stops.
rm -rf "$tmp/u3" && mkdir "$tmp/u3"
start=$(date +%s%N)
"$ovlbox" --lower "$tmp/l1:$tmp/l2" --upper "$tmp/u3" -- \
  sh -c "(echo x >> $tmp/l1/huge) & child=\$!; sleep 0.3; kill -9 \$child; wait"
elapsed=$((($(date +%s%N) - start) / 1000000))
if [ ! -e "$tmp/u3/huge" ] && [ -z "$(ls -A "$tmp/.u3.ovlbox-work/work")" ]; then
  ok copy-up-stops-with-program
else
  fail copy-up-stops-with-program "upper: $(ls -A "$tmp/u3") after ${elapsed} ms"
fi

if [ "$(manifest "$tmp/l2")" = "$lower_before" ]; then ok lowers-untouched; else fail lowers-untouched "l2 changed"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
