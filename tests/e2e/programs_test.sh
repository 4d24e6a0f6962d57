#!/bin/bash
#
# End-to-end differential test of ovlbox's writable upper with real
# programs and toolchains, each working on real data that lies in the lower
# layers: a bash script, find | xargs -P, tar, gzip and xz, git (clone,
# rebase, push, gc, stash, worktree), make and gcc (out-of-tree build,
# static library), cmake
# (C and C++, shared library, install), python3 (venv and pip install of a
# local package), perl, javac/jar/java, and cargo/rustc.
#
# Each case builds its lower layers, then runs its workload with the cwd at
# the view root:
#   - on a kernel overlayfs mount (lowerdir=VIEW:L2[:L3], upperdir, workdir,
#     userxattr) mounted over the topmost lower VIEW itself, and
#   - under ovlbox --lower VIEW:L2[:L3] --upper U, with nothing mounted,
# and compares exit status, output, the view afterwards, the two upper
# layers on disk, the kernel's view of ovlbox's upper with ovlbox's own
# view, and checks that the lower layers are untouched.  See run_rw_case in
# lib.sh and tree_manifest.py for what exactly is compared.
#
# The runs are made deterministic rather than compared loosely: fixed TZ,
# umask, SOURCE_DATE_EPOCH, git identity and dates, single-threaded git
# packing, no incremental Rust builds.  What still differs between two runs
# of the same program is named per case, narrowly: the output lines of
# parallel builds are sorted (and cmake's progress figures left out), timing
# figures in cargo's output are masked, and the files whose bytes depend on
# the moment, on inode numbers, on a hash seed or on readdir order (a git
# index, a jar's entry times, cmake's try-compile log and install manifest,
# cargo's .rustc_info.json) are passed as VOLATILE_GLOB: their size is
# still compared, and the install manifest is printed sorted.
#
# Run:  bazel test //tests/e2e:programs_test
#   or  sudo OVLBOX=/path/to/ovlbox tests/e2e/programs_test.sh
# Knobs: E2E_CASES (regex of case names), E2E_KEEP=1, E2E_TIMEOUT,
# E2E_DIFF_LINES (see lib.sh).
# Needs (tools/install-deps.sh installs them): bash, findutils, tar, gzip, xz,
# git, make, gcc, g++, cmake, python3 with venv, pip, setuptools and wheel
# (Debian python3-venv, python3-pip, python3-setuptools, python3-wheel),
# perl, a JDK (javac, jar, java), Debian's cargo and rustc in /usr/bin,
# getfattr/setfattr (attr).  A case whose tools are missing fails and says
# which.
# Prints "ok NAME" / "FAIL NAME (reason)" and the time taken per case, and
# "N passed, N failed" at the end.

# Case commands are single-quoted on purpose: they expand inside sh -c.
# shellcheck disable=SC2016
set -u

if [ -n "${TEST_SRCDIR:-}" ] && [ -x "$TEST_SRCDIR/ovlbox/supervisor/ovlbox" ]; then
  OVLBOX=$TEST_SRCDIR/ovlbox/supervisor/ovlbox
fi
if [ -n "${TEST_SRCDIR:-}" ] && [ -f "$TEST_SRCDIR/ovlbox/tests/e2e/lib.sh" ]; then
  E2E_DIR=$TEST_SRCDIR/ovlbox/tests/e2e
else
  E2E_DIR=$(cd "$(dirname "$0")" && pwd)
fi
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$E2E_DIR/lib.sh"

e2e_init
e2e_probe_upper

# Fixed identity and dates for every git command, so commit hashes match;
# pack.threads=1 (also for the git processes git starts, e.g. upload-pack)
# so packs are made the same way every time.  SOURCE_DATE_EPOCH makes the
# programs that honour it (python's byte-compiler, setuptools, ...) leave
# the clock out of what they write.
E2E_EXTRA_ENV='GIT_AUTHOR_NAME=Tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=Tester
GIT_COMMITTER_EMAIL=tester@example.com
GIT_AUTHOR_DATE=2021-05-06T07:08:09Z
GIT_COMMITTER_DATE=2021-05-06T07:08:09Z
GIT_CONFIG_COUNT=3
GIT_CONFIG_KEY_0=pack.threads
GIT_CONFIG_VALUE_0=1
GIT_CONFIG_KEY_1=gc.auto
GIT_CONFIG_VALUE_1=0
GIT_CONFIG_KEY_2=init.defaultBranch
GIT_CONFIG_VALUE_2=main
SOURCE_DATE_EPOCH=1600000000'
umask 022

# _file PATH: write stdin to PATH, creating its parents.
_file() {
  mkdir -p "$(dirname "$1")" && cat >"$1"
}

# _licenses DIR N: copies of the first N license texts of the system (real
# prose, a few KB to a few tens of KB each) as DIR/NAME.txt.
_licenses() {
  local dir=$1 n=$2 f
  mkdir -p "$dir"
  for f in $(find /usr/share/common-licenses -maxdepth 1 -type f | sort | head -n "$n"); do
    cp "$f" "$dir/$(basename "$f").txt"
  done
}


# layer_delta OLD NEW LAYER: fill LAYER with what turns the tree OLD into
# the tree NEW when LAYER is stacked above OLD: new and changed files and
# symlinks (with their parent directories), whiteouts for what NEW no longer
# has.  This is how an image layer records a change to a tree below it.
layer_delta() {
  python3 - "$@" <<'EOF'
import filecmp, os, shutil, stat, sys
old, new, layer = sys.argv[1:4]
if not os.path.isdir(layer):
    os.makedirs(layer)
    shutil.copystat(new, layer)

def same(a, b):
    sa, sb = os.lstat(a), os.lstat(b)
    if stat.S_IFMT(sa.st_mode) != stat.S_IFMT(sb.st_mode):
        return False
    if stat.S_ISLNK(sa.st_mode):
        return os.readlink(a) == os.readlink(b)
    if stat.S_ISDIR(sa.st_mode):
        return True
    return sa.st_mode == sb.st_mode and filecmp.cmp(a, b, shallow=False)

def parent(rel):
    d = os.path.dirname(rel)
    if d and not os.path.isdir(os.path.join(layer, d)):
        parent(d)
        os.mkdir(os.path.join(layer, d))
        shutil.copystat(os.path.join(new, d), os.path.join(layer, d))

for dirpath, dirs, files in os.walk(new):
    for name in sorted(dirs + files):
        n = os.path.join(dirpath, name)
        rel = os.path.relpath(n, new)
        o = os.path.join(old, rel)
        if os.path.lexists(o) and same(o, n):
            continue
        parent(rel)
        if os.path.isdir(n) and not os.path.islink(n):
            os.mkdir(os.path.join(layer, rel))
            shutil.copystat(n, os.path.join(layer, rel))
        else:
            shutil.copy2(n, os.path.join(layer, rel), follow_symlinks=False)
for dirpath, dirs, files in os.walk(old):
    for name in dirs + files:
        rel = os.path.relpath(os.path.join(dirpath, name), old)
        if not os.path.lexists(os.path.join(new, rel)):
            parent(rel)
            os.mknod(os.path.join(layer, rel), stat.S_IFCHR | 0o600, 0)
    dirs[:] = [d for d in dirs if os.path.isdir(os.path.join(new, os.path.relpath(os.path.join(dirpath, d), old)))]
EOF
}

