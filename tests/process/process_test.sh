#!/bin/bash
#
# Processes, threads, exec, signals and terminals under ovlbox.
#
# Programs run under ovlbox must behave as they do natively or on a kernel
# overlayfs mount of the same layers.  The cases:
#
#   1. concurrency: make -j8 of a 30-file C project, xargs -P8 stat/cat over
#      2000 files, 16 threads each making 2000 checked calls in the view;
#   2. fork, vfork+execve, clone3, posix_spawn(p), execve from a thread;
#   3. exec: a binary built into the upper, a generated ./configure, a #!
#      interpreter that lives only in the view (also as a script, and behind
#      a long #! line with an argument), env -S, sh -e, fexecve (execveat
#      AT_EMPTY_PATH on a descriptor opened in the view), argv[0];
#   4. view paths: getcwd, /proc/self/{cwd,exe,fd/N}, /proc/PID/cwd;
#   5. signals: SIGINT/TERM/HUP/QUIT to ovlbox reach the program and its
#      exit status follows; a program killed while the supervisor holds its
#      call (a blocking open of a fifo in the view); EINTR and SA_RESTART;
#      SIGSTOP/SIGTSTP/SIGCONT of a child;
#   6. terminal (tmux): an interactive bash under ovlbox with Ctrl-C,
#      Ctrl-Z, jobs, fg, less, vi, top and exit;
#   7. ovlbox killed with SIGKILL takes every descendant with it; strace
#      and gdb fail clearly; ovlbox inside ovlbox exits 125;
#   8. the whole root as the lower: /proc, /sys, /dev stay the host's, the
#      upper is hidden, writes land in it, dpkg -i installs into it.
#
# Cases 1-5 that can be compared with the kernel use run_rw_case from
# tests/e2e/lib.sh: the command runs on a kernel overlay mount (lowers
# VIEW:L2, an upper) and under ovlbox, and output, exit status, the view
# afterwards and both uppers are compared.  The others check what a user
# would see natively.
#
# Run:  bazel test //tests/process:process_test
#   or  sudo OVLBOX=bazel-bin/supervisor/ovlbox tests/process/process_test.sh
#       (after bazel build //supervisor:ovlbox //tests/process:all)
# Knobs: E2E_CASES (regex of case names), E2E_KEEP=1 (keep the temp dir),
# PROCESS_FIXTURES (dir holding proctool and threadstress).
# Needs root (kernel overlay mounts, dpkg over --lower /); skips otherwise.
# Tools: cc, make, tmux, less, top, strace, gdb, dpkg-deb, python3; cases
# whose tool is missing fail and say so (vi is optional).
# Prints "ok NAME" / "FAIL NAME (reason)" with the time each case took, and
# "N passed, N failed" at the end; exits non-zero when a case failed.

# Case commands are single-quoted on purpose: they expand inside sh -c.
# shellcheck disable=SC2016
set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${TEST_SRCDIR:-}" ] && [ -x "$TEST_SRCDIR/ovlbox/supervisor/ovlbox" ]; then
  OVLBOX=${OVLBOX:-$TEST_SRCDIR/ovlbox/supervisor/ovlbox}
  E2E_DIR=$TEST_SRCDIR/ovlbox/tests/e2e
  FIXTURES=${PROCESS_FIXTURES:-$TEST_SRCDIR/ovlbox/tests/process}
else
  OVLBOX=${OVLBOX:-$here/../../bazel-bin/supervisor/ovlbox}
  E2E_DIR=$here/../e2e
  FIXTURES=${PROCESS_FIXTURES:-$here/../../bazel-bin/tests/process}
fi

if [ "$(id -u)" != 0 ]; then
  echo "skipped: this test needs root (kernel overlay mounts for the reference runs, dpkg over --lower /)"
  echo "0 passed, 0 failed"
  exit 0
fi

# shellcheck source=../e2e/lib.sh
. "$E2E_DIR/lib.sh"

e2e_init
e2e_probe_upper

for f in proctool threadstress; do
  if [ ! -x "$FIXTURES/$f" ]; then
    e2e_err "fixture $FIXTURES/$f not found (bazel build //tests/process:all, or set PROCESS_FIXTURES)"
    exit 1
  fi
done
# Fixture copies on a plain path (runfiles are symlinks).
FIX=$E2E_ROOT/fixtures
mkdir -p "$FIX"
cp -L "$FIXTURES/proctool" "$FIXTURES/threadstress" "$FIX/"
PROCTOOL=$FIX/proctool
E2E_EXTRA_ENV="FIX=$FIX"

# ---------------------------------------------------------------- helpers

# Layers for the cases that run under ovlbox only: $PT_L1 (topmost lower,
# and the view) and $PT_L2.
PT=$E2E_ROOT/p
PT_L1=$PT/l1
PT_L2=$PT/l2
TMUX_SOCK=$E2E_ROOT/tmux.0.sock
SHM_DIR=/dev/shm/ovlbox-proctest.$$
STARTED_PIDS=()
T_ALL=$(_now)
# TMPDIR of the ovlbox runs started here: a killed ovlbox leaves its
# runtime dir (ovlbox-run.XXXXXX) behind.
RUN_TMP=$E2E_ROOT/tmp
mkdir -p "$RUN_TMP"

proc_cleanup() {
  local p
  for p in "$E2E_ROOT"/tmux.*.sock; do
    [ ! -S "$p" ] || TMUX='' tmux -S "$p" kill-server >/dev/null 2>&1
  done
  for p in "${STARTED_PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null
  done
  [ ! -d "$SHM_DIR" ] || rmdir "$SHM_DIR" 2>/dev/null
}
trap 'st=$?; proc_cleanup; (exit $st); e2e_cleanup' EXIT

CASE_NAME=
CASE_T0=

# case_begin NAME: false when E2E_CASES leaves NAME out.
case_begin() {
  CASE_NAME=$1
  _case_selected "$1" || return 1
  CASE_T0=$(_now)
  return 0
}

case_ok() {
  E2E_PASSED=$((E2E_PASSED + 1))
  e2e_say "ok $CASE_NAME"
  e2e_say "    time: $(_seconds "$CASE_T0" "$(_now)")s"
}

# case_fail WHY [DETAILS]: DETAILS (text) is shown indented.
case_fail() {
  E2E_FAILED=$((E2E_FAILED + 1))
  E2E_FAILED_NAMES="$E2E_FAILED_NAMES $CASE_NAME"
  e2e_say "FAIL $CASE_NAME ($1)"
  e2e_say "    time: $(_seconds "$CASE_T0" "$(_now)")s"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | head -n "${E2E_DIFF_LINES:-60}" | cut -c 1-240 | sed 's/^/    /'
}

# check_output EXPECTED ACTUAL [WHY]: ok when equal, else a failure
# showing the diff.
check_output() {
  if [ "$1" = "$2" ]; then
    case_ok
  else
    case_fail "${3:-differs from what a user sees natively}" \
      "$(diff -u --label expected --label actual <(printf '%s\n' "$1") <(printf '%s\n' "$2"))"
  fi
}

# reset_pt: fresh ovlbox-only layers with a few files and a fifo.
reset_pt() {
  rm -rf "$PT" && mkdir -p "$PT_L1" "$PT_L2/sub" "$PT/scratch"
  printf 'data from l2\n' >"$PT_L2/data.txt"
  printf 'top from l1\n' >"$PT_L1/top.txt"
  mkfifo "$PT_L2/fifo"
  seq 1 300 | sed 's/^/line /' >"$PT_L2/long.txt"
}

