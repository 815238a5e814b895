// test_metrics.cpp: the metrics page under a real Prometheus, and under hostile clients of the metrics port
// while echo-load's clients must notice nothing (R81).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;

namespace {

std::uint16_t free_port() {
    std::uint16_t port = 0;
    auto fd = test::listen_loopback(port);  // closed at once: the port is free for the next bind
    return port;
}

std::string url_encode(const std::string& text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '_' || c == '-' || c == '.') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

double wall_clock() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// A Prometheus of Debian's package on loopback, in a directory of its own, scraping one target every second.
// Ended by its pid (ServerProcess SIGKILLs and reaps it) and its directory removed, pass or fail.
class Prometheus {
  public:
    explicit Prometheus(std::uint16_t target) : port_(free_port()) {
        char dir_template[] = "/tmp/echo-prometheus-XXXXXX";
        REQUIRE(mkdtemp(dir_template) != nullptr);
        dir_ = dir_template;
        std::ofstream(dir_ + "/prometheus.yml")
            << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            << "scrape_configs:\n  - job_name: echo\n    static_configs:\n      - targets: ['127.0.0.1:"
            << target << "']\n";
        test::ServerOptions options;
        options.binary = "/usr/bin/prometheus";
        options.args = {"--config.file=" + dir_ + "/prometheus.yml", "--storage.tsdb.path=" + dir_ + "/data",
                        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
        process_ = std::make_unique<test::ServerProcess>(options);
        REQUIRE_MESSAGE(
            test::eventually([&] { return test::http_get(port_, "/-/ready", 2s).status == 200; }, 60s),
            "prometheus did not become ready:\n"
                << process_->log());
    }
    ~Prometheus() {
        process_.reset();  // SIGKILL by pid, reaped
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    // The value of an instant query whose answer is one sample, or std::nullopt.
    std::optional<double> query(const std::string& promql) const {
        auto r = test::http_get(port_, "/api/v1/query?query=" + url_encode(promql), 5s);
        if (r.status != 200) return std::nullopt;
        // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[1.7e9,"42"]}]}}
        auto at = r.body.find("\"value\":[");
        if (at == std::string::npos) return std::nullopt;
        auto quote = r.body.find('"', r.body.find(',', at));
        if (quote == std::string::npos) return std::nullopt;
        return std::strtod(r.body.c_str() + quote + 1, nullptr);
    }
    std::string log() const { return process_->log(); }

  private:
    std::uint16_t port_;
    std::string dir_;
    std::unique_ptr<test::ServerProcess> process_;
};

// What a peer sent before it closed the connection, and whether it closed it (EOF or reset) within `timeout`.
std::pair<std::string, bool> read_until_closed(int fd, Duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string said;
    char buf[4096];
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            said.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) return {said, true};
    }
    return {said, false};
}

// The metrics process's largest RSS while it runs, sampled every 20 ms from a thread of the test's.
class RssWatch {
  public:
    explicit RssWatch(pid_t pid)
        : thread_([this, pid] {
              while (!stop_) {
                  if (auto kib = test::rss_kib(pid)) max_kib_ = std::max<long>(max_kib_, *kib);
                  std::this_thread::sleep_for(20ms);
              }
          }) {}
    ~RssWatch() { stop(); }
    long stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        return max_kib_;
    }

  private:
    std::atomic<bool> stop_{false};
    std::atomic<long> max_kib_{0};
    std::thread thread_;
};

}  // namespace

TEST_CASE(
    "a real Prometheus scrapes the page: after a known echo-load run it holds the exact counters, up == 1") {
    auto server = test::start_server({"--workers", "2", "--metrics-listen", "127.0.0.1:0"});
    REQUIRE(server->metrics_port() != 0);
    Prometheus prometheus(server->metrics_port());

    LoadRun run(server->port(),
                {"--mode", "pingpong", "-c", "10", "-s", "100", "--count", "5000", "-d", "0"});
    auto load = run.wait(60s);
    check_load(load, false);
    const double finished = wall_clock();
    const auto accepted = static_cast<double>(load.count("established"));
    const auto bytes = static_cast<double>(load.count("total_bytes"));
    REQUIRE(accepted == 10);
    REQUIRE(bytes == 5000 * 100);

    // Bounded wait for a scrape that began after the run ended; then every figure it holds is final.
    bool scraped_after = test::eventually(
        [&] {
            auto t = prometheus.query("timestamp(up{job=\"echo\"})");
            return t && *t > finished;
        },
        30s);
    REQUIRE_MESSAGE(scraped_after, "no scrape after the run; prometheus said:\n" << prometheus.log());
    CHECK(prometheus.query("up{job=\"echo\"}") == 1.0);
    CHECK(prometheus.query("sum(echo_hardened_connections_accepted_total)") == accepted);
    CHECK(prometheus.query("sum(echo_hardened_echoed_bytes_total)") == bytes);
    CHECK(prometheus.query("sum(echo_hardened_worker_connections_accepted_total)") == accepted);
    CHECK(prometheus.query("sum(echo_hardened_worker_echoed_bytes_total)") == bytes);
    CHECK(prometheus.query("echo_hardened_workers_alive") == 2.0);
    CHECK(prometheus.query("count(process_cpu_seconds_total{job=\"echo\"})") ==
          4.0);  // master, 2 workers, itself
    report({"metrics: a real Prometheus scrapes", "pingpong 10 conns x 100 B, 5,000 round trips", "none",
            load.count("total_bytes"), load.count("errors"), 0, "exact counters in Prometheus"});
}

