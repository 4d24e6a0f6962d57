/* The numbers a directory of the view reports when the layers lie on more
 * than one filesystem (LayerSet::MapDirId). C as well as C++: the preload
 * library answers stat for directories with the same numbers as the
 * supervisor. */
#ifndef OVLBOX_OVERLAY_DIR_ID_H_
#define OVLBOX_OVERLAY_DIR_ID_H_

#include <stdint.h>

/* The device and inode number a directory of the view on the filesystem
 * *dev reports, the layers lying on the filesystems fs_devs[0..n) (the one
 * the view's directories report first): as they are on one filesystem;
 * across several, fs_devs[0] and the filesystem's index in bits 48 and up
 * of the number. A device not among them is left as it is. */
static inline void ovlbox_map_dir_id(const uint64_t* fs_devs, uint32_t n, uint64_t* dev,
                                     uint64_t* ino) {
  if (n < 2) return;
  for (uint32_t i = 0; i < n; ++i) {
    if (fs_devs[i] != *dev) continue;
    if (i > 0 && (*ino >> 48) == 0) *ino |= (uint64_t)i << 48;
    *dev = fs_devs[0];
    return;
  }
}

#endif /* OVLBOX_OVERLAY_DIR_ID_H_ */
