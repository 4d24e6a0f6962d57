#!/usr/bin/env bash
# The ovlbox benchmark suite, in one command (as root):
#
#   bench/run.sh
#
# Builds ovlbox and the bench binaries, builds one tree split across two
# lower layers (a copy of /usr/include, a generated C project, a generated
# git repository), and times five workloads on that same tree under each
# peer (see common.sh): native, kernel overlay, fuse-overlayfs, proot and
# ovlbox. Then measures ovlbox's memory (peak RSS per workload, and over a
# million intercepted stat() calls) and runs the micro benchmarks
# (bench/micro.sh). Prints a markdown report and writes it to
# bench/results/latest.md. docs/performance.md explains the results.
#
# Every run gets fresh, empty upper and work dirs (and a fresh mount); the
# native tree is reset between runs where a workload writes to it. One
# discarded run per workload and peer warms the page cache first; it also
# checks that the peer's output matches native, and for ovlbox measures
# its memory.
#
# Environment:
#   BENCH_RUNS=N        timed runs per workload and peer (default 5)
#   BENCH_QUICK=1       smoke mode: 1 run, 100,000 stat calls, short micro
#   BENCH_WORKLOADS="find read make untar git"   a subset, in this order
#   BENCH_PEERS="kernel fuse-overlayfs proot ovlbox ovlbox-nopreload"   a subset (native
#                       always runs: it is the reference)
#   BENCH_MICRO=0       skip the micro benchmarks
#   BENCH_SOURCE_TREE   the tree to copy (default /usr/include)
#   BENCH_RESULTS       where to write the report (default
#                       bench/results/latest.md, none with BENCH_QUICK=1;
#                       empty: do not write)
#   BENCH_INSTALL=0     do not run bench/install-peers.sh first
#   BENCH_BUILD=0, OVLBOX=PATH   use prebuilt binaries (see common.sh)
#   BENCH_FS=ext4|tmpfs|host   the file system of the trees (common.sh)
#   BENCH_TMPDIR        where the scratch dir goes (default /tmp)
#   BENCH_KEEP=1        keep the scratch dir afterwards (logs; the trees
#                       stay in its fs.img with BENCH_FS=ext4)
set -euo pipefail
source "$(dirname "$0")/common.sh"

quick=${BENCH_QUICK:-0}
runs=${BENCH_RUNS:-5}
stat_calls=1000000
if [ "$quick" = 1 ]; then
  runs=1
  stat_calls=100000
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS=$runs: expected a positive number"
source_tree=${BENCH_SOURCE_TREE:-/usr/include}
# A smoke run does not replace the latest real results unless asked to.
if [ "$quick" = 1 ]; then
  results_file=${BENCH_RESULTS-}
else
  results_file=${BENCH_RESULTS-$BENCH_SRC/results/latest.md}
fi
read -r -a workloads <<<"${BENCH_WORKLOADS:-find read make untar git}"

# --- workloads --------------------------------------------------------------
#
# Each is a shell command run with cwd at the root of the tree: the timed
# command, and a check command whose output must match native's (run once,
# untimed, as the warm-up).

declare -A WL_TITLE=(
  [find]="find -printf %s"
  [read]="read all (cat)"
  [make]="make -j2 (40 C files)"
  [untar]="untar + rm -rf"
  [git]="git status (5000 files)"
)
declare -A WL_CMD=(
  [find]='cd include && find . -printf "%s\n" >/dev/null'
  [read]='cd include && find . -type f -exec cat {} + >/dev/null'
  [make]='cd cproj && make -j2 -s >/dev/null'
  [untar]='mkdir untar && tar -xf "$TREE_TAR" -C untar && rm -rf untar'
  [git]='cd repo && git status >/dev/null'
)
# A listing with sizes that do not depend on the peer: directory sizes do.
listing='find . \( -type d -printf "%y %p\n" \) -o -printf "%y %p %s\n" | sort | md5sum'
declare -A WL_CHECK=(
  [find]="cd include && $listing"
  [read]='cd include && find . -type f -print0 | sort -z | xargs -0 cat | md5sum'
  [make]='cd cproj && make -j2 -s >/dev/null && ./app'
  [untar]="mkdir untar && tar -xf \"\$TREE_TAR\" -C untar && (cd untar && $listing) && rm -rf untar && test ! -e untar && echo removed"
  [git]='cd repo && git status --porcelain && git rev-parse HEAD'
)

