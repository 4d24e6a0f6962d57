#!/bin/bash
#
# End-to-end differential test of ovlbox's read-only view (lowers only).
#
# Builds three lower layers (see lib.sh: whiteouts, opaque dirs, symlinks of
# every kind, hardlinks, a fifo, a device, xattrs, a git repository, scripts,
# a C program...) and runs real programs (ls, find, grep, cat, sh, python3,
# git, cc, tar, stat, readlink...) against them, once on a kernel overlayfs
# mount and once under ovlbox.  stdout, stderr and exit status must be
# identical, every write attempt must fail exactly as on the kernel's
# read-only overlay (EROFS and friends), and the lower layers must be left
# untouched.
#
# Run:  bazel test //tests/e2e:view_test
#   or  sudo OVLBOX=/path/to/ovlbox tests/e2e/view_test.sh
# Prints "ok NAME" / "FAIL NAME" per case and "N passed, N failed" at the end.

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
make_layers

# Not compared on purpose: the file system type (stat -f -c %T, df), which
# is "overlayfs" on the kernel side and the host's file system under ovlbox,
# inode numbers and device numbers, and the order of readdir results (every
# listing that depends on it is sorted).

# ------------------------------------------------------------ listings

run_case ls-root 'ls -la'
run_case ls-laR 'ls -laR'
run_case ls-laR-full-iso 'ls -laR --time-style=full-iso'
run_case ls-merged-dirs 'ls -la merged merged/sub opq opq1 "dir with space" deep/a/b/c'
run_case ls-follow-links 'ls -laL links 2>"$SCRATCH/err"; st=$?; sort "$SCRATCH/err" >&2; exit $st'
run_case ls-absolute 'ls -la "$VIEW" "$VIEW/" "$VIEW/merged/"'
run_case find-printf "find . -printf '%p %y %m %s %l\n' | sort"
run_case find-meta "find . -printf '%p %y %m %U %G %n %s %T@\n' | sort"
run_case find-follow "find -L . -printf '%p %y %Y\n' 2>\"\$SCRATCH/err\" | sort; st=\$?; sort \"\$SCRATCH/err\" >&2; exit \$st"
run_case find-type-f 'find . -type f | sort'
run_case find-xargs-cat 'find . \( -path ./repo/.git -o -name "*.bin" -o -path ./bin \) -prune -o -type f -print | sort | xargs cat'
run_case find-cat-null 'find . \( -path ./repo/.git -o -name "*.bin" -o -path ./bin \) -prune -o -type f -print0 | sort -z | xargs -0 cat'
run_case sha256-all 'find . -type f -print0 | sort -z | xargs -0 sha256sum'
# du counts each hardlinked inode once, under whichever name it meets first
# (readdir order): compare the deduplicated total and the full list apart.
run_case du-total 'du -sb .; du -sb hl'
run_case du-apparent 'du -abl . | sort -k2'
run_case tar-list 'tar --sort=name --numeric-owner -cf - . | tar -tvf - --full-time'

# ------------------------------------------------------------ reading

run_case grep-r 'grep -r -n "from l" . | sort'
run_case grep-r-count 'grep -r -c -D skip "l2" --exclude-dir=.git . | sort'
run_case grep-R-follow 'grep -R -l -D skip "from" . 2>"$SCRATCH/err" | sort; st=$?; sort "$SCRATCH/err" >&2; exit $st'
run_case cat-upper-wins 'cat README.txt etc/config.ini merged/a.txt merged/b.txt revived.txt'
run_case cat-symlinks 'cat links/rel links/abs links/chain1 links3/abs3 links/outside'
run_case cat-dir-symlinks 'cat links/reldir/c/mid.txt links/absdir/manual.txt sublink/data.txt links/self/rel links/dotdot/top-only.txt'
run_case cat-dangling 'cat links/dangling'
run_case cat-loop 'cat links/loop1'
run_case cat-to-whiteout 'cat links/to-whiteout'
run_case cat-odd-paths 'cat ./merged/../merged/./a.txt "$VIEW//merged///b.txt" "$VIEW/../view/merged/e.txt" deep/a/b/c/d/e/f/g/h/i/j/leaf.txt'
run_case read-big-file 'sha256sum big.bin; tail -c 16 big.bin | od -An -tx1; dd if=big.bin bs=1000 skip=100 count=3 2>/dev/null | sha256sum'
run_case read-redirect 'while read -r l; do echo "line: $l"; done < etc/config.ini; wc -c < merged/b.txt'
run_case readlink 'for l in links/* links3/* sublink; do printf "%s -> %s\n" "$l" "$(readlink "$l")"; done'
run_case readlink-f 'readlink -f links/chain1 links/abs links/reldir links/dotdot links/self links/dangling links/absdir sublink .'
run_case readlink-e-loop 'readlink -e links/loop1'
run_case realpath 'realpath links/chain1 links/reldir/c sublink/script.sh "dir with space" ..'

