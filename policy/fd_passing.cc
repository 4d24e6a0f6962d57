#include "policy/fd_passing.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>

namespace ovlbox {
namespace {

// A message of `data` (len bytes) with room for one descriptor.
struct Message {
  Message(void* data, size_t len) : iov{data, len} {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
  }
  iovec iov;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
};

}  // namespace

bool SendFd(int sock, int fd) {
  char byte = 'L';
  Message m(&byte, 1);
  cmsghdr* cmsg = CMSG_FIRSTHDR(&m.msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  return sendmsg(sock, &m.msg, 0) == 1;
}

int ReceiveFd(int sock, int* err) {
  int payload = 0;
  Message m(&payload, sizeof(payload));
  ssize_t n = recvmsg(sock, &m.msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) {
    *err = n == 0 ? ECHILD : errno;
    return -1;
  }
  cmsghdr* cmsg = CMSG_FIRSTHDR(&m.msg);
  if (cmsg == nullptr || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) {
    *err = payload;
    return -1;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
  return fd;
}

}  // namespace ovlbox
