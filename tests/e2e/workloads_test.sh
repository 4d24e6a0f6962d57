#!/bin/bash
#
# End-to-end differential test of ovlbox's writable upper with real
# workloads: tar, rm -rf, git, sqlite3, python3 -m venv, make and cc,
# coreutils (cp -a, mv, ln, chmod, touch, install) and the usual ways of
# rewriting a file (sed -i, >>, truncate, python open('w')).
#
# Each case builds its lower layers (real data: system headers, a git
# repository, sqlite databases, a C project...), then runs its workload
# with the cwd at the view root:
#   - on a kernel overlayfs mount (lowerdir=VIEW:L2[:L3], upperdir, workdir,
#     userxattr) mounted over the topmost lower VIEW itself, and
#   - under ovlbox --lower VIEW:L2[:L3] --upper U, with nothing mounted,
# and compares exit status, output, the view afterwards, the two upper
# layers on disk (whiteouts, opaque dirs, copied-up metadata), the kernel's
# view of ovlbox's upper with ovlbox's own view, and checks that the lower
# layers are untouched.  See run_rw_case in lib.sh and tree_manifest.py for
# what exactly is compared.
#
# Run:  bazel test //tests/e2e:workloads_test
#   or  sudo OVLBOX=/path/to/ovlbox tests/e2e/workloads_test.sh
# Knobs: E2E_CASES (regex of case names), E2E_KEEP=1, E2E_TIMEOUT,
# E2E_DIFF_LINES (see lib.sh).
# Needs: tar, git, sqlite3, python3 with the venv module (Debian
# python3-venv), make and a C compiler, getfattr/setfattr (attr).
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

# Fixed identity and dates for every git command, so commit hashes match.
GIT_ENV='GIT_AUTHOR_NAME=Tester
GIT_AUTHOR_EMAIL=tester@example.com
GIT_COMMITTER_NAME=Tester
GIT_COMMITTER_EMAIL=tester@example.com
GIT_AUTHOR_DATE=2021-05-06T07:08:09Z
GIT_COMMITTER_DATE=2021-05-06T07:08:09Z'

E2E_DATA=$E2E_ROOT/data
E2E_EXTRA_ENV="DATA=$E2E_DATA
$GIT_ENV"

# ------------------------------------------------------------ data

