#!/usr/bin/env python3
"""Randomized differential workload for ovlbox (Python 3 stdlib only).

Everything here is a pure function of a seed, so the same seed gives the same
lower layers and the same operation sequence on every run.  The sequence is
executed once on a kernel overlayfs mount and once under ovlbox; the two
outputs must be identical (differential_test.sh drives and compares them).

Subcommands
  build    --seed S --view V --layers D
                                      write the lower layers: V is the topmost
                                      lower L1 (and the view path), the others
                                      are D/L2 [D/L3].  Prints the lowerdir
                                      list "V:D/L2[:D/L3]".
  exec     --seed S --ops N --view V [--only I,J..] [--skip OP,OP..]
                                      run the operations (all, or the listed
                                      indexes) in the view at V, one output
                                      line per operation, then the final view
  view     --view V                   print the final-view listing only
  check    [--upper U] [--work W] [--zone Z --view V] LOWER...
                                      after a run, print the raw upper layer,
                                      leftovers in the work dir, the lower
                                      layers (full metadata) and anything
                                      created outside the view in the zone Z
                                      (which is then reset)
  show     --seed S --ops N [--only I,J..]
                                      print the layers and the operations

What the output contains (and leaves out)
  * errors as errno names; no inode numbers, devices or atimes/ctimes
    (hardlink groups only for the raw upper and lower layers);
  * directory listings with d_type, in the order listed (overlayfs'
    order); what a listing read while its entries are removed returns,
    sorted by name; directory sizes are not compared;
  * mtimes of non-directories only when they are "old" (before T_CUT): the
    layers and the utime operations only use old times, so an old mtime is
    deterministic and a new one means "changed during the run";
  * the view root path is printed as "@".

Symlinks with relative targets may lead out of the view (".." above the view
root, e.g. after a rename).  The view therefore lives at the bottom of a chain
of otherwise empty directories (the zone); what a run creates there is part of
the comparison, and `check --zone` removes it before the next run.  The
other layers and the upper dirs must live outside the zone.
"""

import argparse
import ctypes
import errno
import hashlib
import os
import platform
import posixpath
import random
import stat
import sys

T_CUT = 1_500_000_000 * 10**9          # ns; older mtimes are deterministic
OLD_TIME_BASE = 1_000_000_000          # seconds; times used by the layers
UTIME_BASE = 1_200_000_000             # seconds; times used by utime ops
NAMES = ["a", "b", "c", "d", "e"]      # shared by all layers so they collide
MAX_DEPTH = 3
MAX_SYMLINK_UPS = 6                    # the zone is deeper than this

# Kernel-internal overlayfs xattrs: written by the kernel as it likes
# (hints), not part of the format the two must agree on. The copy-up
# origin (a file handle of the lower object) is: both write it, the same.
# user.overlay.impure is compared: both write it where a copy arrives and
# drop it where a listing finds none.
INTERNAL_OVL_XATTRS = {
    "user.overlay.redirect",
    "user.overlay.metacopy", "user.overlay.nlink", "user.overlay.uuid",
    "user.overlay.upper", "user.overlay.protattr", "user.overlay.verity",
}

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100
SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61}.get(platform.machine(), 217)
DT_NAMES = {0: "?", 1: "p", 2: "c", 4: "d", 6: "b", 8: "f", 10: "l", 12: "s"}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def ename(err):
    return errno.errorcode.get(err, str(err))


def check_libc(ret):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def renameat2(src_dir_fd, src, dst_dir_fd, dst, flags):
    check_libc(_libc.renameat2(
        ctypes.c_int(src_dir_fd), os.fsencode(src),
        ctypes.c_int(dst_dir_fd), os.fsencode(dst), ctypes.c_uint(flags)))


def faccessat(dir_fd, path, mode):
    check_libc(_libc.faccessat(ctypes.c_int(dir_fd), os.fsencode(path),
                               ctypes.c_int(mode), ctypes.c_int(0)))


def getdents_chunk(fd, bufsize):
    """The entries one getdents64 call of `bufsize` bytes returns, as
    (name, d_type) pairs; [] at the end of the directory."""
    buf = ctypes.create_string_buffer(bufsize)
    n = check_libc(_libc.syscall(ctypes.c_long(SYS_GETDENTS64),
                                 ctypes.c_long(fd), buf,
                                 ctypes.c_long(bufsize)))
    raw, pos, out = buf.raw[:n], 0, []
    while pos < n:
        reclen = int.from_bytes(raw[pos + 16:pos + 18], "little")
        name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
        out.append((os.fsdecode(name), DT_NAMES.get(raw[pos + 18], "?")))
        pos += reclen
    return out


def getdents(fd, bufsize):
    """All remaining entries of an open directory (small `bufsize` values
    mean many getdents64 calls, each resuming at the directory position)."""
    out = []
    while True:
        chunk = getdents_chunk(fd, bufsize)
        if not chunk:
            return out
        out += chunk


def sha(data):
    return hashlib.sha256(data).hexdigest()[:16]


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def type_char(mode):
    for test, ch in ((stat.S_ISDIR, "d"), (stat.S_ISREG, "f"),
                     (stat.S_ISLNK, "l"), (stat.S_ISFIFO, "p"),
                     (stat.S_ISCHR, "c"), (stat.S_ISBLK, "b"),
                     (stat.S_ISSOCK, "s")):
        if test(mode):
            return ch
    return "?"


def mtime_str(st):
    return str(st.st_mtime_ns) if st.st_mtime_ns < T_CUT else "new"


def join(parent, name):
    return name if parent == "." else parent + "/" + name


def depth_of(path):
    return 0 if path == "." else path.count("/") + 1