# Undoes a workload's changes to the native tree (used by native and proot;
# the overlays get a fresh upper instead).
reset_native() {
  case $1 in
    make) make -s -C "$NATIVE/cproj" clean >/dev/null ;;
    untar) rm -rf "$NATIVE/untar" ;;
  esac
}

# --- the tree ---------------------------------------------------------------

# include/: a copy of $source_tree. Its top-level entries go, in turn, to
# A, to B, or (directories) to both: the files below such a directory
# alternate between A and B, so it and every directory below it is merged.
build_include_tree() {
  local src=$NATIVE/include entry i=0
  cp -a "$source_tree/." "$src/"
  mkdir -p "$A/include" "$B/include"
  while IFS= read -r -d '' entry; do
    entry=${entry#./}
    case $((i++ % 3)) in
      0) if [ -d "$src/$entry" ] && [ ! -L "$src/$entry" ]; then
           split_dir "$entry"
         else
           cp -a "$src/$entry" "$A/include/"
         fi ;;
      1) cp -a "$src/$entry" "$A/include/" ;;
      2) cp -a "$src/$entry" "$B/include/" ;;
    esac
  done < <(cd "$src" && find . -mindepth 1 -maxdepth 1 -print0 | sort -z)
}

# Every directory of include/ENTRY in both lowers, its other files
# alternately in A and in B.
split_dir() {
  local entry=$1 src=$NATIVE/include f n=0 layer
  (cd "$src" && find "$entry" -type d -print0) >"$WORK/split.dirs"
  while IFS= read -r -d '' f; do
    if ((n++ % 2 == 0)); then printf '%s\0' "$f" >&3; else printf '%s\0' "$f" >&4; fi
  done 3>"$WORK/split.A" 4>"$WORK/split.B" \
    < <(cd "$src" && find "$entry" ! -type d -print0 | sort -z)
  for layer in A B; do
    cat "$WORK/split.dirs" "$WORK/split.$layer" |
      tar -C "$src" --null --no-recursion -T - -cf - |
      tar -C "$FS/$layer/include" -xf -
  done
  rm -f "$WORK"/split.*
}

# cproj/: 40 C files (src/main.c, src/mod01.c ... src/mod39.c) in B, their
# headers and the Makefile in A; objects and dependency files go to src/.
build_c_project() {
  local d=$NATIVE/cproj i n
  mkdir -p "$d/src" "$d/include"
  {
    echo "# Generated by bench/run.sh: 40 C files, one program."
    echo "CFLAGS = -O2 -Wall -Iinclude"
    echo "SRCS := \$(sort \$(wildcard src/*.c))"
    echo "OBJS := \$(SRCS:.c=.o)"
    echo
    echo "app: \$(OBJS)"
    printf '\t$(CC) -o $@ $(OBJS)\n'
    echo
    echo "src/%.o: src/%.c"
    printf '\t$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<\n'
    echo
    echo "clean:"
    printf '\trm -f app src/*.o src/*.d\n'
    echo
    echo "-include \$(OBJS:.o=.d)"
  } >"$d/Makefile"
  cat >"$d/include/common.h" <<'EOF'
#ifndef COMMON_H
#define COMMON_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct record {
  char name[32];
  unsigned key;
  double weight;
};
#endif
EOF
  for i in $(seq -w 1 39); do
    printf '#include "common.h"\nunsigned long mod%s_run(unsigned seed);\n' "$i" \
      >"$d/include/mod$i.h"
    sed "s/NN/$i/g" >"$d/src/mod$i.c" <<'EOF'
