#!/usr/bin/env bash
# Installs the Debian 12 packages ovlbox needs to build and test (as root).
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  bazel-bootstrap bazel-platforms g++ libseccomp-dev libcap-dev libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # What the tests run under ovlbox and compare with a kernel overlay mount.
  attr git python3 python3-venv coreutils findutils grep tar make gcc sqlite3
  tmux strace gdb less procps vim-tiny dpkg
  linux-libc-dev
  # The real programs and toolchains of tests/e2e/programs_test.sh.
  bash gzip xz-utils cmake perl default-jdk-headless rustc cargo
  python3-pip python3-setuptools python3-wheel
  # CPython's own tests, run in a view by tests/e2e/stdlib_test.sh.
  libpython3.11-testsuite
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
