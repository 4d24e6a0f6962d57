// Handing a descriptor to another process over a Unix socket (SCM_RIGHTS):
// how a child that installed the filter gives its listener to the process
// that answers the notifications.
#ifndef OVLBOX_POLICY_FD_PASSING_H_
#define OVLBOX_POLICY_FD_PASSING_H_

namespace ovlbox {

// Sends `fd` with one byte of data. false (errno set) on failure.
bool SendFd(int sock, int fd);

// Receives a descriptor sent by SendFd, close-on-exec. -1 when none came:
// `*err` is then the int the peer sent in its place (an errno, by the
// launcher's convention), ECHILD when the peer closed the socket, or
// recvmsg's own errno.
int ReceiveFd(int sock, int* err);

}  // namespace ovlbox

#endif  // OVLBOX_POLICY_FD_PASSING_H_
