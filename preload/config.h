// The configuration the supervisor writes into the preload library's image
// before serving it (shared by preload/preload.c and supervisor/preload.cc).
#ifndef OVLBOX_PRELOAD_CONFIG_H_
#define OVLBOX_PRELOAD_CONFIG_H_

#include <dirent.h>
#include <stdint.h>

#define OVLBOX_PRELOAD_MAGIC "OVLBOX-PRELOAD-CONFIG-1"
#define OVLBOX_PRELOAD_MAX_DEVS 32
#define OVLBOX_PRELOAD_PREFIX_BYTES 3072
#define OVLBOX_PRELOAD_MAX_HOLDERS 64

struct ovlbox_preload_config {
  char magic[24];
  uint64_t cookie;     // 0: the library does nothing
  uint32_t dev_check;  // objects on a device not in devs[] are outside the view
  uint32_t n_devs;
  uint64_t devs[OVLBOX_PRELOAD_MAX_DEVS];  // the filesystems that hold a layer
  uint32_t n_proc_devs;
  uint32_t writable;  // the view has an upper (its regular files report origins)
  uint64_t upper_dev;  // the upper's filesystem
  uint64_t proc_devs[OVLBOX_PRELOAD_MAX_DEVS];  // proc filesystems: never answered
  uint64_t runtime_dev;  // the supervisor's runtime dirs' filesystem (fifo stand-ins)
  // The shared view state's identity (below): the file the library finds
  // as OVLBOX_PRELOAD_STATE_FD at its start, when the supervisor could
  // place it there.
  uint64_t state_dev, state_ino;
  // The layers' filesystems, the one whose device every directory of the
  // view reports first (LayerSet::fs_devs; overlay/dir_id.h).
  uint32_t n_fs_devs;
  uint32_t pad;
  uint64_t fs_devs[OVLBOX_PRELOAD_MAX_DEVS];
  // The real directories that hold the upper or the work dir inside a
  // lower, or a mount point of a lower: never listed, nor worked out as
  // listed by the library (they show the view otherwise than their entries).
  uint32_t n_holders;
  uint32_t pad2;
  uint64_t holders[OVLBOX_PRELOAD_MAX_HOLDERS][2];  // device, inode
  // Entries "D/path\0" (a directory and everything below it), "U/path\0"
  // (the same, for the upper and work dirs) and "R/prefix\0" (every path
  // that starts with it), then an empty entry.
  char prefixes[OVLBOX_PRELOAD_PREFIX_BYTES];
};

// readlinkat(AT_FDCWD, path, buf, size) with the cookie XOR this value in
// r9 (which the filter does not let through) asks the supervisor for the
// canonical view path of `path`, as realpath(3) would find it: one call
// instead of glibc's getcwd and one readlink per name. An error means
// "not answered": the library then leaves the work to glibc.
#define OVLBOX_PRELOAD_REALPATH_TAG 0x7265616c70617468ULL  // "realpath"

// The directories the library may answer lookups in by itself, shared
// read-only with every program (a memfd the supervisor serves as
// OVLBOX_PRELOAD_STATE_PATH). A directory is listed, by the device and
// inode of its real directory, when its view directory comes from that
// one lower directory alone (no upper, no other lower, no whiteouts marked
// by xattr, no hidden or mount points inside): the view's entries are then
// that directory's entries, whiteout devices excepted. An entry made at
// generation g holds while `layout` <= g: the supervisor advances
// `generation` with every change to the view, and sets `layout` to the new
// generation (before it) when the change makes, removes, moves or changes
// a directory, before the change is answered. A change to other objects in
// a directory that has its upper already (a file made, copied up, removed,
// renamed) leaves every entry holding: the library's lookups read the real
// directories each time, and see it.
#define OVLBOX_PRELOAD_STATE_PATH "/etc/ovlbox-view-state"
// Where the supervisor puts the shared state for the library when it
// serves the library to the loader (if that descriptor is free): the
// library takes it in its constructor and closes it, and opens the path
// above only when it is not there.
#define OVLBOX_PRELOAD_STATE_FD 1001
#define OVLBOX_PRELOAD_STATE_SLOTS 8192
#define OVLBOX_PRELOAD_STATE_PROBES 8

