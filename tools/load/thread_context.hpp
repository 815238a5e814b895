// State one load thread shares among its connections: options, epoll, scratch buffer, clock window,
// admission.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "options.hpp"
#include "stats.hpp"

namespace echoload {

using Clock = std::chrono::steady_clock;

struct ThreadContext {
    ThreadContext(const Options& options, int epoll, std::uint64_t op_quota, std::uint64_t serial_base)
        : opt(options), epoll_fd(epoll), quota(op_quota), next_serial(serial_base) {}

    const Options& opt;
    const int epoll_fd;
    Stats stats;
    // One scratch buffer serves every connection of the thread: outgoing bytes are regenerated from the
    // pattern and incoming ones verified in place, so a connection owns no buffer (10,000 of them stay
    // cheap).
    std::vector<std::byte> buffer = std::vector<std::byte>(256 * 1024);

    Clock::time_point now = Clock::now();  // refreshed after every epoll_wait
    Clock::time_point measure_begin = Clock::time_point::max();
    Clock::time_point measure_end = Clock::time_point::max();
    Clock::time_point
        last_done{};  // when the latest operation completed: a --count run ends there, not at a tick
    bool stopping = false;

    std::uint64_t quota;  // operations this thread may start (UINT64_MAX: unlimited)
    std::uint64_t started = 0;
    std::uint64_t next_serial;
    unsigned connecting = 0;               // handshakes in progress
    unsigned settled = 0;                  // hold: connections served once or failed
    unsigned unproven = 0;                 // opened, not yet served once nor failed
    std::deque<std::uint32_t> to_connect;  // connections waiting for a handshake slot

    [[nodiscard]] bool measuring(Clock::time_point t) const { return t >= measure_begin && t < measure_end; }
    [[nodiscard]] Clock::duration timeout() const {
        return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.timeout));
    }

    // May a new operation (round trip, stream chunk, connection cycle, ping) begin? Counts it if so.
    bool admit() {
        if (stopping || started >= quota) return false;
        ++started;
        return true;
    }
    [[nodiscard]] bool quota_spent() const { return started >= quota; }
};

}  // namespace echoload
