// test_restart.cpp: a restart through systemd's file descriptor store (R62), with the harness in systemd's
// place: it keeps what FDSTORE=1 sends and passes it, with the listening socket, to the next instance.
#include <signal.h>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;
using Clock = std::chrono::steady_clock;

namespace {

// The next instance, started as systemd starts one: the .socket unit's listener, then the store's fds.
std::unique_ptr<test::ServerProcess> start_next(int listener,
                                                const std::vector<std::pair<UniqueFd, std::string>>& stored,
                                                std::vector<std::string> args) {
    test::ServerOptions options;
    options.pass_fds.emplace_back(listener, "echo");
    for (auto& [fd, name] : stored)
        options.pass_fds.emplace_back(fd.get(), name);
    return test::start_server(std::move(args), options);
}

// What the store got: the harness reads the notify socket on a thread of its own, so the last messages may
// arrive a moment after the server has exited.
std::vector<std::pair<UniqueFd, std::string>> stored_by(test::ServerProcess& server, std::size_t expected) {
    std::vector<std::pair<UniqueFd, std::string>> all;
    test::eventually(
        [&] {
            for (auto& s : server.take_stored_fds())
                all.push_back(std::move(s));
            return all.size() >= expected;
        },
        5s);
    return all;
}

bool notified(test::ServerProcess& server, const std::string& line) {
    auto notes = server.notifications();
    return std::find(notes.begin(), notes.end(), line) != notes.end();
}

}  // namespace

TEST_CASE(
    "restart through the file descriptor store: 1,000 idle, 50 ping-pong and 10 streaming connections "
    "carry on in the next instance") {
    raise_nofile();
    std::uint16_t port = 0;
    auto listener = test::listen_loopback(port);  // the .socket unit's: it outlives both instances
    REQUIRE(listener.valid());
    // A short drain: the busy ones (ping-pong, streams) are parked at its deadline.
    const std::vector<std::string> args{"--workers", "2", "--fd-store", "4096", "--drain-timeout", "2s"};
    auto first = start_next(listener.get(), {}, args);
    std::uint64_t verified = 0;
    auto idle = open_idle(port, 1000, verified);
    REQUIRE(idle.size() == 1000);
    LoadRun pingpong(port, {"--mode", "pingpong", "-c", "50"});
    LoadRun streams(port, {"--mode", "stream", "-c", "10", "-s", "16K", "--window", "256K"});
    REQUIRE(test::eventually([&] { return established_on(port) >= 1060; }, 10s));

    const auto stop_at = Clock::now();
    first->signal(SIGTERM);
    CHECK(first->wait_exit_code(20s) == 0);
    const double stop_ms = ms_since(stop_at);
    auto stored = stored_by(*first, 1060);
    CHECK(stored.size() == 1060);
    CHECK(std::all_of(stored.begin(), stored.end(), [](auto& s) { return s.second == "conn"; }));
    CHECK(first->wait_for_log("stopped: 1060 connection(s) kept in systemd's file descriptor store", 1s) >=
          0);

    const auto start_at = Clock::now();
    auto second = start_next(listener.get(), stored, args);
    stored.clear();  // as systemd does on FDSTOREREMOVE=1: the new instance holds its own copies
    REQUIRE(second->wait_for_log("serving 1060 connection(s) kept in systemd's file descriptor store", 10s) >=
            0);
    const double start_ms = ms_since(start_at);
    CHECK(test::eventually([&] { return notified(*second, "FDSTOREREMOVE=1"); }, 5s));
    CHECK(still_echoing(idle, 3000, verified) == idle.size());
    auto pp = pingpong.stop();
    auto st = streams.stop();
    check_load(pp, false);
    check_load(st, false);
    second->signal(SIGTERM);
    CHECK(second->wait_exit_code(20s) == 0);
    report({"restart through the fd store", "1,000 idle + 50 ping-pong + 10 streaming",
            "SIGTERM, new instance", verified + pp.count("total_bytes") + st.count("total_bytes"),
            pp.count("errors") + st.count("errors"), 0,
            fmt::format("0 dropped; stop {:.0f} ms, next instance serving them {:.0f} ms after its start",
                        stop_ms, start_ms)});
}

TEST_CASE(
    "restart through the file descriptor store: connections beyond --fd-store drain as before, and the "
    "log says how many") {
    raise_nofile();
    std::uint16_t port = 0;
    auto listener = test::listen_loopback(port);
    REQUIRE(listener.valid());
    auto first = start_next(listener.get(), {}, {"--workers", "2", "--fd-store", "300"});
    std::uint64_t verified = 0;
    auto idle = open_idle(port, 500, verified);
    REQUIRE(idle.size() == 500);
    first->signal(SIGTERM);
    CHECK(first->wait_exit_code(20s) == 0);
    auto stored = stored_by(*first, 300);
    CHECK(stored.size() == 300);
    CHECK(
        first->wait_for_log("stopped: 300 connection(s) kept in systemd's file descriptor store for the next "
                            "start; 200 more drained instead (--fd-store 300)",
                            1s) >= 0);
    // The 200 were closed as a drain closes an idle connection; the 300 are still open, held by the store.
    CHECK(closed_within(raw(idle), 2s) == 200);
    auto second = start_next(listener.get(), stored, {"--workers", "2"});
    stored.clear();
    REQUIRE(second->wait_for_log("serving 300 connection(s) kept", 10s) >= 0);
    std::vector<UniqueFd> kept;
    for (auto& fd : idle)
        if (!test::closed_by_peer(fd.get(), 0s)) kept.push_back(std::move(fd));
    CHECK(kept.size() == 300);
    CHECK(still_echoing(kept, 9000, verified) == 300);
    second->signal(SIGTERM);
    CHECK(second->wait_exit_code(20s) == 0);
}

TEST_CASE("without a service manager --fd-store changes nothing: SIGTERM drains as R13 says") {
    test::ServerOptions options;
    options.no_notify_socket = true;
    auto server = test::start_server({"--workers", "2", "--fd-store", "100"}, options);
    std::uint64_t verified = 0;
    auto idle = open_idle(server->port(), 50, verified);
    REQUIRE(idle.size() == 50);
    server->signal(SIGTERM);
    CHECK(closed_within(raw(idle), 2s) == 50);
    CHECK(server->wait_exit_code(20s) == 0);
    CHECK(server->take_stored_fds().empty());
}
