// test_stop_under_load.cpp: SIGTERM while a thousand connections sit idle and fifty stream (issue scenario 3;
// SPEC R13): the idle ones are closed at once, the busy ones get every byte they are owed, exit 0 in time.
#include <signal.h>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;
using Clock = std::chrono::steady_clock;

TEST_CASE("SIGTERM with 1,000 idle and 50 streaming connections: idle closed at once, every owed byte sent") {
    constexpr std::size_t kIdle = 1000, kStreaming = 50;
    constexpr auto kDrain = 10s;
    raise_nofile();
    auto server = test::start_server({"--workers", "2", "--drain-timeout", "10s"});
    auto workers = test::wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    std::uint64_t idle_bytes = 0;
    auto idle = open_idle(server->port(), kIdle, idle_bytes);
    REQUIRE(idle.size() == kIdle);
    // --closed-ok: a stream client the scheduler starves for the quiet period is idle to the server, which
    // may close it once everything it sent is echoed. A close with bytes owed, or a reset, is still an error.
    LoadRun streams(server->port(), {"--mode", "stream", "-c", std::to_string(kStreaming), "-s", "16K",
                                     "--window", "256K", "--closed-ok"});
    REQUIRE(test::eventually([&] { return established_on(server->port()) >= kIdle + kStreaming; }, 10s));

    const auto term_at = Clock::now();
    server->signal(SIGTERM);
    // Idle means nothing pending and nothing heard for the quiet period (RUNBOOK.md "Graceful stop").
    const auto closed = closed_within(raw(idle), 2s);
    const double idle_closed_ms = ms_since(term_at);
    CHECK(closed == kIdle);
    // The streaming clients are still being served; now they stop sending and wait for what they are owed.
    auto summary = streams.stop();
    check_load(summary, false);
    const int code = server->wait_exit_code(kDrain + 2s);
    const double exit_ms = ms_since(term_at);
    CHECK(code == 0);
    CHECK(exit_ms < std::chrono::duration<double, std::milli>(kDrain).count());
    CHECK(test::all_reaped(workers));
    auto notes = server->notifications();
    CHECK(std::find(notes.begin(), notes.end(), "STOPPING=1") != notes.end());
    report({"3 SIGTERM under load",
            fmt::format("{} idle + {} streaming conns (16 KiB writes)", kIdle, kStreaming), "1 SIGTERM",
            summary.count("total_bytes") + idle_bytes, summary.count("errors") + (kIdle - closed), 0,
            fmt::format("idle closed within {:.0f} ms; exit 0 after {:.0f} ms (deadline 10 s); {} stream(s) "
                        "gone quiet closed with nothing owed",
                        idle_closed_ms, exit_ms, summary.count("closed_clean"))});
}