#include "common.h"
#include "modNN.h"

static struct record recordsNN[64];

static int compareNN(const void *a, const void *b) {
  const struct record *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return strcmp(x->name, y->name);
}

static unsigned hashNN(const char *s) {
  unsigned h = 2166136261u ^ 1NN;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

unsigned long modNN_run(unsigned seed) {
  unsigned long sum = 0;
  for (int i = 0; i < 64; i++) {
    snprintf(recordsNN[i].name, sizeof recordsNN[i].name, "r%d-%u", i, seed * 1NN);
    recordsNN[i].key = hashNN(recordsNN[i].name) % 1000;
    recordsNN[i].weight = (double)recordsNN[i].key / (i + 1);
  }
  qsort(recordsNN, 64, sizeof recordsNN[0], compareNN);
  for (int i = 0; i < 64; i++)
    sum = sum * 31 + recordsNN[i].key + (unsigned long)recordsNN[i].weight;
  return sum;
}
EOF
  done
  {
    echo '#include "common.h"'
    for i in $(seq -w 1 39); do echo "#include \"mod$i.h\""; done
    echo 'int main(void) {'
    echo '  unsigned long total = 0;'
    for i in $(seq -w 1 39); do echo "  total = total * 7 + mod${i}_run($((10#$i)));"; done
    echo '  printf("checksum %lu\n", total);'
    echo '  return 0;'
    echo '}'
  } >"$d/src/main.c"
  mkdir -p "$A/cproj" "$B/cproj"
  cp -a "$d/Makefile" "$d/include" "$A/cproj/"
  cp -a "$d/src" "$B/cproj/"
}

# repo/: a git repository of 5000 files (50 directories of 100), committed.
# .git and half the directories lie in A, the rest in B. The directories are
# moved (renamed) there, so the index's stat data matches the lower files;
# the native copy's index is refreshed for its own copies.
build_git_repo() {
  local g=$FS/gen/repo d f i=0
  mkdir -p "$g"
  for d in $(seq -w 0 49); do
    mkdir "$g/dir$d"
    for f in $(seq -w 0 99); do
      printf 'generated file %s of directory %s\nline two\nline three\n' "$f" "$d" \
        >"$g/dir$d/file$f.txt"
    done
  done
  git -C "$g" init -q
  git -C "$g" add -A
  git -C "$g" -c user.name=bench -c user.email=bench@localhost \
    commit -q -m "generated tree"
  git -C "$g" status --porcelain >/dev/null
  cp -a "$g" "$NATIVE/repo"
  git -C "$NATIVE/repo" update-index -q --refresh
  mkdir -p "$A/repo" "$B/repo"
  mv "$g/.git" "$A/repo/"
  for d in "$g"/dir*; do
    if ((i++ % 2 == 0)); then mv "$d" "$A/repo/"; else mv "$d" "$B/repo/"; fi
  done
  rm -rf "$FS/gen"
}

# probe/: the file the million stat() calls look up, in a merged directory.
build_probe() {
  mkdir -p "$A/probe" "$B/probe" "$NATIVE/probe"
  echo "stat me" | tee "$A/probe/file" >"$NATIVE/probe/file"
  echo "lower" | tee "$B/probe/other" >"$NATIVE/probe/other"
}

build_tree() {
  log "building the tree: include/ (from $source_tree), cproj/, repo/"
  build_include_tree
  build_c_project
  build_git_repo
  build_probe
  TREE_TAR=$FS/tree.tar
  tar -C "$NATIVE" -cf "$TREE_TAR" include
  export TREE_TAR
  # Facts for the report.
  TREE_FILES=$(find "$NATIVE/include" ! -type d | wc -l)
  TREE_DIRS=$(find "$NATIVE/include" -type d | wc -l)
  TREE_MB=$(du -sm "$NATIVE/include" | cut -f1)
  TREE_MERGED=$(comm -12 <(cd "$A" && find include -type d | sort) \
    <(cd "$B" && find include -type d | sort) | wc -l)
}

