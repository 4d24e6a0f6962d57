#!/usr/bin/env bash
# Randomized differential test of ovlbox against kernel overlayfs.
#
# For every seed, fuzz_ops.py builds random lower layers (2 or 3: nested
# dirs, files of many sizes, a sparse file, relative/absolute/dangling/looping
# symlinks, hardlinks, whiteouts, opaque dirs, odd modes and owners, xattrs,
# a fifo) and a random sequence of operations (create, write, truncate,
# mkdir, rmdir, unlink, rename incl. RENAME_NOREPLACE/EXCHANGE, symlink,
# link, chmod, chown, utime, xattrs, listings, removal while listing, work
# through relative paths after chdir and through dirfds...).  The sequence
# runs twice over the same layers, with the view at the same absolute path:
#
#   kernel: mount -t overlay -o lowerdir=L1:L2..,upperdir=U1,workdir=W1,
#           userxattr over L1 itself, run, unmount;
#   ovlbox: ovlbox --lower L1:L2.. --upper U2 -- python3 fuzz_ops.py exec ...
#
# and the test checks, per seed:
#   (a) the per-operation results (values or errno names) are identical;
#   (b) the final view listings are identical (sorted names and d_types,
#       types, modes, owners, link counts, sizes, old mtimes, symlink
#       targets, content hashes, user.* xattrs);
#   (c) the upper dirs U1 and U2 hold the same overlayfs on-disk format:
#       entries, types, modes, owners, sizes, contents, whiteouts (c 0 0,
#       whatever their owner and mode), user.overlay.opaque and other
#       xattrs (not the kernel's private origin/impure/... ones), hardlink
#       groups, old mtimes of non-directories;
#   (d) the kernel, mounted over ovlbox's upper U2, shows the view of (b);
#   (e) the lower layers are unchanged (contents, modes, owners, link counts,
#       mtimes, ctimes, xattrs) after each run;
#   (f) both runs changed the same things outside the view (symlinks can
#       lead there; the view lies at the bottom of a chain of scratch dirs);
#   (g) ovlbox leaves no files in its work dir.
# Not compared: the order of what a listing read while its entries are
# removed returns, inode numbers, st_dev, atimes, ctimes and mtimes set
# during the run, directory sizes and mtimes.
#
# Needs root (kernel overlay mounts); skips otherwise.  Knobs:
#   OVLBOX            the ovlbox binary (default: from runfiles or bazel-bin)
#   DIFF_SEEDS        number of seeds (default 200)
#   DIFF_SEED_START   first seed (default 1)
#   DIFF_OPS          operations per seed (default 40)
#   DIFF_ONLY         comma-separated op indexes to run (with one seed)
#   DIFF_SKIP_OPS     comma-separated op names not to run (e.g. setxattr)
#   DIFF_KEEP=1       keep the directories of failing seeds
#   DIFF_MINIMIZE=1   shrink each failing seed's op list to a minimal one
#   DIFF_DIFF_LINES   diff lines shown per failure (default 30)
#   DIFF_TIMEOUT      seconds allowed per run (default 120)
#   DIFF_REGRESSIONS  SEED:OPS pairs run after the seeds, each a difference
#                     found with more seeds or operations and since fixed
#                     (default below; empty: none; not with DIFF_ONLY)
set -u
export LC_ALL=C
PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:$PATH
umask 022

seeds=${DIFF_SEEDS:-200}
seed_start=${DIFF_SEED_START:-1}
nops=${DIFF_OPS:-40}
only_default=${DIFF_ONLY:-}
diff_lines=${DIFF_DIFF_LINES:-30}
run_timeout=${DIFF_TIMEOUT:-120}

if [ "$(id -u)" != 0 ]; then
  echo "skipped: this test needs root because kernel overlay mounts need root"
  exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
fuzz=
for c in "${TEST_SRCDIR:-}/ovlbox/tests/differential/fuzz_ops.py" "$here/fuzz_ops.py"; do
  [ -f "$c" ] && fuzz=$(cd "$(dirname "$c")" && pwd)/fuzz_ops.py && break
