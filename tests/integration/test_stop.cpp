// test_stop.cpp: graceful stop (R13) and fast stop (R14).
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <thread>

#include "fixture.hpp"

using namespace test;

namespace {

// Fills the path to the server until it stops reading; returns what was sent.
std::string push_until_paused(int fd, std::uint64_t seed) {
    std::string sent;
    const std::string chunk = random_bytes(1 << 16, seed);
    auto stalled_since = std::chrono::steady_clock::now();
    auto give_up = stalled_since + 20s;
    while (std::chrono::steady_clock::now() - stalled_since < 500ms &&
           std::chrono::steady_clock::now() < give_up) {
        ssize_t n = send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent.append(chunk.data(), static_cast<std::size_t>(n));
            stalled_since = std::chrono::steady_clock::now();
        } else {
            std::this_thread::sleep_for(10ms);  // pacing a probe of a full socket
        }
    }
    return sent;
}

}  // namespace

TEST_CASE("SIGTERM: idle connections close at once, a busy one gets every byte back, exit 0, no child left") {
    auto server = start_server({"--drain-timeout", "8s"});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);

    auto idle = connect_local(server->port());
    REQUIRE(send_all(idle.get(), "ping"));
    REQUIRE(recv_exact(idle.get(), 4) == "ping");

    auto busy = connect_local(server->port());
    REQUIRE(busy.valid());
    std::string sent = push_until_paused(busy.get(), 7);
    REQUIRE(sent.size() > 0);

    auto stop_at = std::chrono::steady_clock::now();
    server->signal(SIGTERM);
    CHECK(server->wait_notify("STOPPING=1", 5s));
    CHECK(closed_by_peer(idle.get(), 2s));  // long before the 8 s drain timeout

    // New connections are refused once every copy of the listening socket is closed.
    CHECK(eventually([&] { return !connect_local(server->port(), 1s).valid(); }, 3s));

    // The busy client now reads, sends a last piece, half-closes, and must get everything back.
    std::string tail = random_bytes(300000, 8);
    auto back = exchange(busy.get(), tail, 20s);
    REQUIRE_MESSAGE(back, "the busy connection was cut short; log:\n" << server->log());
    CHECK(back->size() == sent.size() + tail.size());
    CHECK(*back == sent + tail);

    CHECK(server->wait_exit_code(15s) == 0);
    CHECK(std::chrono::steady_clock::now() - stop_at <
          8s);  // it finished when the work did, not at the deadline
    for (pid_t w : workers)
        CHECK(!proc_state(w));
    CHECK(server->log().find("outlived the stop deadline") == std::string::npos);
}

TEST_CASE("SIGTERM with a client that never reads: the drain deadline ends it and the master still exits 0") {
    auto server = start_server({"--drain-timeout", "1s", "--workers", "1"});
    auto stuck = connect_local(server->port());
    REQUIRE(push_until_paused(stuck.get(), 9).size() > 0);
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(10s) == 0);
    CHECK(server->log().find("drain deadline reached: closing 1 busy connection(s)") != std::string::npos);
}

TEST_CASE("--log-level warning: a worker's first line, late and under its filter, is logged, not a SIGSYS") {
    // Nothing is logged below a warning, so the drain deadline's line is the worker's first: spdlog must not
    // ask gettid() then (setup_logging() caches the thread id at start).
    auto activated = start_activated({"--drain-timeout", "1s", "--workers", "1", "--log-level", "warning"});
    auto& server = activated.server;
    auto stuck = connect_local(activated.port);
    REQUIRE(push_until_paused(stuck.get(), 9).size() > 0);
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(10s) == 0);
    CHECK_MESSAGE(
        server->log().find("drain deadline reached: closing 1 busy connection(s)") != std::string::npos,
        server->log());
    CHECK(server->log().find("SIGSYS") == std::string::npos);
}

TEST_CASE(
    "a worker that cannot drain (stopped) is SIGKILLed after the deadline and the exit status says so") {
    auto server = start_server({"--drain-timeout", "500ms", "--worker-timeout", "0"});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    REQUIRE(kill(workers[0], SIGSTOP) == 0);
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(15s) == 3);
    CHECK(server->log().find("(pid " + std::to_string(workers[0]) +
                             ") outlived the stop deadline: sending SIGKILL") != std::string::npos);
    for (pid_t w : workers)
        CHECK(!proc_state(w));
}