# --- running ----------------------------------------------------------------

declare -A TIMES=()    # "workload|peer" -> space-separated seconds
declare -A FAILED=()   # "workload|peer" -> 1
declare -A RSS_HWM=()  # workload -> ovlbox supervisor VmHWM (kB)
declare -A RSS_TIME=() # workload -> /usr/bin/time %M (kB)
NOTES=()

note() { NOTES+=("$*"); }

# First lines of a log, for the report.
log_excerpt() {
  grep -v -e '^unknown argument ignored' -e '^$' "$1" 2>/dev/null | head -3 | paste -sd' ' | cut -c1-400
}

# Prepares PEER for one run of workload WL.
prepare_run() {
  local wl=$1 peer=$2
  peer_setup "$peer"
  case $peer in native | proot) reset_native "$wl" ;; esac
  sync
}

# Runs ovlbox on shell command CMD under /usr/bin/time -f %M, and samples
# the supervisor's own VmHWM from /proc every 20 ms while it runs.
# Sets LAST_HWM and LAST_TIME_RSS (kB); returns ovlbox's status.
ovlbox_with_rss() {
  local cmd=$1 out=$2 err=$3 timefile=$WORK/time.out
  (cd "$A" && exec /usr/bin/time -f %M -o "$timefile" "$OVLBOX" --lower "$A:$B" \
    --upper "$RUN/upper" --work "$RUN/work" -- sh -c "$cmd") >"$out" 2>>"$err" &
  local tpid=$! opid="" hwm=0 key val rest status=0
  BG_PIDS=("$tpid")
  while [ -z "$opid" ] && kill -0 "$tpid" 2>/dev/null; do
    opid=$(pgrep -P "$tpid" -x ovlbox || true)
  done
  if [ -n "$opid" ]; then
    BG_PIDS+=("$opid")  # on interruption: ovlbox passes SIGTERM to the program
    while kill -0 "$opid" 2>/dev/null; do
      while read -r key val rest; do
        [ "$key" != VmHWM: ] || hwm=$val
      done 2>/dev/null <"/proc/$opid/status" || true
      read -r -t 0.02 -u "$TICK" _ || true
    done
  fi
  wait "$tpid" || status=$?
  BG_PIDS=()
  LAST_HWM=$hwm
  LAST_TIME_RSS=$(tail -1 "$timefile" 2>/dev/null || echo 0)
  return "$status"
}

# The warm-up run of WL under PEER, with its output checked against
# native's. Returns non-zero when the run fails.
check_run() {
  local wl=$1 peer=$2 status=0
  local out=$LOGS/$wl.$peer.out err=$LOGS/$wl.$peer.err
  prepare_run "$wl" "$peer"
  if [ "$peer" = ovlbox ]; then
    ovlbox_with_rss "${WL_CHECK[$wl]}" "$out" "$err" || status=$?
    if [ "$status" = 0 ]; then
      RSS_HWM[$wl]=$LAST_HWM
      RSS_TIME[$wl]=$LAST_TIME_RSS
    fi
  else
    peer_exec "$peer" sh -c "${WL_CHECK[$wl]}" >"$out" 2>>"$err" || status=$?
  fi
  if [ "$status" != 0 ]; then
    note "$(peer_title "$peer"), ${WL_TITLE[$wl]}: FAILED (status $status): $(log_excerpt "$err")." \
      "Reproduce (bench/run.sh with BENCH_KEEP=1 keeps the tree):" \
      "\`$(peer_command "$peer" sh -c "${WL_CHECK[$wl]}")\`"
  elif [ "$peer" != native ] && ! cmp -s "$out" "$LOGS/$wl.native.out"; then
    note "$(peer_title "$peer"), ${WL_TITLE[$wl]}: output differs from native" \
      "(\`$(head -c 100 "$out" | head -1)\` instead of \`$(head -c 100 "$LOGS/$wl.native.out" | head -1)\`)."
  fi
  peer_teardown "$peer"
  return "$status"
}