# A tarball of a few thousand real files (system headers and perl modules:
# text, symlinks, deep trees), made once, outside every layer.
make_data() {
  local -a srcs=()
  local d
  mkdir -p "$E2E_DATA"
  for d in include/linux include/asm-generic include/x86_64-linux-gnu include/c++ share/perl5; do
    [ -d "/usr/$d" ] && srcs+=("$d")
  done
  if [ ${#srcs[@]} = 0 ] || ! tar -C /usr -cf "$E2E_DATA/tree.tar" "${srcs[@]}"; then
    e2e_err "cannot make the test tarball from /usr/include and /usr/share/perl5"
    exit 1
  fi
}

make_data


# ------------------------------------------------------------ 1. tar

setup_untar() {
  local v=$E2E_VIEW l2=$E2E_L2
  # tree/ is merged from both layers; the archive overwrites one lower
  # file, adds to lower directories and leaves lower-only files in place.
  _put "$l2/tree/README" "from the lower layer"
  _put "$l2/tree/include/linux/types.h" "/* an old lower copy, replaced by the archive */"
  chmod 0600 "$l2/tree/include/linux/types.h"
  _put "$l2/tree/include/linux/only-in-lower.h" "/* not in the archive */"
  _put "$v/tree/include/top-layer.txt" "from the top layer"
  touch -d '2005-06-07 08:09:10 UTC' "$l2/tree/include/linux" "$l2/tree/include"
}

rw_case untar-rm tar setup_untar '
tar -C tree -xf "$DATA/tree.tar" || exit 1
echo "files $(find tree -type f | wc -l), dirs $(find tree -type d | wc -l), symlinks $(find tree -type l | wc -l)"
find tree -type f -print0 | sort -z | xargs -0 cat | sha256sum
mkdir fresh && tar -C fresh -xf "$DATA/tree.tar" || exit 1
diff -r tree/include/linux fresh/include/linux; echo "diff: $?"
rm -rf fresh && ls -A
rm -rf tree/include/linux && ls -A tree tree/include'

# ------------------------------------------------------------ 2. rm -rf

setup_rm_lower() {
  local v=$E2E_VIEW l2=$E2E_L2 l3=$E2E_L3
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  # A real tree that lies entirely in L2.
  mkdir -p "$l2/inc"
  cp -a /usr/include/linux "$l2/inc/linux"
  _put "$v/inc/keep.h" "/* kept */"
  # m/ is merged from three layers, with whiteouts, an opaque dir, links.
  _put "$l3/m/a.txt" "a from l3"
  _put "$l3/m/gone.txt" "hidden by l2"
  _put "$l3/m/sub/deep/x.txt" "x from l3"
  _put "$l3/m/opq/hidden.txt" "hidden by the opaque dir of l2"
  _whiteout "$l2/m/gone.txt"
  _put "$l2/m/b.txt" "b from l2"
  _put "$l2/m/sub/y.txt" "y from l2"
  _opaque "$l2/m/opq"
  _put "$l2/m/opq/shown.txt" "shown"
  ln -s ../inc "$l2/m/link-to-inc"
  _put "$v/m/c.txt" "c from l1"
  _put "$v/m/sub/deep/z.txt" "z from l1"
  mkfifo "$v/m/fifo"
  # m2/ is merged too; only parts of it are removed.
  _put "$l3/m2/sub/old.txt" "old"
  _put "$l2/m2/sub/older.txt" "older"
  _put "$v/m2/keep.txt" "keep"
  _put "$l3/m2/deep/a/b/c.txt" "c"
  _put "$l2/m2/deep/a/d.txt" "d"
  _put "$l2/m2/deep/e.txt" "e"
}

rw_case rm-rf-lower '' setup_rm_lower '
rm -rf inc/linux && ls -A inc
rm -rf m; if [ -e m ]; then echo "m still exists"; else echo "m removed"; fi
rm -r m2/sub && mkdir m2/sub && echo new >m2/sub/fresh.txt && ls -A m2 m2/sub
rm -rf m2/deep/a && ls -A m2/deep
mkdir m && echo again >m/again.txt && ls -A m
find . | sort'

# Renames between hard links. Two links of a lower file are two files of
# the view (overlayfs gives each name its own inode when it may copy it
# up): renaming one over the other copies it up and whites out the old
# name. Two links made in the view are one file of the upper: renaming
# one over the other does nothing, as on any filesystem.
setup_rename_links() {
  _put "$E2E_L2/hl/a" "linked in the lower"
  ln "$E2E_L2/hl/a" "$E2E_L2/hl/b"
  ln "$E2E_L2/hl/a" "$E2E_L2/hl/c"
  mkdir -p "$E2E_VIEW/hl"
}

rw_case rename-hardlinks python3 setup_rename_links '
python3 -c "
import os
def show(what):
    print(what, sorted((n, os.lstat(\"hl/\" + n).st_nlink) for n in os.listdir(\"hl\")))
os.rename(\"hl/b\", \"hl/a\"); show(\"lower links\")
os.rename(\"hl/c\", \"hl/c\"); show(\"same name\")
with open(\"hl/new\", \"w\") as f: f.write(\"made here\\n\")
os.link(\"hl/new\", \"hl/new2\")
os.rename(\"hl/new\", \"hl/new2\"); show(\"upper links\")
"
cat hl/a hl/c hl/new hl/new2'

# open with O_CREAT of a name with a trailing slash is EISDIR before the
# name is looked at, dangling symlink or not (the parent must exist).
setup_creat_slash() {
  ln -s nowhere/a "$E2E_VIEW/dangling"
  ln -s "$E2E_VIEW/dir" "$E2E_L2/dirlink"
  mkdir -p "$E2E_L2/dir"
  _put "$E2E_VIEW/file" "a file"
}

rw_case creat-trailing-slash python3 setup_creat_slash '
python3 -c "
import os
for p in [\"dangling/\", \"dirlink/\", \"dir/\", \"file/\", \"new/\", \"nodir/x/\", \"file/x/\"]:
    for flags in [os.O_CREAT | os.O_WRONLY, os.O_CREAT | os.O_EXCL | os.O_WRONLY, os.O_WRONLY]:
        try:
            os.close(os.open(p, flags, 0o644)); r = \"ok\"
        except OSError as e:
            r = e.strerror
        print(p, flags, r)
"
ls -A'

# Changes named by absolute paths in directories of the upper alone (the
# preload library makes them itself, as for relative paths): made, written,
# chmod/touch by name, linked, removed, rmdir of an empty and a full
# directory, mkdir of a taken name, names missing; in a new directory and in
# one made inside a merged one.
setup_upper_alone_abs() {
  _put "$E2E_VIEW/merged/a" "a in the top lower"
  _put "$E2E_L2/merged/b" "b in the lower below"
}

rw_case upper-alone-absolute "" setup_upper_alone_abs '
d=$VIEW/newtop/sub
mkdir -p "$d/deeper" && echo one > "$d/f" && printf two >> "$d/f" && chmod 640 "$d/f"
touch -d @1000000000 "$d/f" && ln -s f "$d/lnk" && touch -h -d @1100000000 "$d/lnk"
mkdir "$d/empty" && echo x > "$d/deeper/x"
mkdir "$d/f" 2>/dev/null || echo "mkdir taken: $?"
rmdir "$d/deeper" 2>/dev/null || echo "rmdir full: $?"
rmdir "$d/empty"; rm "$d/missing" 2>/dev/null || echo "rm missing: $?"
rmdir "$d/f" 2>/dev/null || echo "rmdir file: $?"
rm "$d/deeper/x" && rmdir "$d/deeper"
mkdir "$VIEW/merged/newsub" && echo y > "$VIEW/merged/newsub/y" && chmod 600 "$VIEW/merged/newsub/y"
echo z > "$VIEW/merged/newsub/z" && rm "$VIEW/merged/newsub/y"
rm "$VIEW/merged/b" && chmod 600 "$VIEW/merged/a" && touch -d @1200000000 "$VIEW/merged/a"
cat "$d/f"; echo
ls -la --time-style=+%s "$d" | awk "NR > 3 {print \$1, \$6, \$7, \$8, \$9}"
ls -a "$VIEW/merged/newsub" "$VIEW/merged"
stat -c "%n %a %s %Y" "$d/f" "$VIEW/merged/a"; stat -c "%n %a %s" "$VIEW/merged/newsub/z"'

# ------------------------------------------------------------ 3. git

setup_git() {
  local r=$E2E_L2/repo
  _put "$r/README.md" "# demo"
  _put "$r/src/main.c" '#include "util.h"
int main(void) { return util(); }'
  _put "$r/src/util.c" 'int util(void) { return 0; }'
  _put "$r/src/util.h" 'int util(void);'
  _put "$r/docs/old.md" "old docs"
  _put "$r/docs/guide.md" "guide"
  git_in "$r" init -q &&
    git_in "$r" add README.md src docs/guide.md &&
    git_in "$r" commit -q -m "initial" &&
    git_in "$r" add docs/old.md &&
    git_in "$r" commit -q -m "old docs" || return 1
  # The top layer edits a tracked file and adds an untracked one.
  _put "$E2E_VIEW/repo/README.md" "# demo
edited in the top layer"
  _put "$E2E_VIEW/repo/notes.txt" "untracked notes"
}

rw_case git git setup_git '
cd repo || exit 1
g() { git -c safe.directory="*" -c gc.auto=0 -c pack.threads=1 "$@"; }
g status --porcelain
echo "int extra(void) { return 42; }" >>src/util.c
g add -A && g commit -q -m "edit util, add notes" && g log --oneline -1
g checkout -q -b feature &&
  echo "feature work" >docs/feature.md && g add docs/feature.md && g commit -q -m "feature" &&
  g rm -q docs/old.md && g commit -q -m "drop old docs" || exit 1
g checkout -q main && ls docs && g status --porcelain
g log --oneline --all
g merge -q --no-ff -m "merge feature" feature && ls docs
g mv src/util.h src/util-api.h && g rm -q -r --cached docs/guide.md && g status --porcelain
g commit -q -m "rename the header, untrack the guide" && g clean -q -f -x && ls -A . docs src
g gc -q --prune=now && g fsck --no-progress --full && g count-objects -v
g log --oneline --graph
g status --porcelain' \
  repo/.git/index

# ------------------------------------------------------------ 4. sqlite3

setup_sqlite() {
  local d=$E2E_L2/db
  mkdir -p "$d"
  sqlite3 "$d/lower.db" "create table kv(k text primary key, v integer);
    with recursive c(x) as (select 1 union all select x + 1 from c where x < 500)
    insert into kv select 'key-' || x, x from c;" &&
    sqlite3 "$d/wal.db" "pragma journal_mode=wal;
    create table log(id integer primary key, msg text);
    insert into log(msg) values ('one'), ('two');" >/dev/null
}

rw_case sqlite sqlite3 setup_sqlite '
sqlite3 new.db "create table t(id integer primary key, name text, n integer);
  with recursive c(x) as (select 1 union all select x + 1 from c where x < 3000)
  insert into t(name, n) select printf(\"row %05d\", x), x from c;
  create index t_n on t(n);" || exit 1
sqlite3 new.db "update t set n = n * 2 where id % 3 = 0; delete from t where id % 7 = 0;
  select count(*), sum(n), max(name) from t;"
sqlite3 new.db "begin; insert into t(name, n) values (\"rolled back\", 1); rollback; select count(*) from t;"
sqlite3 db/lower.db "update kv set v = v + 1000 where k like \"key-1%\"; insert into kv values (\"added\", 1);
  select count(*), sum(v) from kv; pragma integrity_check;"
sqlite3 db/wal.db "pragma journal_mode; insert into log(msg) values (\"from the view\"); select * from log;"
sqlite3 new.db "vacuum; pragma integrity_check; select count(*) from t where n > 1000;"
ls -A . db'

# ------------------------------------------------------------ 5. venv

setup_venv() {
  _put "$E2E_L2/app/main.py" 'import sys
print("prefix:", sys.prefix)
print("in a venv:", sys.prefix != sys.base_prefix)'
}

rw_case venv python3-venv setup_venv '
python3 -m venv venv || exit 1
venv/bin/python -c "import sys; print(sys.prefix)"
venv/bin/python app/main.py
venv/bin/pip --version
ls -A venv venv/bin' \
  '*.pyc'

# ------------------------------------------------------------ 6. make

setup_make() {
  local p=$E2E_L2/proj
  _put "$p/Makefile" 'CFLAGS = -O2 -Wall
OBJS = main.o list.o strutil.o hash.o stats.o

demo: $(OBJS)
	$(CC) -o $@ $(OBJS)

%.o: %.c common.h config.h
	$(CC) $(CFLAGS) -c $<

clean:
	rm -f demo *.o

.PHONY: clean'
  _put "$p/common.h" '#include <stddef.h>
struct node { int value; struct node *next; };
struct node *list_push(struct node *head, int value);
int list_sum(const struct node *head);
void str_upper(char *s);
unsigned hash(const char *s);
double mean(const int *v, size_t n);'
  _put "$p/config.h" '#define GREETING "hello from l2"'
  _put "$p/main.c" '#include <stdio.h>
#include <string.h>
#include "common.h"
#include "config.h"
int main(int argc, char **argv) {
  struct node *l = NULL;
  int v[] = {3, 1, 4, 1, 5, 9, 2, 6};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) l = list_push(l, v[i]);
  char buf[64];
  snprintf(buf, sizeof buf, "%s", argc > 1 ? argv[1] : "none");
  str_upper(buf);
  printf("%s\nsum %d mean %.3f arg %s hash %08x\n", GREETING, list_sum(l),
         mean(v, sizeof v / sizeof v[0]), buf, hash(buf));
  return 0;
}'
  _put "$p/list.c" '#include <stdlib.h>
#include "common.h"
#include "config.h"
struct node *list_push(struct node *head, int value) {
  struct node *n = malloc(sizeof *n);
  n->value = value;
  n->next = head;
  return n;
}
int list_sum(const struct node *head) {
  int s = 0;
  for (; head; head = head->next) s += head->value;
  return s;
}'
  _put "$p/strutil.c" '#include <ctype.h>
#include "common.h"
#include "config.h"
void str_upper(char *s) { for (; *s; s++) *s = (char)toupper((unsigned char)*s); }'
  _put "$p/hash.c" '#include "common.h"
#include "config.h"
unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}'
  _put "$p/stats.c" '#include "common.h"
#include "config.h"
double mean(const int *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i];
  return n ? s / n : 0;
}'
  # A stale object in the lower layer that "make clean" removes, and a
  # header overridden by the top layer.
  _put "$p/old.o" "stale object"
  _put "$E2E_VIEW/proj/config.h" '#define GREETING "hello from the top layer"'
  touch -d '2020-01-01 00:00:00 UTC' "$p"/* "$E2E_VIEW/proj/config.h"
}

rw_case make 'make cc' setup_make '
cd proj || exit 1
make && ./demo first
make
touch strutil.c && make && ./demo second
make clean && ls -A
make -s -j2 && ./demo third && ls -A'

# ------------------------------------------------------------ 7. coreutils

setup_coreutils() {
  local v=$E2E_VIEW l2=$E2E_L2 l3=$E2E_L3
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  _put "$l3/src/a.txt" "a from l3"
  _put "$l3/src/sub/inner.txt" "inner from l3"
  _put "$l3/src/sub/deeper/leaf.txt" "leaf from l3"
  _put "$l2/src/b.txt" "b from l2"
  _put "$l2/src/tool.sh" '#!/bin/sh
echo "tool: $*"'
  chmod 0755 "$l2/src/tool.sh"
  _put "$l2/src/secret.txt" "mode 0600"
  chmod 0600 "$l2/src/secret.txt"
  _put "$l2/src/hl1" "hardlinked in l2"
  ln "$l2/src/hl1" "$l2/src/hl2"
  _setxattr "$l2/src/b.txt" user.note "an xattr on b"
  _setxattr "$l3/src/sub" user.dir "hidden: the top layer has src/sub too"
  ln -s a.txt "$l2/src/rel-link"
  ln -s "$E2E_VIEW/src/b.txt" "$l2/src/abs-link"
  mkdir -p "$l2/src/empty"
  _setxattr "$l2/src/empty" user.dir "an xattr on a dir"
  _put "$v/src/c.txt" "c from l1"
  _put "$v/src/sub/top.txt" "top from l1"
  touch -d '2001-02-03 04:05:06.5 UTC' "$l3/src/a.txt" "$l2/src/b.txt" "$l3/src/sub/inner.txt"
  touch -h -d '2002-03-04 05:06:07 UTC' "$l2/src/rel-link"
  touch -d '2003-04-05 06:07:08 UTC' "$l3/src/sub" "$l2/src/empty"
}

rw_case coreutils '' setup_coreutils '
cp -a src copy && ls -A copy
mv src/a.txt src/a-renamed.txt && mv copy/b.txt b-moved.txt && mv src/sub moved-sub || exit 1
ls -A src moved-sub
ln -s src/a-renamed.txt link-a && ln -s ../copy copylink && ln -sf b-moved.txt link-a && readlink link-a
ln src/hl1 hard-new && stat -c "%n %h" src/hl1 src/hl2 hard-new
chmod -R go-rwx copy && chmod -R u+w,g+r src && chmod 0751 moved-sub
touch -d "2010-01-02 03:04:05 UTC" src/c.txt copy && touch -h -d "2011-01-01 00:00:00 UTC" src/rel-link
touch -c nothing-here && touch src/b.txt
install -m 0750 -d bin && install -m 0755 src/tool.sh bin/tool && install -D -m 0640 src/secret.txt conf/dir/secret
./bin/tool ran
mv copy copy-renamed && rmdir src/empty && rm src/hl2 && mkdir -p src/new/deeper/still && ls -A src
stat -c "%n %a %s" copy-renamed/* src/* bin/* conf/dir/secret | sort'

# ------------------------------------------------------------ 8. rewrites

setup_rewrite() {
  local v=$E2E_VIEW l2=$E2E_L2
  _put "$l2/etc/app.conf" "[main]
level = 3
name = demo"
  chmod 0640 "$l2/etc/app.conf"
  _put "$l2/notes.md" "line 1
line 2
line 3"
  _put "$l2/log/app.log" "first entry"
  seq 1 20000 >"$l2/data.txt"
  _put "$l2/settings.py" "DEBUG = True"
  _put "$l2/record.bin" "0123456789abcdefghij"
  _put "$v/etc/override.conf" "from the top layer"
  touch -d '2015-05-05 05:05:05 UTC' "$l2"/etc/* "$l2"/*.* "$v/etc/override.conf"
}

rw_case rewrite-files '' setup_rewrite '
sed -i "s/level = 3/level = 9/" etc/app.conf && cat etc/app.conf
sed -i.bak -e 1d notes.md && cat notes.md notes.md.bak
sed -i "s/top/TOP/" etc/override.conf && cat etc/override.conf
echo "second entry" >>log/app.log && printf "third entry\n" >>log/app.log && cat log/app.log
truncate -s 0 data.txt && wc -c data.txt
: >etc/override.conf && wc -c etc/override.conf
python3 -c "
with open(\"settings.py\", \"w\") as f:
    f.write(\"DEBUG = False\\n\")
with open(\"record.bin\", \"r+b\") as f:
    f.seek(10)
    f.write(b\"ABCDE\")
with open(\"new.py\", \"w\") as f:
    f.write(\"created = 1\\n\")
# How editors save: write a temporary file, then rename it over the original.
import os
with open(\"etc/.app.conf.tmp\", \"w\") as f:
    f.write(open(\"etc/app.conf\").read().replace(\"demo\", \"saved\"))
os.chmod(\"etc/.app.conf.tmp\", 0o640)
os.replace(\"etc/.app.conf.tmp\", \"etc/app.conf\")
" && cat settings.py record.bin new.py etc/app.conf
stat -c "%n %a %s" etc/* notes.md* log/* data.txt settings.py record.bin new.py'

# ------------------------------------------------------------ 9. identity

# Inode numbers across copy-up: a lower file keeps its st_dev/st_ino when it
# is copied up (overlayfs' origin), through stat, fstat and statx, and
# editors that compare them before overwriting (vim's E949 check) are
# satisfied; a file with other hard links in its layer and a new file get
# new numbers. Numbers differ between the two runs only for new inodes, so
# those are printed as comparisons.
setup_identity() {
  local l2=$E2E_L2
  E2E_LOWERS=$E2E_VIEW:$E2E_L2
  _put "$l2/doc/a.txt" "a"
  _put "$l2/doc/b.txt" "b"
  _put "$l2/doc/c.txt" "c"
  _put "$l2/doc/d.txt" "d"
  _put "$l2/doc/linked" "linked"
  ln "$l2/doc/linked" "$l2/doc/linked2"
  mkdir -p "$l2/doc/sub"
  _put "$l2/doc/sub/e.txt" "e"
}

rw_case identity '' setup_identity '
same() { [ "$1" = "$2" ] && echo "$3: same" || echo "$3: changed"; }
cd doc
a=$(stat -c %d:%i a.txt); b=$(stat -c %d:%i b.txt); c=$(stat -c %d:%i c.txt); d=$(stat -c %d:%i d.txt)
l=$(stat -c %d:%i linked); s=$(stat -c %d:%i sub); e=$(stat -c %d:%i sub/e.txt)
stat -c "%n %i" a.txt b.txt sub sub/e.txt
echo more >> a.txt && chmod 600 b.txt && touch -d "2012-01-01 UTC" c.txt && echo new > sub/e.txt
same "$a" "$(stat -c %d:%i a.txt)" "append"
same "$b" "$(stat -c %d:%i b.txt)" "chmod"
same "$c" "$(stat -c %d:%i c.txt)" "touch"
same "$e" "$(stat -c %d:%i sub/e.txt)" "rewrite in a copied-up dir"
same "$s" "$(stat -c %d:%i sub)" "its dir"
stat -c "%n %i" a.txt b.txt c.txt sub sub/e.txt
echo x >> linked
same "$l" "$(stat -c %d:%i linked)" "hard-linked lower file"
python3 -c "
import os
st = os.stat(\"d.txt\")
fd = os.open(\"d.txt\", os.O_WRONLY)
f = os.fstat(fd)
print(\"open for writing, fstat:\", \"same\" if (f.st_dev, f.st_ino) == (st.st_dev, st.st_ino) else \"changed\")
os.write(fd, b\"D\")
f = os.fstat(fd)
print(\"after a write, fstat:\", \"same\" if (f.st_dev, f.st_ino) == (st.st_dev, st.st_ino) else \"changed\")
os.close(fd)
"
mv a.txt a-moved.txt
same "$a" "$(stat -c %d:%i a-moved.txt)" "renamed copy"
echo new > fresh.txt && cp a-moved.txt copy.txt
[ "$(stat -c %i fresh.txt)" != "$(stat -c %i copy.txt)" ] && echo "new files: distinct"
# A copy renamed or linked into a directory of the upper alone keeps its
# number there too (the directory is marked impure, as overlayfs marks it).
mkdir fresh && mv c.txt fresh/c-moved.txt && ln b.txt fresh/b-linked && echo new > fresh/own.txt
same "$c" "$(stat -c %d:%i fresh/c-moved.txt)" "copy renamed into a new dir"
# Listings give the numbers stat gives (d_ino, as scandir reports it).
python3 -c "
import os
for d in (\".\", \"sub\", \"fresh\"):
    for e in sorted(os.scandir(d), key=lambda e: e.name):
        same = e.inode() == os.lstat(e.path).st_ino
        print(\"d_ino of\", e.path, \"as stat\" if same else \"differs\")
"'

# ------------------------------------------------------------ 10. more tools

# Everyday tools on lower files: patch, zip/unzip, bzip2, flock, fallocate,
# split, sort -o onto its input, du, df's file system type, mktemp, ln -f
# over a lower file, cp -l, file.
setup_tools() {
  local l2=$E2E_L2 v=$E2E_VIEW
  E2E_LOWERS=$E2E_VIEW:$E2E_L2
  mkdir -p "$l2/proj/src" "$v/proj/src"
  seq 1 200 >"$l2/proj/src/numbers.txt"
  printf 'alpha\nbeta\ngamma\n' >"$l2/proj/src/words.txt"
  printf 'top layer file\n' >"$v/proj/src/top.txt"
  printf -- '--- a/src/words.txt\n+++ b/src/words.txt\n@@ -1,3 +1,3 @@\n alpha\n-beta\n+BETA\n gamma\n' >"$l2/proj/fix.patch"
  touch -d '2016-06-06 06:06:06 UTC' "$l2"/proj/src/* "$v/proj/src/top.txt" "$l2/proj/fix.patch"
}

rw_case tools 'patch zip unzip bzip2 flock fallocate split du file' setup_tools '
cd proj
patch -p1 < fix.patch && cat src/words.txt
# Fixed times before zipping: unzip restores them (rounded to 2 s), and a
# time from the run itself would differ between the two runs.
touch -d "2017-07-07 07:07:08 UTC" src src/*
zip -q -X -r ../src.zip src && unzip -q -o ../src.zip -d unzipped && ls -R unzipped | sort
bzip2 -k src/numbers.txt && bzip2 -dc src/numbers.txt.bz2 | tail -n 2
flock src/numbers.txt -c "echo locked"
fallocate -l 65536 src/big && stat -c "%n %s" src/big
split -l 50 src/numbers.txt part- && ls part-* && cat part-ad | head -n 1
sort -r -o src/words.txt src/words.txt && cat src/words.txt
du -s --apparent-size --block-size=1 src | cut -f1
test "$(stat -f -c %T .)" = overlayfs && echo "statfs: overlayfs"
t=$(mktemp -p . tmp.XXXXXX) && echo temp > "$t" && cat "$t" && rm "$t"
ln -f src/top.txt src/numbers.txt && cat src/numbers.txt && stat -c "%n %h" src/top.txt src/numbers.txt
cp -l src/words.txt words-link && stat -c "%n %h" words-link src/words.txt
file -b src/words.txt src/numbers.txt.bz2' '*.zip'

# A directory listed, changed and listed again by one program: every
# listing shows the changes made before it (no stale merged listing).
rw_case relist '' setup_tools '
cd proj/src
python3 -c "
import os
def ls():
    print(sorted(os.listdir(\".\")))
ls()
open(\"new.txt\", \"w\").close(); ls()
os.unlink(\"words.txt\"); ls()
os.rename(\"top.txt\", \"renamed.txt\"); ls()
os.mkdir(\"sub\"); os.rmdir(\"sub\"); ls()
fd = os.open(\".\", os.O_RDONLY | os.O_DIRECTORY)
os.symlink(\"new.txt\", \"link\")
print(sorted(os.listdir(fd)))
os.close(fd)
"'

# ------------------------------------------------------------ 11. credentials

# A root program that switches to another user gets that user's permission
# checks on the layers (EACCES where the kernel gives it), and what it may
# write lands in the upper owned by it; a credential call that changes
# nothing (GNU make's setresuid(-1, euid, -1), which the filter lets run
# unseen) changes nothing; and the same call made after a real switch
# (unseen too) switches back.
setup_creds() {
  local l2=$E2E_L2
  E2E_LOWERS=$E2E_VIEW:$E2E_L2
  mkdir -p "$l2/home/private" "$l2/home/shared"
  _put "$l2/home/secret.txt" "root only"
  chmod 0600 "$l2/home/secret.txt"
  _put "$l2/home/private/inner.txt" "inside a 0700 dir"
  _put "$l2/home/private/sub/deep.txt" "below a 0700 dir"
  chmod 0700 "$l2/home/private"
  chmod 0777 "$l2/home/shared"
  _put "$l2/home/shared/open.txt" "anyone may write"
  chmod 0666 "$l2/home/shared/open.txt"
  _put "$l2/home/readonly.txt" "anyone may read"
  chmod 0644 "$l2/home/readonly.txt"
  mkdir -p "$l2/home/locked" "$l2/home/opened"
  chmod 0755 "$l2/home/locked"
  chmod 0777 "$l2/home/opened"
}

rw_case credentials 'setpriv' setup_creds '
cd home
ls locked opened >/dev/null && chmod 0777 locked && chmod 0755 opened
cat private/sub/deep.txt
mkdir -m 0700 made-private && mkdir -m 0700 made-private/sub && echo mine > made-private/sub/f
python3 -c "import os; os.setresuid(-1, os.geteuid(), -1); os.setresgid(-1, os.getegid(), -1); print(open(\"secret.txt\").read().strip())"
python3 -c "import os
os.setresuid(-1, 65534, -1)
try:
    open(\"secret.txt\")
except OSError as e:
    print(\"as nobody:\", e.errno)
os.setresuid(-1, 0, -1)
print(\"back:\", open(\"secret.txt\").read().strip())"
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "
id -u
cat secret.txt 2>&1 | sed \"s/^cat: //\"
ls private 2>&1 | sed \"s/^ls: //\"
cat private/sub/deep.txt 2>&1 | sed \"s/^cat: //\"
cat made-private/sub/f 2>&1 | sed \"s/^cat: //\"
cat readonly.txt
echo more >> shared/open.txt && cat shared/open.txt
echo new > shared/made-by-nobody.txt && stat -c \"%n %u %g %a\" shared/made-by-nobody.txt
echo x >> readonly.txt 2>&1 | sed \"s/^sh: [0-9]*: //\"
touch newfile 2>&1 | sed \"s/^touch: //\"
mkdir shared/dir && stat -c \"%n %u\" shared/dir
touch locked/mine && echo \"created in a directory made writable\"
touch opened/mine 2>&1 | sed \"s/^touch: //\"
"
cat secret.txt'

# A set-group-ID directory gives what is made in it its group, and a
# directory made in it the bit too, also where a name is made again over
# the whiteout of a lower's (built in the work dir, then swapped in). A
# file that asks for the bit keeps it only when its maker is in the group.
setup_setgid() {
  local l2=$E2E_L2
  E2E_LOWERS=$E2E_VIEW:$E2E_L2
  mkdir -p "$l2/sg/d" "$l2/sg/open/d"
  _put "$l2/sg/f" "lower file"
  _put "$l2/sg/open/f" "lower file"
  _put "$l2/sg/open/g" "lower file"
  ln -s x "$l2/sg/l"
  chgrp -R 4321 "$l2/sg"
  chmod 2775 "$l2/sg"
  chmod 2777 "$l2/sg/open"
}

rw_case setgid-dirs 'setpriv' setup_setgid '
cd sg
rm -r d f l && mkdir d && mkdir -m 0700 d2 && echo new > f && ln -s y l && mkfifo p
python3 -c "import os; os.close(os.open(\"x\", os.O_CREAT | os.O_WRONLY, 0o2775))"
rm x && python3 -c "import os; os.umask(0); os.close(os.open(\"x\", os.O_CREAT | os.O_WRONLY, 0o2775))"
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "
cd open && rm -r d f g && mkdir d && echo mine > f &&
python3 -c \"import os; os.umask(0); os.close(os.open(\\\"g\\\", os.O_CREAT | os.O_WRONLY, 0o2775))\"
"
stat -c "%n %A %u %g" * open/* | sort'


# AF_UNIX sockets named by paths in the view: bound in a merged directory
# and in one of a lower (copied up), named by getsockname and getpeername
# as the program named them, reached by connect and by sendto
# (datagrams, also through a symlink in a lower), and the kernel's answers
# where the path names no socket (missing, a regular file, a lower's stale
# socket file) or the socket ignores the address; abstract names and sends
# on connected sockets run unseen.
setup_sockets() {
  _put "$E2E_VIEW/sk/a.txt" "a"
  _put "$E2E_L2/sk/lowdir/f" "lower file"
  ln -s sk/lowdir/dg "$E2E_L2/sklink"
  python3 -c "import socket; socket.socket(socket.AF_UNIX).bind(\"$E2E_L2/sk/stale\")"
}

rw_case unix-sockets '' setup_sockets 'python3 -c "
import os, socket, stat
def t(label, f):
    try:
        r = f()
        print(label, \"ok\" if r is None else r)
    except OSError as e:
        print(label, os.strerror(e.errno))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(\"sk/stream\"); s.listen(1)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(\"sk/stream\")
s.settimeout(5); a, _ = s.accept(); c.sendall(b\"ping\"); print(\"stream\", a.recv(4))
t(\"stream sendto\", lambda: c.sendto(b\"x\", \"sk/stream\"))
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d.settimeout(5)
d.bind(\"sk/lowdir/dg\")
e = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); e.settimeout(5)
e.bind(\"sk/dg2\")
t(\"sendto\", lambda: e.sendto(b\"hello\", \"sk/lowdir/dg\"))
t(\"sendto symlink\", lambda: e.sendto(b\"via link\", \"sklink\"))
t(\"sendto absolute\", lambda: e.sendto(b\"absolute\", os.getcwd() + \"/sk/lowdir/dg\"))
for i in range(3):
    data, addr = d.recvfrom(100); print(\"got\", data, os.path.basename(addr))
t(\"reply\", lambda: d.sendto(b\"back\", addr)); print(\"reply got\", e.recv(10))
print(\"names\", e.getsockname(), d.getsockname(), s.getsockname(), a.getsockname(), c.getpeername())
ab2 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); ab2.bind(os.getcwd() + \"/sk/abs-named\")
print(\"absolute name\", ab2.getsockname() == os.getcwd() + \"/sk/abs-named\", socket.socket(socket.AF_UNIX).getsockname())
t(\"missing\", lambda: e.sendto(b\"x\", \"sk/none\"))
t(\"missing dir\", lambda: e.sendto(b\"x\", \"sk/none/x\"))
t(\"regular file\", lambda: e.sendto(b\"x\", \"sk/a.txt\"))
t(\"stale socket\", lambda: e.sendto(b\"x\", \"sk/stale\"))
t(\"connect stale\", lambda: socket.socket(socket.AF_UNIX).connect(\"sk/stale\"))
t(\"bind existing\", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(\"sk/a.txt\"))
ab = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); ab.settimeout(5); ab.bind(b\"\\0ovlbox-e2e-%d\" % os.getpid())
t(\"abstract\", lambda: e.sendto(b\"abs\", b\"\\0ovlbox-e2e-%d\" % os.getpid())); print(\"abstract got\", ab.recv(10))
e.connect(\"sk/lowdir/dg\"); t(\"send connected\", lambda: e.send(b\"conn\")); print(\"connected got\", d.recv(10))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(5); u.bind((\"127.0.0.1\", 0))
t(\"udp\", lambda: u.sendto(b\"udp\", u.getsockname())); print(\"udp got\", u.recv(10))
print(sorted(os.listdir(\"sk\")), sorted(os.listdir(\"sk/lowdir\")))
print([stat.S_ISSOCK(os.lstat(p).st_mode) for p in [\"sk/stream\", \"sk/lowdir/dg\", \"sk/stale\"]])
"'


# The order of listings, as programs print them unsorted (`ls -f`,
# `find`, `os.listdir`, `tar c`): overlayfs' order. A merged directory of
# three lowers (a whiteout and an opaque directory among them) lists the
# lowest layer's names first, in that layer's order, then the others;
# copy-ups keep the order, names made in the view come after the lowest
# layer's; a directory of one lower, of the upper alone and an opaque one
# remade in the view list in their real directories' order. With the
# library, the merged directory of lowers is listed by the library; without
# it (and after the copy-ups either way), by the supervisor.
setup_order() {
  E2E_LOWERS=$E2E_VIEW:$E2E_L2:$E2E_L3
  local i
  for i in 07 13 21 34 42 55 68 71 89 93; do
    _put "$E2E_L3/m/bottom$i" "l3 $i"
    _put "$E2E_L2/m/middle$i" "l2 $i"
    _put "$E2E_VIEW/m/top$i" "l1 $i"
  done
  _put "$E2E_L2/m/bottom13" "l2 over l3"
  _put "$E2E_VIEW/m/middle21" "l1 over l2"
  _whiteout "$E2E_VIEW/m/bottom34"
  _put "$E2E_L3/m/sub/low" "low"
  _opaque "$E2E_L2/m/sub"
  _put "$E2E_L2/m/sub/mid" "mid"
  for i in q w e r t y u i o p; do _put "$E2E_L2/one/$i$i" "$i"; done
}

order_cmd='
echo "== m"; ls -f m | tr "\n" " "; echo
echo "== one"; ls -f one | tr "\n" " "; echo
echo "== find"; find m one | tr "\n" " "; echo
echo "== listdir"; python3 -c "import os; print(os.listdir(\"m\")); print([e.name for e in os.scandir(\"one\")])"
echo x >> m/bottom55; echo x >> m/top07; echo x >> m/middle68; chmod 600 m/bottom89
echo "== m after copy-ups"; ls -f m | tr "\n" " "; echo
touch m/zz-new m/aa-new; mkdir m/new-dir; rm m/top13 m/bottom07
echo "== m after changes"; ls -f m | tr "\n" " "; echo
mkdir fresh && touch fresh/k fresh/b fresh/x fresh/a fresh/m && mkdir fresh/d && touch fresh/d/y fresh/d/c
echo "== fresh"; ls -f fresh fresh/d | tr "\n" " "; echo
rm -r one && mkdir one && touch one/ww one/zz one/aa one/qq
echo "== one remade"; ls -f one | tr "\n" " "; echo
echo "== tar"; tar cf - m fresh | tar tf - | tr "\n" " "; echo'
rw_case listing-order '' setup_order "$order_cmd"
# The same, every listing the supervisor's.
E2E_OVLBOX_FLAGS=--no-preload rw_case listing-order-supervisor '' setup_order "$order_cmd"


# Layers on two filesystems (a lower on a tmpfs, the others and the upper
# not): every directory of the view reports one device, as overlayfs has
# them report its own, so `find -xdev`, `du -x` and `tar
# --one-file-system` see the whole view; directory numbers stay unique and
# do not change on copy-up.
E2E_TMPFS=$E2E_ROOT/tmpfs-layer
setup_multifs() {
  mkdir -p "$E2E_TMPFS"
  if ! mountpoint -q "$E2E_TMPFS"; then
    mount -t tmpfs -o size=16m,mode=0755 tmpfs "$E2E_TMPFS" || return 1
    trap 'st=$?; umount -l "$E2E_TMPFS" 2>/dev/null; (exit $st); e2e_cleanup' EXIT
  fi
  find "$E2E_TMPFS" -mindepth 1 -delete
  E2E_LOWERS=$E2E_VIEW:$E2E_TMPFS
  _put "$E2E_TMPFS/t/deep/er/f" "on the tmpfs"
  _put "$E2E_TMPFS/t/deep/g" "on the tmpfs"
  _put "$E2E_VIEW/t/top" "on the disk"
  _put "$E2E_TMPFS/only/sub/h" "tmpfs alone"
  mkdir -p "$E2E_VIEW/disk/sub"
}

multifs_cmd='
ids() { python3 -c "
import os, sys
dirs = [\".\"] + [os.path.join(r, d) for r, ds, _ in os.walk(\".\") for d in ds]
st = {d: os.lstat(d) for d in dirs}
print(\"one device:\", len({s.st_dev for s in st.values()}) == 1)
print(\"unique numbers:\", len({s.st_ino for s in st.values()}) == len(dirs))
open(\"/dev/null\", \"w\").write(repr({d: s.st_ino for d, s in st.items()}))
fd = os.open(\"t/deep\", os.O_RDONLY)
print(\"fstat agrees:\", (os.fstat(fd).st_dev, os.fstat(fd).st_ino) == (st[\"./t/deep\"].st_dev, st[\"./t/deep\"].st_ino))
print(\"deep\", st[\"./t/deep\"].st_ino == int(sys.argv[1]) if sys.argv[1] else \"\")
" "$1"; }
ids ""
before=$(python3 -c "import os; print(os.lstat(\"t/deep\").st_ino)")
find . -xdev | sort | tr "\n" " "; echo
du -x . | cut -f2 | sort | tr "\n" " "; echo
echo more >> t/deep/er/f; mkdir t/deep/new; touch only/sub/x
ids "$before"
rm -r only/sub
find . -xdev | sort | tr "\n" " "; echo
tar --one-file-system -cf - . | tar tf - | sort | tr "\n" " "; echo'
rw_case multi-fs '' setup_multifs "$multifs_cmd"
# The same, every stat the supervisor's.
E2E_OVLBOX_FLAGS=--no-preload rw_case multi-fs-supervisor '' setup_multifs "$multifs_cmd"
umount "$E2E_TMPFS" 2>/dev/null


# inotify watches on directories of the view: changes made through the
# view there are reported, as overlayfs reports them on its own inodes,
# also in a directory of a lower alone (copied up when the watch is added,
# so that the watch is on the directory the changes reach) and in a merged
# one. The upper then holds the watched directory's copy, as after any
# change in it.
setup_inotify() {
  _put "$E2E_L2/w/low/f" "lower file"
  _put "$E2E_L2/w/both/g" "lower file"
  _put "$E2E_VIEW/w/both/h" "top file"
  mkdir -p "$E2E_L2/w/quiet"
}

rw_case inotify '' setup_inotify 'python3 -c "
import ctypes, os, select, struct
libc = ctypes.CDLL(None, use_errno=True)
names = {0x2: \"modify\", 0x4: \"attrib\", 0x8: \"close_write\", 0x40: \"moved_from\",
         0x80: \"moved_to\", 0x100: \"create\", 0x200: \"delete\"}
fd = libc.inotify_init1(os.O_NONBLOCK)
wds = {}
for d in [\"w/low\", \"w/both\"]:
    wds[libc.inotify_add_watch(fd, d.encode(), 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200)] = d
print(\"watches\", len(wds), min(wds) > 0)
# A watch for reads alone changes nothing in the upper.
print(\"read watch\", libc.inotify_add_watch(fd, b\"w/quiet\", 0x1 | 0x20) > 0)
def events():
    seen = set()
    while select.select([fd], [], [], 0.3)[0]:
        buf = os.read(fd, 65536)
        i = 0
        while i < len(buf):
            wd, mask, _, ln = struct.unpack_from(\"iIII\", buf, i)
            name = buf[i + 16:i + 16 + ln].rstrip(b\"\\0\").decode()
            for bit, what in names.items():
                if mask & bit:
                    seen.add((wds.get(wd, \"?\"), name, what))
            i += 16 + ln
    return seen
def step(label, action, *want):
    action()
    got = events()
    print(label, all(w in got for w in want))
step(\"create\", lambda: open(\"w/low/new\", \"w\").close(), (\"w/low\", \"new\", \"create\"))
step(\"append\", lambda: open(\"w/low/f\", \"a\").write(\"x\"), (\"w/low\", \"f\", \"modify\"))
step(\"chmod\", lambda: os.chmod(\"w/low/f\", 0o600), (\"w/low\", \"f\", \"attrib\"))
step(\"rename\", lambda: os.rename(\"w/low/new\", \"w/low/new2\"), (\"w/low\", \"new\", \"moved_from\"), (\"w/low\", \"new2\", \"moved_to\"))
step(\"unlink\", lambda: os.unlink(\"w/low/new2\"), (\"w/low\", \"new2\", \"delete\"))
step(\"merged append\", lambda: open(\"w/both/g\", \"a\").write(\"y\"), (\"w/both\", \"g\", \"modify\"))
step(\"merged mkdir\", lambda: os.mkdir(\"w/both/sub\"), (\"w/both\", \"sub\", \"create\"))
# A name a lower still has is removed by a whiteout made in its place:
# the watch on the real directory sees that arrive (moved_to), where
# overlayfs reports a delete. Either way an event names it.
os.unlink(\"w/both/g\")
print(\"merged unlink lower\", any(w == \"w/both\" and n == \"g\" for w, n, _ in events()))
"'


# Calls made from a directory removed from the view while it is the cwd
# (the lower's own directory, held from before the copy-up): nothing is
# made there, neither a link of "." or ".." nor a file or directory
# (ENOENT, as the kernel answers in a removed directory), the lower
# stays as it was, and the directory lists empty.
setup_removed_cwd() {
  _put "$E2E_L2/gone/f" "lower file"
  mkdir -p "$E2E_L2/gone/sub"
}

rw_case removed-cwd '' setup_removed_cwd 'python3 -c "
import os
def t(label, f):
    try:
        f(); print(label, \"ok\")
    except OSError as e:
        print(label, os.strerror(e.errno))
# The cwd: the lower directory itself, held from before the copy-up.
held = os.open(\"gone\", os.O_RDONLY | os.O_DIRECTORY)
open(\"gone/made\", \"w\").close()
os.fchdir(held)
import shutil; shutil.rmtree(os.path.join(\"..\", \"gone\"))
t(\"link dot\", lambda: os.link(\".\", \"x\"))
t(\"link dotdot\", lambda: os.link(\"..\", \"y\"))
t(\"create\", lambda: open(\"new\", \"w\"))
t(\"mkdir\", lambda: os.mkdir(\"newdir\"))
t(\"listdir\", lambda: print(os.listdir(\".\")))
for p in [\"./.\", \".//./\", \"./..\"]:
    t(\"stat \" + p, lambda: os.stat(p).st_nlink)
    t(\"rmdir \" + p, lambda: os.rmdir(p))
print(sorted(os.listdir(\"..\")))
"'


# Absolute paths into the view spelled with "//" and "/./" (urllib's
# file://localhost/ URLs make "//" paths): the same objects as the plain
# spelling, for reads of files changed in the view, and for changes, which
# land in the upper and never in a lower.
setup_spellings() {
  _put "$E2E_L2/sp/f" "lower text"
  _put "$E2E_L2/sp/src/a.c" "int a;"
  mkdir -p "$E2E_VIEW/sp/tmp"
}

rw_case path-spellings '' setup_spellings '
v=$(pwd)
s="/$v"
d=$(printf "%s" "$v" | sed "s|/|/./|2")
echo changed > sp/f
cat "$s/sp/f" "$d/sp/f" "$v//sp///f"
echo new > "$s/sp/new"; cat sp/new "$d/sp/new"
mkdir "$s/sp/dir" "$d/sp/dir2"; touch "$d/sp/dir/t"
ln -s f "$s/sp/sym"; ln "$s/sp/new" "$d/sp/hard"; mv "$s/sp/new" "$d/sp/moved"
chmod 600 "$s/sp/f"; rm "$d/sp/src/a.c"; mkfifo "$s/sp/fifo"; truncate -s 3 "$d/sp/f"
touch -d "2001-01-01 UTC" "$s/sp/src"
python3 -c "
import os, sys, tempfile
s = sys.argv[1]
os.mkdir(s + \"/sp/pydir\"); os.rename(s + \"/sp/pydir\", s + \"//sp/pydir2\")
fd, name = tempfile.mkstemp(dir=s + \"/sp/tmp\"); os.write(fd, b\"tmp\"); os.close(fd)
print(open(\"/\" + name).read(), os.path.exists(name))
os.unlink(\"/\" + name); print(os.path.exists(name))
" "$s"
ls -A sp | tr "\n" " "; echo'

# ------------------------------------------------------------ impure marks

# Where overlayfs marks upper directories impure (the parent of every
# copy-up; a directory a copy is renamed or linked into) and where its
# listing drops the mark again; du sees the blocks the marks take.
setup_impure() {
  _put "$E2E_L2/im/a/b/deep.txt" "deep"
  _put "$E2E_L2/im/one.txt" "one"
  _put "$E2E_L2/im/two.txt" "two"
  _put "$E2E_L2/im/three.txt" "three"
  ln -s one.txt "$E2E_L2/im/sym"
  ln -s two.txt "$E2E_L2/im/sym2"
  mkfifo "$E2E_L2/im/fifo"
  mkdir -p "$E2E_VIEW/im"
}

rw_case impure-marks '' setup_impure '
echo more >> im/a/b/deep.txt
mkdir im/linked im/moved im/same im/symdir
ln im/one.txt im/linked/one && rm im/linked/one && ls -A im/linked
mv im/two.txt im/moved/ && ls im/moved
echo x > im/same/x && mv im/same/x im/same/y
mv im/sym im/symdir/
mv im/three.txt im/three-renamed.txt
du -s im im/a im/a/b | sed "s/[[:space:]].*//" | tr "\n" " "; echo
# Copies of a symlink and a fifo keep their lower identity, in stat and in
# listings, also when moved by a later call.
s=$(stat -c %i im/sym2) f=$(stat -c %i im/fifo)
touch -h im/sym2 && chmod 600 im/fifo && mkdir im/later && mv im/sym2 im/fifo im/later/
[ "$(stat -c %i im/later/sym2)" = "$s" ] && echo "symlink keeps its number" || echo "symlink number changed"
[ "$(stat -c %i im/later/fifo)" = "$f" ] && echo "fifo keeps its number" || echo "fifo number changed"
ls -i im/later | while read -r i n; do [ "$i" = "$(stat -c %i "im/later/$n")" ] && echo "$n: listing agrees"; done
# (Removed again: a later run, as a later mount of the kernel, no longer
# knows them for copies, and its listing drops the marks of their directories.)
rm im/later/sym2 im/later/fifo im/symdir/sym'

# ------------------------------------------------------------ as a user

# ovlbox run by an unprivileged user (as the kernel's overlay, mounted by
# root, is used by that user), over a tree the user owns with read-only
# directories (a Go module cache, a build's read-only outputs): the user
# changes its own files in them and its directories' modes, and is refused
# what it may not do. Copy-up needs no privilege.
setup_as_user() {
  E2E_AS_USER=65534:65534
  _put "$E2E_L2/t/ro/file.txt" "in a read-only directory"
  _put "$E2E_L2/t/ro/sub/deep.txt" "deeper"
  _put "$E2E_L2/t/mod/pkg@v1/go.mod" "module pkg"
  _put "$E2E_L2/t/mod/pkg@v1/lib/a.go" "package lib"
  chmod 0444 "$E2E_L2/t/mod/pkg@v1/go.mod" "$E2E_L2/t/mod/pkg@v1/lib/a.go"
  chmod 0555 "$E2E_L2/t/ro/sub" "$E2E_L2/t/ro" "$E2E_L2/t/mod/pkg@v1/lib" "$E2E_L2/t/mod/pkg@v1"
  chown -R 65534:65534 "$E2E_L2/t"
  _put "$E2E_L2/t/sys/root.txt" "root's"
  chmod 0666 "$E2E_L2/t/sys/root.txt"
  mkdir -p "$E2E_VIEW/t"
  chown 65534:65534 "$E2E_VIEW/t"
}

rw_case as-user 'setpriv' setup_as_user '
id -u
cd t
echo more >> ro/file.txt && cat ro/file.txt
echo deeper still >> ro/sub/deep.txt && cat ro/sub/deep.txt
touch ro/new 2>&1 | sed "s/^touch: //"
rm ro/file.txt 2>&1 | sed "s/^rm: //"
chmod u+w ro && touch ro/new && rm ro/file.txt && ls ro
rm -rf mod 2>&1 | sed "s/^rm: //" | sort
chmod -R u+w mod && rm -rf mod && ls
touch sys/new 2>&1 | sed "s/^touch: //"
rm sys/root.txt 2>&1 | sed "s/^rm: //"
mv sys/root.txt root-moved.txt 2>&1 | sed "s/^mv: //"
chmod 600 sys/root.txt 2>&1 | sed "s/^chmod: //"
cat sys/root.txt'

# ------------------------------------------------------------ deep trees

# A tree deeper than a path can name (each level a 200-byte name, 22 of
# them: more than PATH_MAX below the view root), in a lower: every call
# names at most a few levels, relative to a directory descriptor or the
# cwd, as the kernel allows. Changes deep in it copy the whole chain up.
setup_deep() {
  python3 - "$E2E_L2/deep" "$E2E_L2/deep2" <<'PY'
import os, sys
for top in sys.argv[1:]:
    os.makedirs(top)
    fd = os.open(top, os.O_RDONLY)
    for i in range(22):
        os.mkdir("d" * 200, dir_fd=fd)
        nfd = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
        f = os.open("f%d" % i, os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
        os.write(f, b"level %d\n" % i)
        os.close(f)
PY
  _put "$E2E_VIEW/deep/top.txt" "top"
}

rw_case deep-tree python3 setup_deep '
n=$(printf "%0200d" 0 | tr 0 d)
python3 -c "
import os
n = \"d\" * 200
fd = os.open(\"deep\", os.O_RDONLY)
for i in range(22):
    nfd = os.open(n, os.O_RDONLY, dir_fd=fd); os.close(fd); fd = nfd
    if i == 19: os.unlink(\"f19\", dir_fd=fd)
    if i == 20: os.rename(\"f20\", \"g20\", src_dir_fd=fd, dst_dir_fd=fd)
with open(os.open(\"f21\", os.O_WRONLY | os.O_APPEND, dir_fd=fd), \"w\") as f: f.write(\"appended\\n\")
os.mkdir(\"new\", dir_fd=fd)
os.fchdir(fd)
print(len(os.getcwd()), sorted(os.listdir(\".\")), open(\"f21\").read().split())
try: os.stat(os.getcwd())
except OSError as e: print(\"stat of the cwd by its path:\", e.strerror)
os.chdir(\"..\"); print(sorted(os.listdir(\".\")), os.path.exists(\"f19\"))
"
bash -c "
cd deep || exit 1
i=0; while [ \$i -lt 22 ]; do cd $n || exit 1; i=\$((i+1)); done
/bin/pwd | wc -c; echo made > new/made.txt; mkdir -p lower/made; cd lower/made && /bin/pwd | wc -c
cd ../../..; /bin/pwd | wc -c; ls; rm -rf $n; ls
" || exit 1
# From a directory of the lower alone into one just made in the upper.
bash -c "
cd deep2 || exit 1
i=0; while [ \$i -lt 22 ]; do cd $n || exit 1; i=\$((i+1)); done
mkdir made && cd made && /bin/pwd | wc -c && echo x > x && cd .. && ls && cd .. && cd $n/made && ls
cp /bin/true ./true-copy && ./true-copy && echo ran a program this deep
printf \"#!/bin/sh\necho ran a script this deep\n\" > s.sh && chmod +x s.sh && ./s.sh
" || exit 1
find deep deep2 -type f | wc -l; find deep -name "g20" | wc -c; cat deep/top.txt'

e2e_finish