# ------------------------------------------------------------ layering

run_case whiteouts 'for n in gone.txt gonedir gonedir/inner/file.txt only2-gone.txt mid-gone.txt mid-gonedir mid-gonedir/x.txt merged/gone-in-merged.txt repo/to-delete.txt revived.txt; do
  if [ -e "$n" ] || [ -L "$n" ]; then echo "present $n"; else echo "absent $n"; fi
done'
run_case whiteout-stat 'stat -c "%n %F" gone.txt gonedir mid-gonedir/x.txt'
run_case whiteout-ls 'ls -la gone.txt gonedir'
run_case whiteout-cd 'cd gonedir'
run_case opaque 'ls -la opq opq1; cat opq/* opq1/*; [ -e opq/old1.txt ] && echo visible || echo hidden'
run_case typechange 'ls -la typechange-dir typechange-file; cat typechange-dir typechange-file/inside.txt'
run_case hardlinks 'stat -c "%n %h %s" hl/a hl/b hl/c cross-layer-link
for p in "hl/a hl/b" "hl/a hl/c" "hl/b cross-layer-link" "merged/a.txt links/rel"; do
  set -- $p; if [ "$1" -ef "$2" ]; then echo "$1 == $2"; else echo "$1 != $2"; fi
done'
run_case stat-various 'stat -c "%n %F %a %s %h %U %G %Y" . merged merged/a.txt merged/b.txt sub sub/script.sh empty pipe dev/nullish hl/a links/rel links/abs "dir with space" perm/* deep/a/b/c etc/config.ini'
run_case stat-follow 'stat -L -c "%n %F %a %s" links/rel links/abs links/chain1 links/reldir links/absdir links/outside sublink'
run_case stat-missing 'stat -c %n no-such-file'
run_case test-operators 'for f in merged/a.txt sub/script.sh empty pipe dev/nullish links/rel links/dangling perm/readonly.txt perm/sticky perm/suid.sh; do
  r=""; for op in e f d h p c r w x s k u; do test -$op "$f" && r="$r$op"; done; echo "$f: $r"