done
ovlbox=${OVLBOX:-}
if [ -z "$ovlbox" ]; then
  for c in "${TEST_SRCDIR:-}/ovlbox/supervisor/ovlbox" "$here/../../bazel-bin/supervisor/ovlbox"; do
    [ -x "$c" ] && ovlbox=$c && break
  done
fi
[ -n "$fuzz" ] || { echo "fuzz_ops.py not found"; exit 1; }
[ -x "$ovlbox" ] || { echo "ovlbox binary not found (set OVLBOX): '$ovlbox'"; exit 1; }
case $ovlbox in /*) ;; *) ovlbox=$(cd "$(dirname "$ovlbox")" && pwd)/$(basename "$ovlbox") ;; esac
python=$(command -v python3) || { echo "python3 not found"; exit 1; }

tmp=$(mktemp -d /tmp/ovlbox-diff.XXXXXX) || exit 1
chmod 755 "$tmp"
case_dir=$tmp/case
zone=$case_dir/zone
view=$zone/z1/z2/z3/z4/z5/z6/z7/z8/z9/z10/view   # L1 and the view path
layers=$case_dir/layers                           # L2, L3
run=$case_dir/run                                 # upper and work dirs
out=$tmp/out
kept=0

cleanup() {
  local st=$?
  trap - EXIT INT TERM HUP
  while mountpoint -q "$view" 2>/dev/null; do
    umount "$view" 2>/dev/null || umount -l "$view" || break
  done
  if [ "$kept" = 1 ]; then
    echo "kept failing cases in $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

mkdir -p "$out"
probe=$tmp/probe
mkdir -p "$probe/l" "$probe/u" "$probe/w" "$probe/m"
if ! perr=$(mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w,userxattr" "$probe/m" 2>&1); then
  echo "skipped: kernel overlay mount failed ($perr)"
  exit 0
fi
umount "$probe/m"
rm -rf "$probe"

# section FILE PREFIX: the lines of the sections whose header starts with
# "== PREFIX" (headers included).
section() {
  awk -v h="== $2" '/^== /{p=(index($0, h) == 1)} p' "$1"
}

kmount() {  # kmount UPPER WORK: the kernel overlay over the view path
  mount -t overlay overlay \
    -o "lowerdir=$lowers,upperdir=$1,workdir=$2,userxattr" "$view"
}

say_diff() {  # say_diff WHAT FILE1 FILE2
  echo "  $1:"
  diff -U2 --label kernel --label ovlbox "$2" "$3" | sed -n "3,$((diff_lines + 2))p" | sed 's/^/    /'
}

fail_kind=
fail_text=
note() {  # note KIND TEXT: record a failure (the first kind is kept)
  [ -z "$fail_kind" ] && fail_kind=$1
  fail_text+="$2"$'\n'
}

# run_case SEED ONLY: run one seed (only the listed ops when ONLY is set)
# on both sides; sets fail_kind (empty on success) and fail_text.
run_case() {
  local seed=$1 only=$2 o=$out
  fail_kind='' fail_text=''
  rm -rf "$case_dir"
  mkdir -p "$view" "$layers" "$run"
  rmdir "$view"
  if ! lowers=$("$python" "$fuzz" build --seed "$seed" --view "$view" --layers "$layers" 2>"$o/build.err"); then
    note harness "build failed: $(head -5 "$o/build.err")"
    return
  fi
  local lower_list
  IFS=: read -r -a lower_list <<<"$lowers"
  local exec_args=(exec --seed "$seed" --ops "$nops" --view "$view" --only "$only"
                   --skip "${DIFF_SKIP_OPS:-}")
  "$python" "$fuzz" check "${lower_list[@]}" >"$o/pre.check"

  # Kernel overlayfs: the reference.
  mkdir "$run/U1" "$run/W1"
  if ! kmount "$run/U1" "$run/W1" 2>"$o/k.err"; then
    note harness "kernel mount failed: $(cat "$o/k.err")"
    return
  fi
  (cd / && timeout -k 5 "$run_timeout" "$python" "$fuzz" "${exec_args[@]}") >"$o/k.out" 2>"$o/k.err"
  local krc=$?
  umount "$view" || umount -l "$view"
  "$python" "$fuzz" check --upper "$run/U1" --zone "$zone" --view "$view" \
    "${lower_list[@]}" >"$o/k.check" 2>&1
  if [ "$krc" != 0 ] || [ -s "$o/k.err" ]; then
    note harness "kernel run: exit $krc: $(head -20 "$o/k.err")"
  fi
  if ! cmp -s <(section "$o/pre.check" lower) <(section "$o/k.check" lower); then
    note harness "the kernel run changed a lower layer (harness problem)"
  fi

  # ovlbox.
  mkdir "$run/U2"
  (cd / && timeout -k 5 "$run_timeout" "$ovlbox" --lower "$lowers" --upper "$run/U2" -- \
    "$python" "$fuzz" "${exec_args[@]}") >"$o/o.out" 2>"$o/o.err"
  local orc=$?
  "$python" "$fuzz" check --upper "$run/U2" --work "$run/.U2.ovlbox-work" \
    --zone "$zone" --view "$view" "${lower_list[@]}" >"$o/o.check" 2>&1
  if [ "$orc" != 0 ] || [ -s "$o/o.err" ]; then
    note crash "ovlbox run: exit $orc, stderr: $(head -c 2000 "$o/o.err")"
  fi

  # (a) per-operation results, (b) the final view.
  if ! cmp -s "$o/k.out" "$o/o.out"; then
    local first line
    first=$(diff <(cat "$o/k.out") <(cat "$o/o.out") | sed -n '1s/^\([0-9]*\).*/\1/p')
    line=$(sed -n "${first}p" "$o/k.out")
    [ -n "$line" ] || line=$(sed -n "${first}p" "$o/o.out")
    case $line in
      '#'*) note ops "first difference at op ${line%% *}"
            fail_text+=$(say_diff "operation results" "$o/k.out" "$o/o.out")$'\n' ;;
      *)    note view "all operation results agree; the final view differs"
            fail_text+=$(say_diff "final view" <(section "$o/k.out" view) <(section "$o/o.out" view))$'\n' ;;
    esac
  fi
  # (c) the upper dirs on disk.
  if ! cmp -s <(section "$o/k.check" upper) <(section "$o/o.check" upper); then
    note upper "upper dirs differ (U1 kernel, U2 ovlbox)"
    fail_text+=$(say_diff "upper dir" <(section "$o/k.check" upper) <(section "$o/o.check" upper))$'\n'
  fi
  # (e) lowers untouched.
  if ! cmp -s <(section "$o/pre.check" lower) <(section "$o/o.check" lower); then
    note lower "ovlbox changed a lower layer"
    fail_text+=$(say_diff "lower layers (before vs after ovlbox)" <(section "$o/pre.check" lower) <(section "$o/o.check" lower))$'\n'
  fi
  # (f) outside the view.
  if ! cmp -s <(section "$o/k.check" outside) <(section "$o/o.check" outside); then
    note outside "the runs changed different things outside the view"
    fail_text+=$(say_diff "outside the view" <(section "$o/k.check" outside) <(section "$o/o.check" outside))$'\n'
  fi
  # (g) work dir leftovers.
  if [ -n "$(section "$o/o.check" work | sed 1d)" ]; then
    note work "files left in ovlbox's work dir: $(section "$o/o.check" work | sed 1d | head -5 | tr '\n' ' ')"
  fi
  # (d) the kernel's view of ovlbox's upper.
  mkdir "$run/W3"
  if kmount "$run/U2" "$run/W3" 2>"$o/r.err"; then
    (cd / && timeout -k 5 "$run_timeout" "$python" "$fuzz" view --view "$view") >"$o/r.out" 2>>"$o/r.err"
    umount "$view" || umount -l "$view"
    if ! cmp -s <(section "$o/k.out" view) "$o/r.out"; then
      note remount "the kernel shows ovlbox's upper differently"
      fail_text+=$(say_diff "view: kernel on U1 vs kernel on ovlbox's U2" <(section "$o/k.out" view) "$o/r.out")$'\n'
    fi
  else
    note remount "the kernel refuses ovlbox's upper: $(cat "$o/r.err")"
  fi
}