def relpath(path, base):
    """`path` relative to `base`, both relative to the view root (lexical)."""
    rel = posixpath.relpath("/" + path.rstrip("/") if path != "." else "/",
                            "/" + base if base != "." else "/")
    return rel + "/" if path.endswith("/") else rel


# ------------------------------------------------------------------ layers

class Entry:
    """One entry of one lower layer."""

    def __init__(self, path, kind, **kw):
        self.path = path
        # dir, file, sparse, symlink, whiteout, fifo or hardlink
        self.kind = kind
        self.mode = kw.get("mode", 0o644)
        self.data = kw.get("data", b"")
        self.target = kw.get("target", "")   # symlink target, hardlink source
        self.xattrs = kw.get("xattrs", {})
        self.opaque = kw.get("opaque", False)
        self.owner = kw.get("owner", (0, 0))
        self.mtime_ns = kw.get("mtime_ns", 0)

    def describe(self):
        s = f"{self.path} {self.kind}"
        if self.kind in ("dir", "file", "sparse", "fifo"):
            s += f" mode={self.mode:o}"
        if self.owner != (0, 0):
            s += f" owner={self.owner[0]}:{self.owner[1]}"
        if self.kind == "file":
            s += f" size={len(self.data)} sha={sha(self.data)}"
        if self.kind in ("symlink", "hardlink"):
            s += f" -> {self.target}"
        if self.opaque:
            s += " opaque"
        for k, v in sorted(self.xattrs.items()):
            s += f" {k}={v.hex()}"
        return s


def random_data(rng):
    size = rng.choice([0, 0, 1] + [rng.randint(2, 200)] * 4
                      + [rng.randint(200, 5000)] * 2
                      + [rng.choice([70000, 131073])])
    return rng.randbytes(size)


def file_mode(rng):
    return rng.choice([0o644] * 6 + [0o400, 0o444, 0o600, 0o755, 0o4755])


def dir_mode(rng):
    return rng.choice([0o755] * 6 + [0o555, 0o700, 0o1777, 0o2755])


def owner(rng):
    r = rng.random()
    return (1000, 1000) if r < 0.12 else (0, 100) if r < 0.17 else (0, 0)


def gen_layers(seed):
    """The lower layers of a seed: a list of entry lists, [0] = L1 (top)."""
    rng = random.Random(f"layers:{seed}")
    nlayers = rng.choice([2, 3, 3])
    layers = [[] for _ in range(nlayers)]
    below = {}                 # path -> kind in some lower layer
    all_paths = []             # every path in any layer, in generation order
    fifo_layer = rng.randrange(nlayers) if rng.random() < 0.7 else -1

    for li in reversed(range(nlayers)):
        bottom = li == nlayers - 1
        entries = layers[li]
        files = []

        def add(entry):
            entries.append(entry)
            if entry.path not in below and entry.path not in all_paths:
                all_paths.append(entry.path)
            if entry.kind in ("file", "sparse"):
                files.append(entry.path)

        def symlink_target(path):
            parent = posixpath.dirname(path) or "."
            choice = rng.random()
            pool = all_paths + [e.path for e in entries]
            if choice < 0.3 and pool:
                return relpath(rng.choice(pool), parent)
            if choice < 0.55 and pool:
                return "@/" + rng.choice(pool)
            if choice < 0.65 and pool and depth_of(parent) < MAX_SYMLINK_UPS:
                # out of the view and back in through the view's own path
                return ("../" * depth_of(parent) + "../@name/"
                        + rng.choice(pool))
            if choice < 0.75:
                return posixpath.basename(path)          # loops on itself
            if choice < 0.85:
                return "." if rng.random() < 0.5 else ".."
            return "nowhere/" + rng.choice(NAMES)        # dangling

        def gen_dir(rel, depth):
            presence = 0.75 if depth == 0 else 0.5
            for name in NAMES:
                if rng.random() >= presence:
                    continue
                path = join(rel, name)
                lower = below.get(path)
                weights = {
                    "file": 4.0,
                    "dir": (3.0 + (4.0 if lower == "dir" else 0.0))
                    if depth < MAX_DEPTH else 0.0,
                    "symlink": 1.5,
                    "whiteout": 0.0 if bottom else (3.0 if lower else 0.3),
                    "hardlink": 0.8 if files else 0.0,
                }
                kind = rng.choices(list(weights), list(weights.values()))[0]
                mtime_ns = (OLD_TIME_BASE + rng.randrange(10**8)) * 10**9 \
                    + rng.randrange(10**9)
                xattrs = {}
                if kind in ("file", "dir") and rng.random() < 0.2:
                    xattrs["user.x"] = rng.randbytes(rng.randint(1, 8))
                if kind == "file":
                    add(Entry(path, "file", mode=file_mode(rng),
                              data=random_data(rng), xattrs=xattrs,
                              owner=owner(rng), mtime_ns=mtime_ns))
                elif kind == "dir":
                    opaque = not bottom and rng.random() < (
                        0.25 if lower == "dir" else 0.05)
                    add(Entry(path, "dir", mode=dir_mode(rng), opaque=opaque,
                              xattrs=xattrs, owner=owner(rng),
                              mtime_ns=mtime_ns))
                    gen_dir(path, depth + 1)
                elif kind == "symlink":
                    add(Entry(path, "symlink", target=symlink_target(path),
                              owner=owner(rng), mtime_ns=mtime_ns))
                elif kind == "whiteout":
                    add(Entry(path, "whiteout", mtime_ns=mtime_ns))
                else:
                    add(Entry(path, "hardlink", target=rng.choice(files)))

        gen_dir(".", 0)
        if bottom:
            add(Entry("sparse", "sparse", mode=0o644,
                      mtime_ns=OLD_TIME_BASE * 10**9 + 7))
        if li == fifo_layer and not any(e.path == "fifo" for e in entries):
            add(Entry("fifo", "fifo", mode=0o644,
                      mtime_ns=OLD_TIME_BASE * 10**9 + 11))
        for e in entries:
            below.setdefault(e.path, "dir" if e.kind == "dir" else e.kind)
    return layers