# ------------------------------------------------------------ 1. bash

setup_bash() {
  local v=$E2E_VIEW l2=$E2E_L2 l3=$E2E_L3 y
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  # CSV data spread over the layers; one file of L3 is deleted by L2.
  for y in 2019 2020 2021; do
    mkdir -p "$l3/data/$y"
    printf '# key,value\napples,%d\npears,%d\nplums,%d\n' $((y - 2000)) $((y % 7)) $((y % 13)) >"$l3/data/$y/q1.csv"
    printf 'apples,%d\ncherries,%d\n' $((y % 5)) $((y % 11)) >"$l3/data/$y/q2.csv"
  done
  _put "$l3/data/2019/bad.csv" "not,a,number"
  _whiteout "$l2/data/2019/bad.csv"
  printf 'apples,100\nfigs,7\n' >"$l2/data/2020/q3.csv"
  printf 'plums,1000\n' >"$v/data/2021/q1.csv"
  _put "$l3/data/obsolete.csv" "old,1"
  _put "$l3/data/notes.txt" "zeta line
alpha line
mu line"
  _put "$l3/data/readme" "data for report.sh"
  # The script in L2 sources a library from L3 and one from the top layer,
  # and runs a helper from L3 through PATH.
  _file "$l3/scripts/lib/common.sh" <<'EOF'
# Sourced by report.sh.
COMMON_LOADED=yes
log() { printf '[%s] %s\n' "${FUNCNAME[1]:-main}" "$*" >>"$OUT/trace.log"; }
upper() { tr '[:lower:]' '[:upper:]'; }
EOF
  _file "$v/scripts/lib/local.sh" <<'EOF'
# Site settings, from the top layer.
SITE=top-layer
EOF
  _file "$l3/scripts/fmt-total" <<'EOF'
#!/bin/sh
printf '%-9s %6d %3d\n' "$1" "$2" "$3"
EOF
  chmod 0755 "$l3/scripts/fmt-total"
  _file "$l2/scripts/report.sh" <<'EOF'
#!/bin/bash
# Summarises the CSV files under data/ into the directory $1.
set -eu -o pipefail
shopt -s nullglob globstar extglob
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$PWD/${1:-out}
mkdir -p "$OUT"
source "$here/lib/common.sh"
. "$here/lib/local.sh"
PATH=$here:$PATH
trap 'log "exit trap, status $?"; rm -f "$OUT/lock"' EXIT
trap 'log "caught USR1"' USR1
trap 'log "ERR trap"' ERR

: >"$OUT/lock"
set -o noclobber
if ! { : >"$OUT/lock"; } 2>/dev/null; then log "noclobber kept the lock"; fi
set +o noclobber

declare -A total=() count=()
for f in data/**/*.csv; do
  while IFS=, read -r key value; do
    case $key in '' | \#*) continue ;; esac
    if [[ ! $value =~ ^[0-9]+$ ]]; then log "skipping $f"; continue 2; fi
    total[$key]=$((${total[$key]:-0} + value))
    count[$key]=$((${count[$key]:-0} + 1))
  done <"$f"
  log "read $f"
done
for k in $(printf '%s\n' "${!total[@]}" | sort); do
  fmt-total "$k" "${total[$k]}" "${count[$k]}"
done >"$OUT/totals.txt"

summarise() {
  local n
  n=$(wc -l <"$OUT/totals.txt")
  cat <<EOT
# Report
keys: $n
inputs: $(printf '%s\n' data/**/*.csv | wc -l)
years: $(cd data && echo @(20+([0-9])))
common: $COMMON_LOADED, site: $SITE
EOT
  cat <<'EOT'
literal: $HOME `date` stays as written
EOT
}
summarise >"$OUT/summary.md"

# Here-documents and here-strings larger than a pipe buffer: bash keeps
# them in temporary files in $TMPDIR.
while read -r n; do last=$n; done <<EOT
$(seq 1 30000)
EOT
big=$(seq 1 20000)
echo "heredoc last: $last, here-string lines: $(wc -l <<<"$big")" >>"$OUT/summary.md"

exec 3>"$OUT/fd3.txt"
echo "written through fd 3" >&3
exec 3>&-
exec 4<>"$OUT/rw.txt"
printf 'abcdef\n' >&4
exec 4>&-
exec 5<"$OUT/rw.txt"
read -r line <&5
exec 5<&-
log "rw.txt: $line"

mapfile -t lines <data/notes.txt
printf '%s\n' "${lines[@]}" | sort >"$OUT/notes-sorted.txt"
(cd "$OUT" && mkdir -p sub && cd sub && pwd -P >where.txt && exit 7) || log "subshell exited $?"
pushd data/2019 >/dev/null && log "in $(basename "$PWD"): $(echo *)" && popd >/dev/null
kill -USR1 $$
for i in 1 2 3; do (sleep "0.$i" && echo "job $i" >"$OUT/job-$i.txt") & done
wait
cat "$OUT"/job-*.txt >"$OUT/jobs.txt" && rm "$OUT"/job-*.txt

# Rewrite and remove files of the lower layers.
{ echo "# sorted by report.sh"; cat "$OUT/notes-sorted.txt"; } >data/notes.txt.new
mv data/notes.txt.new data/notes.txt
echo "apples,1" >>data/2021/q2.csv
rm data/obsolete.csv
diff <(sort data/notes.txt) <(sort "$OUT/notes-sorted.txt") >"$OUT/notes.diff" || true
[[ data/readme -ot "$OUT/totals.txt" ]] && log "readme is older than totals.txt"
[ -x "$here/fmt-total" ] && log "fmt-total is executable"
echo "done: $(upper <<<ok) $(type -t log) $(cat <"$OUT/rw.txt")"
EOF
  chmod 0755 "$l2/scripts/report.sh"
  mkdir -p "$l2/tmp"
  _put "$l2/tmp/stale" "left in tmp by an earlier run"
}

rw_case bash-script bash setup_bash '
TMPDIR=$VIEW/tmp scripts/report.sh out; st=$?
cat out/trace.log out/totals.txt out/summary.md out/fd3.txt out/sub/where.txt out/jobs.txt out/notes.diff
cat data/notes.txt data/2021/q2.csv
ls -A out data data/2019 tmp
exit $st'

