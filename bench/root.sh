#!/usr/bin/env bash
# The whole root as the lower (`ovlbox --lower / --upper DIR`), the layout
# of "run an install, keep what it changed": natively, on the kernel's
# overlay of / (entered with chroot, /proc, /dev and /sys bound in), and
# under ovlbox, in one interleaved run:
#
#   sudo bench/root.sh [ROUNDS]        (default 5; OVLBOX=path, default
#                                       bazel-bin/supervisor/ovlbox;
#                                       OVLBOX_BEFORE=path adds a column)
#
# Workloads:
#   dpkg    dpkg -i of a local package of 300 files, then dpkg -r of it
#           (no native run: it would change the host)
#   find    find /usr/include /usr/share/doc -printf '%s\n'
#   gcc     20 x gcc -c of a file that includes six system headers
# Prints each workload's median and its ratio to native (for dpkg, to
# the kernel's overlay). Needs root (the kernel overlay and chroot),
# dpkg-deb and gcc. docs/performance.md quotes its numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
OVLBOX=$(readlink -f "${OVLBOX:-bazel-bin/supervisor/ovlbox}")
[ -x "$OVLBOX" ] || { echo "bench/root.sh: $OVLBOX: not built (bazel build //supervisor:ovlbox)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/root.sh: needs root (the kernel overlay of /)" >&2; exit 1; }
for tool in dpkg-deb dpkg gcc chroot; do
  command -v "$tool" >/dev/null || { echo "bench/root.sh: needs $tool" >&2; exit 1; }
done
# Off /tmp: the uppers go next to it, and / must not be a tmpfs's.
work=$(mktemp -d /var/tmp/ovlbox-rootbench.XXXXXX)
mnt=$work/mnt
cleanup() {
  for d in proc dev sys; do umount "$mnt/$d" 2>/dev/null || true; done
  umount "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

pkg=$work/pkg
mkdir -p "$pkg/DEBIAN" "$mnt"
printf '%s\n' 'Package: ovlbox-rootbench' 'Version: 1.0' 'Architecture: all' \
  'Maintainer: ovlbox bench <bench@example.invalid>' \
  'Description: files for the ovlbox --lower / benchmark' >"$pkg/DEBIAN/control"
for i in $(seq 30); do
  mkdir -p "$pkg/usr/share/ovlbox-rootbench/d$i"
  for j in $(seq 10); do echo "file $i $j" >"$pkg/usr/share/ovlbox-rootbench/d$i/f$j.txt"; done
done
dpkg-deb --root-owner-group --build "$pkg" "$work/bench.deb" >/dev/null
chmod 0755 "$work"
printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n#include <sys/stat.h>\n#include <pthread.h>\nint main(void) { puts("hi"); return 0; }\n' >"$work/hello.c"

declare -A cmd=(
  [dpkg]="dpkg -i $work/bench.deb >/dev/null 2>&1 && dpkg -r ovlbox-rootbench >/dev/null 2>&1"
  [find]="find /usr/include /usr/share/doc -printf '%s\n' >/dev/null"
  [gcc]="cd $work && for i in \$(seq 20); do gcc -O0 -c hello.c -o /dev/null; done"
)
workloads=(dpkg find gcc)
sides=(native kernel ovlbox)
[ -n "${OVLBOX_BEFORE:-}" ] && sides+=(before)

now() { date +%s.%N; }
declare -A t=()
run() {  # SIDE WORKLOAD
  local side=$1 w=$2 s e upper
  case $side in
    native)
      [ "$w" = dpkg ] && return 0
      s=$(now); sh -c "${cmd[$w]}"; e=$(now) ;;
    kernel)
      rm -rf "$work/ku" && mkdir -p "$work/ku/u" "$work/ku/w"
      mount -t overlay overlay -o "lowerdir=/,upperdir=$work/ku/u,workdir=$work/ku/w,userxattr" "$mnt"
      for d in proc dev sys; do mount --bind "/$d" "$mnt/$d"; done
      s=$(now); chroot "$mnt" sh -c "${cmd[$w]}"; e=$(now)
      for d in proc dev sys; do umount "$mnt/$d"; done
      umount "$mnt" ;;
    ovlbox | before)
      local bin=$OVLBOX
      [ "$side" = before ] && bin=$OVLBOX_BEFORE
      upper=$work/ou
      rm -rf "$upper" "$work/.ou.ovlbox-work" && mkdir "$upper"
      s=$(now); "$bin" --lower / --upper "$upper" -- sh -c "${cmd[$w]}"; e=$(now) ;;
  esac
  t[$side,$w]+="$(echo "($e - $s) * 1000" | bc -l) "
}

for r in $(seq "$rounds"); do
  for w in "${workloads[@]}"; do
    for side in "${sides[@]}"; do run "$side" "$w"; done
  done
  echo "round $r/$rounds done" >&2
done

median() { tr ' ' '\n' | { grep . || true; } | sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '| workload |'; for side in "${sides[@]}"; do printf ' %s |' "$side"; done; echo
printf '|---|'; for side in "${sides[@]}"; do printf -- '---:|'; done; echo
for w in "${workloads[@]}"; do
  base=$(echo "${t[native,$w]:-}" | median)
  base_name=native
  if [ -z "$base" ] || [ "$w" = dpkg ]; then base=$(echo "${t[kernel,$w]}" | median); base_name=kernel; fi
  printf '| %s |' "$w"
  for side in "${sides[@]}"; do
    m=$(echo "${t[$side,$w]:-}" | median)
    if [ -z "$m" ]; then printf ' – |'; continue; fi
    printf ' %.0f ms (%.2f×) |' "$m" "$(echo "$m / $base" | bc -l)"
  done
  echo
done
echo "(ratios to native; dpkg's to the kernel's overlay, which it must not change natively)"
