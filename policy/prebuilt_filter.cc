#include "policy/prebuilt_filter.h"

#include <cstddef>

#include "policy/filter.h"

namespace ovlbox {

extern const sock_filter kPrebuiltFilter[];
extern const size_t kPrebuiltFilterLen;

std::vector<sock_filter> PrebuiltFilter(uint64_t cookie, const KeptIds& kept) {
  std::vector<sock_filter> program = FilterPrefix(cookie, kept);
  program.insert(program.end(), kPrebuiltFilter, kPrebuiltFilter + kPrebuiltFilterLen);
  return program;
}

}  // namespace ovlbox
