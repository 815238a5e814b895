// connection.hpp: one client connection and the echo it performs: read, write back, keep what did not fit.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <span>

#include "base/clock.hpp"
#include "base/unique_fd.hpp"
#include "worker/pending_buffer.hpp"

namespace echo {

struct EchoCounters {
    std::uint64_t bytes_read = 0;
    std::uint64_t bytes_written = 0;
};

class Connection {
  public:
    Connection(UniqueFd fd, std::size_t buffer_cap, TimePoint now)
        : fd_(std::move(fd)), pending_(buffer_cap), last_activity_(now) {}

    int fd() const { return fd_.get(); }

    // Outcome of an I/O step: keep serving, or close (peer gone, error, or everything echoed after its EOF).
    enum class Step { Keep, Close };

    // One read per readiness event (R7: a ping-pong costs one read and one write): with level-triggered epoll
    // anything left is reported again. With nothing pending the bytes go through `scratch` and straight back;
    // only what the socket did not take is copied into the pending buffer.
    Step on_readable(std::span<char> scratch, EchoCounters& counters, TimePoint now);
    // Writes out the pending bytes until the socket is full.
    Step on_writable(EchoCounters& counters, TimePoint now);

    // The epoll interest this connection needs now: read while there is room and the peer may still send,
    // write while bytes are pending. 0 means it is finished.
    std::uint32_t wanted_events() const;
    std::uint32_t armed_events() const { return armed_; }
    void set_armed(std::uint32_t events) { armed_ = events; }

    // Nothing pending to echo and nothing waiting in the socket: safe to close during a drain without losing
    // a byte that was read (RUNBOOK.md "Graceful stop").
    bool quiescent() const;
    std::size_t pending_bytes() const { return pending_.size(); }
    bool holds_buffer() const { return pending_.allocated(); }
    TimePoint last_activity() const { return last_activity_; }

    // Intrusive links for the worker's least-recently-active list (idle timeouts in O(1) per event).
    Connection* older = nullptr;
    Connection* newer = nullptr;

  private:
    Step write_pending(EchoCounters& counters, TimePoint now);

    UniqueFd fd_;
    PendingBuffer pending_;
    TimePoint last_activity_;
    std::uint32_t armed_ = 0;
    bool peer_closed_ = false;
};

}  // namespace echo