def layer_dirs(view, others, nlayers):
    """L1 is the view path itself; the lower ones live in `others`."""
    return [view] + [os.path.join(others, f"L{i + 1}")
                     for i in range(1, nlayers)]


def expand_target(target, view):
    """Symlink targets are generated with placeholders for the view path."""
    if target.startswith("@/"):
        return view + target[1:]
    return target.replace("@name", os.path.basename(view))


def build(seed, view, others):
    layers = gen_layers(seed)
    dirs = layer_dirs(view, others, len(layers))
    for top, entries in zip(dirs, layers):
        os.mkdir(top, 0o755)
        for e in entries:
            p = os.path.join(top, e.path)
            if e.kind == "dir":
                os.mkdir(p)
            elif e.kind == "file":
                with open(p, "wb") as f:
                    f.write(e.data)
            elif e.kind == "sparse":
                with open(p, "wb") as f:
                    f.truncate(1 << 20)
                    f.seek(300_000)
                    f.write(b"sparse data in the middle\n" * 4)
            elif e.kind == "symlink":
                os.symlink(expand_target(e.target, view), p)
            elif e.kind == "whiteout":
                os.mknod(p, stat.S_IFCHR, os.makedev(0, 0))
            elif e.kind == "fifo":
                os.mkfifo(p)
            elif e.kind == "hardlink":
                os.link(os.path.join(top, e.target), p)
        # Metadata children first, so the times of directories stay put.
        for e in reversed(entries):
            p = os.path.join(top, e.path)
            if e.kind == "hardlink":
                continue
            for k, v in e.xattrs.items():
                os.setxattr(p, k, v)
            if e.opaque:
                os.setxattr(p, "user.overlay.opaque", b"y")
            if e.kind != "whiteout":
                os.chown(p, *e.owner, follow_symlinks=False)
            if e.kind not in ("symlink", "whiteout"):
                os.chmod(p, e.mode)
            os.utime(p, ns=(e.mtime_ns, e.mtime_ns), follow_symlinks=False)
        os.chmod(top, 0o755)
        os.utime(top, ns=(OLD_TIME_BASE * 10**9,) * 2)
    print(":".join(dirs))


# -------------------------------------------------------------- operations

OP_WEIGHTS = {
    "create": 6, "write": 5, "append": 3, "truncate": 3, "open_trunc": 3,
    "read": 5, "stat": 4, "lstat": 3, "mkdir": 5, "rmdir": 4, "unlink": 6,
    "rename": 9, "symlink": 3, "link": 3, "chmod": 3, "chown": 2, "utime": 3,
    "setxattr": 3, "getxattr": 2, "listxattr": 2, "removexattr": 1,
    "listdir": 4, "drain": 1.5, "rmtree": 1, "chdir": 3, "getcwd": 1,
    "opendir": 2, "fchdir": 1, "readlink": 2, "access": 2, "mkfifo": 1,
    "fchmod": 1, "futime": 1, "fsetxattr": 1, "ftruncate": 1, "umask": 1,
}
SLASH_OPS = {"stat", "lstat", "mkdir", "rmdir", "rename", "unlink", "read",
             "create", "chdir", "opendir", "listdir"}


def tree_paths(layers):
    paths, dirs = {"."}, {"."}
    for entries in layers:
        for e in entries:
            paths.add(e.path)
            if e.kind == "dir":
                dirs.add(e.path)
    return sorted(paths), sorted(dirs)


def merged_view(layers):
    """What the view shows at the start, as {path: kind}, following the
    overlayfs rules (upper-most wins, whiteouts, opaque dirs, merging)."""
    index = [{e.path: e for e in entries} for entries in layers]
    children = [{} for _ in layers]
    for li, entries in enumerate(layers):
        for e in entries:
            parent = posixpath.dirname(e.path) or "."
            children[li].setdefault(parent, []).append(
                posixpath.basename(e.path))
    view = {".": "dir"}

    def merge(rel, stack):
        names = sorted({n for li in stack for n in children[li].get(rel, [])})
        for name in names:
            path = join(rel, name)
            found = [(li, index[li][path]) for li in stack
                     if path in index[li]]
            if not found or found[0][1].kind == "whiteout":
                continue
            top = found[0][1]
            if top.kind != "dir":
                view[path] = {"hardlink": "file", "sparse": "file"}.get(
                    top.kind, top.kind)
                continue
            view[path] = "dir"
            sub = []
            for li, e in found:
                if e.kind != "dir":
                    break
                sub.append(li)
                if e.opaque:
                    break
            merge(path, sub)

    merge(".", list(range(len(layers))))
    return view


class Model:
    """A rough model of the view while operations are generated: it only
    steers the choice of names towards existing ones, so it may be wrong
    (e.g. it ignores EXDEV) without harm."""

    def __init__(self, layers):
        self.kinds = merged_view(layers)

    def exists(self, path):
        return path.rstrip("/") in self.kinds

    def is_dir(self, path):
        return self.kinds.get(path.rstrip("/")) == "dir"

    def parent_ok(self, path):
        return self.is_dir(posixpath.dirname(path.rstrip("/")) or ".")

    def subtree(self, path):
        path = path.rstrip("/")
        return [p for p in self.kinds if p == path or p.startswith(path + "/")]

    def add(self, path, kind):
        path = path.rstrip("/")
        if self.parent_ok(path) and path not in self.kinds:
            self.kinds[path] = kind

    def remove(self, path, only_empty_dir=False):
        path = path.rstrip("/")
        if path == "." or path not in self.kinds:
            return
        if only_empty_dir and len(self.subtree(path)) > 1:
            return
        for p in self.subtree(path):
            del self.kinds[p]

    def rename(self, src, dst):
        src, dst = src.rstrip("/"), dst.rstrip("/")
        if "." in (src, dst) or src not in self.kinds \
                or not self.parent_ok(dst) \
                or (dst + "/").startswith(src + "/"):
            return
        moved = {dst + p[len(src):]: self.kinds[p] for p in self.subtree(src)}
        self.remove(dst)
        self.remove(src)
        self.kinds.update(moved)

    def pick(self, rng, want=None, root=True):
        paths = sorted(p for p, k in self.kinds.items()
                       if (want is None or k == want) and (root or p != "."))
        return rng.choice(paths) if paths else None


