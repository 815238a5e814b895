// test_handover.cpp: connections survive the retirement of their worker (R60): through SIGHUP, SIGTTOU and
// SIGTTIN nothing is dropped, unechoed bytes and half-closes carry over exactly, and a hand-over target that
// dies loses none of what was on its way to it.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <map>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;
using Clock = std::chrono::steady_clock;

namespace {

// For each worker the log shows retired, seconds from "retiring worker N (pid P)" to its exit.
std::map<pid_t, double> retirement_times(const std::string& log) {
    std::map<pid_t, double> retired_at, took;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        auto pid_after = [&](const std::string& marker) -> pid_t {
            auto at = line.find(marker);
            return at == std::string::npos ? 0 : std::atoi(line.c_str() + at + marker.size());
        };
        if (line.find("retiring worker") != std::string::npos) {
            if (pid_t p = pid_after("(pid "); p > 0) retired_at[p] = test::log_stamp_seconds(line);
        } else if (line.find("exited with status 0") != std::string::npos) {
            pid_t p = pid_after("(pid ");
            if (auto it = retired_at.find(p); it != retired_at.end())
                took[p] = test::log_stamp_seconds(line) - it->second;
        }
    }
    return took;
}

// Sends from `data` until the socket takes no more for 300 ms: the server stopped reading (its buffer for
// this client is full) and so did the client's side. Returns the bytes sent.
std::size_t send_until_stalled(int fd, const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
        ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN) break;
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, 300) == 0) break;  // no room came back: stalled
    }
    return sent;
}

std::uint64_t bytes_not_yet_echoed(const std::string& log) {
    std::uint64_t total = 0;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) {
        auto at = line.find("connection(s) with ");
        if (line.find("handing over") != std::string::npos && at != std::string::npos)
            total += std::stoull(line.substr(at + 19));
    }
    return total;
}

void wait_gone(const std::vector<pid_t>& pids, Duration timeout) {
    CHECK_MESSAGE(test::eventually([&] { return test::all_reaped(pids); }, timeout),
                  "old workers still alive");
}

}  // namespace

TEST_CASE(
    "hand-over: SIGHUP, SIGTTOU and SIGTTIN with 1,000 idle, 50 ping-pong and 10 streaming connections "
    "drop nothing") {
    raise_nofile();
    auto server = test::start_server({"--workers", "2"});
    auto first = test::wait_for_workers(*server, 2);
    std::uint64_t verified = 0;
    auto idle = open_idle(server->port(), 1000, verified);
    REQUIRE(idle.size() == 1000);
    LoadRun pingpong(server->port(), {"--mode", "pingpong", "-c", "50"});
    LoadRun streams(server->port(), {"--mode", "stream", "-c", "10", "-s", "16K", "--window", "256K"});
    REQUIRE(test::eventually([&] { return established_on(server->port()) >= 1060; }, 10s));

    server->signal(SIGHUP);
    REQUIRE(server->wait_for_log("reload complete: 2 worker(s) of generation 1", 20s) >= 0);
    wait_gone(first, 10s);
    auto reloaded = test::wait_for_workers(*server, 2);
    server->signal(SIGTTOU);
    REQUIRE(server->wait_for_log("SIGTTOU: 2 workers -> 1", 10s) >= 0);
    auto one = test::wait_for_workers(*server, 1);
    server->signal(SIGTTIN);
    auto two = test::wait_for_workers(*server, 2);
    REQUIRE(two.size() == 2);

    CHECK(still_echoing(idle, 1000, verified) == idle.size());
    auto pp = pingpong.stop();
    auto st = streams.stop();
    check_load(pp, false);
    check_load(st, false);
    // Each retired worker was gone within a second of being told (the bound).
    auto times = retirement_times(server->log());
    CHECK(times.size() == 3);  // two by the reload, one by SIGTTOU
    std::vector<double> ms;
    for (auto [pid, seconds] : times) {
        CHECK_MESSAGE(seconds < 1.0, "worker " << pid << " took " << seconds << " s to hand over and exit");
        ms.push_back(seconds * 1000);
    }
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(20s) == 0);
    report({"hand-over: SIGHUP, SIGTTOU, SIGTTIN", "1,000 idle + 50 ping-pong + 10 streaming", "3 signals",
            verified + pp.count("total_bytes") + st.count("total_bytes"),
            pp.count("errors") + st.count("errors"), 0,
            fmt::format("0 dropped; retire to exit {}", spread_ms(ms))});
}

TEST_CASE("hand-over: 20 reloads in a row under load drop nothing") {
    raise_nofile();
    auto server = test::start_server({"--workers", "2"});
    std::uint64_t verified = 0;
    auto idle = open_idle(server->port(), 200, verified);
    REQUIRE(idle.size() == 200);
    LoadRun pingpong(server->port(), {"--mode", "pingpong", "-c", "50"});
    LoadRun streams(server->port(), {"--mode", "stream", "-c", "10", "-s", "16K", "--window", "256K"});
    REQUIRE(test::eventually([&] { return established_on(server->port()) >= 260; }, 10s));
    std::vector<double> reload_ms;
    for (int generation = 1; generation <= 20; ++generation) {
        auto old = test::wait_for_workers(*server, 2);
        const auto at = Clock::now();
        server->signal(SIGHUP);
        REQUIRE(server->wait_for_log(fmt::format("reload complete: 2 worker(s) of generation {}", generation),
                                     20s) >= 0);
        wait_gone(old, 10s);
        reload_ms.push_back(ms_since(at));
    }
    CHECK(still_echoing(idle, 5000, verified) == idle.size());
    auto pp = pingpong.stop();
    auto st = streams.stop();
    check_load(pp, false);
    check_load(st, false);
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(20s) == 0);
    report({"hand-over: 20 reloads", "200 idle + 50 ping-pong + 10 streaming", "20 SIGHUP",
            verified + pp.count("total_bytes") + st.count("total_bytes"),
            pp.count("errors") + st.count("errors"), 0,
            fmt::format("0 dropped; SIGHUP to old workers gone {}", spread_ms(reload_ms))});
}

