/* The position of a name in the view's listings of a directory: a stable
 * 63-bit hash of the name ("." is 1 and ".." is 2, 0 the start, and
 * 0x7fffffffffffffff the end). C as well as C++: the preload library lists
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

#endif /* OVLBOX_OVERLAY_NAME_COOKIE_H_ */
