#!/usr/bin/env bash
# Installs, builds and runs ovlbox on a small real example: two lower
# layers merged, seen by ls, cat, a shell and a script that lives in a lower.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
ovlbox=$PWD/bazel-bin/supervisor/ovlbox

demo=$(mktemp -d /tmp/ovlbox-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo"/top/etc "$demo"/base/etc "$demo"/base/bin
echo "from the top layer" > "$demo"/top/etc/motd
echo "from the base layer" > "$demo"/base/etc/motd
echo "only in the base layer" > "$demo"/base/etc/issue
printf '#!/bin/sh\necho "hello from $0, running in $(pwd)"\n' > "$demo"/base/bin/hello
chmod +x "$demo"/base/bin/hello
mknod "$demo"/top/etc/hidden c 0 0 2>/dev/null || true  # a whiteout
echo "whited out" > "$demo"/base/etc/hidden

echo "\$ ovlbox --lower $demo/top:$demo/base -- sh -c '...'"
"$ovlbox" --lower "$demo/top:$demo/base" -- sh -c '
  cd "$0" && ls -l etc bin && cat etc/motd etc/issue && bin/hello
  touch etc/new 2>&1 || echo "(the view is read-only without --upper)"' "$demo/top"

mkdir "$demo/changes"
echo
echo "\$ ovlbox --lower $demo/top:$demo/base --upper $demo/changes -- sh -c '...'"
"$ovlbox" --lower "$demo/top:$demo/base" --upper "$demo/changes" -- sh -c '
  cd "$0" && echo "changed in the view" > etc/motd && rm etc/issue && mkdir var &&
  echo log > var/log && ls etc var && cat etc/motd' "$demo/top"
echo "--- what the upper holds (c = whiteout):"
(cd "$demo/changes" && find . -mindepth 1 -printf '%y %p\n' | sort -k2)
echo "--- the lowers are untouched:"
cat "$demo/top/etc/motd" "$demo/base/etc/issue"