TEST_CASE("SIGINT stops gracefully like SIGTERM") {
    auto server = start_server({});
    auto workers = wait_for_workers(*server, 2);
    server->signal(SIGINT);
    CHECK(server->wait_exit_code(10s) == 0);
    CHECK(server->log().find("SIGINT: graceful stop") != std::string::npos);
    for (pid_t w : workers)
        CHECK(!proc_state(w));
}

TEST_CASE("SIGQUIT: fast stop closes open connections at once and exits 0") {
    auto server = start_server({"--drain-timeout", "30s"});
    auto workers = wait_for_workers(*server, 2);
    auto busy = connect_local(server->port());
    REQUIRE(push_until_paused(busy.get(), 10).size() > 0);
    auto start = std::chrono::steady_clock::now();
    server->signal(SIGQUIT);
    CHECK(server->wait_exit_code(5s) == 0);
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    CHECK(server->log().find("SIGQUIT: fast stop") != std::string::npos);
    for (pid_t w : workers)
        CHECK(!proc_state(w));
}

TEST_CASE(
    "SIGTERM with --leave-delay: /ready 503 while it still accepts and echoes, then the drain, exit 0") {
    auto server =
        start_server({"--metrics-listen", "127.0.0.1:0", "--leave-delay", "2s", "--drain-timeout", "5s"});
    REQUIRE(server->metrics_port() != 0);
    CHECK(eventually([&] { return http_get(server->metrics_port(), "/ready").status == 200; }, 10s));
    CHECK(http_get(server->metrics_port(), "/ready").body == "ready\n");
    auto held = connect_local(server->port());
    REQUIRE(send_all(held.get(), "before"));
    REQUIRE(recv_exact(held.get(), 6) == "before");

    auto term_at = std::chrono::steady_clock::now();
    server->signal(SIGTERM);
    CHECK(server->wait_notify("STOPPING=1", 5s));
    CHECK(server->wait_for_log("leaving the rotation", 5s) >= 0);
    auto leaving = http_get(server->metrics_port(), "/ready");
    CHECK(leaving.status == 503);
    CHECK(leaving.body == "leaving rotation\n");
    // Still in service while the balancers notice: a new connection is accepted and echoed, and the one
    // already open keeps working.
    auto fresh = connect_local(server->port(), 1s);
    REQUIRE(fresh.valid());
    REQUIRE(send_all(fresh.get(), "during"));
    CHECK(recv_exact(fresh.get(), 6) == "during");
    REQUIRE(send_all(held.get(), "still"));
    CHECK(recv_exact(held.get(), 5) == "still");
    CHECK(std::chrono::steady_clock::now() - term_at < 2s);  // all of that inside the leave
    auto notes = server->notifications();
    CHECK(std::any_of(notes.begin(), notes.end(),
                      [](auto& n) { return n.rfind("STATUS=leaving rotation; ", 0) == 0; }));

    // Then today's graceful stop: the quiet connections are closed, and the master exits 0.
    CHECK(closed_by_peer(held.get(), 6s));
    CHECK(std::chrono::steady_clock::now() - term_at >= 2s);
    CHECK(server->log().find("left the rotation; beginning the graceful stop") != std::string::npos);
    CHECK(server->wait_exit_code(15s) == 0);
}

TEST_CASE("SIGTERM without --leave-delay stops at once, as before: no leave, idle connections closed") {
    auto server = start_server({"--metrics-listen", "127.0.0.1:0", "--drain-timeout", "5s"});
    REQUIRE(server->metrics_port() != 0);
    CHECK(eventually([&] { return http_get(server->metrics_port(), "/ready").status == 200; }, 10s));
    auto idle = connect_local(server->port());
    REQUIRE(send_all(idle.get(), "ping"));
    REQUIRE(recv_exact(idle.get(), 4) == "ping");
    server->signal(SIGTERM);
    CHECK(closed_by_peer(idle.get(), 2s));
    CHECK(server->log().find("leaving the rotation") == std::string::npos);
    CHECK(server->wait_exit_code(15s) == 0);
}
