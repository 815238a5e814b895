// test_metrics.cpp: the metrics page (R81) of the real binary: off by default, exact counters, a page
// promtool accepts, a metrics process that is no worker and is restarted, socket activation by name; and
// current figures in SIGUSR1's status and STATUS= (R83). A real Prometheus and hostile clients: tests/fault.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "fixture.hpp"

using namespace test;

namespace {

// `count` connections of `size` bytes each, every echo checked.
void echo_many(std::uint16_t port, int count, std::size_t size) {
    for (int i = 0; i < count; ++i) {
        auto msg = random_bytes(size, static_cast<std::uint64_t>(i));
        REQUIRE(echo_once(port, msg) == msg);
    }
}

std::unique_ptr<ServerProcess> start_with_metrics(std::vector<std::string> args = {}) {
    args.insert(args.begin(), {"--metrics-listen", "127.0.0.1:0"});
    auto server = start_server(std::move(args));
    REQUIRE(server->metrics_port() != 0);
    return server;
}

// The page once every connection the test made is closed on the server's side too. A worker stores its byte
// count just after each send(), and the client that send() woke may run first (on a busy machine it preempts
// the worker); the worker handles the close only after that store, so "0 open" means every store is made.
std::string scrape_settled(const ServerProcess& server) {
    std::string page;
    bool settled = eventually(
        [&] {
            auto r = http_get(server.metrics_port(), "/metrics");
            page = r.body;
            return r.status == 200 && metric_value(page, "echo_hardened_connections_open") == 0.0;
        },
        10s);
    REQUIRE_MESSAGE(settled, "connections still open on the server:\n" << page);
    return page;
}

double value(const std::string& page, const std::string& name) {
    auto v = metric_value(page, name);
    REQUIRE_MESSAGE(v, name << " is not on the page:\n" << page);
    return *v;
}

// Sums every sample of a labelled series ("name{...} value").
double sum_of(const std::string& page, const std::string& name) {
    double total = 0;
    std::size_t at = 0;
    while ((at = page.find("\n" + name + "{", at)) != std::string::npos) {
        auto end = page.find('\n', at + 1);
        auto space = page.rfind(' ', end);
        total += std::strtod(page.c_str() + space + 1, nullptr);
        at = end;
    }
    return total;
}

}  // namespace

TEST_CASE("metrics: off unless asked for: no metrics process, no metrics socket") {
    auto server = start_server({});
    CHECK(server->log().find("metrics at") == std::string::npos);
    CHECK(server->log().find("metrics process") == std::string::npos);
    auto workers = wait_for_workers(*server, 2);
    CHECK(children_of(server->pid()).size() == 3);  // the workers and the exec helper (R61)
    CHECK(!server->metrics_process());
}

TEST_CASE(
    "metrics: the page counts exactly the connections accepted and the bytes echoed, and promtool accepts "
    "it") {
    auto server = start_with_metrics();
    echo_many(server->port(), 7, 100);
    echo_many(server->port(), 3, 1000);
    auto page = scrape_settled(*server);
    CHECK(value(page, "echo_hardened_connections_accepted_total") == 10);
    CHECK(value(page, "echo_hardened_echoed_bytes_total") == 3700);
    CHECK(value(page, "echo_hardened_connections_open") == 0);
    CHECK(value(page, "echo_hardened_workers_alive") == 2);
    CHECK(value(page, "echo_hardened_workers_target") == 2);
    CHECK(value(page, "echo_hardened_worker_restarts_total") == 0);
    // The per-worker series add up to the totals.
    CHECK(sum_of(page, "echo_hardened_worker_connections_accepted_total") == 10);
    CHECK(sum_of(page, "echo_hardened_worker_echoed_bytes_total") == 3700);
    // process_* for every worker, by its pid.
    for (pid_t w : server->workers()) {
        const bool listed = page.find(",pid=\"" + std::to_string(w) + "\"} ") != std::string::npos;
        CHECK(listed);
    }
    CHECK(page.find("process_cpu_seconds_total{role=\"master\",pid=\"" + std::to_string(server->pid()) +
                    "\"}") != std::string::npos);
    CHECK(page.find("process_open_fds{role=\"metrics\"") != std::string::npos);

    // promtool, Prometheus' own checker of the text format and its naming conventions.
    char dir_template[] = "/tmp/echo-metrics-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    std::ofstream(dir + "/page.txt") << page;
    ServerOptions promtool;
    promtool.binary = "/bin/sh";
    promtool.args = {"-c", "exec /usr/bin/promtool check metrics < " + dir + "/page.txt"};
    promtool.capture_stdout = true;
    ServerProcess check(promtool);
    int code = check.wait_exit_code(30s);
    std::string said = check.log();
    std::filesystem::remove_all(dir);
    CHECK_MESSAGE(code == 0, "promtool check metrics:\n" << said);
    CHECK_MESSAGE(said.empty(), "promtool check metrics complained:\n" << said);

    // Only GET and HEAD of /metrics.
    CHECK(http_get(server->metrics_port(), "/").status == 404);
    CHECK(http_request(server->metrics_port(), "POST", "/metrics").status == 405);
    CHECK(http_request(server->metrics_port(), "HEAD", "/metrics").status == 200);
}