def gen_ops(seed, nops, layers):
    rng = random.Random(f"ops:{seed}")
    pool, dirs = tree_paths(layers)
    pool_set, dir_set = set(pool), set(dirs)
    model = Model(layers)
    counter = [0]

    def remember(path, is_dir=False):
        if path not in pool_set:
            pool_set.add(path)
            pool.append(path)
        if is_dir and path not in dir_set:
            dir_set.add(path)
            dirs.append(path)

    def new_path():
        r = rng.random()
        if r < 0.8:
            parent = model.pick(rng, "dir") or "."
        elif r < 0.87:      # through a symlink (maybe out of the view)
            parent = model.pick(rng, "symlink") or "."
        else:
            parent = rng.choice(dirs) if r < 0.95 else rng.choice(pool)
        counter[0] += 1
        path = join(parent, f"n{counter[0]}")
        remember(path)
        return path

    def existing(want=None, root=True):
        return model.pick(rng, want, root) or rng.choice(pool)

    def any_path():
        r = rng.random()
        return existing(root=False) if r < 0.7 else rng.choice(pool) \
            if r < 0.88 else new_path()

    def file_path():
        return existing("file") if rng.random() < 0.7 else any_path()

    def dir_path(root=True):
        r = rng.random()
        return existing("dir", root) if r < 0.7 else rng.choice(dirs) \
            if r < 0.85 else rng.choice(pool) if r < 0.95 else new_path()

    def new_or_any():
        return new_path() if rng.random() < 0.6 else any_path()

    def old_times():
        return [(UTIME_BASE + rng.randrange(10**8)) * 10**9
                + rng.randrange(10**9) for _ in range(2)]

    def data():
        return rng.randbytes(rng.choice([0, 1, rng.randint(2, 300),
                                         rng.randint(300, 9000)]))

    def follow():
        return rng.random() < 0.7

    ops = []
    names, weights = list(OP_WEIGHTS), list(OP_WEIGHTS.values())
    for _ in range(nops):
        name = rng.choices(names, weights)[0]
        o = {"op": name,
             "m": rng.choices(["rel", "abs", "fd"], [55, 25, 20])[0]}
        if name == "create":
            o["p"] = new_or_any()
            o["mode"] = rng.choice([0o644, 0o600, 0o755, 0o444])
            o["flags"] = rng.choice([0, os.O_EXCL, os.O_TRUNC, os.O_APPEND])
            o["data"] = data()
            model.add(o["p"], "file")
        elif name == "mkfifo":
            o["p"] = new_or_any()
            o["mode"] = rng.choice([0o644, 0o600])
            model.add(o["p"], "fifo")
        elif name in ("write", "append"):
            o["p"] = file_path()
            o["data"] = data()
            o["off"] = rng.choice([0, rng.randint(0, 300), 200_000])
        elif name in ("truncate", "ftruncate"):
            o["p"] = file_path()
            o["size"] = rng.choice([0, 1, rng.randint(2, 3000), 100_000])
        elif name == "open_trunc":
            o["p"] = file_path()
            o["flags"] = rng.choice([os.O_WRONLY, os.O_RDWR])
        elif name in ("read", "stat", "lstat", "readlink", "getxattr",
                      "listxattr", "removexattr", "access"):
            o["p"] = any_path()
        elif name == "unlink":
            o["p"] = any_path()
            if not model.is_dir(o["p"]):
                model.remove(o["p"])
        elif name == "mkdir":
            o["p"] = new_or_any()
            o["mode"] = dir_mode(rng)
            remember(o["p"], is_dir=True)
            model.add(o["p"], "dir")
        elif name == "rmdir":
            o["p"] = dir_path(root=False)
            if model.is_dir(o["p"]):
                model.remove(o["p"], only_empty_dir=True)
        elif name in ("chdir", "opendir", "listdir"):
            o["p"] = dir_path()
        elif name in ("drain", "rmtree"):
            o["p"] = dir_path(root=False) if rng.random() < 0.9 else any_path()
            if name == "rmtree":
                for p in model.subtree(o["p"])[1:]:
                    model.remove(p)
            else:
                for p in model.subtree(o["p"])[1:]:
                    model.remove(p, only_empty_dir=True)
        elif name == "rename":
            src = any_path() if rng.random() < 0.6 else dir_path(root=False)
            r = rng.random()
            dst = new_path() if r < 0.4 else any_path() if r < 0.8 \
                else dir_path() if r < 0.93 else join(src, "sub")
            o["p"], o["q"] = src, dst
            o["flags"] = rng.choices([0, RENAME_NOREPLACE, RENAME_EXCHANGE],
                                     [70, 15, 15])[0]
            remember(dst, is_dir=src in dir_set)
            for p in list(pool):
                if p.startswith(src + "/"):
                    remember(dst + p[len(src):], is_dir=p in dir_set)
            if o["flags"] == 0:
                model.rename(src, dst)
        elif name == "symlink":
            o["p"] = new_path() if rng.random() < 0.7 else any_path()
            parent = posixpath.dirname(o["p"]) or "."
            r = rng.random()
            if r < 0.5 and depth_of(parent) <= MAX_SYMLINK_UPS:
                o["target"] = relpath(any_path(), parent)
            elif r < 0.6 and depth_of(parent) < MAX_SYMLINK_UPS:
                # the directory holding the view: outside it
                o["target"] = "../" * depth_of(parent) + ".."
            elif r < 0.85:
                o["target"] = "@/" + any_path()
            else:
                o["target"] = "nowhere/" + rng.choice(NAMES)
            model.add(o["p"], "symlink")
        elif name == "link":
            o["p"] = any_path()
            o["q"] = new_path() if rng.random() < 0.7 else any_path()
            o["follow"] = follow()
            if model.exists(o["p"]) and not model.is_dir(o["p"]):
                model.add(o["q"], model.kinds[o["p"].rstrip("/")])
        elif name in ("chmod", "fchmod"):
            o["p"] = any_path()
            o["mode"] = rng.choice([0o600, 0o644, 0o755, 0o555, 0o700, 0o444,
                                    0o4755, 0o1777, 0o000])
        elif name == "chown":
            o["p"] = any_path()
            o["uid"], o["gid"] = rng.choice([(0, 0), (1000, 1000), (1, 2),
                                             (-1, 100)])
            o["follow"] = follow()
        elif name in ("utime", "futime"):
            o["p"] = any_path()
            o["times"] = old_times() if rng.random() < 0.8 else None
            o["follow"] = follow()
        elif name in ("setxattr", "fsetxattr"):
            o["p"] = any_path()
            o["name"] = rng.choice(["user.x", "user.x", "user.y",
                                    "user.overlay.z"])
            o["value"] = rng.randbytes(rng.randint(0, 12))
            o["flags"] = rng.choice([0, 0, os.XATTR_CREATE, os.XATTR_REPLACE])
            o["follow"] = follow()
        elif name == "umask":
            o["mode"] = rng.choice([0o022, 0o077, 0o002, 0o000])
        if name == "access":
            o["mode"] = rng.choice([os.F_OK, os.R_OK, os.W_OK, os.X_OK])
        if name in ("getxattr", "removexattr"):
            o["name"] = rng.choice(["user.x", "user.y", "user.overlay.z",
                                    "user.overlay.opaque"])
            o["follow"] = follow()
        if name == "listxattr":
            o["follow"] = follow()
        if name in ("listdir", "drain"):
            o["bufsize"] = rng.choice([64, 100, 200, 32768])
        if name in SLASH_OPS and "p" in o and o["p"] != "." \
                and rng.random() < 0.08:
            o["p"] += "/"
        ops.append(o)
    return ops


