# Shared by bench/run.sh and bench/micro.sh (sourced, not run).
#
# Provides: the scratch directory and its cleanup, the binaries under test,
# and the "peers": the ways of presenting the same tree to a program.
#
#   native          the tree as a plain directory
#   kernel          mount -t overlay (lowerdir=A:B, upperdir, workdir, userxattr)
#   fuse-overlayfs  fuse-overlayfs -o lowerdir=A:B,upperdir=U,workdir=W
#   proot           proot -w DIR on the plain directory: proot cannot
#                   overlay, so this measures its ptrace path translation only
#   ovlbox          ovlbox --lower A:B --upper U --work W, cwd in the view
#   ovlbox-nopreload  the same with --no-preload: every call answered by the
#                   supervisor (shows what the preload library changes)
#
# A caller builds $A and $B (the lowers, A on top) and $NATIVE (the same
# tree as one plain directory), then for each run: peer_setup PEER (fresh
# empty upper and work dirs, mount), peer_exec PEER CMD... (with cwd at the
# root of the tree as PEER shows it), peer_teardown PEER.

export LC_ALL=C
BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_SRC")
ALL_PEERS=(native kernel fuse-overlayfs proot ovlbox ovlbox-nopreload)

# A failing command stops the script (set -e in the callers): say which.
set -E
trap 'printf "bench: failed (status %s) at %s:%s: %s\\n" "$?" "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND" >&2' ERR

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (kernel overlay and FUSE mounts)"
}

# Installs the packages the benchmarks need (bench/install-peers.sh),
# unless BENCH_INSTALL=0.
install_peers() {
  [ "${BENCH_INSTALL:-1}" = 1 ] || return 0
  "$BENCH_SRC/install-peers.sh" >"${TMPDIR:-/tmp}/ovlbox-bench-install.log" 2>&1 || {
    tail -20 "${TMPDIR:-/tmp}/ovlbox-bench-install.log" >&2
    die "bench/install-peers.sh failed"
  }
  rm -f "${TMPDIR:-/tmp}/ovlbox-bench-install.log"
}

# --- scratch directory ------------------------------------------------------

WORK=""
BG_PIDS=()  # the background processes running now (none once waited for)

# Unmounts whatever is still mounted below $WORK (deepest first), stops the
# background processes this script started, removes $WORK.
bench_cleanup() {
  local status=$?
  [ -n "$WORK" ] || return "$status"
  local pid mnt
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Mount points are field 5 of mountinfo, with spaces escaped as \040.
  while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done < <(awk -v w="$WORK" 'index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $WORK (BENCH_KEEP=1)"
    [ ! -e "$WORK/fs.img" ] || log "the trees: mount -o loop $WORK/fs.img $WORK/fs"
  else
    rm -rf "$WORK"
  fi
  return "$status"
}

# Creates $WORK (under $BENCH_TMPDIR, default /tmp) and arranges its cleanup
# on exit and on INT/TERM/HUP. The trees go to $FS, a file system of their
# own chosen by BENCH_FS:
#   ext4   (default) a fresh ext4 image (with its journal) on a loop device,
#          so that results do not depend on the state or options of the
#          host's file system
#   tmpfs  a tmpfs
#   host   a directory in $WORK, on whatever file system holds it
make_workdir() {
  local tmp=${BENCH_TMPDIR:-/tmp}
  WORK=$(mktemp -d "$tmp/ovlbox-bench.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  FS=$WORK/fs
  mkdir -p "$FS"
  case ${BENCH_FS:-ext4} in
    ext4)
      truncate -s "${BENCH_FS_SIZE:-4G}" "$WORK/fs.img"
      mkfs.ext4 -q -F "$WORK/fs.img" || die "mkfs.ext4 failed"
      mount -o loop "$WORK/fs.img" "$FS" || die "cannot mount a loop device (try BENCH_FS=tmpfs)" ;;
    tmpfs) mount -t tmpfs -o "size=${BENCH_FS_SIZE:-4G}" tmpfs "$FS" ;;
    host) ;;
    *) die "BENCH_FS=${BENCH_FS}: expected ext4, tmpfs or host" ;;
  esac
  A=$FS/A B=$FS/B NATIVE=$FS/native RUN=$FS/run
  LOGS=$WORK/logs
  mkdir -p "$A" "$B" "$NATIVE" "$LOGS" "$WORK/bin"
}

