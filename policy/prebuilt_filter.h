#ifndef OVLBOX_POLICY_PREBUILT_FILTER_H_
#define OVLBOX_POLICY_PREBUILT_FILTER_H_

#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "policy/filter.h"

namespace ovlbox {

// What BuildFilter(cookie, kept) returns, from the libseccomp program made
// when ovlbox was built (//policy:filter_gen) with FilterPrefix in front:
// building it with libseccomp took a third of ovlbox's start.
std::vector<sock_filter> PrebuiltFilter(uint64_t cookie, const KeptIds& kept = {});

}  // namespace ovlbox

#endif  // OVLBOX_POLICY_PREBUILT_FILTER_H_