# ovl [OVLBOX-OPTION]... -- CMD...: CMD under ovlbox over $PT_L1:$PT_L2,
# cwd at the view root, a small fixed environment, at most 60 s.
ovl() {
  local -a opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  (
    cd "$PT_L1" || exit 125
    exec env -i PATH="$E2E_PATH_DEFAULT" HOME="$E2E_HOME" LC_ALL=C TZ=UTC TMPDIR="$RUN_TMP" \
      SCRATCH="$PT/scratch" FIX="$FIX" VIEW="$PT_L1" \
      timeout -k 5 60 "$OVLBOX" --lower "$PT_L1:$PT_L2" "${opts[@]}" -- "$@"
  )
}

# ovl_bg OUT [OVLBOX-OPTION]... -- CMD...: like ovl, in the background,
# stdout and stderr to OUT; sets BG_PID to ovlbox's own pid.  INT and QUIT
# get their default action back (bash ignores them in background jobs).
ovl_bg() {
  local out=$1
  shift
  local -a opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  (
    cd "$PT_L1" || exit 125
    exec env -i PATH="$E2E_PATH_DEFAULT" HOME="$E2E_HOME" LC_ALL=C TZ=UTC TMPDIR="$RUN_TMP" \
      SCRATCH="$PT/scratch" FIX="$FIX" VIEW="$PT_L1" \
      env --default-signal=INT,QUIT,TERM,HUP \
      "$OVLBOX" --lower "$PT_L1:$PT_L2" "${opts[@]}" -- "$@"
  ) >"$out" 2>&1 &
  BG_PID=$!
  STARTED_PIDS+=("$BG_PID")
}