TEST_CASE(
    "hostile clients of the metrics port (garbage, a held request, 2,000 connections, 1 MiB) stall and "
    "crash nothing") {
    raise_nofile();
    auto server = test::start_server({"--workers", "2", "--metrics-listen", "127.0.0.1:0"});
    const std::uint16_t mport = server->metrics_port();
    REQUIRE(mport != 0);
    auto workers = test::wait_for_workers(*server, 2);
    std::optional<pid_t> metrics;
    REQUIRE(test::eventually([&] { return (metrics = server->metrics_process()).has_value(); }, 5s));
    REQUIRE(test::http_get(mport, "/metrics").status == 200);
    const long rss_before = test::rss_kib(*metrics).value_or(0);
    RssWatch rss(*metrics);

    LoadRun load(server->port(), {"--mode", "pingpong", "-c", "8", "-s", "256"});
    REQUIRE(test::eventually([&] { return established_on(server->port()) >= 8; }, 10s));

    // Garbage: a line of bytes that is no HTTP request; each connection is answered or closed, never kept.
    std::vector<UniqueFd> garbage;
    for (int i = 0; i < 50; ++i) {
        garbage.push_back(test::connect_local(mport));
        REQUIRE(garbage.back().valid());
        auto junk = test::random_bytes(512, static_cast<std::uint64_t>(i));
        std::replace_if(
            junk.begin(), junk.end(), [](char c) { return c == '\r' || c == '\n'; }, 'x');
        (void)test::send_all(garbage.back().get(), junk + "\r\n\r\n");
    }
    std::size_t refused = 0;
    for (const auto& fd : garbage) {
        auto [said, ended] = read_until_closed(fd.get(), 20s);
        refused += ended && (said.empty() || said.rfind("HTTP/1.1 400", 0) == 0);
    }
    CHECK(refused == garbage.size());
    garbage.clear();

    // A request never finished: dropped after the connection timeout, and meanwhile others are served.
    auto held = test::connect_local(mport);
    REQUIRE(held.valid());
    REQUIRE(test::send_all(held.get(), "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    CHECK(test::http_get(mport, "/metrics").status == 200);
    CHECK(test::closed_by_peer(held.get(), 20s));
    held.reset();

    // 2,000 connections at once: beyond its limit the metrics process closes them as they come.
    std::vector<UniqueFd> crowd;
    for (int i = 0; i < 2000; ++i) {
        auto fd = test::connect_local(mport, 2s);
        if (fd.valid()) crowd.push_back(std::move(fd));
    }
    CHECK(crowd.size() > 1000);  // the backlog took them, whatever the process did with them
    const std::string probe = test::random_bytes(300, 99);
    CHECK(test::echo_once(server->port(), probe) == probe);  // the echo service does not notice
    crowd.clear();

    // 1 MiB of request headers: refused (431) or cut off, never buffered whole.
    auto big = test::connect_local(mport);
    REQUIRE(big.valid());
    std::string request = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
    (void)test::send_all(big.get(), request, 5s);  // may fail half-way: the server closed it
    std::string answer = test::recv_to_eof(big.get(), 10s);
    CHECK((answer.empty() || answer.rfind("HTTP/1.1 4", 0) == 0));
    big.reset();

    // Served again once the crowd's connections have timed out.
    CHECK(test::eventually([&] { return test::http_get(mport, "/metrics", 2s).status == 200; }, 20s));
    const long rss_max = rss.stop();

    auto summary = load.stop();
    check_load(summary, false);
    auto after = settle(*server, 2);
    check_no_worker_died(*server, workers, after.workers);
    CHECK(server->metrics_process() == metrics);  // the same metrics process: it never died
    CHECK(server->log().find("unexpectedly") == std::string::npos);

    // Its figures are the echo clients' alone: the hostile connections went to the metrics process. Read once
    // the workers have handled every close, which comes after their last byte count is stored.
    std::string page;
    CHECK(test::eventually(
        [&] {
            page = test::http_get(mport, "/metrics").body;
            return test::metric_value(page, "echo_hardened_connections_open") == 0.0;
        },
        10s));
    CHECK(test::metric_value(page, "echo_hardened_connections_accepted_total") ==
          static_cast<double>(summary.count("established") + 1));
    CHECK(test::metric_value(page, "echo_hardened_echoed_bytes_total") ==
          static_cast<double>(summary.count("total_bytes") + probe.size()));
    MESSAGE("metrics process RSS: " << rss_before << " KiB before, at most " << rss_max
                                    << " KiB under attack");
#if defined(__SANITIZE_ADDRESS__)
    // ASan's quarantine keeps freed memory on purpose (up to 256 MiB by default): only a loose bound here.
    CHECK(rss_max < rss_before + 256 * 1024);
#else
    // Bounded: libmicrohttpd's per-connection memory times its connection limit, and one page.
    CHECK(rss_max < rss_before + 8 * 1024);
#endif
    report({"metrics port: hostile clients", "pingpong 8 conns x 256 B",
            "garbage x50, a held request, 2,000 connections, 1 MiB headers", summary.count("total_bytes"),
            summary.count("errors"), after.zombies,
            fmt::format("metrics RSS {} -> max {} KiB", rss_before, rss_max)});
}
