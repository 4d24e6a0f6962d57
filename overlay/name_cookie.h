/* A name's cookie: a stable 63-bit hash of the name ("." is 1 and ".." is
 * 2). Positions in the view's listings of a directory (ovlbox_dir_pos) are
 * made of an entry's index and its cookie's low half; 0 is the start and
 * 0x7fffffffffffffff the end. C as well as C++: the preload library lists
 * merged directories with the same positions as the supervisor. */
#ifndef OVLBOX_OVERLAY_NAME_COOKIE_H_
#define OVLBOX_OVERLAY_NAME_COOKIE_H_

#include <stddef.h>
#include <stdint.h>

#define OVLBOX_DIR_EOF 0x7fffffffffffffffULL

static inline uint64_t ovlbox_name_cookie(const char* name, size_t len) {
  if (len == 1 && name[0] == '.') return 1;
  if (len == 2 && name[0] == '.' && name[1] == '.') return 2;
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < len; ++i) {
    h ^= (unsigned char)name[i];
    h *= 1099511628211ULL;
  }
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  h &= OVLBOX_DIR_EOF;
  if (h < 3) h += 3;
  if (h == OVLBOX_DIR_EOF) h -= 1;
  return h;
}

/* The position of the entry at `index` (its name's cookie `cookie`) in a
 * listing: the index in the high half, the cookie's low 32 bits in the low
 * half. A listing read on after it changed goes on at the entry of that
 * name where it still is, else at the same index (overlay/dirlist.cc,
 * ResumeIndex). Each entry's d_off is the position of the entry after it. */
static inline uint64_t ovlbox_dir_pos(uint64_t index, uint64_t cookie) {
  return (index << 32) | (cookie & 0xffffffffULL);
}

#endif /* OVLBOX_OVERLAY_NAME_COOKIE_H_ */
