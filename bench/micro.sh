#!/usr/bin/env bash
# Micro benchmarks: runs bench/micro_bench (single file-system calls, timed
# in the calling process) natively on a plain directory and under every
# available peer on a view of two lowers in which the benchmark directories
# are merged. Each call's time over its native time is the cost of
# interception. Prints a markdown section on stdout; progress on stderr.
#
# Usage (as root): bench/micro.sh
#
# Environment:
#   BENCH_QUICK=1          short runs (smoke test)
#   BENCH_MIN_TIME=S       Google Benchmark minimum time per benchmark (0.2)
#   BENCH_MICRO_ROUNDS=N   runs of the binary per peer, interleaved across
#                          peers; the median is reported (3)
#   BENCH_COPYUP_FILES=N   lower files for the copy-up benchmark (2000)
#   BENCH_PEERS="..."      peers to run (default: all; native always runs)
#   BENCH_INSTALL=0        do not run bench/install-peers.sh first
#   BENCH_BUILD=0          use the binaries already built (see common.sh)
#   BENCH_TMPDIR, BENCH_KEEP=1   where the trees go / keep them afterwards
set -euo pipefail
source "$(dirname "$0")/common.sh"

quick=${BENCH_QUICK:-0}
min_time=${BENCH_MIN_TIME:-$([ "$quick" = 1 ] && echo 0.05 || echo 0.2)}
rounds=${BENCH_MICRO_ROUNDS:-$([ "$quick" = 1 ] && echo 1 || echo 3)}
copyup_files=${BENCH_COPYUP_FILES:-$([ "$quick" = 1 ] && echo 200 || echo 2000)}

# micro/ and micro/list/ (200 entries, half in each lower) and
# micro/copyup/ are merged; the copy-up files all lie in the lower B.
build_micro_tree() {
  local i
  mkdir -p "$A/micro/list" "$B/micro/list" "$A/micro/copyup" "$B/micro/copyup"
  printf 'micro bench file %04d\n' $(seq 200) >"$A/micro/file"
  ln -s file "$A/micro/link"
  echo "only in the lower layer" >"$B/micro/lower-only"
  for i in $(seq -w 0 99); do
    : >"$A/micro/list/a$i"
    : >"$B/micro/list/b$i"
  done
  local payload name
  printf -v payload '%0512d' 0
  for ((i = 0; i < copyup_files; i++)); do
    printf -v name 'f%05d' "$i"
    printf '%s' "$payload" >"$B/micro/copyup/$name"
  done
  merge_into_native
}

# "1234.5" ns -> "1.23 µs"
fmt_ns() {
  awk -v t="$1" 'BEGIN {
    if (t < 1000) printf "%.0f ns", t
    else if (t < 1e6) printf "%.1f µs", t / 1e3
    else printf "%.2f ms", t / 1e6 }'
}