TEST_CASE("metrics: the metrics process is no worker; killed, it is restarted and no worker is touched") {
    auto server = start_with_metrics();
    auto workers = wait_for_workers(*server, 2);
    std::optional<pid_t> metrics;
    REQUIRE(eventually([&] { return (metrics = server->metrics_process()).has_value(); }, 5s));
    CHECK(children_of(server->pid()).size() == 4);  // the exec helper too (R61)
    CHECK(comm(*metrics) == "echo-metrics");

    long from = static_cast<long>(server->log().size());
    REQUIRE(kill(*metrics, SIGKILL) == 0);
    CHECK(server->wait_for_log("the metrics process (pid " + std::to_string(*metrics) +
                                   ") killed by signal 9 (SIGKILL) unexpectedly; restarting it in 1.0s",
                               5s, from) >= 0);
    std::optional<pid_t> again;
    REQUIRE(eventually([&] { return (again = server->metrics_process()).has_value() && *again != *metrics; },
                       5s));
    CHECK(all_reaped({*metrics}));  // collected, not left a zombie
    CHECK(server->workers() == workers);
    echo_many(server->port(), 2, 64);
    auto page = scrape_settled(*server);
    CHECK(value(page, "echo_hardened_connections_accepted_total") == 2);
    CHECK(value(page, "echo_hardened_worker_restarts_total") == 0);  // the metrics process is not counted

    // Stopped with the master: nothing left behind.
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(20s) == 0);
    CHECK(all_reaped({*again}));
    CHECK(server->log().find("stopped the metrics process (pid " + std::to_string(*again) + ")") !=
          std::string::npos);
}

TEST_CASE("metrics: a socket systemd passes named \"metrics\" serves the page, the others echo") {
    std::uint16_t echo_port = 0, metrics_port = 0;
    {  // two free loopback ports, released for systemd-socket-activate to bind
        auto a = listen_loopback(echo_port);
        auto b = listen_loopback(metrics_port);
    }
    ServerOptions options;
    options.binary = "/usr/bin/systemd-socket-activate";
    options.args = {"-l",
                    "127.0.0.1:" + std::to_string(echo_port),
                    "-l",
                    "127.0.0.1:" + std::to_string(metrics_port),
                    "--fdname=echo:metrics",
                    "-E",
                    "NOTIFY_SOCKET",
                    server_binary(),
                    "--workers",
                    "2"};
    ServerProcess server(options);
    // systemd-socket-activate starts the server at the first connection, as a .socket unit does.
    UniqueFd first;
    REQUIRE(eventually([&] { return (first = connect_local(echo_port, 1s)).valid(); }, 10s));
    REQUIRE(send_all(first.get(), "hello"));
    REQUIRE_MESSAGE(server.wait_ready(), server.log());
    CHECK(recv_exact(first.get(), 5) == "hello");
    first.reset();
    CHECK(server.log().find("listening on 127.0.0.1:" + std::to_string(echo_port) + " (passed by systemd)") !=
          std::string::npos);
    CHECK(server.metrics_port() == metrics_port);
    CHECK(listening_ports(server.log()) == std::vector<std::uint16_t>{echo_port});
    echo_many(echo_port, 3, 10);
    auto page = scrape_settled(server);
    CHECK(value(page, "echo_hardened_connections_accepted_total") == 4);
    CHECK(value(page, "echo_hardened_echoed_bytes_total") == 35);
    // The metrics socket (fd 4, the second passed) is never a worker's.
    auto metrics_socket = socket_inode(fd_targets(server.pid())[4]);
    REQUIRE(metrics_socket);
    for (pid_t w : wait_for_workers(server, 2))
        for (const auto& [fd, target] : fd_targets(w))
            CHECK(socket_inode(target) != metrics_socket);
    server.signal(SIGTERM);
    CHECK(server.wait_exit_code(20s) == 0);
}

TEST_CASE(
    "status: SIGUSR1 and STATUS= show the figures of this moment, not those of the last heartbeat (R83)") {
    auto server = start_server({});
    for (int round = 1; round <= 3; ++round) {
        echo_many(server->port(), 7, 40);  // 280 B a round: the status line shows bytes exactly below 1 KiB
        const std::string expected =
            std::to_string(7 * round) + " served, " + std::to_string(280 * round) + " B echoed, 0 restarts";
        // SIGUSR1 until the status shows the clients' closes handled (scrape_settled() says why), at most
        // 5 s: a figure a heartbeat old would still say "0 served" in the first round.
        std::size_t notified = 0;
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        do {
            notified = server->notifications().size();
            long from = static_cast<long>(server->log().size());
            server->signal(SIGUSR1);
            long at = server->wait_for_log("status: running: 2/2 workers serving", 5s, from);
            REQUIRE(at >= 0);
            line = server->log_line_at(at);
        } while (line.find(", 0 connections open, ") == std::string::npos &&
                 std::chrono::steady_clock::now() < deadline);
        CHECK_MESSAGE(line.find(", 0 connections open, " + expected) != std::string::npos, line);
        // The first STATUS= after the signal: the loop publishes at most once a second, so it may wait.
        std::string status;
        REQUIRE(eventually(
            [&] {
                auto all = server->notifications();
                for (std::size_t i = notified; i < all.size(); ++i)
                    if (all[i].rfind("STATUS=", 0) == 0) return !(status = all[i]).empty();
                return false;
            },
            5s));
        CHECK(status == "STATUS=running: 2/2 workers serving, 0 connections open, " + expected);
    }
}