# ------------------------------------------------------------ 2. find | xargs

setup_find() {
  local v=$E2E_VIEW l2=$E2E_L2 l3=$E2E_L3 d i
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  for d in guide api faq; do
    _licenses "$l3/docs/$d" 6
    for i in 1 2 3 4; do
      seq "$i" 400 | sed "s/^/$d log line /" >"$l3/docs/$d/run-$i.log"
    done
    _put "$l3/docs/$d/build.sh" "#!/bin/sh
echo building $d"
    : >"$l3/docs/$d/empty.txt"
  done
  _licenses "$l2/docs/extra" 3
  _whiteout "$l2/docs/faq/run-2.log"
  _put "$l2/docs/api/GPL-3.txt" "the API documents are under the GPL-3 License; see COPYING"
  _put "$v/docs/guide/new-in-top.txt" "added by the top layer, License text"
  _put "$v/docs/with space.sh" "echo spaced"
  touch -d '2019-01-01 00:00:00 UTC' "$l3/docs"/*/* "$l2/docs"/*/* "$v/docs"/*/* "$v/docs"/*.sh
  chmod 0644 "$l3/docs"/*/*.sh
}

rw_case find-xargs 'find xargs sed gzip' setup_find '
touch -d "2020-01-01 00:00:00 UTC" stamp
find docs -type f -name "*.txt" -print0 | xargs -0 -P4 -n3 sed -i "s/License/LICENCE/g" || exit 1
grep -rl LICENCE docs | sort | head -n 40
find docs -type f -name "*.log" -exec gzip -9 -n {} + || exit 1
find docs -name "*.sh" -print0 | xargs -0 -P4 chmod 0755
find docs -type f -empty -print -delete | sort
find docs -mindepth 1 -type d -exec chmod 0750 {} \;
find docs -name "*.txt" -newer stamp -size +20k -print0 | xargs -0 -P4 -I{} cp -p {} {}.orig
find docs -name "*.orig" -execdir mv {} {}.bak \;
find docs -printf "%p %y %m %s\n" | sort
find docs -type f ! -newer stamp -print0 | sort -z | xargs -0 -r sha256sum
find docs -type f -newer stamp -print0 | sort -z | xargs -0 sha256sum
gzip -t docs/api/*.gz && zcat docs/guide/run-3.log.gz | tail -n 1'

# ------------------------------------------------------------ 3. tar and gzip

setup_tar() {
  local v=$E2E_VIEW l2=$E2E_L2 l3=$E2E_L3 f
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  mkdir -p "$l3/src"
  cp -a /usr/include/linux/netfilter "$l3/src/netfilter"
  _licenses "$l3/src/licenses" 5
  ln "$l3/src/licenses/Apache-2.0.txt" "$l3/src/licenses/hardlink.txt"
  ln -s Apache-2.0.txt "$l3/src/licenses/symlink.txt"
  ln -s ../licenses "$l3/src/netfilter/licenses-link"
  _setxattr "$l3/src/licenses/BSD.txt" user.origin l3
  _setxattr "$l3/src/licenses" user.kind licenses
  _whiteout "$l2/src/netfilter/xt_LED.h"
  _put "$l2/src/netfilter/xt_new.h" "/* added by l2 */"
  _put "$v/src/licenses/Artistic.txt" "replaced by the top layer"
  chmod 0600 "$v/src/licenses/Artistic.txt"
  find "$l3/src" "$l2/src" "$v/src" -exec touch -h -d '2018-03-04 05:06:07 UTC' {} +
  # Compressed files in L2, made the way packages ship them.
  mkdir -p "$l2/data"
  for f in GPL-2 LGPL-2.1 MPL-2.0; do
    gzip -9 -n <"/usr/share/common-licenses/$f" >"$l2/data/$f.gz"
  done
  seq 1 100000 | gzip -1 -n >"$l2/data/numbers.gz"
  touch -d '2017-01-01 00:00:00 UTC' "$l2/data"/*
  chmod 0640 "$l2/data/MPL-2.0.gz"
}

rw_case tar-gzip 'tar gzip xz getfattr' setup_tar '
mkdir dist
tar --sort=name --xattrs -czf dist/src.tar.gz src || exit 1
tar -tvzf dist/src.tar.gz --numeric-owner --full-time | head -n 20
tar -tzf dist/src.tar.gz | wc -l
tar --sort=name --xattrs -cf - src | xz -T1 -6 >dist/src.tar.xz && xz -t dist/src.tar.xz && xz -l dist/src.tar.xz | tail -n 1
xz -d -k dist/src.tar.xz && gzip -dc dist/src.tar.gz | cmp - dist/src.tar && echo "the same archive"
mkdir unpack && tar -C unpack --xattrs --xattrs-include="user.*" -xzf dist/src.tar.gz || exit 1
diff -r src unpack/src && echo "unpacked tree is the same"
getfattr -h -d -m "user\." unpack/src/licenses unpack/src/licenses/BSD.txt
stat -c "%n %h %s %a %Y" unpack/src/licenses/* | sort
tar -cf - -C src netfilter | tar -C src -xf - --transform="s,^netfilter,netfilter-copy," || exit 1
tar -xzf dist/src.tar.gz src/licenses && echo "re-extracted over the lower files"
tar -cf dist/plain.tar --sort=name --mtime=@1600000000 src/licenses && tar -rf dist/plain.tar data/numbers.gz &&
  tar --delete -f dist/plain.tar src/licenses/BSD.txt && tar -tf dist/plain.tar
gzip -d data/GPL-2.gz && gunzip -k data/LGPL-2.1.gz && gzip -dc data/MPL-2.0.gz >MPL-2.0 || exit 1
gzip -l data/numbers.gz
gzip -9 -n unpack/src/licenses/[A-G]*.txt; echo "gzip: $?"; ls unpack/src/licenses
stat -c "%n %s %a %Y" data/* | sort && stat -c "%n %s %a" MPL-2.0
sha256sum data/GPL-2 data/LGPL-2.1 MPL-2.0 dist/plain.tar'

# ------------------------------------------------------------ 4. git

setup_git() {
  local stage=$E2E_ROOT/git-stage w
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  rm -rf "$stage"
  # The origin repository's first history lies in L3; L2 adds two commits
  # to it and the top layer a tag, the way image layers record a change.
  w=$stage/work
  mkdir -p "$w/src" "$w/docs"
  cp /usr/include/linux/types.h /usr/include/linux/limits.h "$w/src/"
  _put "$w/README.md" "# origin"
  _put "$w/docs/guide.md" "guide v1"
  git_in "$stage" init -q --bare origin.git &&
    git_in "$w" init -q &&
    git_in "$w" add -A && git_in "$w" commit -q -m "initial" &&
    { echo "more guide" >>"$w/docs/guide.md"; } &&
    git_in "$w" commit -q -am "guide v2" &&
    git_in "$w" push -q "$stage/origin.git" main || return 1
  cp -a "$stage/origin.git" "$E2E_L3/origin.git"
  cp /usr/include/linux/errno.h "$w/src/"
  git_in "$w" add src/errno.h && git_in "$w" commit -q -m "add errno.h" &&
    git_in "$w" rm -q docs/guide.md && git_in "$w" commit -q -m "drop the guide" &&
    git_in "$w" push -q "$stage/origin.git" main || return 1
  layer_delta "$E2E_L3/origin.git" "$stage/origin.git" "$E2E_L2/origin.git" || return 1
  cp -a "$stage/origin.git" "$stage/before-tag"
  git_in "$stage/origin.git" tag -a -m "version 1" v1 main~1 &&
    layer_delta "$stage/before-tag" "$stage/origin.git" "$E2E_VIEW/origin.git" || return 1
  rm -rf "$stage"
}

rw_case git-clone-rebase git setup_git '
g() { git -c safe.directory="*" "$@"; }
g -C origin.git log --oneline --decorate main
g clone -q "file://$VIEW/origin.git" c1 && g clone -q origin.git c2 || exit 1
cd c1 || exit 1
g checkout -q -b topic main~2
for i in 1 2 3; do
  echo "topic change $i" >>README.md && printf "file %s\n" "$i" >"topic-$i.txt" &&
    g add -A && g commit -q -m "topic $i" || exit 1
done
g checkout -q main && echo "#define MAIN 1" >src/main.h && g add src/main.h && g commit -q -m "main.h"
g rebase -q main topic && g log --oneline --graph --all && ls -A
g branch -a && g status --short --branch
g push -q origin topic main && g -C ../origin.git log --oneline topic
cd ../c2 || exit 1
g fetch -q origin && g checkout -q -b topic origin/topic && g log --oneline -3 && ls -A
g reset -q --hard origin/main~1 && g cherry-pick origin/topic~2 >/dev/null && g log --oneline -2
g gc -q --prune=now && g -C ../origin.git gc -q --prune=now && g -C ../c1 gc -q --prune=now || exit 1
g fsck --no-progress --full && g -C ../origin.git fsck --no-progress && g count-objects -v
echo "work in progress" >>README.md && g stash -q && g status --short && g stash pop -q && g status --short
g worktree add -q ../wt origin/topic~1 && ls -A ../wt && g -C ../wt log --oneline -1 && cat ../wt/.git
g worktree remove ../wt && g worktree list --porcelain
ls ../origin.git ../origin.git/refs/heads' \
  c1/.git/index c2/.git/index

# ------------------------------------------------------------ 5. make, gcc, ar

setup_make() {
  local p=$E2E_L3/calc v=$E2E_VIEW i
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  _file "$p/Makefile" <<'EOF'
# Out-of-tree build: make -f SRCDIR/Makefile SRCDIR=SRCDIR in the build dir.
SRCDIR ?= .
VPATH = $(SRCDIR)
CFLAGS ?= -O2 -Wall
CPPFLAGS += -I$(SRCDIR)/include -MMD -MP
LIB_SRCS := $(sort $(notdir $(wildcard $(SRCDIR)/lib/*.c)))
APP_SRCS := $(sort $(notdir $(wildcard $(SRCDIR)/app/*.c)))
LIB_OBJS := $(LIB_SRCS:%.c=lib/%.o)
APP_OBJS := $(APP_SRCS:%.c=app/%.o)

all: calc

libcalc.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

calc: $(APP_OBJS) libcalc.a
	$(CC) -o $@ $(APP_OBJS) -L. -lcalc

%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

install: calc
	install -D -m 0755 calc $(DESTDIR)/bin/calc
	install -D -m 0644 libcalc.a $(DESTDIR)/lib/libcalc.a
	install -D -m 0644 $(SRCDIR)/include/calc.h $(DESTDIR)/include/calc.h

clean:
	rm -rf calc libcalc.a lib app

.PHONY: all install clean
-include $(LIB_OBJS:.o=.d) $(APP_OBJS:.o=.d)
EOF
  _file "$p/include/calc.h" <<'EOF'
#ifndef CALC_H
#define CALC_H
struct op { const char *name; long (*fn)(long); };
extern const struct op calc_ops[];
extern const int calc_nops;
long calc_apply(const char *name, long x);
EOF
  for i in $(seq -w 1 16); do
    echo "long op_$i(long x);" >>"$p/include/calc.h"
    _file "$p/lib/op$i.c" <<EOF
#include "calc.h"
long op_$i(long x) {
  long r = x;
  for (int k = 0; k < 1$i % 5 + 1; k++) r = r * $((10#$i + 1)) % 100003 + k;
  return r;
}
EOF
  done
  echo "#endif" >>"$p/include/calc.h"
  {
    echo '#include <string.h>'
    echo '#include "calc.h"'
    echo 'const struct op calc_ops[] = {'
    for i in $(seq -w 1 16); do echo "  {\"op$i\", op_$i},"; done
    echo '};'
    echo 'const int calc_nops = sizeof calc_ops / sizeof calc_ops[0];'
    echo 'long calc_apply(const char *name, long x) {'
    echo '  for (int i = 0; i < calc_nops; i++)'
    echo '    if (strcmp(calc_ops[i].name, name) == 0) return calc_ops[i].fn(x);'
    echo '  return -1;'
    echo '}'
  } >"$p/lib/table.c"
  _put "$p/lib/obsolete.c" '#error "obsolete.c was removed: the layer above deletes it"'
  _file "$p/include/version.h" <<'EOF'
#define CALC_VERSION "1.0 (l3)"
EOF
  _file "$p/app/main.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include "calc.h"
#include "version.h"
void print_row(const char *name, long in, long out);
long parse(const char *s);
int main(int argc, char **argv) {
  long x = argc > 1 ? parse(argv[1]) : 1;
  printf("calc %s\n", CALC_VERSION);
  for (int i = 0; i < calc_nops; i++) print_row(calc_ops[i].name, x, calc_ops[i].fn(x));
  printf("apply op07: %ld\n", calc_apply("op07", x));
  return 0;
}
EOF
  _file "$p/app/print.c" <<'EOF'
#include <stdio.h>
void print_row(const char *name, long in, long out) { printf("%-5s %6ld -> %ld\n", name, in, out); }
EOF
  _file "$p/app/parse.c" <<'EOF'
#include <stdlib.h>
long parse(const char *s) { return strtol(s, NULL, 0); }
EOF
  # L2 patches one module and deletes another; the top layer bumps the
  # version and holds a stale build dir from an earlier build.
  _put "$E2E_L2/calc/lib/op07.c" '#include "calc.h"
long op_07(long x) { return -x; /* patched in l2 */ }'
  _whiteout "$E2E_L2/calc/lib/obsolete.c"
  _put "$v/calc/include/version.h" '#define CALC_VERSION "1.1 (top layer)"'
  mkdir -p "$v/build/lib"
  _put "$v/build/lib/op01.o" "stale object, older than its source"
  _put "$v/build/notes.txt" "build notes"
  find "$E2E_L3/calc" "$E2E_L2/calc" "$v/calc" -exec touch -d '2020-01-01 00:00:00 UTC' {} +
  touch -d '2019-01-01 00:00:00 UTC' "$v/build/lib/op01.o"
}

