#!/usr/bin/env bash
# Installs what the tests need and runs the whole test suite (as root: the
# tests compare ovlbox with kernel overlay mounts). Ends with a line
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel test //... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE)' "$log")
echo "$passed passed, $failed failed"
# Bazel exits 4 when there is nothing to test: that is a failure here.
exit "$status"