def describe_op(o):
    parts = [o["op"]]
    for key in ("p", "q"):
        if key in o:
            parts.append(o[key])
    for key in ("mode", "flags", "size", "off", "uid", "gid", "name",
                "follow", "bufsize", "times", "target"):
        if key in o:
            v = o[key]
            parts.append(f"{key}={v:o}" if key == "mode" else f"{key}={v}")
    if "data" in o:
        parts.append(f"data={len(o['data'])}B")
    if "value" in o:
        parts.append(f"value={o['value'].hex()}")
    return " ".join(parts)


class Executor:
    """Runs operations in the view and formats their results."""

    def __init__(self, view):
        self.view = view
        self.cwd = "."           # lexical view path of the cwd
        self.slot = None         # (fd, view path) of the held directory fd
        self.n_abs = 0           # absolute paths made so far (their spelling)
        self.n_rel = 0           # relative ones

    def loc(self, path, mode):
        """(path string, dir_fd) reaching the view path `path` by `mode`."""
        if mode == "abs":
            suffix = "" if path == "." else "/" + path
            # Every third absolute path starts with "//", every fifth
            # passes through "/./": other spellings of the same names (the
            # same on both sides: counted, not drawn from the seed).
            self.n_abs += 1
            view = self.view
            if self.n_abs % 5 == 0:
                view = view.replace("/", "/./", 2).replace("/./", "/", 1)
            if self.n_abs % 3 == 0:
                view = "/" + view
            return view + suffix, AT_FDCWD
        if mode == "fd" and self.slot:
            return self.spell(relpath(path, self.slot[1])), self.slot[0]
        return self.spell(relpath(path, self.cwd)), AT_FDCWD

    def spell(self, rel):
        """Every fourth relative path as "./" and "//" spell it."""
        self.n_rel += 1
        if self.n_rel % 4 != 0:
            return rel
        return "./" + rel.replace("/", "//")

    def plain(self, path, mode):
        """A path string alone (for calls without a dir_fd argument)."""
        s, fd = self.loc(path, mode)
        return s if fd == AT_FDCWD else f"/proc/self/fd/{fd}/{s}"

    def via(self, o):
        """How the operation reaches its path, for the output line."""
        if "p" not in o:
            return "-"
        if o["m"] == "abs":
            return "abs"
        if o["m"] == "fd" and self.slot:
            return f"fd({self.slot[1]}):" + relpath(o["p"], self.slot[1])
        return f"cwd({self.cwd}):" + relpath(o["p"], self.cwd)

    @staticmethod
    def dfd(fd):
        return None if fd == AT_FDCWD else fd

    def open(self, o, flags, mode=0o644):
        path, fd = self.loc(o["p"], o["m"])
        return os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode,
                       dir_fd=self.dfd(fd))

    def run(self, index, o):
        via = self.via(o)
        try:
            result = getattr(self, "op_" + o["op"])(o)
        except OSError as e:
            result = ename(e.errno)
        line = f"#{index:03d} {describe_op(o)} [{via}]: {result}"
        print(line.replace(self.view, "@"))

    # Each op_* returns a short deterministic description of its result.

    def op_create(self, o):
        fd = self.open(o, os.O_WRONLY | os.O_CREAT | o["flags"], o["mode"])
        try:
            return f"ok wrote={os.write(fd, o['data'])}"
        finally:
            os.close(fd)

    def op_mkfifo(self, o):
        path, fd = self.loc(o["p"], o["m"])
        os.mkfifo(path, o["mode"], dir_fd=self.dfd(fd))
        return "ok"

    def op_write(self, o):
        fd = self.open(o, os.O_WRONLY)
        try:
            return f"ok wrote={os.pwrite(fd, o['data'], o['off'])}"
        finally:
            os.close(fd)

    def op_append(self, o):
        fd = self.open(o, os.O_WRONLY | os.O_APPEND)
        try:
            n = os.write(fd, o["data"])
            return f"ok wrote={n} size={os.fstat(fd).st_size}"
        finally:
            os.close(fd)

    def op_truncate(self, o):
        os.truncate(self.plain(o["p"], o["m"]), o["size"])
        return "ok"

    def op_ftruncate(self, o):
        fd = self.open(o, os.O_WRONLY)
        try:
            os.ftruncate(fd, o["size"])
            return "ok"
        finally:
            os.close(fd)

    def op_open_trunc(self, o):
        fd = self.open(o, o["flags"] | os.O_TRUNC)
        try:
            return f"ok size={os.fstat(fd).st_size}"
        finally:
            os.close(fd)

    def op_read(self, o):
        fd = self.open(o, os.O_RDONLY)
        try:
            data = read_all(fd)
            return f"ok size={len(data)} sha={sha(data)}"
        finally:
            os.close(fd)

    def stat_result(self, st):
        s = f"ok {type_char(st.st_mode)} {stat.S_IMODE(st.st_mode):o}" \
            f" {st.st_uid}:{st.st_gid} nlink={st.st_nlink}"
        if not stat.S_ISDIR(st.st_mode):
            s += f" size={st.st_size} mtime={mtime_str(st)}"
        return s

    def op_stat(self, o, follow=True):
        path, fd = self.loc(o["p"], o["m"])
        return self.stat_result(os.stat(path, dir_fd=self.dfd(fd),
                                        follow_symlinks=follow))

    def op_lstat(self, o):
        return self.op_stat(o, follow=False)

    def op_mkdir(self, o):
        path, fd = self.loc(o["p"], o["m"])
        os.mkdir(path, o["mode"], dir_fd=self.dfd(fd))
        return "ok"

    def op_rmdir(self, o):
        path, fd = self.loc(o["p"], o["m"])
        os.rmdir(path, dir_fd=self.dfd(fd))
        return "ok"

    def op_unlink(self, o):
        path, fd = self.loc(o["p"], o["m"])
        os.unlink(path, dir_fd=self.dfd(fd))
        return "ok"

    def op_rename(self, o):
        src, fd = self.loc(o["p"], o["m"])
        dst, _ = self.loc(o["q"], o["m"])
        renameat2(fd, src, fd, dst, o["flags"])
        return "ok"

    def op_symlink(self, o):
        path, fd = self.loc(o["p"], o["m"])
        os.symlink(expand_target(o["target"], self.view), path,
                   dir_fd=self.dfd(fd))
        return "ok"

    def op_link(self, o):
        src, fd = self.loc(o["p"], o["m"])
        dst, _ = self.loc(o["q"], o["m"])
        os.link(src, dst, src_dir_fd=self.dfd(fd), dst_dir_fd=self.dfd(fd),
                follow_symlinks=o["follow"])
        return "ok"

    def op_chmod(self, o):
        path, fd = self.loc(o["p"], o["m"])
        os.chmod(path, o["mode"], dir_fd=self.dfd(fd))
        return "ok"

    def op_chown(self, o):
        path, fd = self.loc(o["p"], o["m"])
        os.chown(path, o["uid"], o["gid"], dir_fd=self.dfd(fd),
                 follow_symlinks=o["follow"])
        return "ok"

    def op_utime(self, o):
        path, fd = self.loc(o["p"], o["m"])
        if o["times"] is None:
            os.utime(path, dir_fd=self.dfd(fd), follow_symlinks=o["follow"])
        else:
            os.utime(path, ns=tuple(o["times"]), dir_fd=self.dfd(fd),
                     follow_symlinks=o["follow"])
        return "ok"

    def op_futime(self, o):
        fd = self.open(o, os.O_RDONLY)
        try:
            if o["times"] is None:
                os.utime(fd)
            else:
                os.utime(fd, ns=tuple(o["times"]))
            return "ok"
        finally:
            os.close(fd)

    def op_fchmod(self, o):
        fd = self.open(o, os.O_RDONLY)
        try:
            os.fchmod(fd, o["mode"])
            return "ok"
        finally:
            os.close(fd)

    def op_setxattr(self, o):
        os.setxattr(self.plain(o["p"], o["m"]), o["name"], o["value"],
                    o["flags"], follow_symlinks=o["follow"])
        return "ok"

    def op_fsetxattr(self, o):
        fd = self.open(o, os.O_RDONLY)
        try:
            os.setxattr(fd, o["name"], o["value"], o["flags"])
            return "ok"
        finally:
            os.close(fd)

    def op_getxattr(self, o):
        value = os.getxattr(self.plain(o["p"], o["m"]), o["name"],
                            follow_symlinks=o["follow"])
        return f"ok {value.hex()}"

    def op_listxattr(self, o):
        names = os.listxattr(self.plain(o["p"], o["m"]),
                             follow_symlinks=o["follow"])
        return "ok " + ",".join(sorted(n for n in names
                                       if n.startswith("user.")))

    def op_removexattr(self, o):
        os.removexattr(self.plain(o["p"], o["m"]), o["name"],
                       follow_symlinks=o["follow"])
        return "ok"

    def open_dir(self, o):
        return self.open(o, os.O_RDONLY | os.O_DIRECTORY)

    def op_listdir(self, o):
        fd = self.open_dir(o)
        try:
            entries = getdents(fd, o["bufsize"])
        finally:
            os.close(fd)
        # In the order listed: overlayfs' order (the lowest layer's names
        # first) is the view's too.
        return "ok " + " ".join(f"{n}:{t}" for n, t in entries)

    def op_drain(self, o):
        """Read a directory in small getdents chunks, removing every entry
        as soon as it is returned (like rm -rf of one level)."""
        fd = self.open_dir(o)
        results = []
        try:
            while True:
                buf = getdents_chunk(fd, o["bufsize"])
                if not buf:
                    break
                for name, dtype in buf:
                    if name in (".", ".."):
                        continue
                    result = remove_at(fd, name, dtype)
                    results.append(f"{name}:{dtype}={result}")
            left = sorted(n for n, _ in getdents_rewound(fd)
                          if n not in (".", ".."))
        finally:
            os.close(fd)
        return "ok " + " ".join(sorted(results)) + " left=" + ",".join(left)

    def op_rmtree(self, o):
        """Depth-first removal of a whole tree through directory fds."""
        fd = self.open_dir(o)
        results = []
        try:
            rmtree_at(fd, "", results)
        finally:
            os.close(fd)
        return "ok " + " ".join(sorted(results))

    def op_chdir(self, o):
        path, fd = self.loc(o["p"], o["m"])
        if fd == AT_FDCWD:
            os.chdir(path)
        else:
            dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            try:
                os.fchdir(dfd)
            finally:
                os.close(dfd)
        self.cwd = posixpath.normpath(o["p"])
        return "ok"

    def op_getcwd(self, o):
        return "ok " + os.getcwd()

    def op_opendir(self, o):
        fd = self.open_dir(o)
        if self.slot:
            os.close(self.slot[0])
        self.slot = (fd, posixpath.normpath(o["p"]))
        return self.stat_result(os.fstat(fd))

    def op_fchdir(self, o):
        if not self.slot:
            return "no-dirfd"
        os.fchdir(self.slot[0])
        self.cwd = self.slot[1]
        return "ok"

    def op_readlink(self, o):
        path, fd = self.loc(o["p"], o["m"])
        return "ok " + os.readlink(path, dir_fd=self.dfd(fd))

    def op_access(self, o):
        path, fd = self.loc(o["p"], o["m"])
        faccessat(fd, path, o["mode"])
        return "ok"

    def op_umask(self, o):
        os.umask(o["mode"])
        return "ok"