struct ovlbox_pure_slot {
  uint64_t seq;  // odd while the supervisor rewrites the slot
  uint64_t dev;
  uint64_t ino;
  uint64_t generation;  // recorded at; 0: empty
  uint64_t flags;       // OVLBOX_PURE_*
};

// The directory holds only regular files, directories and symlinks (no
// fifo, socket, device or whiteout): opening any of its names has no side
// effect, so the library may open a name before it knows what it is. A
// lower never changes, so this is judged once: by the supervisor for the
// directories it records, by the library for those it finds by itself.
#define OVLBOX_PURE_PLAIN 1ULL

// Whether the `n` bytes of getdents64 entries at `buf` are all of the
// types OVLBOX_PURE_PLAIN allows (a type not given, DT_UNKNOWN, is not).
static inline int ovlbox_dirents_plain(const char* buf, long n) {
  for (long off = 0; off < n;) {
    const struct dirent64* d = (const struct dirent64*)(buf + off);
    if (d->d_type != DT_REG && d->d_type != DT_DIR && d->d_type != DT_LNK) return 0;
    off += d->d_reclen;
  }
  return 1;
}

// Merged directories, by the device and inode of each of their real
// directories (one slot each: the view gives a program the top one, but a
// cwd at the view root, or one entered before a copy-up, is a lower's): the
// real directories that make up the view directory, top first, when none of
// them marks xattr whiteouts. The view's entry for a name is then the
// first of those directories' entries for it, a whiteout device there
// meaning none. Valid, as above, while `layout` has not passed
// `generation`.
#define OVLBOX_PRELOAD_MERGED_SLOTS 1024
#define OVLBOX_PRELOAD_MERGED_BYTES 1952

struct ovlbox_merged_slot {
  uint64_t seq;  // odd while the supervisor rewrites the slot
  uint64_t dev;
  uint64_t ino;
  uint64_t generation;  // recorded at; 0: empty
  uint32_t n_dirs;      // real directories in `paths`
  uint32_t upper_first; // 1: the first one is the upper's
  uint32_t paths_len;   // bytes used in `paths`
  uint32_t key_index;   // which of the directories (dev, ino) names
  uint64_t self_ino;    // the view's d_ino for "." and "..": what its
  uint64_t dotdot_ino;  // listing shows (the supervisor's DotDotIno)
  // n_dirs absolute paths, each ending in a NUL
  char paths[OVLBOX_PRELOAD_MERGED_BYTES];
};

struct ovlbox_view_state {
  uint64_t generation;  // the view's; starts at 1
  uint64_t listing;     // 1 when the supervisor lists directories at all
  // Counts the calls the supervisor sees that can move a working directory
  // (chdir, fchdir and setns without the cookie), each counted before it
  // runs: the library keeps the identity of its cwd while this and its own
  // count of the fchdir calls it makes are unchanged.
  uint64_t cwd_epoch;
  // The generation of the last change to the view's directories (as
  // above); at most `generation`, and published before it.
  uint64_t layout;
  // How many symlinks, fifos, sockets and devices were copied up in this
  // run: each keeps its lower object's identity in the view, which only
  // the supervisor knows (no xattr can record it), so while this is not 0
  // the library leaves the upper's symlinks to it.
  uint64_t special_copies;
  uint64_t pad[3];
  struct ovlbox_pure_slot slots[OVLBOX_PRELOAD_STATE_SLOTS];
  struct ovlbox_merged_slot merged[OVLBOX_PRELOAD_MERGED_SLOTS];
};

static inline uint64_t ovlbox_pure_hash(uint64_t dev, uint64_t ino) {
  uint64_t h = ino * 0x9e3779b97f4a7c15ULL ^ (dev + 0x632be59bd9b4e019ULL) * 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 31);
}

#endif  // OVLBOX_PRELOAD_CONFIG_H_