# wait_bg PID SECONDS: wait for a background job, killing it (SIGKILL)
# after SECONDS; sets BG_STATUS and BG_TIMED_OUT (1 when it was killed).
# (Until it is reaped, a finished child is a zombie: alive says no.)
wait_bg() {
  local pid=$1 i n=$(($2 * 20))
  BG_TIMED_OUT=0
  for ((i = 0; i < n; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then
    BG_TIMED_OUT=1
    kill -KILL "$pid" 2>/dev/null
  fi
  # (the braces send bash's own "Killed" notice to /dev/null)
  { wait "$pid"; } 2>/dev/null
  BG_STATUS=$?
}

# wait_for_file FILE PATTERN SECONDS: until FILE has a line matching
# PATTERN (grep -E).
wait_for_file() {
  local i n=$(($3 * 20))
  for ((i = 0; i < n; i++)); do
    grep -Eq -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# shell_output FILE: FILE without the notices sh prints on its own when a
# background job dies of a signal ("Killed", "Terminated"), which depend on
# timing.
shell_output() { grep -vx -e Killed -e Terminated "$1"; }

# proc_state PID: the state letter of /proc/PID/stat ('-' when gone).
proc_state() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -; return; }
  s=${s##*) }
  echo "${s%% *}"
}

# alive PID: the process exists and is not a zombie.
alive() {
  local s
  s=$(proc_state "$1")
  [ "$s" != - ] && [ "$s" != Z ]
}

# needs TOOL...: false (and the case fails saying why) when a tool is
# missing.
needs() {
  local t missing=
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
  done
  [ -z "$missing" ] && return 0
  case_fail "not installed:$missing"
  return 1
}

# ================================================================ 1. concurrency

# A 30-file C project: sources and headers in L2, one header and one
# source overridden in the top layer.
setup_make_project() {
  local p=$E2E_L2/proj i
  mkdir -p "$p/src" "$p/include"
  _put "$p/Makefile" 'CFLAGS = -O2 -Wall -Iinclude
SRCS = $(wildcard src/*.c)
OBJS = $(patsubst src/%.c,obj/%.o,$(SRCS))

app: $(OBJS)
	$(CC) -o $@ $(OBJS)

obj/%.o: src/%.c include/parts.h include/config.h | obj
	$(CC) $(CFLAGS) -c -o $@ $<

obj:
	mkdir -p obj

clean:
	rm -rf obj app

.PHONY: clean'
  _put "$p/include/config.h" '#define GREETING "hello from l2"'
  {
    for i in $(seq -w 1 29); do printf 'int part%s(int x);\n' "$i"; done
  } >"$p/include/parts.h"
  for i in $(seq -w 1 29); do
    _put "$p/src/part$i.c" "#include \"parts.h\"
#include \"config.h\"
int part$i(int x) {
  int s = 0;
  for (int k = 0; k < x; k++) s += (k * $((10#$i))) % 7;
  return s + (int)sizeof(GREETING);
}"
  done
  {
    printf '#include <stdio.h>\n#include "parts.h"\n#include "config.h"\n'
    printf 'int main(void) {\n  long total = 0;\n'
    for i in $(seq -w 1 29); do printf '  total += part%s(%d);\n' "$i" "$((10#$i * 3))"; done
    printf '  printf("%%s: total %%ld\\n", GREETING, total);\n  return 0;\n}\n'
  } >"$p/src/main.c"
  _put "$E2E_VIEW/proj/include/config.h" '#define GREETING "hello from the top layer"'
  _put "$E2E_VIEW/proj/src/part07.c" '#include "parts.h"
int part07(int x) { return -x; }'
  touch -d '2020-01-01 00:00:00 UTC' "$p"/src/* "$p"/include/* "$p/Makefile" \
    "$E2E_VIEW/proj/include/config.h" "$E2E_VIEW/proj/src/part07.c"
}

if case_begin make-j8 && needs make cc; then
  run_rw_case make-j8 setup_make_project '
cd proj || exit 1
make -s -j8 && ./app
ls obj | wc -l
touch include/config.h
printf "#define GREETING \"changed in the view\"\n" > include/config.h
make -s -j8 && ./app
make -s -j8 && echo "nothing left to do"'
fi

# 2000 files in 20 directories, spread over the layers, with whiteouts.
setup_many_files() {
  local g i d
  for g in $(seq -w 0 19); do
    d=$E2E_L2/data/g$g
    mkdir -p "$d" "$E2E_VIEW/data/g$g"
    for i in $(seq -w 0 99); do
      printf 'g%s file %s from l2\n' "$g" "$i" >"$d/file$i"
    done
    for i in 05 15 25 35 45 55 65 75 85 95; do
      printf 'g%s file %s from l1, longer\n' "$g" "$i" >"$E2E_VIEW/data/g$g/file$i"
    done
    mknod "$E2E_VIEW/data/g$g/file13" c 0 0
    printf 'g%s only in l1\n' "$g" >"$E2E_VIEW/data/g$g/extra"
  done
}

run_rw_case xargs-P8-stat-cat setup_many_files '
find data -type f | sort > "$SCRATCH/list"
wc -l < "$SCRATCH/list"
xargs -P8 -n 25 stat -c "%n %s %F %a %h" < "$SCRATCH/list" | sort | sha256sum
xargs -P8 -n 25 cat < "$SCRATCH/list" | sort | sha256sum
xargs -P8 -n 25 cat < "$SCRATCH/list" | grep -c "from l1"
xargs -P8 -I{} sh -c "test -f {} && head -c 3 {}" < "$SCRATCH/list" | wc -c'

# The tree threadstress.c expects (see its header).
setup_thread_tree() {
  local d f name
  mkdir -p "$E2E_L2/tree/links" "$E2E_L2/tree/tmp"
  for d in $(seq -f %02g 0 9); do
    mkdir -p "$E2E_L2/tree/d$d" "$E2E_VIEW/tree/d$d"
    for f in $(seq -f %03g 0 99); do
      name=d$d/f$f
      if ((10#$f % 11 == 4)); then                             # only in l1
        ((10#$f % 7 == 3)) || printf '%s ok\n' "$name" >"$E2E_VIEW/tree/$name"
        continue
      fi
      if ((10#$f % 5 == 0)); then
        printf '%s no\n' "$name" >"$E2E_L2/tree/$name"       # hidden by l1
        printf '%s ok\n' "$name" >"$E2E_VIEW/tree/$name"
      else
        printf '%s ok\n' "$name" >"$E2E_L2/tree/$name"
      fi
      if ((10#$f % 7 == 3)); then
        rm -f "$E2E_VIEW/tree/$name"
        mknod "$E2E_VIEW/tree/$name" c 0 0
      fi
    done
    ln -s "../d$d/f001" "$E2E_L2/tree/links/l$d"
  done
}

run_rw_case threads-16x2000 setup_thread_tree '
timeout 100 "$FIX/threadstress" tree 16 2000 write'

# ================================================================ 2, 3, 4: processes and exec

# Layers for the process and exec cases: the fixture, a copy of /bin/sh as
# an interpreter only the view has, scripts using it, data files.
setup_exec() {
  local v=$E2E_VIEW l2=$E2E_L2 deep line
  mkdir -p "$l2/bin" "$l2/sub/deeper" "$v/bin"
  cp "$PROCTOOL" "$l2/bin/proctool"
  cp -L /bin/sh "$l2/bin/mysh"
  _put "$l2/data.txt" "data from l2"
  _put "$v/top.txt" "top from l1"
  _put "$l2/sub/inner.txt" "inner from l2"
  # A script whose interpreter exists only in the view.
  _put "$l2/bin/s1" "#!$v/bin/mysh
echo \"s1 run by mysh: \$0 [\$*]\"
cat $v/data.txt"
  # A script whose interpreter is that script.
  _put "$v/bin/s2" "#!$v/bin/s1 from-s2
echo never printed: s1 ignores its input"
  # A long #! line with an argument: the interpreter deep in the view.
  deep=$l2/i$(printf '/nested-directory-%02d' $(seq 1 8))
  mkdir -p "$deep"
  cp -L /bin/sh "$deep/mysh"
  line="#!$v/i$(printf '/nested-directory-%02d' $(seq 1 8))/mysh -e"
  if [ "${#line}" -ge 250 ]; then
    echo "the long #! line is too long for the kernel (${#line} bytes)"
    return 1
  fi
  _put "$l2/bin/long" "$line
echo \"long #! line (${#line} bytes): flags \$-\"
false
echo not reached"
  _put "$l2/bin/py" '#!/usr/bin/env -S python3 -u
import os, sys
print("env -S python3 -u: interpreter args %s, argv %s" % (sys.orig_argv[1:2], sys.argv[1:]))
print("stdout write-through (-u):", sys.stdout.write_through)
print("script:", os.path.basename(__file__))'
  _put "$l2/bin/she" '#!/bin/sh -e
echo "sh -e: flags $-"
false
echo not reached'
  chmod 0755 "$l2/bin/s1" "$v/bin/s2" "$l2/bin/long" "$l2/bin/py" "$l2/bin/she"
}

run_rw_case fork setup_exec '
"$VIEW/bin/proctool" fork data.txt
cd sub && "$VIEW/bin/proctool" fork inner.txt'

run_rw_case vfork-execve setup_exec '
"$VIEW/bin/proctool" vfork "$VIEW/bin/proctool" show vforked
"$VIEW/bin/proctool" vfork "$VIEW/bin/s1" from-vfork
"$VIEW/bin/proctool" vfork "$VIEW/bin/missing"'

if case_begin clone3; then
  run_rw_case clone3 setup_exec '"$VIEW/bin/proctool" clone3 data.txt' &&
    grep -q 'clone3: ENOSYS' "$E2E_OUT/clone3/ovlbox/stdout" &&
    e2e_say "    note: clone3 answered ENOSYS (checked only that both sides agree)"
fi

run_rw_case posix-spawn setup_exec '
PATH=$VIEW/bin:$PATH "$VIEW/bin/proctool" spawn "$VIEW/bin/proctool" show spawned
PATH=$VIEW/bin:$PATH "$VIEW/bin/proctool" spawn "$VIEW/bin/s1" script-spawned'

run_rw_case thread-execve setup_exec '
"$VIEW/bin/proctool" thread-exec "$VIEW/bin/proctool" show from-a-thread
"$VIEW/bin/proctool" thread-exec "$VIEW/bin/s1" script-from-a-thread'

# execvp's PATH search (the preload library skips the directories where
# the name is certainly missing and makes the call on the first it cannot
# rule out): directories missing on the host, a name made in the view only,
# a script without #! (glibc runs it with /bin/sh), a same-named file
# without execute permission earlier in PATH (glibc goes on), a host
# program, a name found nowhere, and PATHs with a relative or an empty
# entry (left to glibc).
run_rw_case execvp-path-search setup_exec '
mkdir -p pa pb &&
printf "#!/bin/sh\necho made in the view: \$0 \$*\n" > pb/vtool &&
printf "echo no shebang: \$*\n" > pb/noshebang &&
printf "#!/bin/sh\necho not executable\n" > pa/both &&
printf "#!/bin/sh\necho both from pb\n" > pb/both &&
chmod 0755 pb/vtool pb/noshebang pb/both || exit 1
P="/nonexistent/dir:$VIEW/pa:/usr/local/nothing:$VIEW/pb:/usr/bin:/bin"
PATH=$P "$VIEW/bin/proctool" execvp vtool one two
PATH=$P "$VIEW/bin/proctool" execvp noshebang three
PATH=$P "$VIEW/bin/proctool" execvp both
PATH=$P "$VIEW/bin/proctool" execvp true && echo true ran
PATH=$P "$VIEW/bin/proctool" execvp no-such-program-anywhere; echo "status $?"
PATH="/nonexistent:relative:$VIEW/pb" "$VIEW/bin/proctool" execvp vtool relative-entry
PATH="/nonexistent::$VIEW/pb" "$VIEW/bin/proctool" execvp vtool empty-entry
PATH=/nonexistent/dir:/usr/local/nothing:/bin:/usr/bin "$VIEW/bin/proctool" execvp sh -c "echo sh ran: \$0"
PATH=/nonexistent/a:/nonexistent/b "$VIEW/bin/proctool" execvp sh; echo "status $?"
H=$SCRATCH/execvp && mkdir -p "$H/h1" "$H/h2" "$H/h3" &&
printf "#!/bin/sh\necho htool from h2\n" > "$H/h2/htool" &&
printf "#!/bin/sh\necho htool from h3\n" > "$H/h3/htool" &&
chmod 0755 "$H/h2/htool" "$H/h3/htool" || exit 1
PATH="/nonexistent:$H/h1:$H/h2:$H/h3" "$VIEW/bin/proctool" execvp htool'

# chdir and execve in the view while signals keep arriving: the supervisor
# changes each call at a ptrace stop and has the kernel make it again; a
# signal handled in between must neither fail the call nor leave it half
# changed. (The handler has SA_RESTART: a signal that arrives before the
# supervisor has received a call makes the kernel fail it with EINTR
# otherwise, for every intercepted call; docs/design.md, "Known limits".)
run_rw_case exec-chdir-under-signals setup_exec '
"$VIEW/bin/proctool" sigflood 8 sub "$VIEW/bin/s1" flooded'

run_rw_case exec-built-in-upper setup_exec '
mkdir build && cd build || exit 1
cat > hello.c <<EOF
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  printf("hello from a binary built in the view, exe %s\n", exe);
  return 0;
}
EOF
cc -O1 -o hello hello.c && ./hello && "$VIEW/build/hello" && (cd .. && build/hello)'

run_rw_case exec-configure setup_exec '
mkdir pkg && cd pkg || exit 1
cat > configure <<"EOF"
#!/bin/sh
# a generated configure script
prefix=/usr/local
for arg; do
  case $arg in --prefix=*) prefix=${arg#--prefix=} ;; esac
done
echo "checking for a C compiler... cc"
cat > config.mk <<EOM
PREFIX = $prefix
SRCDIR = $(pwd)
EOM
cat > Makefile <<"EOM"
include config.mk
all:
	@echo "building with prefix $(PREFIX) in $(SRCDIR)"
EOM
echo "config.status: creating Makefile"
EOF
chmod +x configure && ./configure --prefix=/opt/demo && make && sh ./configure && ls'

run_rw_case exec-interpreter-in-view setup_exec '
bin/s1 rel-path a b
"$VIEW/bin/s1" abs-path
PATH=$VIEW/bin:$PATH s1 via-path
sh -c "exec bin/s1 via-sh-exec"
"$VIEW/bin/s2" nested-interpreter
printf "#!%s\necho \"new script in the upper: \$0\"\n" "$VIEW/bin/mysh" > made.sh
chmod +x made.sh && ./made.sh
"$VIEW/bin/mysh" -c "echo mysh run directly"'

run_rw_case exec-shebang-args setup_exec '
bin/long; echo "long: exit $?"
bin/she; echo "she: exit $?"
bin/py x y
cd bin && ./py z'

run_rw_case fexecve setup_exec '
"$VIEW/bin/proctool" fexec rdonly "$VIEW/bin/proctool" show from-an-fd
"$VIEW/bin/proctool" fexec path "$VIEW/bin/proctool" show from-an-O_PATH-fd
cd sub && "$VIEW/bin/proctool" fexec rdonly ../bin/proctool show relative'

run_rw_case argv0 setup_exec '
"$VIEW/bin/proctool" argv0 custom-name "$VIEW/bin/proctool" show a b
"$VIEW/bin/proctool" argv0 -dash-name bin/proctool show
bash -c "exec -a name-from-bash \"\$VIEW/bin/proctool\" show"'

run_rw_case view-paths setup_exec '
"$VIEW/bin/proctool" paths top.txt sub
cd sub && "$VIEW/bin/proctool" paths inner.txt deeper && cd ..
mkdir -p made/deeper && cd made && echo new > f && "$VIEW/bin/proctool" paths f deeper
pwd; pwd -P; readlink -f .
(cd "$VIEW/sub/deeper" && exec sleep 2) & sleep 1; readlink /proc/$!/cwd; wait
cd "$VIEW/sub" && readlink /proc/self/cwd && exec 7< inner.txt && readlink /proc/self/fd/7
"$VIEW/bin/proctool" pidof-self'

# ================================================================ 5. signals

reset_pt

# SIGINT/TERM/HUP/QUIT sent to ovlbox reach the program, which traps the
# signal, says so, and then dies of it: ovlbox exits 128+N.
for sig in INT TERM HUP QUIT; do
  case_begin "signal-$sig-to-ovlbox" || continue
  out=$PT/sig-$sig.out
  ovl_bg "$out" -- sh -c 'trap "echo got SIG$1; trap - $1; kill -$1 \$\$" "$1"
echo ready
while :; do cat data.txt >/dev/null; sleep 0.05; done' sh "$sig"
  if ! wait_for_file "$out" '^ready$' 15; then
    wait_bg "$BG_PID" 1
    case_fail "the program never started" "$(cat "$out")"
    continue
  fi
  kill -"$sig" "$BG_PID"
  wait_bg "$BG_PID" 10
  want="ready
got SIG$sig
exit status $((128 + $(kill -l "$sig")))"
  got="$(grep -v '^$' "$out")
exit status $BG_STATUS"
  [ "$BG_TIMED_OUT" = 0 ] || got="$got
(ovlbox still running after 10 s: killed)"
  check_output "$want" "$got"
done

# A reader blocked opening a view fifo (the supervisor holds its call) is
# killed by SIGKILL; ovlbox carries on: later calls and fifo meetings work,
# and ovlbox exits with the program's status.
if case_begin kill-blocked-fifo-open; then
  ovl_bg "$PT/kill-blocked.out" -- sh -c '
cat fifo & p=$!
sleep 0.5
kill -KILL $p; wait $p; echo "reader killed: status $?"
for i in 1 2 3; do
  (sleep 0.2; echo "message $i" > fifo) & timeout 5 cat fifo; wait
done
cat data.txt; ls | wc -l
exit 3'
  wait_bg "$BG_PID" 20
  check_output "reader killed: status 137
message 1
message 2
message 3
data from l2
5
exit status 3" "$(shell_output "$PT/kill-blocked.out")
exit status $BG_STATUS$([ "$BG_TIMED_OUT" = 0 ] || echo " (ovlbox hung: killed after 20 s)")"
fi

# The same reader gets SIGTERM (no handler): natively it dies at once
# (status 143).  A SIGKILL 4 s later stops the case from hanging.
if case_begin term-blocked-fifo-open; then
  ovl_bg "$PT/term-blocked.out" -- sh -c '
cat fifo & p=$!
sleep 0.5
start=$(date +%s)
kill -TERM $p
(sleep 4; kill -KILL $p 2>/dev/null) &
wait $p; st=$?
s=$(( $(date +%s) - start ))
[ $s -le 1 ] && s=promptly || s="after $s s"
echo "reader status $st, $s"
(sleep 0.2; echo after > fifo) & timeout 5 cat fifo; wait'
  wait_bg "$BG_PID" 20
  check_output "reader status 143, promptly
after
exit status 0" "$(shell_output "$PT/term-blocked.out")
exit status $BG_STATUS$([ "$BG_TIMED_OUT" = 0 ] || echo " (ovlbox hung: killed after 20 s)")"
fi

# ovlbox gets SIGTERM while the program's only process waits in a blocking
# open of a view fifo: the program dies, ovlbox exits 143 promptly.
if case_begin term-ovlbox-during-fifo-open; then
  ovl_bg "$PT/term-ovlbox.out" -- sh -c 'echo ready; exec cat fifo'
  wait_for_file "$PT/term-ovlbox.out" '^ready$' 15
  sleep 0.5
  kill -TERM "$BG_PID"
  wait_bg "$BG_PID" 5
  check_output "exit status 143" "exit status $BG_STATUS$([ "$BG_TIMED_OUT" = 0 ] || echo " (ovlbox still running 5 s after SIGTERM: killed)")"
fi

# EINTR and SA_RESTART: a pipe read (runs natively) and a blocking open of
# a fifo made in the view (the supervisor performs it), interrupted by a
# SIGALRM handler with and without SA_RESTART.
run_rw_case eintr-pipe-read setup_exec '
"$VIEW/bin/proctool" eintr restart
"$VIEW/bin/proctool" eintr norestart'

run_rw_case eintr-fifo-open setup_exec '
mkfifo ff
"$VIEW/bin/proctool" fifo-eintr ff restart
"$VIEW/bin/proctool" fifo-eintr ff norestart'

# A child stopped with SIGSTOP or SIGTSTP (by its parent) stays stopped and
# makes no progress, is continued with SIGCONT and finishes.  The state
# letter is checked separately (stop-state-letter).
for sig in STOP TSTP; do
  run_rw_case "stop-cont-SIG$sig" setup_exec "
\"\$VIEW/bin/proctool\" stop $sig data.txt | sed 's/^state while stopped: [Tt] [Tt]\$/state while stopped: stopped/'"
done

# The program stopped from outside ovlbox with SIGSTOP: it stays stopped,
# /proc shows it stopped, SIGCONT resumes it and it finishes.
STATE_LETTERS=
if case_begin stop-cont-from-outside; then
  ovl_bg "$PT/stop.out" -- sh -c 'echo $$ > "$SCRATCH/pid"
i=0
while [ $i -lt 40 ]; do cat data.txt >/dev/null; i=$((i + 1)); echo $i > "$SCRATCH/progress"; sleep 0.05; done
echo finished after $i'
  why=
  if wait_for_file "$PT/scratch/progress" '^([5-9]|[1-3][0-9])$' 15; then
    pid=$(cat "$PT/scratch/pid")
    kill -STOP "$pid"
    sleep 0.3
    s1=$(proc_state "$pid")
    p1=$(cat "$PT/scratch/progress")
    sleep 0.5
    s2=$(proc_state "$pid")
    p2=$(cat "$PT/scratch/progress")
    STATE_LETTERS="$s1 $s2"
    case "$s1$s2" in
      [Tt][Tt]) ;;
      *) why="state while stopped: $s1 $s2" ;;
    esac
    [ "$p1" = "$p2" ] || why="${why:+$why, }progress while stopped: $p1 -> $p2"
    kill -CONT "$pid"
  else
    why="the program never started"
  fi
  wait_bg "$BG_PID" 20
  [ "$BG_STATUS" = 0 ] || why="${why:+$why, }exit status $BG_STATUS"
  grep -q '^finished after 40$' "$PT/stop.out" || why="${why:+$why, }did not finish"
  if [ -z "$why" ]; then case_ok; else case_fail "$why" "$(cat "$PT/stop.out")"; fi
fi

# The state letter of a stopped process in /proc/PID/stat: 'T' (stopped),
# as natively. The program is not a ptrace tracee while it runs (the
# supervisor attaches to a thread only while it changes one of its calls),
# so a group stop is not shown as 't' (tracing stop).
if case_begin stop-state-letter; then
  if [ -z "$STATE_LETTERS" ]; then
    case_fail "no state seen (stop-cont-from-outside did not run or failed early)"
  else
    check_output "T T" "$STATE_LETTERS" "/proc/PID/stat of a stopped process under ovlbox"
  fi
fi

# ================================================================ 6. terminal

TMUX_CONF=$E2E_ROOT/tmux.conf
printf 'set -s exit-empty off\nset -g remain-on-exit on\nset -g history-limit 5000\n' >"$TMUX_CONF"
tm() { TMUX='' tmux -S "$TMUX_SOCK" "$@"; }

# pane_text: everything the pane shows and has scrolled away.
pane_text() { tm capture-pane -p -J -S - -t pt 2>/dev/null; }

# pane_wait REGEX SECONDS: until a line of the pane matches REGEX.
pane_wait() {
  local i n=$(($2 * 10))
  for ((i = 0; i < n; i++)); do
    pane_text | grep -Eq -- "$1" && return 0
    sleep 0.1
  done
  return 1
}

# pane_mark [SECONDS]: type "echo mark-N" and wait (default 5 s) for it
# to run; this proves the shell is reading commands again.
MARK=0
pane_mark() {
  MARK=$((MARK + 1))
  tm send-keys -t pt "echo mark-$MARK" Enter
  pane_wait "^mark-$MARK\$" "${1:-5}"
}

# The interactive shell: bash -i under ovlbox in a tmux pane, with the
# view writable (upper $PT/tty-upper).  tty_start starts it and waits for
# a prompt; after a failed case a fresh tmux server and shell replace the
# current ones, so that one failure does not spoil the cases after it.
# (tmux 3.3a now and then leaves a pane's process unreaped, a zombie, and
# the pane dead without a status: tty-exit then reads the exit status the
# kernel keeps for the zombie.)
TTY_OK=0
TTY_PID=
tty_start() {
  mkdir -p "$PT/tty-upper"
  tm -f "$TMUX_CONF" new-session -d -s pt -x 150 -y 45 -c "$PT_L1" \
    "exec env -i PATH=$E2E_PATH_DEFAULT HOME=$E2E_HOME TERM=screen LC_ALL=C TMPDIR=$RUN_TMP PS1='PT\$ ' \
      $OVLBOX --lower $PT_L1:$PT_L2 --upper $PT/tty-upper -- bash --norc --noprofile -i" || return 1
  TTY_PID=$(tm display -p -t pt '#{pane_pid}')
  STARTED_PIDS+=("$TTY_PID")
  pane_wait '^PT\$' 10 && pane_mark
}

TTY_SERVERS=0
tty_restart() {
  tm kill-server >/dev/null 2>&1
  [ -z "$TTY_PID" ] || kill -KILL "$TTY_PID" 2>/dev/null
  TTY_SERVERS=$((TTY_SERVERS + 1))
  TMUX_SOCK=$E2E_ROOT/tmux.$TTY_SERVERS.sock
  TTY_OK=0
  tty_start && TTY_OK=1
}

# zombie_status PID: "status N" or "signal N" of an exited, unreaped
# process (field 52 of /proc/PID/stat, the wait status).
zombie_status() {
  local s w
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  # shellcheck disable=SC2086
  set -- $s
  [ "$1" = Z ] && [ $# -ge 50 ] || return 1
  w=${50}
  if ((w & 0x7f)); then echo "signal $((w & 0x7f))"; else echo "status $(((w >> 8) & 0xff))"; fi
}

if case_begin tty-start && needs tmux; then
  if tty_start; then
    TTY_OK=1
    case_ok
  else
    case_fail "no prompt from bash -i under ovlbox" "$(pane_text)"
  fi
fi

# tty_case NAME: false when the case is left out or there is no shell.
tty_case() {
  case_begin "$1" || return 1
  if [ "$TTY_OK" != 1 ]; then
    case_fail "no interactive shell (see tty-start)"
    return 1
  fi
  return 0
}

# tty_fail WHY: the case fails, showing the end of the pane; a fresh
# session replaces the current one.
tty_fail() {
  case_fail "$1" "$(pane_text | grep -v '^ *$' | tail -n 8)"
  tty_restart
}

if tty_case tty-ctrl-c; then
  tm send-keys -t pt 'sleep 100' Enter
  sleep 0.5
  t_int=$(_now)
  tm send-keys -t pt C-c
  if pane_mark 3; then
    case_ok
    e2e_say "    the shell ran a command $(_seconds "$t_int" "$(_now)")s after Ctrl-C"
  else
    tty_fail "Ctrl-C did not end sleep 100"
  fi
fi

if tty_case tty-ctrl-z-jobs-fg; then
  why=
  tm send-keys -t pt 'sleep 100' Enter
  sleep 0.5
  tm send-keys -t pt C-z
  pane_wait '^\[1\]\+ +Stopped +sleep 100$' 3 || why="Ctrl-Z: no 'Stopped' line"
  if [ -z "$why" ]; then
    tm send-keys -t pt 'jobs' Enter
    sleep 0.5
    [ "$(pane_text | grep -Ec '^\[1\]\+ +Stopped +sleep 100$')" -ge 2 ] ||
      why="jobs does not list the stopped sleep"
  fi
  if [ -z "$why" ]; then
    # fg echoes the command and runs the job in the foreground again.
    tm send-keys -t pt 'fg' Enter
    pane_wait '^sleep 100$' 3 || why="fg did not resume sleep 100"
  fi
  if [ -z "$why" ]; then
    sleep 0.5
    tm send-keys -t pt C-c
    pane_mark 3 || why="fg then Ctrl-C: no prompt"
  fi
  if [ -z "$why" ]; then case_ok; else tty_fail "$why"; fi
fi

if tty_case tty-less && needs less; then
  tm send-keys -t pt 'clear; less long.txt; echo less-exit-$?' Enter
  if ! pane_wait '^line 1$' 5 || ! pane_wait '^long\.txt' 2; then
    tty_fail "less did not show the file"
  else
    tm send-keys -t pt q
    if pane_wait '^less-exit-0$' 3; then case_ok; else tty_fail "q did not quit less"; fi
  fi
fi

if tty_case tty-top && needs top; then
  tm send-keys -t pt 'clear; top -n 1; echo top-exit-$?' Enter
  if pane_wait '^(Tasks|Threads):' 8 && pane_wait '^top-exit-0$' 8; then case_ok; else
    tty_fail "top -n 1 did not display and end"
  fi
fi

# Ctrl-C while cat waits opening a view fifo: natively cat dies at once.
if tty_case tty-ctrl-c-fifo-open; then
  tm send-keys -t pt 'cat fifo' Enter
  sleep 0.5
  tm send-keys -t pt C-c
  if pane_mark 3; then case_ok; else
    tty_fail "Ctrl-C did not end 'cat fifo' (waiting to open a fifo in the view)"
  fi
fi

# vi (when installed) edits a file of a lower layer and saves it: the
# change lands in the upper, the lower stays as it was.
if tty_case tty-vi; then
  if ! command -v vi >/dev/null 2>&1; then
    e2e_say "    (vi is not installed: nothing to check)"
    case_ok
  else
    tm send-keys -t pt 'clear; vi -i NONE long.txt; echo vi-exit-$?' Enter
    if ! pane_wait '"long\.txt"' 5; then
      tty_fail "vi did not show the file"
    else
      tm send-keys -t pt 'gg' 'dd' ':wq' Enter
      if pane_wait '^vi-exit-0$' 5 &&
        [ "$(head -n 1 "$PT/tty-upper/long.txt" 2>/dev/null)" = "line 2" ] &&
        [ "$(head -n 1 "$PT_L2/long.txt")" = "line 1" ]; then
        case_ok
      else
        tty_fail "saving the file failed (upper holds: $(cd "$PT/tty-upper" && find . -mindepth 1 -printf '%P ')$(head -n 1 "$PT/tty-upper/long.txt" 2>/dev/null | sed 's/^/; its long.txt starts with: /'))"
      fi
    fi
  fi
fi

if tty_case tty-exit; then
  tm send-keys -t pt 'exit 7' Enter
  # The pane dies; tmux normally has the status a moment later.
  for _ in $(seq 50); do
    [ "$(tm display -p -t pt '#{pane_dead}' 2>/dev/null)" = 1 ] && break
    sleep 0.1
  done
  for _ in $(seq 10); do
    [ -z "$(tm display -p -t pt '#{pane_dead_status}#{pane_dead_signal}' 2>/dev/null)" ] || break
    sleep 0.1
  done
  got=$(tm display -p -t pt "dead=#{pane_dead} status=#{pane_dead_status}#{?pane_dead_signal, signal=#{pane_dead_signal},}")
  if [ "$got" = "dead=1 status=" ] && zst=$(zombie_status "$TTY_PID"); then
    got="dead=1 ${zst/ /=}"
  fi
  alive "$TTY_PID" && got="$got, ovlbox still running"
  check_output "dead=1 status=7" "$got" "exit 7 in the shell"
fi
tm kill-server >/dev/null 2>&1

# ================================================================ 7. ovlbox killed, ptrace, nesting

# SIGKILL to ovlbox: the program and every descendant die promptly, also a
# setsid'd one, one that ignores SIGTERM/SIGHUP/SIGINT and one blocked
# opening a view fifo.
if case_begin sigkill-ovlbox-kills-descendants; then
  : >"$PT/scratch/pids"
  ovl_bg "$PT/kill9.out" -- sh -c '
echo $$ >> "$SCRATCH/pids"
sleep 101 & echo $! >> "$SCRATCH/pids"
(sleep 102; :) & echo $! >> "$SCRATCH/pids"
setsid sh -c "echo \$\$ >> \"\$SCRATCH/pids\"; sleep 103 & echo \$! >> \"\$SCRATCH/pids\"; wait" &
sh -c "trap \"\" TERM HUP INT; echo \$\$ >> \"\$SCRATCH/pids\"; while :; do cat data.txt >/dev/null; sleep 0.1; done" &
cat fifo & echo $! >> "$SCRATCH/pids"
echo ready
wait'
  why=
  if wait_for_file "$PT/kill9.out" '^ready$' 15 && sleep 0.5; then
    kill -KILL "$BG_PID"
    wait_bg "$BG_PID" 5
    sleep 1
    n=0 left=
    while read -r p; do
      [ -n "$p" ] || continue
      n=$((n + 1))
      alive "$p" && left="$left $p($(tr '\0' ' ' <"/proc/$p/cmdline"))"
    done <"$PT/scratch/pids"
    [ "$n" -ge 7 ] || why="only $n pids recorded"
    [ -z "$left" ] || why="${why:+$why, }still running 1 s after ovlbox died:$left"
    xargs -r kill -KILL <"$PT/scratch/pids" 2>/dev/null
  else
    why="the program never got ready"
    wait_bg "$BG_PID" 1
  fi
  if [ -z "$why" ]; then case_ok; else case_fail "$why" "$(cat "$PT/kill9.out")"; fi
fi

# The program's parent is ovlbox's keeper (docs/design.md, "Launch"): it
# must hold none of the supervisor's descriptors, through which
# /proc/PPID/fd/N would lead into the layers themselves.
if case_begin keeper-holds-no-layer; then
  mkdir -p "$PT/keeper-upper"
  out=$(ovl --upper "$PT/keeper-upper" -- sh -c 'for f in /proc/$PPID/fd/*; do readlink "$f"; done; grep "^Name:" /proc/$PPID/status' 2>&1)
  if printf '%s\n' "$out" | grep -q -e "^$PT_L1" -e "^$PT_L2" -e "^$PT/keeper-upper"; then
    case_fail "the keeper holds a layer" "$out"
  elif ! printf '%s\n' "$out" | grep -q '^Name:.*ovlbox'; then
    case_fail "the program's parent is not ovlbox's keeper" "$out"
  else
    case_ok
  fi
fi

if case_begin strace-fails-clearly && needs strace; then
  out=$(ovl -- strace -o /dev/null true 2>&1)
  st=$?
  if [ "$st" != 0 ] && [ "$st" != 124 ] && [ "$st" != 137 ] &&
    printf '%s\n' "$out" | grep -q 'ptrace.*Operation not permitted'; then
    case_ok
  else
    case_fail "exit status $st" "$out"
  fi
fi

if case_begin gdb-fails-clearly && needs gdb; then
  out=$(ovl -- gdb -nx -batch -ex run --args /bin/true 2>&1)
  st=$?
  if [ "$st" != 124 ] && [ "$st" != 137 ] &&
    printf '%s\n' "$out" | grep -q 'ptrace: Operation not permitted'; then
    case_ok
  else
    case_fail "exit status $st, no 'ptrace: Operation not permitted'" "$out"
  fi
fi

if case_begin ovlbox-inside-ovlbox; then
  err=$(ovl -- "$OVLBOX" --lower "$PT_L2" -- true 2>&1 >/dev/null)
  st=$?
  if [ "$st" = 125 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] &&
    [ "${err#ovlbox: }" != "$err" ]; then
    case_ok
    e2e_say "    says: $err"
  else
    case_fail "exit status $st (want 125 and one line 'ovlbox: ...')" "$err"
  fi
fi

# ================================================================ 8. the whole root as the lower

ROOT_U=$E2E_ROOT/rootfs-upper
ROOT_W=$E2E_ROOT/.rootfs-upper.ovlbox-work
mkdir -p "$ROOT_U"

# rootbox CMD: sh -c CMD under ovlbox --lower / --upper $ROOT_U, cwd /,
# at most 30 s; stdout and stderr together.
rootbox() {
  (
    cd / || exit 125
    exec env -i PATH="/usr/local/sbin:/usr/local/bin:$E2E_PATH_DEFAULT" HOME="$E2E_HOME" LC_ALL=C TZ=UTC TMPDIR="$RUN_TMP" \
      U="$ROOT_U" W="$ROOT_W" FIX="$FIX" SHM="$SHM_DIR" SCRATCH="$PT/scratch" \
      timeout -k 5 30 "$OVLBOX" --lower / --upper "$ROOT_U" -- sh -c "$1"
  ) 2>&1
}

if case_begin root-proc-self; then
  got=$(rootbox 'a=$(sh -c "echo \$\$; exec readlink /proc/self")
set -- $a; [ "$1" = "$2" ] && echo "readlink /proc/self is the caller" || echo "readlink /proc/self: $a"
"$FIX/proctool" pidof-self
read pid rest < /proc/self/stat; [ "$pid" = $$ ] && echo "/proc/self/stat is the shell"
test "$(readlink /proc/$$/exe)" = "$(readlink -f /bin/sh)" && echo "exe of this shell ok"')
  check_output "readlink /proc/self is the caller
/proc/self is getpid(): yes
/proc/thread-self is getpid()/task/gettid(): yes
/proc/self/stat is getpid()'s: yes
thread: /proc/self is getpid(): yes
thread: /proc/thread-self is getpid()/task/gettid(): yes
thread: /proc/self/stat is getpid()'s: yes
/proc/self/stat is the shell
exe of this shell ok" "$got"
fi

if case_begin root-proc-listing; then
  # (each listing gets 5 s)
  got=$(rootbox 'timeout 5 ls /proc/self/ > "$SCRATCH/a"; echo "ls /proc/self: status $?"
grep -cx -e cwd -e exe -e fd -e status "$SCRATCH/a"
timeout 5 ls /proc/self/fd | grep -c .
timeout 5 ls /proc > "$SCRATCH/a"; echo "ls /proc: status $?"
grep -qx self "$SCRATCH/a" && echo "/proc lists self"')
  # The descriptors ls sees: the ones this test inherited, and its own
  # directory; natively counted the same way.
  native_fds=$(cd / && exec env -i PATH="$E2E_PATH_DEFAULT" sh -c 'timeout 5 ls /proc/self/fd | grep -c .' 2>&1)
  check_output "ls /proc/self: status 0
4
$native_fds
ls /proc: status 0
/proc lists self" "$got"
fi

if case_begin root-dev-sys; then
  got=$(rootbox 'echo x > /dev/null && echo "/dev/null writable"
head -c 4 /dev/zero | wc -c
test -d /sys/kernel/mm && echo "/sys/kernel/mm reachable"
timeout 5 ls /sys/kernel > "$SCRATCH/a"; echo "ls /sys/kernel: status $?"
grep -qx mm "$SCRATCH/a" && echo "ls /sys/kernel lists mm"
timeout 5 ls /dev | grep -qx null && echo "ls /dev lists null"
mkdir "$SHM" && echo "mkdir in /dev/shm ok"')
  why=
  [ -d "$SHM_DIR" ] || why="the dir made in /dev/shm is not on the host"
  [ -z "$(find "$ROOT_U" -path '*/dev*' -print -quit)" ] || why="${why:+$why, }the upper holds /dev entries"
  want="/dev/null writable
4
/sys/kernel/mm reachable
ls /sys/kernel: status 0
ls /sys/kernel lists mm
ls /dev lists null
mkdir in /dev/shm ok"
  if [ -n "$why" ]; then
    case_fail "$why" "$got"
  else
    check_output "$want" "$got"
  fi
fi

if case_begin root-upper-hidden; then
  got=$(rootbox 'test ! -e "$U" && echo "upper hidden"
test ! -e "$W" && echo "work dir hidden"
ls -a "$(dirname "$U")" | grep -c -e "^$(basename "$U")\$" -e "^$(basename "$W")\$"
ls -d "$U" >/dev/null 2>&1 || echo "ls -d U fails"
cd "$W" 2>/dev/null || echo "cd W fails"')
  check_output "upper hidden
work dir hidden
0
ls -d U fails
cd W fails" "$got"
fi

# With the whole root as the lower, the preload library answers lookups
# itself in the directories that hold neither the upper, the work dir nor a
# mount point. Its answers must be the supervisor's (--no-preload): the
# upper and work dir stay hidden however they are reached (absolute walks
# through them, a descriptor of the directory holding them, listings), and
# a mount point shows its filesystem.
if case_begin root-library-agrees && needs python3; then
  { printf '%s' "$E2E_PY_PROBE"; cat <<'PY'; } >"$PT/scratch/rootprobe.py"
U, W = os.environ["U"], os.environ["W"]
up, base = os.path.dirname(U), os.path.basename(U)
os.makedirs("/usr/local/ovlbox-rootprobe/d", exist_ok=True)
with open("/usr/local/ovlbox-rootprobe/d/f", "w") as f:
    f.write("x")
for p in [U, W, U + "/usr", U + "/usr/local", U + "/usr/local/ovlbox-rootprobe/d/f",
          W + "/.", up + "/" + base + "/usr/local", "/usr/local/ovlbox-rootprobe/d/f",
          "/usr/local/ovlbox-rootprobe/d", "/usr/bin/env", "/usr/share/man",
          "/etc/hostname", "/proc/self/status", "/dev/null", "/dev/shm", "/sys/kernel"]:
    probe("stat " + p, lambda: st(p))
    probe("lstat " + p, lambda: st(p, follow_symlinks=False))
for d in [up, "/usr/local/ovlbox-rootprobe/d", "/usr/local/ovlbox-rootprobe", "/usr/share/man"]:
    probe("list " + d, lambda: " ".join(sorted(n for n in os.listdir(d) if n in
          (base, os.path.basename(W), "d", "f", "man1", "ovlbox-rootprobe"))))
fd = os.open(up, os.O_RDONLY | os.O_DIRECTORY)
for n in [base, os.path.basename(W), base + "/usr", base + "/usr/local"]:
    probe("at " + n, lambda: st(n, dir_fd=fd))
probe("open " + U + "/etc/hostname", lambda: open(U + "/etc/hostname").read()[:0] + "opened")
os.chdir(up)
probe("cwd " + base, lambda: st(base))
probe("cwd " + base + "/usr", lambda: st(base + "/usr"))
print("\n".join(out))
PY
  with=$(rootbox 'grep -c ovlbox-preload /proc/self/maps; python3 "$SCRATCH/rootprobe.py"')
  rm -rf "$ROOT_U"/usr/local/ovlbox-rootprobe
  without=$(cd / && exec env -i PATH="/usr/local/sbin:/usr/local/bin:$E2E_PATH_DEFAULT" HOME="$E2E_HOME" LC_ALL=C \
    U="$ROOT_U" W="$ROOT_W" SCRATCH="$PT/scratch" TMPDIR="$RUN_TMP" \
    timeout -k 5 30 "$OVLBOX" --no-preload --lower / --upper "$ROOT_U" -- python3 "$PT/scratch/rootprobe.py" 2>&1)
  rm -rf "$ROOT_U"/usr/local/ovlbox-rootprobe
  why=
  first=$(printf '%s\n' "$with" | head -1)
  [ "$first" -ge 1 ] 2>/dev/null || why="the library is not loaded ($first)"
  with=$(printf '%s\n' "$with" | tail -n +2)
  [ "$with" = "$without" ] || why="${why:+$why, }the library and the supervisor differ: $(diff <(echo "$without") <(echo "$with") | head -10 | tr '\n' ' ')"
  for want in "stat $ROOT_U: No such file or directory" "lstat $ROOT_U/usr/local: No such file or directory" \
    "at $(basename "$ROOT_U")/usr: No such file or directory" "list /usr/local/ovlbox-rootprobe/d: f" \
    "stat /usr/local/ovlbox-rootprobe/d/f: 100644 1" "list $(dirname "$ROOT_U"): " "stat /dev/null: 20666 0"; do
    printf '%s\n' "$with" | grep -qxF -- "$want" || why="${why:+$why, }no line '$want'"
  done
  if [ -z "$why" ]; then case_ok; else case_fail "$why" "$with"; fi
fi

# The view's /etc/ld.so.preload is the program's: it reads and changes its
# own file, and the loader of every program started after the change reads
# the changed list (after ovlbox's library, which stays loaded).
if case_begin root-ld-so-preload; then
  host_before=$(cat /etc/ld.so.preload 2>/dev/null; echo end)
  got=$(rootbox 'grep -q ovlbox-preload /etc/ld.so.preload 2>/dev/null && echo "the library is listed" || echo "its own file"
echo /nonexistent-ovlbox-proctest.so >> /etc/ld.so.preload && echo appended
sh -c "grep -q ovlbox-preload /proc/self/maps && echo loaded" 2>"$SCRATCH/err"
{ grep -q "nonexistent-ovlbox-proctest.so.*cannot be preloaded" "$SCRATCH/err" && echo "the loader read it"; } 2>/dev/null')
  why=
  [ "$(cat /etc/ld.so.preload 2>/dev/null; echo end)" = "$host_before" ] || why="the host's /etc/ld.so.preload changed"
  grep -qx /nonexistent-ovlbox-proctest.so "$ROOT_U/etc/ld.so.preload" 2>/dev/null || why="${why:+$why, }not in U/etc"
  rm -f "$ROOT_U/etc/ld.so.preload"
  if [ -n "$why" ]; then
    case_fail "$why" "$got"
  else
    check_output "its own file
appended
loaded
the loader read it" "$got"
  fi
fi

if case_begin root-writes-land-in-upper; then
  got=$(rootbox 'echo "set in the view" > /etc/ovlbox-proctest.conf &&
mkdir -p /usr/local/ovlbox-proctest && echo data > /usr/local/ovlbox-proctest/file &&
cat /etc/ovlbox-proctest.conf /usr/local/ovlbox-proctest/file &&
cd /usr/local && mkdir ovlbox-proctest/rel && echo one > ovlbox-proctest/rel/a &&
echo two > ovlbox-proctest/rel/b && rm ovlbox-proctest/rel/a && ls ovlbox-proctest/rel')
  why=
  [ "$(cat "$ROOT_U/etc/ovlbox-proctest.conf" 2>/dev/null)" = "set in the view" ] || why="not in U/etc"
  [ -f "$ROOT_U/usr/local/ovlbox-proctest/file" ] || why="${why:+$why, }not in U/usr/local"
  [ "$(ls "$ROOT_U/usr/local/ovlbox-proctest/rel" 2>&1)" = b ] || why="${why:+$why, }U/usr/local/ovlbox-proctest/rel does not hold b alone"
  [ ! -e /etc/ovlbox-proctest.conf ] && [ ! -e /usr/local/ovlbox-proctest ] ||
    why="${why:+$why, }the host changed"
  if [ -n "$why" ]; then case_fail "$why" "$got"; else check_output "set in the view
data
b" "$got"; fi
fi

if case_begin root-dpkg-install && needs dpkg-deb dpkg; then
  pkg=$E2E_ROOT/deb/pkg
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/local/bin"
  printf '%s\n' 'Package: ovlbox-proctest-hello' 'Version: 1.0' 'Architecture: all' \
    'Maintainer: ovlbox tests <tests@example.invalid>' \
    'Description: a script installed by the ovlbox process test' >"$pkg/DEBIAN/control"
  printf '#!/bin/sh\necho "hello from the installed package"\n' >"$pkg/usr/local/bin/ovlbox-proctest-hello"
  chmod 0755 "$pkg/usr/local/bin/ovlbox-proctest-hello"
  host_bin_before=$(ls -la --time-style=full-iso /usr/local/bin)
  why=
  if ! dpkg-deb --root-owner-group --build "$pkg" "$E2E_ROOT/deb/hello.deb" >/dev/null 2>&1; then
    why="dpkg-deb --build failed"
  else
    inst=$(rootbox "dpkg -i $E2E_ROOT/deb/hello.deb; echo \"dpkg status \$?\"")
    printf '%s\n' "$inst" | grep -q '^dpkg status 0$' || why="dpkg -i failed"
    [ -x "$ROOT_U/usr/local/bin/ovlbox-proctest-hello" ] || why="${why:+$why, }not in U/usr/local/bin"
    grep -q '^Package: ovlbox-proctest-hello$' "$ROOT_U/var/lib/dpkg/status" 2>/dev/null ||
      why="${why:+$why, }not in U/var/lib/dpkg/status"
    [ -f "$ROOT_U/var/lib/dpkg/info/ovlbox-proctest-hello.list" ] ||
      why="${why:+$why, }no U/var/lib/dpkg/info/ovlbox-proctest-hello.list"
    run=$(rootbox 'ovlbox-proctest-hello; dpkg-query -W -f="\${Status}\n" ovlbox-proctest-hello')
    [ "$run" = "hello from the installed package
install ok installed" ] || why="${why:+$why, }second run: $run"
    [ ! -e /usr/local/bin/ovlbox-proctest-hello ] &&
      [ "$(ls -la --time-style=full-iso /usr/local/bin)" = "$host_bin_before" ] ||
      why="${why:+$why, }the host's /usr/local/bin changed"
    ! dpkg-query -W ovlbox-proctest-hello >/dev/null 2>&1 || why="${why:+$why, }installed on the host"
  fi
  if [ -z "$why" ]; then case_ok; else case_fail "$why" "${inst:-}"; fi
fi

# apt-get installing a local package: apt drops to its `_apt` user for
# parts of the work, so this also exercises copy-up and permission checks
# under another user's credentials.
if case_begin root-apt-install && needs dpkg-deb apt-get; then
  pkg=$E2E_ROOT/deb/apkg
  mkdir -p "$pkg/DEBIAN" "$pkg/usr/local/bin"
  printf '%s\n' 'Package: ovlbox-proctest-apt' 'Version: 1.0' 'Architecture: all' \
    'Maintainer: ovlbox tests <tests@example.invalid>' \
    'Description: a script installed with apt-get by the ovlbox process test' >"$pkg/DEBIAN/control"
  printf '#!/bin/sh\necho "installed by apt"\n' >"$pkg/usr/local/bin/ovlbox-proctest-apt"
  chmod 0755 "$pkg/usr/local/bin/ovlbox-proctest-apt"
  chmod 0755 "$E2E_ROOT/deb"
  why=
  if ! dpkg-deb --root-owner-group --build "$pkg" "$E2E_ROOT/deb/apt.deb" >/dev/null 2>&1; then
    why="dpkg-deb --build failed"
  else
    chmod 0644 "$E2E_ROOT/deb/apt.deb"
    inst=$(rootbox "apt-get install -y $E2E_ROOT/deb/apt.deb >\"\$SCRATCH/apt.log\" 2>&1; echo \"apt-get status \$?\"
ovlbox-proctest-apt
dpkg-query -W -f='\${Status}\n' ovlbox-proctest-apt")
    [ "$inst" = "apt-get status 0
installed by apt
install ok installed" ] || why="apt-get install under ovlbox: $inst $(tail -5 "$PT/scratch/apt.log" 2>/dev/null)"
    [ -x "$ROOT_U/usr/local/bin/ovlbox-proctest-apt" ] || why="${why:+$why, }not in U/usr/local/bin"
    [ ! -e /usr/local/bin/ovlbox-proctest-apt ] || why="${why:+$why, }installed on the host"
    ! dpkg-query -W ovlbox-proctest-apt >/dev/null 2>&1 || why="${why:+$why, }the host's dpkg knows it"
  fi
  if [ -z "$why" ]; then case_ok; else case_fail "$why"; fi
fi

e2e_say "whole test: $(_seconds "$T_ALL" "$(_now)")s"
e2e_finish
