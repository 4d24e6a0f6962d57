#include "overlay/xattr_names.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "overlay/view.h"

namespace ovlbox {

bool IsPrivateXattr(std::string_view name) {
  return name.starts_with(kOverlayXattrPrefix) &&
         !name.starts_with(kEscapedPrefix);
}

std::string EscapeXattr(std::string_view name) {
  if (name.starts_with(kOverlayXattrPrefix)) {
    return std::string(kEscapedPrefix) + std::string(name.substr(strlen(kOverlayXattrPrefix)));
  }
  return std::string(name);
}

std::string UnescapeXattr(std::string_view stored) {
  if (stored.starts_with(kEscapedPrefix)) {
    return std::string(kOverlayXattrPrefix) + std::string(stored.substr(strlen(kEscapedPrefix)));
  }
  if (stored.starts_with(kOverlayXattrPrefix)) return std::string();
  return std::string(stored);
}

std::string FilterXattrList(std::string_view list) {
  std::string out;
  size_t i = 0;
  while (i < list.size()) {
    size_t end = list.find('\0', i);
    if (end == std::string_view::npos) end = list.size();
    std::string shown = UnescapeXattr(list.substr(i, end - i));
    if (!shown.empty()) {
      out += shown;
      out.push_back('\0');
    }
    i = end + 1;
  }
  return out;
}

bool IsXattrWhiteout(int dirfd, const std::string& name) {
  int fd = openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = FdGetXattr(fd, kWhiteoutXattr, nullptr, 0);
  close(fd);
  return n >= 0;
}

}  // namespace ovlbox
