#!/usr/bin/env bash
# Per-process costs under ovlbox, against native, in one interleaved run:
#
#   bench/procs.sh [ROUNDS]            (default 5; OVLBOX=path, default
#                                       bazel-bin/supervisor/ovlbox)
#
# Loops of 300 iterations of fork + _exit + waitpid, fork + execv of a
# static program, fork + execv of /bin/true, and a shell loop (300
# `$(echo)`, 200 `/bin/true`, 100 `sh -c :`). Each round runs every loop
# natively, then under ovlbox (an empty lower and upper); prints each
# loop's median per iteration (per run for the shell loop) and the ratio.
# Needs a C compiler. docs/performance.md quotes its numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
OVLBOX=${OVLBOX:-bazel-bin/supervisor/ovlbox}
[ -x "$OVLBOX" ] || { echo "bench/procs.sh: $OVLBOX: not built (bazel build //supervisor:ovlbox)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/ovlbox-procs.XXXXXX")
trap 'rm -rf "$work"' EXIT
cat >"$work/loop.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char** argv) {
  int n = atoi(argv[1]);
  int fork_only = strcmp(argv[2], "fork") == 0;
  double t0 = now();
  for (int i = 0; i < n; i++) {
    pid_t p = fork();
    if (p == 0) {
      if (fork_only) _exit(0);
      execv(argv[3], argv + 3);
      _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
  }
  printf("%.1f\n", (now() - t0) / n * 1e6);
  return 0;
}
C
cc -O2 -o "$work/loop" "$work/loop.c"
printf 'int main(void) { return 0; }\n' | cc -O2 -static -x c -o "$work/static-true" -
mkdir -p "$work/lower" "$work/upper"
shell='i=0; while [ $i -lt 300 ]; do x=$(echo $i); i=$((i+1)); done
for i in $(seq 200); do /bin/true; done; for i in $(seq 100); do sh -c :; done'

declare -A t=()
run() {  # LABEL PREFIX...
  local label=$1 s e
  shift
  rm -rf "$work/upper" && mkdir "$work/upper"
  t[$label fork]+=" $("$@" "$work/loop" 300 fork)"
  t[$label static]+=" $("$@" "$work/loop" 300 exec "$work/static-true")"
  t[$label dynamic]+=" $("$@" "$work/loop" 300 exec /bin/true)"
  s=$(date +%s%N)
  "$@" sh -c "$shell"
  e=$(date +%s%N)
  t[$label shell]+=" $(( (e - s) / 1000 ))"
}
for _ in $(seq "$rounds"); do
  run native env
  run ovlbox "$OVLBOX" --lower "$work/lower" --upper "$work/upper" --
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '| loop | native | ovlbox |\n|---|---|---|\n'
for loop in fork static dynamic shell; do
  n=$(echo "${t[native $loop]}" | median)
  o=$(echo "${t[ovlbox $loop]}" | median)
  case $loop in
    fork) name='fork + _exit + waitpid' ;;
    static) name='fork + execv of a static program' ;;
    dynamic) name='fork + execv of /bin/true' ;;
    shell) name='shell loop (one run, us)' ;;
  esac
  printf '| %s | %s us | %s us (%.2fx) |\n' "$name" "$n" "$o" "$(echo "$o / $n" | bc -l)"
done
