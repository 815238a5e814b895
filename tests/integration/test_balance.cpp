// test_balance.cpp: connections spread evenly over the workers (R54), bound by the server and
// socket-activated.
#include <algorithm>
#include <numeric>

#include "fixture.hpp"

using namespace test;

namespace {

constexpr std::size_t kConnections = 400;

// Each worker's client connections: its fds that are TCP sockets but not listening ones.
std::vector<std::size_t> clients_per_worker(const std::vector<pid_t>& workers) {
    auto inodes = socket_inodes();
    std::vector<std::size_t> counts;
    for (pid_t w : workers) {
        std::size_t n = 0;
        for (const auto& [fd, target] : fd_targets(w))
            if (auto inode = socket_inode(target); inode && inodes.tcp_other.count(*inode)) ++n;
        counts.push_back(n);
    }
    return counts;
}

// Opens kConnections one after another, each echoing once (so a worker has accepted it before the next
// connects, as clients arriving over time would), and holds them; then checks how they are spread.
void check_spread(ServerProcess& server, std::uint16_t port) {
    auto workers = wait_for_workers(server, 2);
    REQUIRE(workers.size() == 2);
    std::vector<UniqueFd> clients;
    for (std::size_t i = 0; i < kConnections; ++i) {
        auto fd = connect_local(port);
        REQUIRE(fd.valid());
        REQUIRE(send_all(fd.get(), "x"));
        REQUIRE(recv_exact(fd.get(), 1) == "x");
        clients.push_back(std::move(fd));
    }
    std::vector<std::size_t> counts;
    eventually(
        [&] {
            counts = clients_per_worker(workers);
            return std::accumulate(counts.begin(), counts.end(), std::size_t{0}) == kConnections;
        },
        5s);
    INFO("connections per worker: " << counts[0] << " and " << counts[1]);
    REQUIRE(counts[0] + counts[1] == kConnections);
    // The benchmark's target is 55%; this looser bound keeps the test robust on a loaded machine while still
    // failing on the one-worker-takes-all pattern EPOLLEXCLUSIVE alone shows (95% and more).
    CHECK(std::max(counts[0], counts[1]) <= kConnections * 65 / 100);
}

}  // namespace

TEST_CASE("400 connections on 2 workers: neither holds more than 65% of them (sockets bound by the server)") {
    auto server = start_server({"--workers", "2"});
    check_spread(*server, listening_ports(server->log()).at(0));
}

TEST_CASE("400 connections on 2 workers: neither holds more than 65% of them (socket passed by systemd)") {
    auto activated = start_activated({"--workers", "2"});
    check_spread(*activated.server, activated.port);
}

TEST_CASE("after SIGTTIN the new worker takes its share of new connections") {
    // At debug level the master says when the new worker accepts: the readiness to wait for.
    auto server = start_server({"--workers", "1", "--log-level", "debug"});
    auto port = listening_ports(server->log()).at(0);
    std::vector<UniqueFd> first;
    for (int i = 0; i < 100; ++i) {
        first.push_back(connect_local(port));
        REQUIRE(send_all(first.back().get(), "x"));
        REQUIRE(recv_exact(first.back().get(), 1) == "x");
    }
    server->signal(SIGTTIN);
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    long started = server->wait_for_log("started worker 1 (pid", 10s);
    REQUIRE(started >= 0);
    REQUIRE(server->wait_for_log("is accepting", 10s, started) >= 0);
    std::vector<UniqueFd> more;
    for (int i = 0; i < 100; ++i) {
        more.push_back(connect_local(port));
        REQUIRE(send_all(more.back().get(), "x"));
        REQUIRE(recv_exact(more.back().get(), 1) == "x");
    }
    auto counts = clients_per_worker(workers);
    INFO("connections per worker: " << counts[0] << " and " << counts[1]);
    // The 100 new ones go to the newcomer until it catches up: both end near 100.
    CHECK(std::min(counts[0], counts[1]) >= 80);
}