rw_case make-outoftree 'make gcc ar' setup_make '
cd build || exit 1
export TMPDIR=$VIEW/build
mk() { make -f ../calc/Makefile SRCDIR=../calc "$@"; }
# The lines of a parallel build come in any order: they are sorted.
mk -j2 >"$SCRATCH/log" 2>&1; echo "make: $?"; sort "$SCRATCH/log"
./calc 5 && ar t libcalc.a
mk -q; echo "up to date: $?"
touch ../calc/include/version.h && mk -j2 | sort
touch ../calc/include/calc.h && mk -j2 | sort && ./calc 0x10
mk install DESTDIR=$VIEW/stage | sort && ../stage/bin/calc 3 | tail -n 1
mk clean && ls -A && mk -s -j2 && ./calc 9 | head -n 2 && ls -A . lib app'

# ------------------------------------------------------------ 6. cmake

setup_cmake() {
  local p=$E2E_L2/shapes i
  _file "$p/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(shapes VERSION 1.2.3 LANGUAGES C CXX)
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
configure_file(config.h.in ${CMAKE_BINARY_DIR}/generated/config.h)

file(GLOB GEOM_SOURCES CONFIGURE_DEPENDS src/geom/*.cpp)
list(SORT GEOM_SOURCES)
add_library(geom STATIC ${GEOM_SOURCES})
target_include_directories(geom PUBLIC include ${CMAKE_BINARY_DIR}/generated)

add_library(fmt SHARED src/fmt/format.c src/fmt/table.c)
target_include_directories(fmt PUBLIC include)
set_target_properties(fmt PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION 1)

add_executable(shapes src/main.cpp src/cli.cpp)
target_link_libraries(shapes PRIVATE geom fmt)
set_target_properties(shapes PROPERTIES INSTALL_RPATH "$ORIGIN/../lib")

install(TARGETS shapes fmt geom
        RUNTIME DESTINATION bin LIBRARY DESTINATION lib ARCHIVE DESTINATION lib)
install(FILES include/geom.hpp include/fmt.h DESTINATION include)
install(DIRECTORY data/ DESTINATION share/shapes)
EOF
  _file "$p/config.h.in" <<'EOF'
#define SHAPES_VERSION "@PROJECT_VERSION@"
#define SHAPES_NAME "@PROJECT_NAME@"
EOF
  _file "$p/include/geom.hpp" <<'EOF'
#pragma once
#include <memory>
#include <string>
#include <vector>
struct Shape {
  virtual ~Shape() = default;
  virtual std::string name() const = 0;
  virtual double area() const = 0;
  virtual double perimeter() const = 0;
};
EOF
  local shapes="circle:double r:3.14159265358979 * r * r:2 * 3.14159265358979 * r
square:double s:s * s:4 * s
rect:double w, double h:w * h:2 * (w + h)
triangle:double a, double b, double c:tri_area(a, b, c):a + b + c
ellipse:double a, double b:3.14159265358979 * a * b:3.14159265358979 * (3 * (a + b) - __builtin_sqrt((3 * a + b) * (a + 3 * b)))
hexagon:double s:2.598076211353316 * s * s:6 * s"
  local name params area per members
  while IFS=: read -r name params area per; do
    members=$(printf '%s' "$params" | sed 's/double //g')
    printf 'std::unique_ptr<Shape> make_%s(%s);\n' "$name" "$params" >>"$p/include/geom.hpp"
    _file "$p/src/geom/$name.cpp" <<EOF
#include <cmath>
#include "geom.hpp"
static double tri_area(double a, double b, double c) {
  double s = (a + b + c) / 2;
  return std::sqrt(s * (s - a) * (s - b) * (s - c));
}
namespace {
struct Impl : Shape {
  double $(printf '%s' "$members" | sed 's/,/ = 0,/g') = 0;
  std::string name() const override { return "$name"; }
  double area() const override { (void)tri_area; return $area; }
  double perimeter() const override { return $per; }
};
}
std::unique_ptr<Shape> make_$name($params) {
  auto p = std::make_unique<Impl>();
$(printf '%s' "$members" | tr ',' '\n' | sed 's/ //g; s/.*/  p->& = &;/')
  return p;
}
EOF
  done <<<"$shapes"
  _file "$p/include/fmt.h" <<'EOF'
#ifndef FMT_H
#define FMT_H
#ifdef __cplusplus
extern "C" {
#endif
const char *fmt_row(char *buf, int size, const char *name, double area, double perimeter);
const char *fmt_rule(char *buf, int size, int width);
#ifdef __cplusplus
}
#endif
#endif
EOF
  _file "$p/src/fmt/format.c" <<'EOF'
#include <stdio.h>
#include "fmt.h"
const char *fmt_row(char *buf, int size, const char *name, double area, double perimeter) {
  snprintf(buf, size, "%-10s %12.4f %12.4f", name, area, perimeter);
  return buf;
}
EOF
  _file "$p/src/fmt/table.c" <<'EOF'
#include "fmt.h"
const char *fmt_rule(char *buf, int size, int width) {
  int i;
  for (i = 0; i < width && i < size - 1; i++) buf[i] = '-';
  buf[i] = 0;
  return buf;
}
EOF
  _file "$p/src/cli.cpp" <<'EOF'
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include "geom.hpp"
std::vector<std::unique_ptr<Shape>> read_shapes(const std::string &path) {
  std::vector<std::unique_ptr<Shape>> v;
  std::ifstream in(path);
  std::string kind;
  while (in >> kind) {
    double a = 0, b = 0, c = 0;
    if (kind == "circle") { in >> a; v.push_back(make_circle(a)); }
    else if (kind == "square") { in >> a; v.push_back(make_square(a)); }
    else if (kind == "rect") { in >> a >> b; v.push_back(make_rect(a, b)); }
    else if (kind == "triangle") { in >> a >> b >> c; v.push_back(make_triangle(a, b, c)); }
    else if (kind == "ellipse") { in >> a >> b; v.push_back(make_ellipse(a, b)); }
    else if (kind == "hexagon") { in >> a; v.push_back(make_hexagon(a)); }
  }
  return v;
}
EOF
  _file "$p/src/main.cpp" <<'EOF'
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>
#include "config.h"
#include "fmt.h"
#include "geom.hpp"
std::vector<std::unique_ptr<Shape>> read_shapes(const std::string &path);
int main(int argc, char **argv) {
  std::string in = argc > 1 ? argv[1] : "shapes.txt";
  char buf[128];
  std::printf("%s %s\n%s\n", SHAPES_NAME, SHAPES_VERSION, fmt_rule(buf, sizeof buf, 36));
  double total = 0;
  auto shapes = read_shapes(in);
  for (auto &s : shapes) {
    std::printf("%s\n", fmt_row(buf, sizeof buf, s->name().c_str(), s->area(), s->perimeter()));
    total += s->area();
  }
  if (argc > 2) {
    std::ofstream out(argv[2]);
    out << shapes.size() << " shapes, total area " << total << "\n";
  }
  std::printf("%s\n%zu shapes\n", fmt_rule(buf, sizeof buf, 36), shapes.size());
  return shapes.empty();
}
EOF
  _file "$p/data/shapes.txt" <<'EOF'
circle 1
square 2
rect 2 3.5
triangle 3 4 5
ellipse 2 1
hexagon 1.5
EOF
  _put "$p/data/README" "sample input for shapes"
  # The top layer edits the input.
  _file "$E2E_VIEW/shapes/data/shapes.txt" <<'EOF'
circle 1
square 2
rect 2 3.5
triangle 3 4 5
ellipse 2 1
hexagon 1.5
circle 10
EOF
  find "$p" "$E2E_VIEW/shapes" -exec touch -d '2020-01-01 00:00:00 UTC' {} +
}