def getdents_rewound(fd):
    os.lseek(fd, 0, os.SEEK_SET)
    return getdents(fd, 32768)


def remove_at(dir_fd, name, dtype):
    try:
        if dtype == "d":
            os.rmdir(name, dir_fd=dir_fd)
        else:
            os.unlink(name, dir_fd=dir_fd)
        return "ok"
    except OSError as e:
        return ename(e.errno)


def rmtree_at(dir_fd, prefix, results):
    for name, dtype in getdents(dir_fd, 200):
        if name in (".", ".."):
            continue
        if dtype == "d":
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY
                              | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            except OSError as e:
                results.append(f"{prefix}{name}:open={ename(e.errno)}")
                continue
            try:
                rmtree_at(sub, prefix + name + "/", results)
            finally:
                os.close(sub)
        result = remove_at(dir_fd, name, dtype)
        results.append(f"{prefix}{name}:{dtype}={result}")


# ------------------------------------------------------------- listings

def xattr_list(path, keep):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        return [f"listxattr={ename(e.errno)}"]
    out = []
    for n in sorted(names):
        if not keep(n):
            continue
        try:
            value = os.getxattr(path, n, follow_symlinks=False).hex()
        except OSError as e:
            value = ename(e.errno)
        out.append(f"{n}={value}")
    return out


