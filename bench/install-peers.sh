#!/usr/bin/env bash
# Installs what the benchmarks need on Debian 12 (as root): ovlbox's build
# dependencies (tools/install-deps.sh), Google Benchmark, the peers ovlbox
# is compared with (fuse-overlayfs, proot) and the tools the workloads and
# the driver run. Idempotent: packages already present are left as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "install-peers.sh: run as root" >&2; exit 1; }
tools/install-deps.sh

packages=(
  libbenchmark-dev          # bench/micro_bench
  fuse-overlayfs fuse3      # the FUSE overlay peer (fuse3: fusermount3)
  proot                     # the ptrace path-translation peer
  time                      # /usr/bin/time -f %M
  procps                    # pgrep
  util-linux                # mount, mountpoint, losetup
  e2fsprogs                 # mkfs.ext4 for the benchmark file system
  coreutils findutils tar make gcc git
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