# One timed run; sets ELAPSED (seconds).
timed_run() {
  local wl=$1 peer=$2 status=0 t0 t1
  prepare_run "$wl" "$peer"
  t0=$EPOCHREALTIME
  peer_exec "$peer" sh -c "${WL_CMD[$wl]}" >/dev/null 2>>"$LOGS/$wl.$peer.err" || status=$?
  t1=$EPOCHREALTIME
  peer_teardown "$peer"
  ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
  if [ "$status" != 0 ]; then
    note "$(peer_title "$peer"), ${WL_TITLE[$wl]}: a timed run FAILED (status $status):" \
      "$(log_excerpt "$LOGS/$wl.$peer.err")"
  fi
  return "$status"
}

run_workload() {
  local wl=$1 peer r
  log "$wl: warm-up and output check"
  for peer in "${ALL_PEERS[@]}"; do
    [ "${PEER_OK[$peer]}" = 1 ] || continue
    check_run "$wl" "$peer" || FAILED[$wl|$peer]=1
    [ "$peer" != native ] || [ -z "${FAILED[$wl|native]:-}" ] ||
      die "$wl fails natively: $(log_excerpt "$LOGS/$wl.native.err")"
  done
  # Runs are interleaved across peers, so that a slow period of the
  # machine does not fall on one peer only.
  for ((r = 1; r <= runs; r++)); do
    log "$wl: run $r/$runs"
    for peer in "${ALL_PEERS[@]}"; do
      if [ "${PEER_OK[$peer]}" != 1 ] || [ -n "${FAILED[$wl|$peer]:-}" ]; then continue; fi
      if timed_run "$wl" "$peer"; then
        TIMES[$wl|$peer]+=" $ELAPSED"
      else
        FAILED[$wl|$peer]=1
      fi
    done
  done
  # Messages on stderr where native printed none, even from runs that
  # succeeded, are worth a look.
  for peer in "${ALL_PEERS[@]:1}"; do
    if [ -z "${FAILED[$wl|$peer]:-}" ] && [ -s "$LOGS/$wl.$peer.err" ] &&
       [ ! -s "$LOGS/$wl.native.err" ]; then
      note "$(peer_title "$peer"), ${WL_TITLE[$wl]}: succeeded but wrote to stderr:" \
        "$(log_excerpt "$LOGS/$wl.$peer.err")"
    fi
  done
}

median() {
  tr ' ' '\n' <<<"$1" | grep . | sort -g |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- memory: a million intercepted calls --------------------------------------

STAT_ROWS=()

# stat_loop under PEER: pauses at 5 checkpoints, where (under ovlbox) the
# supervisor's VmRSS and VmHWM are sampled. Appends table rows to STAT_ROWS.
stat_check() {
  local peer=$1 ppid calls_done secs rss hwm key val rest in out status=0
  peer_setup "$peer"
  coproc STATLOOP {
    peer_exec "$peer" "$STAT_LOOP" probe/file "$stat_calls" 4 2>>"$LOGS/stat_loop.$peer.err"
  }
  in=${STATLOOP[0]} out=${STATLOOP[1]}
  local pid=$STATLOOP_PID
  BG_PIDS=("$pid")
  read -r -u "$in" _ ppid || { wait "$pid" || true; BG_PIDS=(); peer_teardown "$peer"; return 1; }
  if [ "$peer" = ovlbox ]; then
    # stat_loop's parent is ovlbox's keeper; the supervisor is the keeper's
    # parent (docs/design.md, "Launch").
    while read -r key val rest; do
      [ "$key" != PPid: ] || ppid=$val
    done <"/proc/$ppid/status"
    BG_PIDS+=("$ppid")
  fi
  while read -r -u "$in" _ calls_done secs; do
    rss="" hwm=""
    if [ "$peer" = ovlbox ]; then
      while read -r key val rest; do
        case $key in VmRSS:) rss=$val ;; VmHWM:) hwm=$val ;; esac
      done <"/proc/$ppid/status"
    fi
    STAT_ROWS+=("$peer $calls_done $secs ${rss:--} ${hwm:--}")
    echo go >&"$out"
  done
  wait "$pid" || status=$?
  BG_PIDS=()
  peer_teardown "$peer"
  return "$status"
}

