// connection.hpp: one client connection and the echo it performs: read, write back, keep what did not fit.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <span>

#include "base/clock.hpp"
#include "base/unique_fd.hpp"
#include "os/channel.hpp"
#include "worker/header_wait.hpp"
#include "worker/idle_list.hpp"
#include "worker/pending_buffer.hpp"

namespace echo {

struct EchoCounters {
    std::uint64_t bytes_written = 0;
};

// What an I/O step did, so the loop need not probe the connection afterwards.
struct IoOutcome {
    bool active = false;  // bytes moved: the connection goes to the newest end of the idle list
    bool close = false;   // peer gone, error, or everything echoed after its EOF
    // Closed because its first read began with a PROXY header on a listener that expects none (R90).
    bool stray_header = false;

    static IoOutcome keep(bool active) { return {active, false}; }
    static IoOutcome closed() { return {false, true}; }
    // This step followed by `next` on the same event: active if either moved bytes; `next` decides the rest.
    IoOutcome then(IoOutcome next) const { return {active || next.active, next.close, next.stray_header}; }
};

class Connection {
  public:
    Connection(UniqueFd fd, std::size_t buffer_cap, TimePoint now)
        : fd_(std::move(fd)), pending_(buffer_cap), last_activity_(now) {}
    // One handed over by another worker (R60): its unechoed bytes are written before anything read from now
    // on, and a client that had half-closed stays half-closed. The cap grows to hold what came, if it must:
    // the sender may run with an older, larger --buffer-size.
    Connection(Parcel parcel, std::size_t buffer_cap, TimePoint now);

    // The hand-over's other end: the socket and the state a receiver needs; this connection is left empty.
    // The caller has taken the socket out of its epoll set first.
    Parcel to_parcel();

    int fd() const { return fd_.get(); }

    // From a proxy listener (R90): until its PROXY header is complete, what it reads is the header's, and
    // nothing is echoed.
    void await_header(std::unique_ptr<HeaderWait> wait) {
        header_ = std::move(wait);
        first_read_seen_ = true;
    }
    HeaderWait* header_wait() const { return header_.get(); }
    bool awaiting_header() const { return header_ != nullptr; }
    // One read while awaiting the header. Once it is complete, the bytes read after it are client data:
    // echoed, or kept pending like any others. The wait itself stays until end_header_wait(), so the worker
    // can log the balancer's address first.
    HeaderStep on_header_readable(std::span<char> scratch, EchoCounters& counters, TimePoint now);
    void end_header_wait() { header_.reset(); }

    // One read per readiness event (a ping-pong costs one read and one send: RUNBOOK.md "Architecture"): with
    // level-triggered epoll anything left is reported again. With nothing pending the bytes go
    // through `scratch` and straight back; only what the socket did not take is copied into the pending
    // buffer.
    IoOutcome on_readable(std::span<char> scratch, EchoCounters& counters, TimePoint now);
    // Writes out the pending bytes until the socket is full.
    IoOutcome on_writable(EchoCounters& counters, TimePoint now);

    // The epoll interest this connection needs now: read while there is room and the peer may still send,
    // write while bytes are pending. 0 means it is finished.
    std::uint32_t wanted_events() const;
    std::uint32_t armed_events() const { return armed_; }
    void set_armed(std::uint32_t events) { armed_ = events; }

    // A stop that keeps connections for the next instance (R62): nothing more is read, so everything read can
    // be echoed first and what the client sends from now on waits in the socket for the next instance.
    void stop_reading() { reading_stopped_ = true; }
    // One adopted during a stop came back from the master, which had no room for it: it drains (R13).
    void keep_here() { keep_here_ = true; }
    bool kept_here() const { return keep_here_; }

    // Nothing pending to echo and nothing waiting in the socket: safe to close during a drain without losing
    // a byte that was read (RUNBOOK.md "Graceful stop").
    bool quiescent() const;
    std::size_t pending_bytes() const { return pending_.size(); }
    TimePoint last_activity() const { return last_activity_; }
    // It came from another process, which may still hold the socket for a moment (the master, until it
    // hears Adopted): closing our fd then does not take it out of our epoll set (RUNBOOK.md "Connections
    // across reload, upgrade and restart").
    bool adopted() const { return adopted_; }

    // Its place in the worker's least-recently-active list (idle_list.hpp).
    IdleHook<Connection> idle_hook;

  private:
    IoOutcome write_pending(EchoCounters& counters, TimePoint now);

    UniqueFd fd_;
    // Its first read has been looked at for a stray PROXY header (a plain listener's connections only; one
    // handed over or awaiting a header is past that). Beside the fd, in what was padding.
    bool first_read_seen_ = false;
    PendingBuffer pending_;
    TimePoint last_activity_;
    std::uint32_t armed_ = 0;
    bool peer_closed_ = false;
    bool adopted_ = false;
    bool reading_stopped_ = false;
    bool keep_here_ = false;
    std::unique_ptr<HeaderWait> header_;  // set only while awaiting a PROXY header
};

}  // namespace echo
