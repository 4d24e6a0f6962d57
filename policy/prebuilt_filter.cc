#include "policy/prebuilt_filter.h"

#include <cstddef>

#include "policy/filter.h"

namespace ovlbox {

extern const sock_filter kPrebuiltFilter[];
extern const size_t kPrebuiltFilterLen;

std::vector<sock_filter> PrebuiltFilter(uint64_t cookie) {
  std::vector<sock_filter> program;
  if (cookie != 0) program = CookiePrefix(cookie);
  program.insert(program.end(), kPrebuiltFilter, kPrebuiltFilter + kPrebuiltFilterLen);
  return program;
}

}  // namespace ovlbox