# One line describing $FS, for reports.
fs_description() {
  case ${BENCH_FS:-ext4} in
    ext4) echo "a fresh ext4 (journal, default mkfs options) on a loop device, image in ${BENCH_TMPDIR:-/tmp}" ;;
    tmpfs) echo "tmpfs" ;;
    host) echo "$(df -T "$FS" | awk 'NR == 2 { print $2 }') (the host's, BENCH_FS=host)" ;;
  esac
}

# --- binaries ---------------------------------------------------------------

# Builds ovlbox and the bench binaries (unless BENCH_BUILD=0) and copies them
# into $WORK/bin, so that a rebuild during the run cannot change them.
# OVLBOX, MICRO_BENCH, STAT_LOOP, NOTIFY_FLOOR may name prebuilt binaries
# instead.
prepare_binaries() {
  if [ "${BENCH_BUILD:-1}" = 1 ]; then
    log "building //supervisor:ovlbox //bench:micro_bench //bench:stat_loop //bench:notify_floor"
    (cd "$REPO_DIR" && bazel build //supervisor:ovlbox //bench:micro_bench \
      //bench:stat_loop //bench:notify_floor) >"$LOGS/build.log" 2>&1 ||
      { tail -20 "$LOGS/build.log" >&2; die "build failed"; }
  fi
  local name var src
  for name in ovlbox micro_bench stat_loop notify_floor; do
    var=${name^^}
    case $name in
      ovlbox) src=${OVLBOX:-$REPO_DIR/bazel-bin/supervisor/ovlbox} ;;
      *) src=${!var:-$REPO_DIR/bazel-bin/bench/$name} ;;
    esac
    [ -x "$src" ] || die "$src: not built"
    cp "$src" "$WORK/bin/$name"
    printf -v "$var" '%s' "$WORK/bin/$name"
  done
  export OVLBOX MICRO_BENCH STAT_LOOP NOTIFY_FLOOR
}

# A short description of the ovlbox source the binaries were built from.
ovlbox_revision() {
  local rev
  rev=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
  if [ -n "$(git -C "$REPO_DIR" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    rev="$rev (with uncommitted changes)"
  fi
  echo "$rev"
}

# --- peers ------------------------------------------------------------------

declare -A PEER_OK=()    # peer -> 1 when usable
declare -A PEER_NOTE=()  # peer -> why it is skipped

peer_title() {
  case $1 in
    kernel) echo "kernel overlay" ;;
    ovlbox-nopreload) echo "ovlbox --no-preload" ;;
    *) echo "$1" ;;
  esac
}

# Decides which peers can run here, by trying each on a tiny tree.
# BENCH_PEERS (space-separated) restricts the set; native is always kept.
probe_peers() {
  local p wanted=" native ${BENCH_PEERS:-${ALL_PEERS[*]}} "
  local saveA=$A saveB=$B saveN=$NATIVE saveR=$RUN
  A=$FS/probe/A B=$FS/probe/B NATIVE=$FS/probe/native RUN=$FS/probe/run
  mkdir -p "$A" "$B" "$NATIVE"
  echo a >"$A/a"; echo b >"$B/b"; echo n >"$NATIVE/n"
  for p in "${ALL_PEERS[@]}"; do
    PEER_OK[$p]=0
    if [[ $wanted != *" $p "* ]]; then
      PEER_NOTE[$p]="not selected (BENCH_PEERS)"
      continue
    fi
    case $p in
      fuse-overlayfs)
        command -v fuse-overlayfs >/dev/null || { PEER_NOTE[$p]="fuse-overlayfs not installed"; continue; }
        [ -c /dev/fuse ] || { PEER_NOTE[$p]="/dev/fuse missing"; continue; } ;;
      proot)
        command -v proot >/dev/null || { PEER_NOTE[$p]="proot not installed"; continue; } ;;
    esac
    if peer_setup "$p" 2>"$LOGS/probe.$p.err" &&
       peer_exec "$p" sh -c 'test -e a && test -e b || test -e n' \
         >/dev/null 2>>"$LOGS/probe.$p.err"; then
      PEER_OK[$p]=1
    else
      PEER_NOTE[$p]="unavailable here: $(head -c 200 "$LOGS/probe.$p.err" | head -1)"
    fi
    peer_teardown "$p"
  done
  A=$saveA B=$saveB NATIVE=$saveN RUN=$saveR
  rm -rf "$FS/probe"
  [ "${PEER_OK[native]}" = 1 ] || die "the native peer does not work: see $LOGS/probe.native.err"
}

