// worker_report.hpp: the fixed-size message a worker sends its master over their SOCK_SEQPACKET pair.
#pragma once

#include <cstdint>

namespace echo {

// One datagram per report: SOCK_SEQPACKET keeps message boundaries, so the master never sees half a report.
// The worker sends with MSG_DONTWAIT and drops a heartbeat when the master is not reading (stopped, busy):
// heartbeats are evidence of progress, and a queued one proves as much as a fresh one.
struct WorkerReport {
    enum class Kind : std::uint32_t { Ready = 1, Heartbeat = 2 };
    Kind kind = Kind::Heartbeat;
    std::uint32_t connections_open = 0;
    std::uint64_t connections_accepted = 0;
    std::uint64_t bytes_echoed = 0;
};

}  // namespace echo