rw_case cmake 'cmake make gcc g++' setup_cmake '
# cmake 3.26 and later say how long configuring took: masked.
cmake -S shapes -B build -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$VIEW/prefix" 2>&1 |
  sed -E "s/ \([0-9.]+s\)$//"
# The lines of a parallel build come in any order, and so do the progress
# figures: they are left out and the lines sorted.
unprogress() { sed -E "s/^\[ *[0-9]+%\] //" | sort; }
cmake --build build -j2 >"$SCRATCH/build.log" 2>&1; echo "build: $?"; unprogress <"$SCRATCH/build.log"
build/shapes shapes/data/shapes.txt build/out.txt && cat build/out.txt
touch shapes/include/fmt.h && cmake --build build -j2 | unprogress
# install(DIRECTORY) copies files in readdir order, which differs (see
# docs/design.md): the manifest is volatile and compared sorted here.
# CMakeOutput.log names the random try-compile dirs: volatile too.
# CMakeFiles/Makefile2 lists the dependencies of a target in an order that
# varies from one cmake run to the next (natively too): volatile, and
# compared sorted here.
sort build/CMakeFiles/Makefile2 | sha256sum | cut -c1-16
cmake --install build | sort && sort build/install_manifest.txt
prefix/bin/shapes prefix/share/shapes/shapes.txt | tail -n 2
find prefix | sort && readlink prefix/lib/libfmt.so prefix/lib/libfmt.so.1
cmake --build build --target clean && ls build' \
  build/install_manifest.txt build/CMakeFiles/CMakeOutput.log build/CMakeFiles/Makefile2