def describe(path, st, shown, groups, kind, xattr_keep):
    """One line of metadata of `path` (printed as `shown`).

    kind "view":  a file of the merged view;
         "upper": a file of an upper layer (on disk), compared between runs;
         "lower": a file of a lower layer, compared before and after a run
                  (so exact times, link counts, every xattr).
    """
    t = type_char(st.st_mode)
    if kind == "upper" and t == "c" and st.st_rdev == 0:
        # A whiteout: only its type and device number mean anything (the
        # kernel makes them in its work dir, sharing one inode, or by
        # RENAME_WHITEOUT in place, with whatever owner that gives).
        return " ".join([shown, "whiteout"] + xattr_list(path, xattr_keep))
    parts = [shown, t, f"{stat.S_IMODE(st.st_mode):o}",
             f"{st.st_uid}:{st.st_gid}"]
    if kind == "lower":
        parts += [f"nlink={st.st_nlink}", f"mtime={st.st_mtime_ns}",
                  f"ctime={st.st_ctime_ns}"]
    elif kind == "view" or t != "d":
        # (The link count of an upper dir follows from the tree itself.)
        parts.append(f"nlink={st.st_nlink}")
    if t != "d":
        parts.append(f"size={st.st_size}")
        if kind != "lower":
            parts.append(f"mtime={mtime_str(st)}")
    if t in "cb":
        parts.append(f"rdev={os.major(st.st_rdev)},{os.minor(st.st_rdev)}")
    if t == "l":
        parts.append("-> " + os.readlink(path))
    if t == "f":
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                parts.append("sha=" + sha(read_all(fd)))
            finally:
                os.close(fd)
        except OSError as e:
            parts.append("read=" + ename(e.errno))
    # Hardlink groups of the view are not compared: overlayfs reports
    # different st_ino for links of one inode depending on how each name
    # was reached (copy-up origin or not), even across remounts.
    if kind != "view" and t != "d" and st.st_nlink > 1:
        first = groups.setdefault((st.st_dev, st.st_ino), shown)
        if first != shown:
            parts.append("=link:" + first)
    parts += xattr_list(path, xattr_keep)
    return " ".join(parts)