run_stat_check() {
  local peer
  for peer in native ovlbox; do
    [ "${PEER_OK[$peer]}" = 1 ] || continue
    log "memory: $stat_calls stat() calls under $peer"
    stat_check "$peer" ||
      note "$peer, stat loop: FAILED: $(log_excerpt "$LOGS/stat_loop.$peer.err")"
  done
}

# --- the report ---------------------------------------------------------------

fmt_cell() { # seconds [native seconds]
  if [ -z "${2:-}" ]; then
    awk -v t="$1" 'BEGIN { printf "%.3f s", t }'
  else
    awk -v t="$1" -v n="$2" 'BEGIN { printf "%.3f s (%.2f×)", t, t / n }'
  fi
}

kb_to_mib() { awk -v k="$1" 'BEGIN { if (k == "-" || k == "") print "-"; else printf "%.1f MiB", k / 1024 }'; }

report() {
  local wl peer native cell row med
  echo "# ovlbox benchmark results"
  echo
  echo "\`bench/run.sh\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $runs timed run(s) per cell$([ "$quick" = 1 ] && echo ' (BENCH_QUICK=1: smoke test, not a measurement)')."
  echo
  machine_description
  echo "- load average (1, 5, 15 min) at start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "## Workloads: median wall time, ratio to native"
  echo
  echo "The tree: include/ is a copy of \`$source_tree\` ($TREE_FILES files and"
  echo "symlinks, $TREE_DIRS directories, $TREE_MB MB), split over two lowers with"
  echo "$TREE_MERGED directories present in both (merged); cproj/ (40 C files),"
  echo "repo/ (git, 5000 files) and probe/ are merged at the top too. The"
  echo "workloads and the method: docs/performance.md."
  echo
  local header="| workload | native |" rule="|---|---|"
  for peer in "${ALL_PEERS[@]:1}"; do
    header+=" $(peer_title "$peer") |"
    rule+="---|"
  done
  echo "$header"
  echo "$rule"
  for wl in "${workloads[@]}"; do
    native=$(median "${TIMES[$wl|native]:-}")
    row="| ${WL_TITLE[$wl]} | $(fmt_cell "$native") |"
    for peer in "${ALL_PEERS[@]:1}"; do
      if [ "${PEER_OK[$peer]}" != 1 ]; then
        cell="n/a"
      elif [ -n "${FAILED[$wl|$peer]:-}" ] && [ -z "${TIMES[$wl|$peer]:-}" ]; then
        cell="fail"
      else
        med=$(median "${TIMES[$wl|$peer]}")
        cell=$(fmt_cell "$med" "$native")
        [ -z "${FAILED[$wl|$peer]:-}" ] || cell+=" (some runs failed)"
      fi
      row+=" $cell |"
    done
    echo "$row"
  done
  echo
  echo "Commands (cwd at the root of the tree):"
  echo
  for wl in "${workloads[@]}"; do echo "- ${WL_TITLE[$wl]}: \`${WL_CMD[$wl]}\`"; done
  echo
  local skipped=0
  for peer in "${ALL_PEERS[@]:1}"; do
    [ "${PEER_OK[$peer]}" = 1 ] && continue
    echo "- $(peer_title "$peer"): n/a, ${PEER_NOTE[$peer]}."
    skipped=1
  done
  [ "$skipped" = 0 ] || echo
  if [ "${#NOTES[@]}" -gt 0 ]; then
    echo "Problems seen:"
    echo
    local n
    for n in "${NOTES[@]}"; do echo "- $n"; done
  else
    echo "Every peer's output matched native's; no run failed or wrote to stderr."
  fi
  echo
  echo "Every timed run, in seconds (in the order run):"
  echo
  echo "$header"
  echo "$rule"
  for wl in "${workloads[@]}"; do
    row="| ${WL_TITLE[$wl]} |"
    for peer in "${ALL_PEERS[@]}"; do
      cell=$(awk '{ for (i = 1; i <= NF; i++) printf "%s%.3f", (i > 1 ? " " : ""), $i }' \
        <<<"${TIMES[$wl|$peer]:-}")
      row+=" ${cell:--} |"
    done
    echo "$row"
  done
  echo
  echo "## ovlbox memory"
  echo
  echo "Peak RSS in each workload's warm-up run under ovlbox: the supervisor's"
  echo "own \`VmHWM\` (sampled from /proc every 20 ms), and \`/usr/bin/time -f %M\`"
  echo "on ovlbox, which reports the largest peak RSS of any single process in"
  echo "the tree it waited for (ovlbox and the programs it reaped), not a sum."
  echo
  echo "| workload | ovlbox VmHWM | /usr/bin/time %M |"
  echo "|---|---|---|"
  for wl in "${workloads[@]}"; do
    [ -n "${RSS_HWM[$wl]:-}" ] || continue
    echo "| ${WL_TITLE[$wl]} | $(kb_to_mib "${RSS_HWM[$wl]}") | $(kb_to_mib "${RSS_TIME[$wl]}") |"
  done
  echo
  echo "A million intercepted calls: \`stat_loop\` makes the \`newfstatat\` system"
  echo "call on \"probe/file\" itself (glibc's \`stat()\` would be answered by the"
  echo "preload library) $stat_calls times, pausing at checkpoints where the"
  echo "supervisor's \`VmRSS\` and \`VmHWM\` are read from /proc."
  echo
  echo "| peer | stat calls done | µs per call since previous | VmRSS | VmHWM |"
  echo "|---|---|---|---|---|"
  local line p d s r h prev=0
  for line in "${STAT_ROWS[@]}"; do
    read -r p d s r h <<<"$line"
    [ "$d" != 0 ] || prev=0
    echo "| $p | $d | $(awk -v s="$s" -v n="$((d - prev))" 'BEGIN { if (n > 0) printf "%.2f", s * 1e6 / n; else print "-" }') | $(kb_to_mib "$r") | $(kb_to_mib "$h") |"
    prev=$d
  done
  if [ -s "$WORK/micro.md" ]; then
    echo
    cat "$WORK/micro.md"
  fi
}

main() {
  local started=$SECONDS wl
  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  require_root
  install_peers
  for wl in "${workloads[@]}"; do
    [ -n "${WL_CMD[$wl]:-}" ] || die "unknown workload $wl (BENCH_WORKLOADS)"
  done
  [ -d "$source_tree" ] || die "$source_tree: not a directory"
  make_workdir
  mkfifo "$WORK/tick"
  exec {TICK}<>"$WORK/tick"
  prepare_binaries
  probe_peers
  build_tree
  for wl in "${workloads[@]}"; do run_workload "$wl"; done
  run_stat_check
  if [ "${BENCH_MICRO:-1}" = 1 ]; then
    log "micro benchmarks (bench/micro.sh)"
    BENCH_BUILD=0 BENCH_INSTALL=0 "$BENCH_SRC/micro.sh" >"$WORK/micro.md" ||
      note "bench/micro.sh failed (status $?)"
  fi
  report >"$WORK/report.md"
  cat "$WORK/report.md"
  if [ -n "$results_file" ]; then
    mkdir -p "$(dirname "$results_file")"
    cp "$WORK/report.md" "$results_file"
    log "written to $results_file"
  fi
  log "done in $((SECONDS - started)) s"
}

main "$@"
