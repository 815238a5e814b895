// test_hostile_clients.cpp: clients that never read, trickle one byte a second, half-close or reset, while
// echo-load's well-behaved clients must notice nothing (issue scenario 4; SPEC R4, R6, R7).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <thread>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kLoadConnections = 16;

// A server under well-behaved ping-pong load, the background against which each hostile client is judged.
struct UnderLoad {
    explicit UnderLoad(std::vector<std::string> args) : server(test::start_server(std::move(args))) {
        workers = test::wait_for_workers(*server, 2);
        REQUIRE(workers.size() == 2);
        const std::size_t fds_idle = worker_fds();
        load = std::make_unique<LoadRun>(
            server->port(), std::vector<std::string>{"--mode", "pingpong", "-c",
                                                     std::to_string(kLoadConnections), "-s", "256"});
        REQUIRE(test::eventually([&] { return established_on(server->port()) >= kLoadConnections; }, 10s));
        // Established is the kernel's word; accepted is the workers': only then is a count of their
        // descriptors a baseline (on a loaded machine some connections still wait in the backlog a moment).
        REQUIRE(test::eventually([&] { return worker_fds() >= fds_idle + kLoadConnections; }, 10s));
    }
    // Stops the load and checks it lost nothing, and that the workers are the same ones: nothing crashed.
    LoadSummary finish() {
        auto summary = load->stop();
        check_load(summary, false);
        auto after = settle(*server, 2);
        check_no_worker_died(*server, workers, after.workers);
        zombies = after.zombies;
        return summary;
    }
    long worker_rss_kib() const { return test::total_rss_kib(workers); }
    std::size_t worker_fds() const { return total_open_fds(workers); }

    std::unique_ptr<test::ServerProcess> server;
    std::vector<pid_t> workers;
    std::unique_ptr<LoadRun> load;
    std::size_t zombies = 0;
};

// Sends `payload` without reading until the server stops taking it: no progress for `stall` (its buffer for
// this client is full and TCP's windows are closed). Returns the bytes sent.
std::size_t send_until_stalled(int fd, const std::string& payload, Duration stall) {
    std::size_t sent = 0;
    while (sent < payload.size()) {
        ssize_t n = send(fd, payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) break;
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1,
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(stall).count())) == 0)
            break;
    }
    return sent;
}

}  // namespace

TEST_CASE(
    "20 clients send megabytes and never read: each costs the server at most its buffer, loses nothing") {
    constexpr std::size_t kClients = 20, kBuffer = 256 * 1024;
    UnderLoad s({"--workers", "2", "--buffer-size", "256K"});
    const long rss_before = s.worker_rss_kib();
    const auto payload = test::random_bytes(32 << 20, 7);
    std::vector<UniqueFd> clients;
    std::vector<std::size_t> sent;
    for (std::size_t i = 0; i < kClients; ++i) {
        clients.push_back(test::connect_local(s.server->port()));
        REQUIRE(clients.back().valid());
    }
    // All of them filling at once: the worker must stop reading each at its cap, not buffer the lot.
    for (auto& c : clients)
        sent.push_back(send_until_stalled(c.get(), payload, 500ms));
    const long rss_growth = s.worker_rss_kib() - rss_before;
    std::size_t total = 0;
    for (auto n : sent) {
        CHECK(n < payload.size());  // stalled: the server stopped reading
        total += n;
    }
    MESSAGE(kClients << " clients pushed " << total / 1024 << " KiB unread; worker RSS grew " << rss_growth
                     << " KiB");
    CHECK(rss_growth <= static_cast<long>(kClients * kBuffer / 1024 + 2048));
    std::uint64_t verified = 0;
    for (std::size_t i = 0; i < kClients; ++i) {
        CHECK(test::recv_exact(clients[i].get(), sent[i], 20s) ==
              std::string_view(payload).substr(0, sent[i]));
        verified += sent[i];
        shutdown(clients[i].get(), SHUT_WR);
        bool eof = false;
        CHECK(test::recv_to_eof(clients[i].get(), 5s, &eof).empty());
        CHECK(eof);
    }
    auto load = s.finish();
    report({"4a never-reading senders", "pingpong 16 conns",
            fmt::format("{} clients, {} MiB sent unread", kClients, total >> 20),
            load.count("total_bytes") + verified, load.count("errors"), s.zombies,
            fmt::format("worker RSS +{} KiB (allowed: {} x {} KiB buffers + 2 MiB); load p99 {:.0f} us",
                        rss_growth, kClients, kBuffer / 1024, load.real("latency_p99_us"))});
}

