// The configuration the supervisor writes into the preload library's image
// before serving it (shared by preload/preload.c and supervisor/preload.cc).
#ifndef OVLBOX_PRELOAD_CONFIG_H_
#define OVLBOX_PRELOAD_CONFIG_H_

#include <stdint.h>

#define OVLBOX_PRELOAD_MAGIC "OVLBOX-PRELOAD-CONFIG-1"
#define OVLBOX_PRELOAD_MAX_DEVS 32
#define OVLBOX_PRELOAD_PREFIX_BYTES 3072

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
  // Entries "D/path\0" (a directory and everything below it), "U/path\0"
  // (the same, for the upper and work dirs) and "R/prefix\0" (every path
  // that starts with it), then an empty entry.
  char prefixes[OVLBOX_PRELOAD_PREFIX_BYTES];
};

#endif  // OVLBOX_PRELOAD_CONFIG_H_
