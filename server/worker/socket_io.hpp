// socket_io.hpp: the three socket calls a connection's echo makes, behind a link seam the fuzzer replaces.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace echo {

// Each is one system call with its result and errno as the kernel gave them (EINTR included: the caller
// decides to retry). The server links worker/socket_io.cpp; tests/fuzz/fuzz_connection.cpp links its own
// definitions that return fuzzer-chosen results (docs/FUZZING.md).
ssize_t socket_read(int fd, char* data, std::size_t n);
// A non-blocking send that cannot raise SIGPIPE.
ssize_t socket_send(int fd, const char* data, std::size_t n);
// FIONREAD: the bytes waiting in the socket's receive queue, into `unread`; -1 with errno on failure.
int socket_unread(int fd, int& unread);

}  // namespace echo
