// figures.hpp: the live figures the master, its workers and the metrics process share, as plain values.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace echo {

// What became of a connection's PROXY protocol header (R90, docs/PROXY.md "Counters"): the label `result` of
// echo_hardened_proxy_headers_total. Proxy: the original client's address taken; Local: accepted without one
// (v2 LOCAL, v2 UNSPEC, v1 UNKNOWN), the connection's own peer kept. The rest close the connection.
enum class ProxyResult : std::size_t {
    Proxy,
    Local,
    Malformed,
    TooLong,
    UnknownVersion,
    UnknownCommand,
    Truncated,   // EOF or reset before the header was complete
    Timeout,     // not complete within --proxy-timeout
    Unexpected,  // a header on a listener that expects none
};
inline constexpr std::array<std::string_view, 9> kProxyResultNames = {
    "proxy",           "local",     "malformed", "too_long",  "unknown_version",
    "unknown_command", "truncated", "timeout",   "unexpected"};
using ProxyCounts = std::array<std::uint64_t, kProxyResultNames.size()>;
constexpr std::string_view proxy_result_name(ProxyResult r) {
    return kProxyResultNames[static_cast<std::size_t>(r)];
}

// One worker process's counters since its fork, as it last wrote them (at each accept, close and echo).
struct WorkerFigures {
    unsigned slot = 0;
    pid_t pid = 0;  // 0 for a moment after the fork, until the master writes it
    unsigned generation = 0;
    std::uint32_t open = 0;
    std::uint64_t accepted = 0;
    std::uint64_t bytes_echoed = 0;
    std::uint64_t accept_pauses = 0;  // accepts stopped for a while after EMFILE and its kin
    std::uint64_t adopted = 0;        // connections handed over to it by other workers (R60)
    ProxyCounts proxy_headers{};      // by ProxyResult
};

// Whether a load balancer should send this server new connections (R91, docs/FLEET.md): what the metrics
// process answers on /ready. Only Serving is in the rotation.
enum class Readiness : std::uint32_t {
    Starting,  // not yet READY=1: some slot's first worker does not accept yet
    Serving,   // READY=1 announced, and no stop begun (a reload keeps serving throughout)
    Leaving,   // SIGTERM with --leave-delay: still accepting, while balancers take it out of rotation
    Stopping,  // draining or stopping: the listeners are closed
};

// The master's own figures, written by its loop after every event (Supervisor::figures()).
struct MasterFigures {
    pid_t master_pid = 0;
    std::uint32_t workers_alive = 0;  // worker processes the master has forked and not yet seen exit
    std::uint32_t workers_target = 0;
    std::uint32_t zombies = 0;  // zombie mode only
    std::uint64_t restarts = 0;
    std::uint64_t crash_loop_backoffs = 0;  // restarts delayed because the slot keeps dying young
    std::uint64_t hung_workers_killed = 0;
    std::uint64_t fork_failures = 0;
    std::uint64_t reloads = 0;
    Readiness readiness = Readiness::Starting;  // set by the loop (master/rotation.hpp), not the supervisor
};

// One consistent reading of the board: every live worker, and totals over the whole life of the master
// (the figures of workers that have exited included, so a total never goes back).
struct BoardSnapshot {
    MasterFigures master;
    std::vector<WorkerFigures> workers;
    std::uint64_t open = 0;
    std::uint64_t accepted = 0;
    std::uint64_t bytes_echoed = 0;
    std::uint64_t accept_pauses = 0;
    ProxyCounts proxy_headers{};
};

}  // namespace echo