done'
run_case xattrs 'python3 -c "
import os
for p in [\"attrs.txt\", \"attrdir\", \"merged\", \"opq\", \"opq1\", \"links/rel\"]:
    print(p, sorted(os.listxattr(p, follow_symlinks=False)))
print(os.getxattr(\"attrs.txt\", \"user.foo\"))
for n in [\"user.overlay.secret\", \"user.overlay.opaque\", \"user.nope\"]:
    try:
        print(n, os.getxattr(\"attrs.txt\" if n != \"user.overlay.opaque\" else \"opq\", n))
    except OSError as e:
        print(n, e.strerror)
"'
# openat2's RESOLVE_* flags, judged in the view as on the kernel's mount.
run_case openat2-resolve 'python3 -c "
import ctypes, os, struct, errno
libc = ctypes.CDLL(None, use_errno=True)
def oa2(dfd, path, flags, resolve):
    how = ctypes.create_string_buffer(struct.pack(\"QQQ\", flags, 0, resolve))
    fd = libc.syscall(437, dfd, path.encode(), how, 24)
    if fd < 0:
        return errno.errorcode[ctypes.get_errno()]
    try:
        return os.readlink(\"/proc/self/fd/%d\" % fd)
    finally:
        os.close(fd)
XDEV, MAGIC, NOSYM, BENEATH, INROOT = 1, 2, 4, 8, 16
links = os.open(\"links\", os.O_RDONLY | os.O_DIRECTORY)
deep = os.open(\"deep/a\", os.O_RDONLY | os.O_DIRECTORY)
root = os.open(\".\", os.O_RDONLY | os.O_DIRECTORY)
for d, p, fl, res in [
    (links, \"rel\", 0, BENEATH), (links, \"rel\", 0, INROOT), (links, \"rel\", 0, NOSYM),
    (links, \"abs\", 0, BENEATH), (links, \"abs\", 0, INROOT), (links, \"abs\", 0, XDEV),
    (links, \"chain1\", 0, BENEATH), (links, \"chain1\", 0, 0), (links, \"outside\", 0, XDEV),
    (links, \"outside\", 0, BENEATH), (links, \"self/rel\", 0, INROOT), (links, \"dotdot/merged/a.txt\", 0, BENEATH),
    (deep, \"b/c\", os.O_DIRECTORY, BENEATH), (deep, \"b/../b/c\", os.O_DIRECTORY, BENEATH),
    (deep, \"../a/b\", os.O_DIRECTORY, BENEATH), (deep, \"/b\", os.O_DIRECTORY, INROOT),
    (deep, \"../../..\", os.O_DIRECTORY, INROOT), (deep, \"/etc\", os.O_DIRECTORY, BENEATH),
    (root, \"merged/a.txt\", 0, BENEATH | MAGIC), (root, \"links/reldir/c\", os.O_DIRECTORY, NOSYM),
    (root, \"..\", os.O_DIRECTORY, XDEV), (root, \"/proc/self/cwd\", os.O_DIRECTORY, MAGIC),
    (root, \"/proc/self/cwd\", os.O_DIRECTORY, 0), (root, \"merged/a.txt\", 0, BENEATH | INROOT),
    (root, \"merged/a.txt\", os.O_PATH | os.O_RDWR, 0), (root, \"merged/a.txt\", 0, 128)]:
    print(p, res, oa2(d, p, fl, res))
"'
run_case fifo 'test -p pipe && echo "is a fifo"; (echo "through the fifo" > pipe) & cat pipe; wait'
# On the kernel's read-only overlay, I/O through a fifo leaves its times alone.
run_case fifo-times 'before=$(stat -c "%.9Y %.9Z" pipe); (echo data > pipe) & cat pipe >/dev/null; wait
after=$(stat -c "%.9Y %.9Z" pipe); [ "$before" = "$after" ] && echo "times unchanged" || echo "times changed"'
run_case char-device 'cat dev/nullish; echo "read: $?"; echo data > dev/nullish; echo "write: $?"'

# ------------------------------------------------------------ directories

run_case cd-pwd 'cd merged/sub && pwd && pwd -P && ls && cd ../.. && pwd && ls -d merged'
run_case cd-symlink-dir 'cd links/reldir && pwd && pwd -P && ls && cd .. && pwd && ls && cd "$VIEW" && cd -P links/reldir/.. && pwd'
run_case cd-abs-symlink 'cd links/absdir && pwd && pwd -P && ls -la'
run_case cd-dotdot-link 'cd links/dotdot && pwd && pwd -P && ls'
run_case cd-sublink 'cd sublink && pwd -P && ls -la && cd .. && pwd'
run_case cd-deep 'cd deep/a/b/c/d/e/f/g/h/i/j && pwd -P && cat leaf.txt && cd ../../../../../.. && pwd && ls'
run_case cd-out-of-view 'cd .. && pwd && ls && cat outside/host.txt && cd view && ls top-only.txt'
run_case proc-cwd 'readlink /proc/self/cwd; cd sub && readlink /proc/self/cwd; cd ../merged && readlink /proc/self/cwd'
run_case proc-cwd-open 'cd sub && cat /proc/self/cwd/data.txt && ls /proc/self/cwd/ && cd ../docs && cat "/proc/$$/cwd/chapter 2.txt"'
run_case proc-maps 'python3 -c "
import mmap
f = open(\"big.bin\", \"rb\")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print(sorted({l.split()[-1] for l in open(\"/proc/self/maps\") if \"big.bin\" in l}))
print(m[:4].hex())
"'
run_case cd-parent-from-lower-dir 'cd docs && ls .. | head -5 && cat ../top-only.txt && cd .. && pwd -P
cd sub && cat ../merged/a.txt && ls -la .. | head -4
cd "$VIEW/links/reldir/c" && ls ../../.. | tail -3 && cd ../../../sub && pwd && pwd -P'
run_case outside-link-into-view 'cat "$VIEW/../outside/into-view"; ls -la "$VIEW/../outside"; readlink -f "$VIEW/../outside/into-view"'
run_case many-entries 'ls many | wc -l; ls -la many; find many -type f | wc -l; cat many/entry-2.txt many/entry-3.txt many/entry-304.txt many/entry-305.txt many/entry-700.txt'
run_case misc-errors 'cat merged; echo "st=$?"; ls -d merged/a.txt/; echo "st=$?"; cat merged/a.txt/x; echo "st=$?"; cd merged/a.txt; echo "st=$?"'
run_case stat-times 'stat -c "%n %.9W %.9Y %.9Z" . merged merged/a.txt merged/b.txt sub sub/script.sh hl/a perm/old.txt links/rel links/abs opq opq1 deep/a/b/c dev/nullish'
run_case proc-fd 'exec 3< merged/d.txt 4< sub/data.txt 5< merged; readlink /proc/self/fd/3 /proc/self/fd/4 /proc/self/fd/5'
# Reopening descriptors by their /proc and /dev links: pipes, here-strings,
# process substitution, files outside the view, /dev/stdin of a view file.
run_case proc-fd-reopen 'cat /dev/stdin < /etc/hostname | wc -c; echo piped | cat /dev/fd/0
bash -c "diff <(echo a) <(echo b); cat /proc/self/fd/0 <<< here-string"
cat /dev/stdin < sub/data.txt; exec 3< merged/d.txt; cat /dev/fd/3 /proc/$$/fd/3
python3 -c "
import os, socket
s = socket.socket(socket.AF_UNIX)
try:
    os.open(\"/proc/self/fd/%d\" % s.fileno(), os.O_RDONLY)
except OSError as e:
    print(\"socket:\", os.strerror(e.errno))
"' 

# ------------------------------------------------------------ programs

run_case python-walk 'python3 -c "
import hashlib, os
for root, dirs, files in os.walk(\".\"):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(root, n)
        st = os.lstat(p)
        line = \"%s %o %d\" % (p, st.st_mode, st.st_size)
        if os.path.islink(p):
            line += \" -> \" + os.readlink(p)
        elif os.path.isfile(p):
            with open(p, \"rb\") as f:
                line += \" \" + hashlib.sha256(f.read()).hexdigest()[:16]
        print(line)
"'
run_case python-script 'python3 py/tool.py one "two three"; ./py/tool.py four'
run_case python-scandir 'python3 -c "
import os
with os.scandir(\"merged\") as it:
    for e in sorted(it, key=lambda e: e.name):
        print(e.name, e.is_dir(), e.is_file(), e.is_symlink(), e.stat().st_size)
print(os.path.exists(\"gone.txt\"), os.path.isdir(\"gonedir\"), os.path.samefile(\"hl/a\", \"hl/b\"))
print(open(\"links/abs\").read().strip())
"'
run_case script-relative './sub/script.sh a "b c"'
run_case script-path 'PATH="$VIEW/sub:$PATH"; command -v script.sh; script.sh x'
run_case script-via-symlink './sublink/script.sh; sh sub/script.sh y'
run_case script-from-subdir 'cd sub && ./script.sh z && cd ../merged && ../sub/script.sh'
run_case elf-from-lower './bin/selfinfo; "$VIEW/bin/selfinfo" a b'
run_case c-compile 'cc -o "$SCRATCH/hello" src/hello.c && "$SCRATCH/hello"'
run_case git-log 'git -c safe.directory="*" -C repo log --oneline'
run_case git-status 'git -c safe.directory="*" -C repo status --porcelain'
run_case git-status-long 'cd repo && git -c safe.directory="*" status'
run_case git-diff 'git -c safe.directory="*" -C repo diff'
run_case git-ls-files 'git -c safe.directory="*" -C repo ls-files -s'
run_case cp-out 'cp -a merged hl attrs.txt "dir with space" "$SCRATCH/" && cd "$SCRATCH" && ls -lR --time-style=full-iso && stat -c "%n %h" hl/* && python3 -c "import os; print(sorted(os.listxattr(\"attrs.txt\")))"'
run_case write-outside 'echo hello > "$SCRATCH/out.txt" && cat "$SCRATCH/out.txt" && ls "$SCRATCH"'

# ------------------------------------------------------------ exit status

run_case exit-code 'exit 7'
run_case exit-signal 'kill -USR1 $$'
run_case not-found 'no-such-command'
run_case not-executable './README.txt'
run_case exec-dir './empty'
run_case ls-missing 'ls gone.txt no-such-file'

# ------------------------------------------------------------ writes must fail

run_case write-touch-new 'touch newfile'
run_case write-touch-existing 'touch merged/a.txt'
run_case write-redirect 'echo x > merged/a.txt'
run_case write-append 'echo x >> README.txt'
run_case write-create-whiteout 'echo x > gone.txt'
run_case write-create-abs 'echo x > "$VIEW/new.txt"'
run_case write-mkdir 'mkdir d'
run_case write-mkdir-existing 'mkdir merged'
run_case write-mkdir-p 'mkdir -p merged/new/deeper'
run_case write-rm 'rm merged/a.txt'
run_case write-rm-f-whiteout 'rm -f gone.txt'
run_case write-rm-r 'rm -r empty'
run_case write-rmdir 'rmdir empty'
run_case write-mv 'mv merged/a.txt merged/z.txt'
run_case write-mv-out 'mv README.txt "$SCRATCH/"; echo "mv: $?"; ls "$SCRATCH"'
run_case write-mv-in 'echo x > "$SCRATCH/in.txt" && mv "$SCRATCH/in.txt" merged/'
run_case write-cp-in 'cp etc/config.ini etc/copy.ini'
run_case write-ln 'ln merged/a.txt hardnew'
run_case write-ln-s 'ln -s merged/a.txt softnew'
run_case write-ln-s-existing 'ln -s x merged/a.txt'
run_case write-chmod 'chmod 600 merged/a.txt'
run_case write-chown 'chown 1:1 merged/a.txt'
run_case write-truncate 'truncate -s 0 merged/b.txt'
run_case write-mkfifo 'mkfifo newfifo'
run_case write-through-symlink 'echo x > links/rel'
run_case write-in-git 'cd repo && git -c safe.directory="*" -c user.name=x -c user.email=x@y commit -q -am msg'
run_case write-errno-matrix 'python3 -c "
import errno, os
S = os.environ[\"SCRATCH\"]
open(S + \"/f\", \"w\").close()
ops = [
    (\"open O_CREAT new\", lambda: os.open(\"new\", os.O_WRONLY | os.O_CREAT, 0o644)),
    (\"open O_CREAT existing\", lambda: os.open(\"merged/a.txt\", os.O_WRONLY | os.O_CREAT)),
    (\"open O_CREAT|O_EXCL existing\", lambda: os.open(\"merged/a.txt\", os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    (\"open O_CREAT whiteout\", lambda: os.open(\"gone.txt\", os.O_WRONLY | os.O_CREAT)),
    (\"open O_CREAT missing parent\", lambda: os.open(\"nodir/x\", os.O_WRONLY | os.O_CREAT)),
    (\"open O_WRONLY\", lambda: os.open(\"merged/a.txt\", os.O_WRONLY)),
    (\"open O_RDWR\", lambda: os.open(\"merged/a.txt\", os.O_RDWR)),
    (\"open O_RDONLY|O_TRUNC\", lambda: os.open(\"merged/a.txt\", os.O_RDONLY | os.O_TRUNC)),
    (\"open dir O_WRONLY\", lambda: os.open(\"merged\", os.O_WRONLY)),
    (\"open fifo O_WRONLY|O_NONBLOCK\", lambda: os.open(\"pipe\", os.O_WRONLY | os.O_NONBLOCK)),
    (\"open O_TMPFILE\", lambda: os.open(\"merged\", os.O_TMPFILE | os.O_WRONLY, 0o600)),
    (\"mkdir new\", lambda: os.mkdir(\"newdir\")),
    (\"mkdir existing\", lambda: os.mkdir(\"merged\")),
    (\"mkdir whiteout\", lambda: os.mkdir(\"gonedir\")),
    (\"rmdir missing\", lambda: os.rmdir(\"nope\")),
    (\"rmdir nonempty\", lambda: os.rmdir(\"merged\")),
    (\"rmdir empty\", lambda: os.rmdir(\"empty\")),
    (\"unlink missing\", lambda: os.unlink(\"nope\")),
    (\"unlink file\", lambda: os.unlink(\"merged/a.txt\")),
    (\"unlink dir\", lambda: os.unlink(\"merged\")),
    (\"unlink whiteout\", lambda: os.unlink(\"gone.txt\")),
    (\"rename missing\", lambda: os.rename(\"nope\", \"nope2\")),
    (\"rename file\", lambda: os.rename(\"merged/a.txt\", \"merged/z.txt\")),
    (\"rename to scratch\", lambda: os.rename(\"merged/a.txt\", S + \"/a\")),
    (\"rename from scratch\", lambda: os.rename(S + \"/f\", \"f\")),
    (\"link to scratch\", lambda: os.link(\"merged/a.txt\", S + \"/l\")),
    (\"link in view\", lambda: os.link(\"merged/a.txt\", \"l\")),
    (\"symlink new\", lambda: os.symlink(\"x\", \"newlink\")),
    (\"symlink existing\", lambda: os.symlink(\"x\", \"merged/a.txt\")),
    (\"mkfifo existing\", lambda: os.mkfifo(\"merged\")),
    (\"chmod\", lambda: os.chmod(\"merged/a.txt\", 0o600)),
    (\"chmod missing\", lambda: os.chmod(\"nope\", 0o600)),
    (\"chown\", lambda: os.chown(\"merged/a.txt\", 0, 0)),
    (\"lchown symlink\", lambda: os.chown(\"links/rel\", 0, 0, follow_symlinks=False)),
    (\"utime\", lambda: os.utime(\"merged/a.txt\")),
    (\"truncate\", lambda: os.truncate(\"merged/a.txt\", 0)),
    (\"truncate dir\", lambda: os.truncate(\"merged\", 0)),
    (\"setxattr\", lambda: os.setxattr(\"attrs.txt\", \"user.new\", b\"v\")),
    (\"removexattr\", lambda: os.removexattr(\"attrs.txt\", \"user.foo\")),
    (\"access W_OK file\", lambda: os.access(\"merged/a.txt\", os.W_OK)),
    (\"access W_OK dir\", lambda: os.access(\"merged\", os.W_OK)),
    (\"access R_OK\", lambda: os.access(\"merged/a.txt\", os.R_OK)),
    (\"access X_OK script\", lambda: os.access(\"sub/script.sh\", os.X_OK)),
    (\"access W_OK fifo\", lambda: os.access(\"pipe\", os.W_OK)),
    (\"statvfs read-only flag\", lambda: bool(os.statvfs(\".\").f_flag & os.ST_RDONLY)),
]
for name, op in ops:
    try:
        r = op()
        print(name, \"->\", \"ok\" if isinstance(r, int) and not isinstance(r, bool) else r)
    except OSError as e:
        print(name, \"->\", errno.errorcode.get(e.errno, e.errno))
"'

# ------------------------------------------------------------ invocation

E2E_LOWER_STYLE=repeated run_case lower-flags-repeated 'ls -la merged; cat merged/b.txt'
run_case env-view 'echo "$VIEW"; pwd; cd "$VIEW" && pwd -P'

e2e_finish
