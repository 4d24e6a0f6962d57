#include "overlay/proc_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ovlbox {

SysResult<std::string> ReadProcStatus(pid_t tid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno{errno == ENOENT ? ESRCH : errno};
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n <= 0) return Errno{ESRCH};
  return std::string(buf, n);
}

std::string StatusField(const std::string& status, const char* name) {
  std::string key = std::string(name) + ":";
  size_t at = 0;
  while (at < status.size() && status.compare(at, key.size(), key) != 0) {
    at = status.find('\n', at);
    if (at == std::string::npos) return std::string();
    ++at;
  }
  if (at >= status.size()) return std::string();
  at += key.size();
  while (at < status.size() && (status[at] == ' ' || status[at] == '\t')) ++at;
  size_t end = status.find('\n', at);
  return status.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace ovlbox