# ------------------------------------------------------------ 7. python

setup_python() {
  local p=$E2E_L3/greet
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  _file "$p/pyproject.toml" <<'EOF'
[build-system]
requires = ["setuptools>=61", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "greet"
version = "0.3.0"
description = "Greets people, counts words"
requires-python = ">=3.8"

[project.scripts]
greet = "greet.cli:main"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
greet = ["data/*.txt"]
EOF
  _file "$p/src/greet/__init__.py" <<'EOF'
"""Greets people."""
from importlib import resources

__version__ = "0.3.0"


def greeting(name):
    words = resources.files(__name__).joinpath("data/words.txt").read_text().split()
    return "%s, %s! (%d words known)" % (words[0], name, len(words))
EOF
  _file "$p/src/greet/cli.py" <<'EOF'
import sys

from . import greeting
from .count import count_words


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    for name in argv or ["world"]:
        print(greeting(name))
    return 0
EOF
  _file "$p/src/greet/count.py" <<'EOF'
import collections


def count_words(text):
    return collections.Counter(text.lower().split())
EOF
  _put "$p/src/greet/data/words.txt" "Hello alpha beta gamma delta"
  _put "$p/README.md" "# greet"
  _put "$p/src/greet/old_module.py" "raise ImportError('removed by the layer above')"
  # L2 deletes a module and adds one; the top layer edits the data file.
  _whiteout "$E2E_L2/greet/src/greet/old_module.py"
  _file "$E2E_L2/greet/src/greet/stats.py" <<'EOF'
from .count import count_words


def top(text, n=3):
    return count_words(text).most_common(n)
EOF
  _put "$E2E_VIEW/greet/src/greet/data/words.txt" "Hi alpha beta gamma delta epsilon"
  _licenses "$E2E_L2/texts" 3
  find "$p" "$E2E_L2/greet" "$E2E_VIEW/greet" -exec touch -h -d '2020-01-01 00:00:00 UTC' {} +
}

rw_case python-pip 'python3-venv python3-pip' setup_python '
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1
python3 -m venv --without-pip --system-site-packages venv || exit 1
venv/bin/python -m pip install -q --no-index --no-build-isolation ./greet || exit 1
venv/bin/greet Ada Linus
venv/bin/python -I -c "import greet, greet.stats, importlib.metadata as m, sys
print(greet.__file__.replace(sys.prefix, \"<venv>\"), m.version(\"greet\"))
print(greet.stats.top(open(\"texts/Apache-2.0.txt\").read()))
print(sorted(f.name for f in m.files(\"greet\")))"
venv/bin/python -m pip list --local --format=freeze
find greet -newer greet/pyproject.toml | sort
venv/bin/python -m pip wheel -q --no-index --no-build-isolation --no-deps -w wheels ./greet && ls wheels
venv/bin/python -m pip uninstall -q -y greet && venv/bin/python -I -c "import greet" 2>&1 | tail -n 1
venv/bin/python -m pip install -q --no-index wheels/*.whl && venv/bin/greet again
ls venv/lib/python3*/site-packages | sort'

# ------------------------------------------------------------ 8. perl

setup_perl() {
  local c=$E2E_L3/corpus
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  mkdir -p "$c/modules" "$c/licenses"
  cp /usr/share/perl/5.*/Text/*.pm "$c/modules/"
  _licenses "$c/licenses" 5
  _put "$c/old-name.txt" "to be renamed"
  _put "$c/remove-me.txt" "to be removed"
  _put "$c/changelog" "created in l3"
  _file "$c/config.ini" <<'EOF'
# a comment
[main]
name = corpus
# another comment
level = 2
EOF
  _put "$E2E_L2/corpus/licenses/local.txt" "a local licence"
  _whiteout "$E2E_L2/corpus/licenses/Artistic.txt"
  _put "$E2E_VIEW/corpus/README" "the corpus"
  _file "$E2E_L2/tools/tidy.pl" <<'EOF'
#!/usr/bin/perl
# Summarises a corpus, sorts its files by extension, tidies it.
use strict;
use warnings;
use Cwd qw(getcwd);
use Fcntl qw(:DEFAULT :flock);
use File::Basename qw(fileparse);
use File::Copy qw(copy move);
use File::Find;
use File::Path qw(make_path remove_tree);

my $root = shift // 'corpus';
my $out = shift // 'report';
make_path("$out/by-ext");
my (@found, %lines, %words);
find(sub { push @found, $File::Find::name if -f $_ }, $root);
for my $f (sort @found) {
  open my $fh, '<', $f or die "$f: $!";
  my ($l, $w) = (0, 0);
  while (<$fh>) { $l++; $w += () = /\S+/g; }
  close $fh;
  ($lines{$f}, $words{$f}) = ($l, $w);
}
open my $rep, '>', "$out/summary.txt" or die "summary: $!";
printf $rep "%-32s %6d %7d\n", $_, $lines{$_}, $words{$_} for sort keys %lines;
close $rep;

opendir my $dh, $root or die "$root: $!";
my @top = sort grep { !/^\.\.?$/ } readdir $dh;
closedir $dh;
print "top: @top\n";

for my $f (sort @found) {
  my ($name, undef, $ext) = fileparse($f, qr/\.[^.]*/);
  $ext =~ s/^\.//;
  $ext ||= 'none';
  make_path("$out/by-ext/$ext");
  copy($f, "$out/by-ext/$ext/$name.$ext") or die "copy $f: $!";
}
move("$out/by-ext/none", "$out/no-extension") or die "move: $!";
remove_tree("$out/by-ext/ini");

rename "$root/old-name.txt", "$root/new-name.txt" or die "rename: $!";
unlink "$root/remove-me.txt" or die "unlink: $!";
print "remove-me.txt: ", (-e "$root/remove-me.txt" ? "still there" : "gone"), "\n";
sysopen(my $lk, "$out/lock", O_WRONLY | O_CREAT | O_EXCL, 0600) or die "lock: $!";
flock($lk, LOCK_EX) or die "flock: $!";
print $lk "locked\n";
close $lk;
print "second O_EXCL: ", (sysopen(my $lk2, "$out/lock", O_WRONLY | O_CREAT | O_EXCL) ? "opened" : "$!"), "\n";
open my $ap, '>>', "$root/changelog" or die "changelog: $!";
print $ap "tidy.pl ran\n";
close $ap;
utime 1000000000, 1000000000, "$out/summary.txt" or die "utime: $!";
chmod 0640, "$out/summary.txt" or die "chmod: $!";
my @st = stat "$out/summary.txt";
printf "summary: mode %o size %d mtime %d\n", $st[2] & 07777, $st[7], $st[9];
symlink "summary.txt", "$out/latest" or die "symlink: $!";
print "latest -> ", readlink("$out/latest"), ", cwd ", getcwd() =~ s/.*\///r, "\n";
EOF
  find "$c" "$E2E_L2" "$E2E_VIEW/corpus" -exec touch -h -d '2020-01-01 00:00:00 UTC' {} +
}

rw_case perl perl setup_perl '
perl tools/tidy.pl corpus report || exit 1
perl -pi -e "s/\bPerl\b/PERL/g; s/\blicen[cs]e\b/LICENCE/gi" corpus/modules/*.pm corpus/licenses/*.txt || exit 1
perl -i.orig -ne "print unless /^\s*#/" corpus/config.ini || exit 1
cat corpus/config.ini corpus/changelog report/summary.txt
perl -0777 -ne "print \"\$ARGV \", length, \" \", tr/\n//, \"\n\"" corpus/*/* | sort
perl -e "opendir D, shift; print join(\" \", sort readdir D), \"\n\"" corpus
perl -MFile::Find -e "find({wanted => sub { print \"\$File::Find::name\n\" }, no_chdir => 1}, @ARGV)" report | sort
grep -c LICENCE corpus/licenses/*.txt | sort
ls -A corpus report'

# ------------------------------------------------------------ 9. java

setup_java() {
  local p=$E2E_L3/jproj
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  _file "$p/src/demo/Main.java" <<'EOF'
package demo;

import demo.text.WordCount;
import java.io.InputStream;
import java.nio.file.*;
import java.nio.file.attribute.*;
import java.util.*;
import java.util.stream.*;

public class Main {
  public static void main(String[] args) throws Exception {
    Path data = Paths.get(args.length > 0 ? args[0] : "data");
    Path out = Paths.get(args.length > 1 ? args[1] : "out");
    Properties props = new Properties();
    try (InputStream in = Main.class.getResourceAsStream("/demo/app.properties")) {
      props.load(in);
    }
    System.out.println(props.getProperty("name") + " " + props.getProperty("version"));
    Files.createDirectories(out.resolve("copies"));
    List<Path> files;
    try (Stream<Path> s = Files.walk(data)) {
      files = s.filter(Files::isRegularFile).sorted().collect(Collectors.toList());
    }
    StringBuilder report = new StringBuilder();
    for (Path p : files) {
      WordCount wc = WordCount.of(Files.readAllLines(p));
      report.append(String.format("%s lines=%d words=%d top=%s%n",
          data.relativize(p), wc.lines, wc.words, wc.top(3)));
      Files.copy(p, out.resolve("copies").resolve(p.getFileName()),
          StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
    }
    System.out.print(report);
    Files.writeString(out.resolve("report.txt"), report);
    Path tmp = Files.createTempFile(out, "report", ".tmp");
    Files.copy(out.resolve("report.txt"), tmp, StandardCopyOption.REPLACE_EXISTING);
    Files.move(tmp, out.resolve("report.bak"), StandardCopyOption.ATOMIC_MOVE);
    Path notes = data.resolve("notes.txt");
    Files.write(notes, List.of("appended by " + out), StandardOpenOption.APPEND);
    System.out.println("deleted obsolete.txt: " + Files.deleteIfExists(data.resolve("obsolete.txt")));
    Files.setPosixFilePermissions(out.resolve("report.txt"), PosixFilePermissions.fromString("rw-r-----"));
    PosixFileAttributes a = Files.readAttributes(notes, PosixFileAttributes.class);
    System.out.println("notes.txt " + PosixFilePermissions.toString(a.permissions()) + " size=" + a.size());
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(data)) {
      List<String> names = new ArrayList<>();
      ds.forEach(p -> names.add(p.getFileName().toString()));
      Collections.sort(names);
      System.out.println("data: " + names);
    }
  }
}
EOF
  _file "$p/src/demo/text/WordCount.java" <<'EOF'
package demo.text;

import java.util.*;
import java.util.stream.*;

public final class WordCount {
  public final int lines;
  public final int words;
  private final Map<String, Integer> counts;

  private WordCount(int lines, int words, Map<String, Integer> counts) {
    this.lines = lines;
    this.words = words;
    this.counts = counts;
  }

  public static WordCount of(List<String> text) {
    Map<String, Integer> counts = new TreeMap<>();
    int words = 0;
    for (String line : text) {
      for (String w : line.toLowerCase().split("[^a-z]+")) {
        if (w.isEmpty()) continue;
        counts.merge(w, 1, Integer::sum);
        words++;
      }
    }
    return new WordCount(text.size(), words, counts);
  }

  public List<String> top(int n) {
    return counts.entrySet().stream()
        .sorted(Map.Entry.<String, Integer>comparingByValue().reversed()
            .thenComparing(Map.Entry.comparingByKey()))
        .limit(n).map(e -> e.getKey() + ":" + e.getValue()).collect(Collectors.toList());
  }
}
EOF
  _put "$p/res/demo/app.properties" "name=wordstat
version=2.0"
  _licenses "$E2E_L2/jproj/data" 4
  _put "$E2E_L2/jproj/data/notes.txt" "notes from l2"
  _put "$E2E_L2/jproj/data/obsolete.txt" "to be deleted"
  _put "$E2E_VIEW/jproj/data/sub/more.txt" "more words from the top layer, more words"
  find "$p" "$E2E_L2/jproj" "$E2E_VIEW/jproj" -exec touch -d '2020-01-01 00:00:00 UTC' {} +
}

rw_case java 'javac jar java' setup_java '
cd jproj || exit 1
J=-J-XX:-UsePerfData
javac $J -d classes $(find src -name "*.java" | sort) || exit 1
find classes -type f | sort
# A jar stores the time it was made for its manifest: app.jar is volatile.
jar $J --create --file app.jar --main-class demo.Main -C classes . -C res . || exit 1
jar $J --list --file app.jar
java -XX:-UsePerfData -cp classes:res demo.Main data out1 &&
  java -XX:-UsePerfData -jar app.jar data out2 || exit 1
cat data/notes.txt && ls -A . data out1 out2' \
  jproj/app.jar

# ------------------------------------------------------------ 10. cargo, rustc

setup_rust() {
  local p=$E2E_L3/wordfreq
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  _file "$p/Cargo.toml" <<'EOF'
[package]
name = "wordfreq"
version = "0.1.0"
edition = "2021"
build = "build.rs"

[dependencies]
EOF
  _file "$p/build.rs" <<'EOF'
use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=stopwords.txt");
    let words = fs::read_to_string("stopwords.txt").unwrap();
    let list: Vec<String> = words.split_whitespace().map(|w| format!("{:?}", w)).collect();
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("stopwords.rs");
    fs::write(out, format!("pub const STOPWORDS: &[&str] = &[{}];\n", list.join(", "))).unwrap();
}
EOF
  _put "$p/stopwords.txt" "the a an of and or to in is be"
  _file "$p/src/lib.rs" <<'EOF'
pub mod text;

include!(concat!(env!("OUT_DIR"), "/stopwords.rs"));

pub fn frequencies(text: &str) -> Vec<(String, usize)> {
    let mut m = std::collections::BTreeMap::new();
    for w in text::words(text) {
        if !STOPWORDS.contains(&w.as_str()) {
            *m.entry(w).or_insert(0) += 1;
        }
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts() {
        assert_eq!(super::frequencies("b a b")[0], ("b".to_string(), 2));
    }
}
EOF
  _file "$p/src/text/mod.rs" <<'EOF'
mod stem;

pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .map(|w| stem::stem(&w.to_ascii_lowercase()))
        .collect()
}
EOF
  _file "$p/src/text/stem.rs" <<'EOF'
pub fn stem(w: &str) -> String {
    w.to_string()
}
EOF
  _file "$p/src/main.rs" <<'EOF'
use std::{env, fs, io::Write};

fn main() {
    let mut out = fs::File::create("freq.txt").expect("freq.txt");
    for path in env::args().skip(1) {
        let text = fs::read_to_string(&path).expect("read");
        let f = wordfreq::frequencies(&text);
        println!("{}: {} distinct, top {:?}", path, f.len(), &f[..3.min(f.len())]);
        writeln!(out, "{} {}", path, f.len()).unwrap();
    }
}
EOF
  # L2 patches the stemmer; the top layer holds a single-file program.
  _file "$E2E_L2/wordfreq/src/text/stem.rs" <<'EOF'
pub fn stem(w: &str) -> String {
    w.strip_suffix('s').filter(|s| s.len() > 2).unwrap_or(w).to_string()
}
EOF
  _file "$E2E_VIEW/single/hello.rs" <<'EOF'
use std::fs;
fn main() {
    let mut names: Vec<String> = fs::read_dir(".").unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    fs::write("listing.txt", names.join("\n") + "\n").unwrap();
    println!("hello from rustc: {} entries", names.len());
}
EOF
  _licenses "$E2E_L2/texts" 3
  find "$p" "$E2E_L2" "$E2E_VIEW/single" -exec touch -d '2020-01-01 00:00:00 UTC' {} +
}

rw_case cargo-rustc 'cargo rustc cc' setup_rust '
export CARGO_HOME=$SCRATCH/cargo-home CARGO_INCREMENTAL=0 CARGO_TERM_COLOR=never
# cargo reports how long a build took: the figure is masked.  Cargo keeps
# what rustc told it in .rustc_info.json in hash-map order, which changes
# from run to run: volatile.
masktime() { sed -E "s/ in [0-9]+(\.[0-9]+)?m?s$/ in TIME/"; }
cd wordfreq || exit 1
cargo build --offline 2>&1 | masktime
./target/debug/wordfreq ../texts/*.txt && cat freq.txt
touch src/text/stem.rs && cargo build --offline 2>&1 | masktime
cargo build --offline --release -q && ./target/release/wordfreq ../texts/Artistic.txt 2>/dev/null
cargo test --offline -q 2>&1 | masktime
cargo run --offline -q -- ../texts/BSD.txt
ls -A . target target/debug
cd ../single && rustc -O -o hello hello.rs && ./hello && cat listing.txt' \
  wordfreq/target/.rustc_info.json

e2e_finish
