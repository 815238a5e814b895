// socket_io.cpp: the real system calls behind worker/socket_io.hpp.
#include "worker/socket_io.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace echo {

ssize_t socket_read(int fd, char* data, std::size_t n) {
    return ::read(fd, data, n);
}

// MSG_NOSIGNAL: a peer that vanished must cost an EPIPE, not a SIGPIPE (ignored anyway, belt and braces).
ssize_t socket_send(int fd, const char* data, std::size_t n) {
    return ::send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int socket_unread(int fd, int& unread) {
    return ::ioctl(fd, FIONREAD, &unread);
}

}  // namespace echo
