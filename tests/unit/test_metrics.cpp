// test_metrics.cpp: the metrics page's parts: the exposition writer's escaping, the /proc parsers, the page
// itself from a fake board, the board's totals across a worker's exit, the metrics process's restart policy,
// and the supervisor's figures (R81, R83).
#include <doctest/doctest.h>
#include <signal.h>

#include <string>

#include "master/metrics_child.hpp"
#include "metrics/exposition.hpp"
#include "metrics/metrics_page.hpp"
#include "metrics/process_stats.hpp"
#include "supervisor_harness.hpp"
#include "worker/load_board.hpp"

using namespace echo;
using namespace echo::testing;

namespace {

bool has_line(const std::string& page, const std::string& line) {
    return page.find("\n" + line + "\n") != std::string::npos || page.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE(
    "exposition: label values escape backslash, quote and newline; HELP escapes backslash and newline") {
    Exposition e;
    e.family("x_total", "counter", "a \\ b\nc \"q\"");
    e.sample("x_total", {{"path", "C:\\a\"b\nc"}}, std::uint64_t{7});
    e.sample("x_total", {}, 0.5);
    CHECK(e.text() ==
          "# HELP x_total a \\\\ b\\nc \"q\"\n"
          "# TYPE x_total counter\n"
          "x_total{path=\"C:\\\\a\\\"b\\nc\"} 7\n"
          "x_total 0.5\n");
}

TEST_CASE(
    "exposition: integers print exactly, doubles in their shortest form, and NaN/Inf in the format's words") {
    Exposition e;
    e.sample("a", {}, std::uint64_t{18446744073709551615ULL});
    e.sample("b", {{"k", "v"}, {"l", "w"}}, 1796164725.59);
    e.sample("c", {}, std::numeric_limits<double>::infinity());
    e.sample("d", {}, std::numeric_limits<double>::quiet_NaN());
    CHECK(e.text() == "a 18446744073709551615\nb{k=\"v\",l=\"w\"} 1796164725.59\nc +Inf\nd NaN\n");
}

TEST_CASE("process stats: /proc/PID/stat is parsed after the last ')', whatever the command name holds") {
    std::string line =
        "4242 (a) b (c) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 123456 18022400 2000 "
        "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    auto f = parse_stat_line(line);
    REQUIRE(f);
    CHECK(f->utime_ticks == 250);
    CHECK(f->stime_ticks == 50);
    CHECK(f->start_ticks == 123456);
    CHECK(f->vsize == 18022400);
    CHECK(f->rss_pages == 2000);
    CHECK(!parse_stat_line("4242 (truncated"));
    CHECK(!parse_stat_line("4242 (x) S 1 2 3"));
}

TEST_CASE("process stats: the soft 'Max open files' of /proc/PID/limits; 'unlimited' gives no figure") {
    std::string limits =
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max processes             2064                 2064                 processes \n"
        "Max open files            20000                524288               files     \n";
    CHECK(parse_max_open_files(limits) == 20000u);
    CHECK(
        !parse_max_open_files("Max open files            unlimited            unlimited            files\n"));
    CHECK(!parse_max_open_files("nothing here"));
}

TEST_CASE("process stats: this very process reads back with plausible figures") {
    auto s = read_process_stats(getpid());
    REQUIRE(s);
    CHECK(s->resident_bytes > 0);
    CHECK(s->virtual_bytes >= s->resident_bytes);
    REQUIRE(s->open_fds);
    CHECK(*s->open_fds >= 3);
    CHECK(s->start_time_seconds > 1.6e9);
    CHECK(!read_process_stats(0x7ffffff0));  // no such pid
}

TEST_CASE("metrics page: totals, per-worker series with their labels, master figures, process_* per role") {
    BoardSnapshot b;
    b.master = {.master_pid = 10,
                .workers_alive = 2,
                .workers_target = 2,
                .zombies = 0,
                .restarts = 3,
                .crash_loop_backoffs = 1,
                .hung_workers_killed = 1,
                .fork_failures = 4,
                .reloads = 5};
    b.workers = {{0, 11, 1, 2, 40, 4096, 0}, {1, 12, 1, 0, 2, 64, 1}};
    b.open = 2;
    b.accepted = 50;  // 8 of them by workers that have exited
    b.bytes_echoed = 5000;
    b.accept_pauses = 1;
    ProcessStats fake;
    fake.cpu_seconds = 1.25;
    fake.resident_bytes = 4096;
    fake.virtual_bytes = 8192;
    fake.start_time_seconds = 1700000000.5;
    fake.open_fds = 9;
    fake.max_fds = 1024;
    auto page = render_metrics_page(b, 13, [&](pid_t pid) -> std::optional<ProcessStats> {
        if (pid == 12) return std::nullopt;  // gone between the board and /proc: left out
        return fake;
    });
    CHECK(has_line(page, "# TYPE echo_hardened_connections_accepted_total counter"));
    CHECK(has_line(page, "echo_hardened_connections_accepted_total 50"));
    CHECK(has_line(page, "echo_hardened_echoed_bytes_total 5000"));
    CHECK(has_line(page, "echo_hardened_connections_open 2"));
    CHECK(has_line(page, "echo_hardened_accept_pauses_total 1"));
    CHECK(has_line(page, "echo_hardened_workers_alive 2"));
    CHECK(has_line(page, "echo_hardened_workers_target 2"));
    CHECK(has_line(page, "echo_hardened_worker_restarts_total 3"));
    CHECK(has_line(page, "echo_hardened_crash_loop_backoffs_total 1"));
    CHECK(has_line(page, "echo_hardened_hung_workers_killed_total 1"));
    CHECK(has_line(page, "echo_hardened_fork_failures_total 4"));
    CHECK(has_line(page, "echo_hardened_reloads_total 5"));
    CHECK(has_line(page, "echo_hardened_zombies 0"));
    CHECK(has_line(
        page, "echo_hardened_worker_connections_accepted_total{slot=\"0\",pid=\"11\",generation=\"1\"} 40"));
    CHECK(
        has_line(page, "echo_hardened_worker_echoed_bytes_total{slot=\"1\",pid=\"12\",generation=\"1\"} 64"));
    CHECK(
        has_line(page, "echo_hardened_worker_accept_pauses_total{slot=\"1\",pid=\"12\",generation=\"1\"} 1"));
    CHECK(has_line(page, "process_cpu_seconds_total{role=\"master\",pid=\"10\"} 1.25"));
    CHECK(has_line(page, "process_resident_memory_bytes{role=\"worker\",slot=\"0\",pid=\"11\"} 4096"));
    CHECK(page.find("pid=\"12\"} 4096") == std::string::npos);
    CHECK(has_line(page, "process_open_fds{role=\"metrics\",pid=\"13\"} 9"));
    CHECK(has_line(page, "process_max_fds{role=\"master\",pid=\"10\"} 1024"));
    CHECK(has_line(page, "process_start_time_seconds{role=\"master\",pid=\"10\"} 1700000000.5"));
    CHECK(page.find("echo_hardened_build_info{version=\"") != std::string::npos);
}

TEST_CASE("load board: a worker's figures are live, and its exit folds them into the totals exactly once") {
    auto board = LoadBoard::create();
    REQUIRE(board.ok());
    auto a = board->claim(0), b = board->claim(1);
    REQUIRE(a);
    REQUIRE(b);
    board->assign(*a, 100, 2);
    board->assign(*b, 101, 2);
    const TimePoint t = TimePoint{} + seconds(10);
    board->publish(*a, 3, 10, true, t);
    board->publish_bytes(*a, 640);
    board->publish(*b, 1, 5, true, t);
    board->publish_bytes(*b, 64);
    board->publish_accept_pauses(*b, 2);
    auto f = board->figures(*a);
    CHECK(f.slot == 0);
    CHECK(f.pid == 100);
    CHECK(f.generation == 2);
    CHECK(f.open == 3);
    CHECK(f.accepted == 10);
    CHECK(f.bytes_echoed == 640);

    auto s = board->snapshot();
    CHECK(s.workers.size() == 2);
    CHECK(s.open == 4);
    CHECK(s.accepted == 15);
    CHECK(s.bytes_echoed == 704);
    CHECK(s.accept_pauses == 2);

    board->release(*b);  // worker 101 exited: gone from the list, not from the totals
    s = board->snapshot();
    CHECK(s.workers.size() == 1);
    CHECK(s.open == 3);
    CHECK(s.accepted == 15);
    CHECK(s.bytes_echoed == 704);
    CHECK(s.accept_pauses == 2);
    auto c = board->claim(1);  // its replacement starts from zero
    REQUIRE(c);
    CHECK(board->figures(*c).accepted == 0);
    CHECK(board->snapshot().accepted == 15);

    MasterFigures m;
    m.master_pid = 99;
    m.workers_alive = 2;
    m.restarts = 1;
    board->publish_master(m);
    s = board->snapshot();
    CHECK(s.master.master_pid == 99);
    CHECK(s.master.workers_alive == 2);
    CHECK(s.master.restarts == 1);
}

TEST_CASE(
    "metrics child policy: started at once, restarted after a back-off that doubles while it dies young") {
    const TimePoint t0 = TimePoint{} + seconds(100);
    MetricsChildPolicy off(false);
    CHECK(!off.due(t0));
    CHECK(!off.next_deadline());

    MetricsChildPolicy p(true);
    CHECK(p.due(t0));
    p.started(50, t0);
    CHECK(!p.due(t0));
    CHECK(p.pid() == 50);
    CHECK(p.exited(t0 + seconds(1)) == seconds(1));
    CHECK(!p.pid());
    CHECK(!p.due(t0 + milliseconds(1999)));
    CHECK(p.due(t0 + seconds(2)));
    CHECK(p.next_deadline() == t0 + seconds(2));
    p.started(51, t0 + seconds(2));
    CHECK(p.exited(t0 + seconds(3)) == seconds(2));
    p.started(52, t0 + seconds(5));
    CHECK(p.exited(t0 + seconds(6)) == seconds(4));
    for (int i = 0; i < 10; ++i) {
        p.started(53, t0 + seconds(10));
        p.exited(t0 + seconds(11));
    }
    p.started(54, t0 + seconds(20));
    CHECK(p.exited(t0 + seconds(21)) == MetricsChildPolicy::kMaxDelay);
    // A run of kStableRun makes the next death an accident again.
    p.started(55, t0 + seconds(100));
    CHECK(p.exited(t0 + seconds(100) + MetricsChildPolicy::kStableRun) == seconds(1));
    CHECK(p.fork_failed(t0 + seconds(200)) == seconds(2));
    p.stop();
    CHECK(!p.due(t0 + seconds(1000)));
    CHECK(!p.next_deadline());
}

TEST_CASE("supervisor: the status line shows the board's current figures, not the last heartbeat's (R83)") {
    auto h = in_state(MasterState::Running);
    CHECK(h.sup.status_line().find("0 served, 0 B echoed") != std::string::npos);
    h.sup.note_figures(100, {.slot = 0, .pid = 100, .open = 2, .accepted = 7, .bytes_echoed = 640});
    h.sup.note_figures(101, {.slot = 1, .pid = 101, .open = 0, .accepted = 3, .bytes_echoed = 384});
    CHECK(h.sup.status_line().find("2 connections open, 10 served, 1.0 KiB echoed") != std::string::npos);
    // A heartbeat read late carries older counters: they do not go back.
    h.report(100, WorkerReport::Kind::Heartbeat, 1);
    CHECK(h.sup.status_line().find("1 connections open, 10 served") != std::string::npos);
    // An exited worker's figures stay in the totals.
    h.exit(101, killed_by(SIGKILL));
    CHECK(h.sup.status_line().find("10 served, 1.0 KiB echoed") != std::string::npos);
}

TEST_CASE(
    "supervisor: its figures count restarts, crash-loop back-offs, hung kills, fork failures, reloads") {
    auto h = in_state(MasterState::Running);
    auto f = h.sup.figures();
    CHECK(f.workers_alive == 2);
    CHECK(f.workers_target == 2);
    CHECK(f.restarts == 0);
    h.exit(100, killed_by(SIGKILL));  // replaced at once
    h.exit(102, killed_by(SIGKILL));  // died young again: the next start waits
    f = h.sup.figures();
    CHECK(f.restarts == 2);
    CHECK(f.crash_loop_backoffs == 1);
    h.fork_fails = true;
    h.tick_after(seconds(5));
    h.fork_fails = false;
    CHECK(h.sup.figures().fork_failures >= 1);
    h.ready_all();
    h.tick_after(seconds(31));  // --worker-timeout 30 s without a heartbeat
    CHECK(h.sup.figures().hung_workers_killed >= 1);
    h.signal(SIGHUP);
    CHECK(h.sup.figures().reloads == 1);
}

TEST_CASE(
    "PROXY header counts: by result on the board, kept across a worker's exit, every label on the page") {
    auto board = LoadBoard::create();
    REQUIRE(board.ok());
    auto a = board->claim(0), b = board->claim(1);
    REQUIRE(a);
    REQUIRE(b);
    board->publish_proxy(*a, ProxyResult::Proxy, 5);
    board->publish_proxy(*a, ProxyResult::Timeout, 1);
    board->publish_proxy(*b, ProxyResult::Proxy, 2);
    board->publish_proxy(*b, ProxyResult::Unexpected, 3);
    auto s = board->snapshot();
    CHECK(s.proxy_headers[static_cast<std::size_t>(ProxyResult::Proxy)] == 7);
    CHECK(s.proxy_headers[static_cast<std::size_t>(ProxyResult::Timeout)] == 1);
    CHECK(s.proxy_headers[static_cast<std::size_t>(ProxyResult::Unexpected)] == 3);
    board->release(*b);
    s = board->snapshot();
    CHECK(s.proxy_headers[static_cast<std::size_t>(ProxyResult::Proxy)] == 7);
    CHECK(s.proxy_headers[static_cast<std::size_t>(ProxyResult::Unexpected)] == 3);
    auto c = board->claim(1);  // the entry reused starts from zero
    REQUIRE(c);
    CHECK(board->figures(*c).proxy_headers[static_cast<std::size_t>(ProxyResult::Proxy)] == 0);

    auto page = render_metrics_page(s, 1, [](pid_t) { return std::optional<ProcessStats>{}; });
    CHECK(page.find("# TYPE echo_hardened_proxy_headers_total counter\n") != std::string::npos);
    CHECK(page.find("echo_hardened_proxy_headers_total{result=\"proxy\"} 7\n") != std::string::npos);
    CHECK(page.find("echo_hardened_proxy_headers_total{result=\"unexpected\"} 3\n") != std::string::npos);
    for (auto name : kProxyResultNames)
        CHECK(page.find("echo_hardened_proxy_headers_total{result=\"" + std::string(name) + "\"} ") !=
              std::string::npos);
}