# Fresh, empty upper and work dirs in $RUN; mounts for the mount peers.
peer_setup() {
  rm -rf "$RUN"
  mkdir -p "$RUN/upper" "$RUN/work" "$RUN/mnt"
  case $1 in
    kernel)
      mount -t overlay overlay \
        -o "lowerdir=$A:$B,upperdir=$RUN/upper,workdir=$RUN/work,userxattr" "$RUN/mnt" ;;
    fuse-overlayfs)
      # (fuse-overlayfs warns about mount options it ignores: to the log)
      fuse-overlayfs -o "lowerdir=$A:$B,upperdir=$RUN/upper,workdir=$RUN/work" \
        "$RUN/mnt" 2>>"$LOGS/fuse-overlayfs.log" ;;
  esac
}

peer_teardown() {
  case $1 in
    kernel | fuse-overlayfs)
      if mountpoint -q "$RUN/mnt"; then
        umount "$RUN/mnt" 2>/dev/null || umount -l "$RUN/mnt"
      fi ;;
  esac
  rm -rf "$RUN"
}

# Sets PEER_ROOT to the directory where PEER shows the root of the tree
# (no subshell: peer_exec runs inside timed regions).
set_peer_root() {
  case $1 in
    native | proot) PEER_ROOT=$NATIVE ;;
    kernel | fuse-overlayfs) PEER_ROOT=$RUN/mnt ;;
    ovlbox | ovlbox-nopreload) PEER_ROOT=$A ;;
  esac
}

# Runs CMD... with PEER's view of the tree, cwd at its root.
peer_exec() {
  local peer=$1
  shift
  set_peer_root "$peer"
  case $peer in
    native | kernel | fuse-overlayfs)
      (cd "$PEER_ROOT" && exec "$@") ;;
    proot)
      (cd "$NATIVE" && exec proot -w "$NATIVE" "$@") ;;
    ovlbox)
      (cd "$A" && exec "$OVLBOX" --lower "$A:$B" --upper "$RUN/upper" \
        --work "$RUN/work" -- "$@") ;;
    ovlbox-nopreload)
      (cd "$A" && exec "$OVLBOX" --no-preload --lower "$A:$B" --upper "$RUN/upper" \
        --work "$RUN/work" -- "$@") ;;
  esac
}

# ARG quoted for sh, in single quotes.
shell_quote() {
  local q="'\\''"
  printf "'%s'" "${1//\'/$q}"
}

# The command line peer_exec runs, for reproducers in reports.
peer_command() {
  local peer=$1 arg args=""
  shift
  for arg in "$@"; do args+=" $(shell_quote "$arg")"; done
  args=${args# }
  case $peer in
    native | kernel | fuse-overlayfs) set_peer_root "$peer"; echo "cd $PEER_ROOT && $args" ;;
    proot) echo "cd $NATIVE && proot -w $NATIVE $args" ;;
    ovlbox) echo "cd $A && ovlbox --lower $A:$B --upper $RUN/upper --work $RUN/work -- $args" ;;
    ovlbox-nopreload) echo "cd $A && ovlbox --no-preload --lower $A:$B --upper $RUN/upper --work $RUN/work -- $args" ;;
  esac
}

# Copies the merged content of the lowers into $NATIVE (B first, then A
# over it: the lowers of the bench trees never shadow each other, so this
# is exactly the view).
merge_into_native() {
  cp -a "$B/." "$NATIVE/"
  cp -a "$A/." "$NATIVE/"
}

# --- machine ----------------------------------------------------------------

# Markdown lines describing the machine and the software measured.
machine_description() {
  local cpu mem
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  echo "- CPU: ${cpu:-unknown} ($(nproc) cores available)"
  echo "- memory: $mem"
  echo "- kernel: $(uname -r)"
  echo "- OS: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "- file system of the trees: $(fs_description)"
  echo "- ovlbox: $(ovlbox_revision)"
  local v
  v=$(fuse-overlayfs --version 2>/dev/null | grep -m1 -o 'fuse-overlayfs: version .*' || true)
  echo "- ${v:-fuse-overlayfs: not installed}"
  v=$(proot --version 2>/dev/null | grep -m1 -oE '[0-9]+\.[0-9]+\.[0-9]+' || true)
  if [ -n "$v" ]; then
    echo "- proot: $v ($(proot --version 2>/dev/null | grep -o 'seccomp_filter = [a-z]*' || true))"
  else
    echo "- proot: not installed"
  fi
}