def walk(top, kind, xattr_keep, emit=print):
    """Sorted recursive listing of `top`.  In the view, directory names
    come from getdents, with their d_type; in raw layers from listdir."""
    groups = {}

    def visit(rel):
        path = top if rel == "." else os.path.join(top, rel)
        try:
            st = os.lstat(path)
        except OSError as e:
            emit(f"{rel} lstat={ename(e.errno)}")
            return
        line = describe(path, st, rel, groups, kind, xattr_keep)
        names = []
        if stat.S_ISDIR(st.st_mode):
            try:
                if kind == "view":
                    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY
                                 | os.O_CLOEXEC)
                    try:
                        entries = sorted(getdents(fd, 32768))
                    finally:
                        os.close(fd)
                    line += " [" + " ".join(f"{n}:{t}" for n, t in entries) \
                        + "]"
                    names = [n for n, _ in entries if n not in (".", "..")]
                else:
                    names = sorted(os.listdir(path))
            except OSError as e:
                line += f" list={ename(e.errno)}"
        emit(line)
        for name in names:
            visit(join(rel, name))

    visit(".")


def print_view(view):
    print("== view")
    walk(view, "view", lambda n: n.startswith("user."),
         emit=lambda line: print(line.replace(view, "@")))


def upper_xattr(name):
    return (name.startswith("user.") or name.startswith("trusted.")) \
        and name not in INTERNAL_OVL_XATTRS


def reset_zone(zone, view):
    """Print and remove everything in the zone (the chain of directories
    from `zone` down to the view) that is not the chain itself, and restore
    the chain directories' metadata."""
    chain = []
    d = os.path.dirname(view)
    while True:
        chain.append(d)
        if d == zone or d == "/":
            break
        d = os.path.dirname(d)
    keep = set(chain) | {view}
    for d in reversed(chain):
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if path in keep:
                continue
            walk(path, "upper", lambda n: n.startswith("user."),
                 emit=lambda line, base=path[len(zone) + 1:]:
                 print(f"{base}: {line}"))
            remove_tree(path)
        for name in os.listxattr(d):
            if name.startswith("user."):
                os.removexattr(d, name)
        os.chown(d, 0, 0)
        os.chmod(d, 0o755)


def remove_tree(path):
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        os.chmod(path, 0o700)
        for name in os.listdir(path):
            remove_tree(os.path.join(path, name))
        os.rmdir(path)
    else:
        os.unlink(path)


def check(args):
    if args.upper:
        print("== upper")
        walk(args.upper, "upper", upper_xattr)
    if args.work:
        # Whiteouts are fine there: the kernel keeps one, shared by all
        # whiteouts it creates, in its own work dir.
        print("== work leftovers")
        for dirpath, _, filenames in sorted(os.walk(args.work)):
            for f in sorted(filenames):
                path = os.path.join(dirpath, f)
                st = os.lstat(path)
                if not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0):
                    print(os.path.relpath(path, args.work),
                          type_char(st.st_mode), st.st_size)
    for lower in args.lowers:
        print(f"== lower {os.path.basename(lower)}")
        walk(lower, "lower", lambda n: True)
    if args.zone:
        print("== outside the view")
        reset_zone(args.zone, args.view)


# ------------------------------------------------------------------ main

def parse_only(text):
    return None if not text else {int(x) for x in text.split(",") if x}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--seed", type=int, required=True)
    b.add_argument("--view", required=True)
    b.add_argument("--layers", required=True)
    for name in ("exec", "show"):
        e = sub.add_parser(name)
        e.add_argument("--seed", type=int, required=True)
        e.add_argument("--ops", type=int, required=True)
        e.add_argument("--view", required=name == "exec")
        e.add_argument("--only", default="")
        e.add_argument("--skip", default="",
                       help="comma-separated operation names not to run")
    v = sub.add_parser("view")
    v.add_argument("--view", required=True)
    c = sub.add_parser("check")
    c.add_argument("--upper")
    c.add_argument("--work")
    c.add_argument("--zone")
    c.add_argument("--view")
    c.add_argument("lowers", nargs="*")
    args = ap.parse_args()

    if args.cmd == "build":
        build(args.seed, args.view, args.layers)
    elif args.cmd == "view":
        print_view(args.view)
    elif args.cmd == "check":
        check(args)
    elif args.cmd == "show":
        layers = gen_layers(args.seed)
        for name, entries in zip(("L1", "L2", "L3"), layers):
            print(f"== layer {name}")
            for e in entries:
                print("  " + e.describe())
        only = parse_only(args.only)
        print("== operations")
        for i, o in enumerate(gen_ops(args.seed, args.ops, layers)):
            if only is None or i in only:
                print(f"#{i:03d} {o['m']} {describe_op(o)}")
    else:
        layers = gen_layers(args.seed)
        ops = gen_ops(args.seed, args.ops, layers)
        only = parse_only(args.only)
        skip = set(args.skip.split(","))
        os.umask(0o022)
        os.chdir(args.view)
        ex = Executor(args.view)
        for i, o in enumerate(ops):
            if (only is None or i in only) and o["op"] not in skip:
                ex.run(i, o)
        sys.stdout.flush()
        if ex.slot:
            os.close(ex.slot[0])
        os.chdir("/")
        print_view(args.view)


if __name__ == "__main__":
    main()