# minimize SEED KIND: drop ops one by one while the failure stays of KIND.
minimize() {
  local seed=$1 kind=$2 i keep=() try
  for ((i = 0; i < nops; i++)); do keep+=("$i"); done
  for ((i = nops - 1; i >= 0; i--)); do
    try=$(printf '%s\n' "${keep[@]}" | grep -vx "$i" | paste -sd, -)
    [ -n "$try" ] || continue
    run_case "$seed" "$try"
    if [ "$fail_kind" = "$kind" ]; then
      mapfile -t keep < <(printf '%s\n' "${keep[@]}" | grep -vx "$i")
    fi
  done
  try=$(printf '%s\n' "${keep[@]}" | paste -sd, -)
  echo "  minimal op list ($kind): DIFF_SEED_START=$seed DIFF_SEEDS=1 DIFF_OPS=$nops DIFF_ONLY=$try"
  "$python" "$fuzz" show --seed "$seed" --ops "$nops" --only "$try" | sed 's/^/    /'
}

# 73005:120: a link of "." in a cwd the view no longer has, held from
# before its copy-up (EPERM, was EXDEV). 73305:120: listxattr through
# /proc/self/fd/N of a directory moved away while held (overlayfs'
# private xattrs were listed). 1:60: "./." in a removed cwd (ENOENT
# where the kernel finds the directory itself). 93197:60: a rename to
# ".." taken in the view's root, from a name outside the view (EXDEV, was
# EBUSY: the mount is that of the directory the ".." is taken in).
# 95027:150: "../../c/n13/" from a removed cwd whose removed grandparent's
# name is a file now (ENOENT, was ENOTDIR: ".." leads to the removed one).
# 96007:150: a drain (getdents of 64 bytes, each entry removed as it is
# read) of a directory of one lower, copied up by its first removal: the
# stream goes on listing the lower's directory, as overlayfs' does (names
# were skipped, and one left behind).
# 100085:120: "../../b" from a removed cwd whose removed parent a rename
# replaced: the target, holding whiteouts alone, was swapped out of the
# way, and the real ".." of the cwd followed it (ENOENT where the kernel
# finds b).
regressions=${DIFF_REGRESSIONS-73005:120 73305:120 1:60 93197:60 95027:150 96007:150 100085:120}
[ -n "$only_default" ] && regressions=
runs=()
for ((seed = seed_start; seed < seed_start + seeds; seed++)); do runs+=("$seed:$nops"); done
for r in $regressions; do runs+=("$r"); done

passed=0 failed=0
start=$SECONDS
for r in "${runs[@]}"; do
  seed=${r%%:*}
  nops=${r#*:}
  run_case "$seed" "$only_default"
  if [ -z "$fail_kind" ]; then
    passed=$((passed + 1))
    continue
  fi
  failed=$((failed + 1))
  echo "FAIL seed $seed ($nops ops): $fail_kind"
  printf '%s' "$fail_text" | sed 's/^/  /'
  echo "  rerun: DIFF_SEED_START=$seed DIFF_SEEDS=1 DIFF_OPS=$nops $0"
  if [ -n "${DIFF_KEEP:-}" ]; then
    mkdir -p "$tmp/kept"
    mv "$case_dir" "$tmp/kept/seed-$seed"
    cp -a "$out" "$tmp/kept/seed-$seed/outputs"
    echo "  kept: $tmp/kept/seed-$seed (layers, uppers, outputs)"
    kept=1
  fi
  if [ -n "${DIFF_MINIMIZE:-}" ]; then
    minimize "$seed" "$fail_kind"
  fi
done
echo "($((SECONDS - start))s, ${DIFF_OPS:-40} ops per seed${regressions:+; regressions $regressions})"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