TEST_CASE("hand-over: bytes read and not yet echoed, and a half-close, carry over exactly") {
    auto server = test::start_server({"--workers", "2", "--buffer-size", "64K"});
    const std::string data = test::random_bytes(16 << 20, 42);
    // Two clients that send and never read, until the server stops reading them: its buffer for each holds
    // 64 KiB it could not echo. The second then half-closes.
    auto a = test::connect_local(server->port());
    auto b = test::connect_local(server->port());
    REQUIRE((a.valid() && b.valid()));
    std::size_t sent_a = send_until_stalled(a.get(), data);
    std::size_t sent_b = send_until_stalled(b.get(), data);
    REQUIRE(shutdown(b.get(), SHUT_WR) == 0);
    auto old = test::wait_for_workers(*server, 2);
    server->signal(SIGHUP);
    REQUIRE(server->wait_for_log("reload complete: 2 worker(s) of generation 1", 20s) >= 0);
    wait_gone(old, 10s);
    CHECK(bytes_not_yet_echoed(server->log()) >= 2 * 64 * 1024);  // both buffers were full and travelled

    // Now read: every byte, in order, and the half-closed one ends with an orderly EOF.
    CHECK(test::recv_exact(a.get(), sent_a, 30s) == data.substr(0, sent_a));
    bool eof = false;
    CHECK(test::recv_to_eof(b.get(), 30s, &eof) == data.substr(0, sent_b));
    CHECK(eof);
    // And the first still echoes afterwards.
    CHECK(test::send_all(a.get(), "after", 5s));
    CHECK(test::recv_exact(a.get(), 5, 5s) == "after");
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(20s) == 0);
    report({"hand-over: unechoed bytes", "2 clients that stopped reading, 1 half-closed", "1 SIGHUP",
            sent_a + sent_b + 5, 0, 0,
            fmt::format("{} KiB and {} KiB sent, every byte back in order after the reload", sent_a / 1024,
                        sent_b / 1024)});
}

TEST_CASE("hand-over: a target that dies with connections on their way to it loses none of them") {
    auto server = test::start_server({"--workers", "3"});
    auto workers = test::wait_for_workers(*server, 3);
    // Slot 2 is the one SIGTTOU retires; slot 0's worker will be the target that dies.
    auto pid_of_slot = [&](int slot) {
        long at = server->wait_for_log(fmt::format("started worker {} (pid ", slot), 1s);
        REQUIRE(at >= 0);
        auto line = server->log_line_at(at);
        return static_cast<pid_t>(std::atoi(line.c_str() + line.find("(pid ") + 5));
    };
    const pid_t retired = pid_of_slot(2);
    const pid_t doomed = pid_of_slot(0);
    std::vector<Probe> probes;
    for (std::uint64_t i = 0; i < 90; ++i) {
        auto p = open_probe(server->port(), workers, i);
        REQUIRE(p.has_value());
        probes.push_back(std::move(*p));
    }
    std::size_t on_retired =
        std::count_if(probes.begin(), probes.end(), [&](auto& p) { return p.owner == retired; });
    REQUIRE(on_retired > 0);

    // Stopped, the target reads nothing: what the master sends it waits in its channel, unadopted.
    REQUIRE(kill(doomed, SIGSTOP) == 0);
    server->signal(SIGTTOU);
    REQUIRE(server->wait_for_log(fmt::format("(pid {}) handed over", retired), 10s) >= 0);
    REQUIRE(kill(doomed, SIGKILL) == 0);
    long at = server->wait_for_log(fmt::format("worker pid {} exited with", doomed), 10s);
    REQUIRE(at >= 0);
    const std::string rehomed = server->log_line_at(at);
    INFO(rehomed);
    CHECK(rehomed.find(" 0 closed") != std::string::npos);

    std::uint64_t verified = 0;
    std::size_t kept = 0, closed = 0, lost = 0;
    for (auto& p : probes) {
        if (p.owner == doomed) {
            closed += test::closed_by_peer(p.fd.get(), 5s);  // its own die with it
            continue;
        }
        if (ping(p, 7, verified))
            ++kept;
        else
            ++lost;
    }
    CHECK(lost == 0);
    CHECK(kept == probes.size() - std::count_if(probes.begin(), probes.end(),
                                                [&](auto& p) { return p.owner == doomed; }));
    settle(*server, 2);
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(20s) == 0);
    report({"hand-over: target dies", "90 probes over 3 workers", "SIGSTOP target, SIGTTOU, SIGKILL target",
            verified, lost, 0,
            fmt::format("{} handed over via a dead target all kept; {} of the dead worker's own closed",
                        on_retired, closed)});
}
