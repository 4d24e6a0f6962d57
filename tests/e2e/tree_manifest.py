#!/usr/bin/env python3
"""Comparable description of a directory tree, for the end-to-end tests.

usage: tree_manifest.py view|upper DIR T0_NS [VOLATILE_GLOB]...

Prints one line per object below DIR (DIR itself is "."), depth first with
the names of each directory sorted:

    PATH TYPE MODE UID:GID n=NLINK [DETAILS] [mtime=...] [link=...] [xattrs]

TYPE is d, f, l (symlink), p (fifo), s (socket), c or b (device, with
MAJOR:MINOR).  A whiteout (c 0:0) shows neither link count nor time: the
kernel makes whiteouts as links to one shared whiteout in its work dir.
Regular files show their size and a content hash, symlinks their target.
Access and change times are never shown.  A modification time is shown
only when it is older than T0_NS (nanoseconds since the epoch, taken just
before the workload ran): such a time came from a layer, an archive or an
explicit touch, and must be the same on every side; anything written later
shows "mtime=new".  Files with several names inside DIR show the first of
those names (link=...).

Modes:
  view   what a program sees through the merged view;
  upper  an upper layer on disk: directory mtimes are left out, and so are
         the xattrs overlayfs keeps for itself (impure, redirect, uuid,
         nlink), which only the kernel writes.  user.overlay.opaque,
         user.overlay.origin (the copy-up origin, which both write) and
         every other xattr are kept.

Paths matching a VOLATILE_GLOB (fnmatch against the path without "./")
keep their size but not their content hash or mtime: files whose bytes
depend on the moment or the inode numbers (a git index, .pyc files).
"""

import fnmatch
import hashlib
import os
import stat
import sys

KERNEL_PRIVATE_XATTRS = {
    b"user.overlay.redirect",
    b"user.overlay.uuid",
    b"user.overlay.nlink",
}


def show(b):
    """Bytes as readable text (non-UTF-8 bytes escaped)."""
    return b.decode("utf-8", "backslashreplace")


def xattr_value(v):
    if v and all(32 <= c < 127 for c in v):
        return repr(v.decode())
    return "0x" + v.hex()


class ShortPaths:
    """Paths any call takes: a path of PATH_MAX bytes or more (a tree
    deeper than a path can name) becomes /proc/self/fd/N/NAME, N its
    parent directory opened name by name (the last one kept open)."""

    LIMIT = 4000

    def __init__(self):
        self.parent = None
        self.fd = -1

    def __call__(self, path):
        if len(path) < self.LIMIT:
            return path
        parent, name = os.path.split(path)
        if parent != self.parent:
            if self.fd >= 0:
                os.close(self.fd)
            fd = os.open(b"/", os.O_RDONLY | os.O_DIRECTORY)
            for part in parent.split(b"/"):
                if part:
                    nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                    os.close(fd)
                    fd = nfd
            self.parent, self.fd = parent, fd
        return b"/proc/self/fd/%d/%s" % (self.fd, name)


short = ShortPaths()


def walk(top):
    """Yields (relative path, lstat) for top and everything below it, in a
    fixed order (names sorted bytewise at each level)."""
    top = os.path.abspath(top)
    stack = [b"."]
    while stack:
        rel = stack.pop()
        st = os.lstat(short(os.path.join(top, rel)))
        yield rel, st
        if stat.S_ISDIR(st.st_mode):
            names = sorted(os.listdir(short(os.path.join(top, rel))), reverse=True)
            stack.extend(rel + b"/" + n for n in names)


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:20]


def is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def xattrs(path, mode):
    """The xattrs of path as NAME=VALUE fields, sorted by name."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        return ["listxattr:" + e.strerror]
    fields = []
    for n in sorted(os.fsencode(n) for n in names):
        if mode == "upper" and n in KERNEL_PRIVATE_XATTRS:
            continue
        try:
            v = os.getxattr(path, n, follow_symlinks=False)
            fields.append("%s=%s" % (show(n), xattr_value(v)))
        except OSError as e:
            fields.append("%s:%s" % (show(n), e.strerror))
    return fields


def main(argv):
    if len(argv) < 4 or argv[1] not in ("view", "upper"):
        sys.stderr.write(__doc__)
        return 2
    mode, top, t0 = argv[1], os.fsencode(argv[2]), int(argv[3])
    volatile = argv[4:]

    entries = list(walk(top))
    names_of = {}
    for rel, st in entries:
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1 and not is_whiteout(st):
            names_of.setdefault((st.st_dev, st.st_ino), []).append(rel)

    for rel, st in entries:
        path = short(os.path.join(os.path.abspath(top), rel))
        name = show(rel)
        is_volatile = any(fnmatch.fnmatchcase(name[2:], g) for g in volatile)
        m = st.st_mode
        fields = [name]
        if stat.S_ISDIR(m):
            kind = "d"
        elif stat.S_ISREG(m):
            kind = "f"
        elif stat.S_ISLNK(m):
            kind = "l"
        elif stat.S_ISFIFO(m):
            kind = "p"
        elif stat.S_ISSOCK(m):
            kind = "s"
        elif stat.S_ISCHR(m):
            kind = "c"
        elif stat.S_ISBLK(m):
            kind = "b"
        else:
            kind = "?"
        if is_whiteout(st) and mode == "upper":
            # Whoever makes a whiteout owns it: overlayfs' mounter (root,
            # for the kernel's mount) or the user who runs ovlbox.
            fields += [kind, "%04o" % stat.S_IMODE(m), "owner"]
        else:
            fields += [kind, "%04o" % stat.S_IMODE(m), "%d:%d" % (st.st_uid, st.st_gid)]
        if is_whiteout(st):
            # The kernel makes whiteouts as links to one shared whiteout
            # of its work dir: their link count and times say nothing.
            fields.append("0:0 whiteout")
            print(" ".join(fields + xattrs(path, mode)))
            continue
        fields.append("n=%d" % st.st_nlink)
        if kind == "f":
            fields.append("size=%d" % st.st_size)
            fields.append("volatile" if is_volatile else "sha=" + file_hash(path))
        elif kind == "l":
            fields.append("-> " + show(os.readlink(path)))
        elif kind in "cb":
            fields.append("%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if not (kind == "d" and mode == "upper") and not is_volatile:
            if st.st_mtime_ns < t0:
                fields.append("mtime=%d.%09d" % divmod(st.st_mtime_ns, 10**9))
            else:
                fields.append("mtime=new")
        others = names_of.get((st.st_dev, st.st_ino), [])
        if len(others) > 1:
            fields.append("link=" + show(others[0]))
        print(" ".join(fields + xattrs(path, mode)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