TEST_CASE("1,000 slowloris clients at one byte a second: served while they trickle, closed when they stop") {
    constexpr std::size_t kSlow = 1000;
    constexpr int kTrickles = 4;
    constexpr auto kIdleTimeout = 3s;
    raise_nofile();
    UnderLoad s({"--workers", "2", "--idle-timeout", "3s"});
    std::uint64_t verified = 0;
    auto slow = open_idle(s.server->port(), kSlow, verified);
    REQUIRE(slow.size() == kSlow);
    // Each trickle is one byte per connection a second: longer in all than the idle timeout, so a server that
    // timed out connections by age rather than by silence would cut them off here.
    auto next = Clock::now();
    for (int t = 0; t < kTrickles; ++t) {
        std::this_thread::sleep_until(next);  // the slow client's pace, not a wait for the server
        next += 1s;
        const std::string byte(1, static_cast<char>('a' + t));
        for (auto& c : slow)
            REQUIRE(test::send_all(c.get(), byte, 1s));
        std::size_t echoed = 0;
        for (auto& c : slow)
            echoed += test::recv_exact(c.get(), 1, 2s) == byte;
        CHECK(echoed == kSlow);
        verified += echoed;
    }
    const auto silent_at = Clock::now();
    const auto closed = closed_within(raw(slow), kIdleTimeout + 2s);
    const double closed_ms = ms_since(silent_at);
    CHECK(closed == kSlow);
    CHECK(closed_ms >= 2500.0);  // not before the timeout (the idle sweep is coarser than a millisecond)
    auto load = s.finish();
    report({"4b slowloris", fmt::format("pingpong {} conns", kLoadConnections),
            fmt::format("{} conns x {} one-byte trickles, then silent", kSlow, kTrickles),
            load.count("total_bytes") + verified, load.count("errors") + (kSlow - closed), s.zombies,
            fmt::format("all closed {:.0f} ms after going silent (idle timeout 3 s); load p99 {:.0f} us",
                        closed_ms, load.real("latency_p99_us"))});
}

TEST_CASE("half-closed clients get their whole echo, then EOF, and a bare half-close gets EOF at once") {
    constexpr std::size_t kHalf = 100;
    UnderLoad s({"--workers", "2"});
    std::vector<UniqueFd> writers, bare;
    std::vector<std::string> payloads;
    for (std::size_t i = 0; i < kHalf; ++i) {
        writers.push_back(test::connect_local(s.server->port()));
        bare.push_back(test::connect_local(s.server->port()));
        payloads.push_back(test::random_bytes(64 * 1024, 100 + i));
        REQUIRE(test::send_all(writers.back().get(), payloads.back(), 5s));
        shutdown(writers.back().get(), SHUT_WR);
        shutdown(bare.back().get(), SHUT_WR);
    }
    const auto half_closed_at = Clock::now();
    CHECK(closed_within(raw(bare), 2s) == kHalf);
    const double bare_ms = ms_since(half_closed_at);
    std::this_thread::sleep_for(1s);  // slow readers: the echo waits in the server and the kernel meanwhile
    std::uint64_t verified = 0;
    std::size_t intact = 0;
    for (std::size_t i = 0; i < kHalf; ++i) {
        bool eof = false;
        auto back = test::recv_to_eof(writers[i].get(), 10s, &eof);
        intact += eof && back == payloads[i];
        verified += back == payloads[i] ? back.size() : 0;
    }
    CHECK(intact == kHalf);
    auto load = s.finish();
    report({"4c half-close", fmt::format("pingpong {} conns", kLoadConnections),
            fmt::format("{} half-closed after 64 KiB, read 1 s later; {} bare half-closes", kHalf, kHalf),
            load.count("total_bytes") + verified, load.count("errors") + (kHalf - intact), s.zombies,
            fmt::format("bare half-closes answered with EOF within {:.0f} ms", bare_ms)});
}

TEST_CASE("200 clients reset mid-stream: no crash, no leaked descriptor, the others never notice") {
    constexpr std::size_t kResets = 200;
    UnderLoad s({"--workers", "2"});
    const auto fds_before = s.worker_fds();
    const auto payload = test::random_bytes(1 << 20, 9);
    std::size_t pushed = 0;
    for (std::size_t i = 0; i < kResets; ++i) {
        auto c = test::connect_local(s.server->port());
        REQUIRE(c.valid());
        // Half a megabyte or so in flight both ways, then an RST instead of a FIN.
        pushed += send_until_stalled(c.get(), payload, 20ms);
        linger reset{1, 0};
        REQUIRE(setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
    }
    // Every one of them closed by the worker that served it: back to the descriptors it had before.
    const auto start = Clock::now();
    CHECK(test::eventually([&] { return s.worker_fds() <= fds_before; }, 10s));
    const double freed_ms = ms_since(start);
    auto load = s.finish();
    report({"4d resets mid-stream", fmt::format("pingpong {} conns", kLoadConnections),
            fmt::format("{} RSTs with {} MiB in flight", kResets, pushed >> 20), load.count("total_bytes"),
            load.count("errors"), s.zombies,
            fmt::format("worker fds back to {} within {:.0f} ms", fds_before, freed_ms)});
}