main() {
  require_root
  install_peers
  make_workdir
  prepare_binaries
  probe_peers
  log "micro: building the tree ($copyup_files copy-up files)"
  build_micro_tree

  declare -A times=()  # "peer|benchmark" -> ns per call, one value per round
  declare -A failed=()
  local names=() peer name value unit round status csv
  # Rounds are interleaved across peers, as in run.sh: a slow period of the
  # machine then spreads over all of them, and the median drops it.
  for ((round = 1; round <= rounds; round++)); do
    for peer in "${ALL_PEERS[@]}"; do
      [ "${PEER_OK[$peer]}" = 1 ] && [ -z "${failed[$peer]:-}" ] || continue
      log "micro: round $round/$rounds, $peer"
      csv=$LOGS/micro.$peer.$round.csv
      peer_setup "$peer"
      status=0
      peer_exec "$peer" "$MICRO_BENCH" --dir=. --copyup_files="$copyup_files" \
        --benchmark_min_time="$min_time" --benchmark_format=csv \
        >"$csv" 2>"$LOGS/micro.$peer.err" || status=$?
      peer_teardown "$peer"
      if [ "$status" != 0 ]; then
        failed[$peer]="exit status $status: $(grep -v '^\*\*\*WARNING' "$LOGS/micro.$peer.err" | tail -1)"
        failed[$peer]+=" (reproduce: \`$(peer_command "$peer" "$MICRO_BENCH" --dir=.)\`)"
        continue
      fi
      # name,iterations,real_time,cpu_time,time_unit,...
      while IFS=, read -r name _ value _ unit _; do
        [ "$name" != name ] || continue
        name=${name//\"/}
        name=${name%%/*}
        case $unit in
          us) value=$(awk -v v="$value" 'BEGIN { print v * 1e3 }') ;;
          ms) value=$(awk -v v="$value" 'BEGIN { print v * 1e6 }') ;;
        esac
        times[$peer|$name]+=" $value"
        [ "$peer" != native ] || [ "$round" != 1 ] || names+=("$name")
      done <"$csv"
    done
  done
  declare -A ns=()  # "peer|benchmark" -> median ns per call
  for name in "${!times[@]}"; do
    ns[$name]=$(tr ' ' '\n' <<<"${times[$name]}" | grep . | sort -g |
      awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  done

  echo "## Micro benchmarks"
  echo
  echo "Wall time per call, ratio to native: the median of $rounds run(s) of the"
  echo "binary per peer, interleaved across peers (Google Benchmark, at least"
  echo "${min_time} s per benchmark; copy-up: one pass over $copyup_files fresh lower"
  echo "files per run, one per iteration)."
  echo
  local header="| call | native |" rule="|---|---|"
  for peer in "${ALL_PEERS[@]:1}"; do
    header+=" $(peer_title "$peer") |"
    rule+="---|"
  done
  echo "$header"
  echo "$rule"
  local row base cell
  for name in "${names[@]}"; do
    base=${ns[native|$name]}
    row="| $name | $(fmt_ns "$base") |"
    for peer in "${ALL_PEERS[@]:1}"; do
      if [ "${PEER_OK[$peer]}" != 1 ]; then
        cell="n/a"
      elif [ -n "${ns[$peer|$name]:-}" ]; then
        cell="$(fmt_ns "${ns[$peer|$name]}") ($(awk -v a="${ns[$peer|$name]}" -v b="$base" \
          'BEGIN { printf "%.1f", a / b }')×)"
      else
        cell="fail"
      fi
      row+=" $cell |"
    done
    echo "$row"
  done
  echo
  echo "- \`getppid\` is never intercepted: it shows what every system call pays"
  echo "  for the seccomp filter (ovlbox) or the ptrace stop (proot)."
  echo "- \`copy_up_small_file\` is a first \`open(O_WRONLY|O_APPEND)\` of a 512-byte"
  echo "  lower file: a copy-up in the overlays, a plain open natively and in proot."
  for peer in "${ALL_PEERS[@]:1}"; do
    [ "${PEER_OK[$peer]}" = 1 ] || echo "- $(peer_title "$peer"): n/a, ${PEER_NOTE[$peer]}"
    [ -z "${failed[$peer]:-}" ] || echo "- $(peer_title "$peer") failed: ${failed[$peer]}"
  done
  echo
  echo "### The floor under an intercepted call on this machine"
  echo
  echo "A seccomp notification answered at once, nothing looked up, no ovlbox"
  echo "code (bench/notify_floor.cc), against the same call made natively;"
  echo "\"waiters\" threads wait in \`SECCOMP_IOCTL_NOTIF_RECV\` as ovlbox's"
  echo "workers do. An intercepted call under ovlbox costs this plus its own work."
  echo
  local calls=20000
  [ "$quick" != 1 ] || calls=2000
  "$NOTIFY_FLOOR" "$calls" || echo "(bench/notify_floor failed: status $?)"
  return 0
}

main "$@"
