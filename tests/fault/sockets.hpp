// sockets.hpp: what the kernel knows about the server's connections (/proc/net/tcp, /proc/PID/fd), and the
// test's own probe connections, each tied to the worker that serves it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "client.hpp"

namespace fault {

using echo::UniqueFd;
using test::Duration;

// Established TCP connections whose server end is 127.0.0.1:port, accepted or still in the backlog.
std::size_t established_on(std::uint16_t port);
// The process among `pids` whose fd table holds the server end of the loopback connection `client_fd`.
std::optional<pid_t> server_end_owner(int client_fd, const std::vector<pid_t>& pids);
std::size_t open_fds(pid_t pid);
std::size_t total_open_fds(const std::vector<pid_t>& pids);
// Threads of a process (/proc/PID/status), 0 when it is gone.
int thread_count(pid_t pid);
// RLIMIT_NOFILE's soft limit raised to the hard one, for scenarios that hold thousands of sockets.
void raise_nofile();

// A connection of the test's own whose serving worker is known: when that worker is killed the probe must
// be closed, and when another one is, the probe must keep echoing every byte.
struct Probe {
    UniqueFd fd;
    pid_t owner = -1;
};
std::optional<Probe> open_probe(std::uint16_t port, const std::vector<pid_t>& workers, std::uint64_t seed);
// One verified 4 KiB round trip; adds the bytes to `verified`.
bool ping(const Probe& probe, std::uint64_t seed, std::uint64_t& verified);

// n connections, each accepted and served once (one verified 16-byte echo), then left idle.
std::vector<UniqueFd> open_idle(std::uint16_t port, std::size_t n, std::uint64_t& verified);
// How many of `fds` still echo a fresh 16-byte message, verified (adds the bytes to `verified`).
std::size_t still_echoing(const std::vector<UniqueFd>& fds, std::uint64_t seed, std::uint64_t& verified);
// Waits on all of them at once: how many the peer closed (EOF or reset) within `timeout`.
std::size_t closed_within(const std::vector<int>& fds, Duration timeout);
std::vector<int> raw(const std::vector<UniqueFd>& fds);

}  // namespace fault
