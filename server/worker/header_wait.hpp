// header_wait.hpp: a connection's wait for its PROXY protocol header: the deadline, the balancer, the bytes.
#pragma once

#include <cstddef>
#include <memory>

#include "base/clock.hpp"
#include "config/address.hpp"
#include "worker/idle_list.hpp"
#include "worker/proxy_header.hpp"

namespace echo {

// Allocated at the accept of a connection from a proxy listener and freed once its header is complete, so a
// connection past its header (and every connection of a plain listener) costs one null pointer more: 88
// bytes of bookkeeping in all, 80 before (docs/ARCHITECTURE.md "Processes"). The worker keeps these in order
// of their deadline, which is their order of accept (one --proxy-timeout for all): the timer's sweep starts
// at the oldest and stops at the first not due, as the idle sweep does.
struct HeaderWait {
    HeaderWait(int fd_, TimePoint deadline_, const SocketAddress& peer_)
        : fd(fd_), deadline(deadline_), peer(peer_) {}

    int fd;
    TimePoint deadline;
    SocketAddress peer;  // the balancer, as accept4() gave it
    // A header split over several reads: what came so far. Allocated at the first read that ends short of a
    // whole header; one that arrives whole (the usual case) is parsed where it was read.
    std::unique_ptr<char[]> bytes;
    std::size_t used = 0;
    IdleHook<HeaderWait> hook;
};

// What one read of a connection awaiting its header came to. `result` is set once the header is settled:
// Proxy or Local (then `header` holds it), or why the connection closes.
struct HeaderStep {
    bool active = false;
    bool close = false;
    std::optional<ProxyResult> result = std::nullopt;
    ProxyHeader header{};
    std::string_view detail{};
};

}  // namespace echo
