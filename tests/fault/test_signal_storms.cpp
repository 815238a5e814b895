// test_signal_storms.cpp: thousands of signals in bursts under load, with worker deaths in the middle, then
// SIGTERM (issue scenario 7; SPEC R10, R11, R15-R17). Standard signals coalesce while pending, so the master
// sees far fewer than were sent; what it must never do is lose the SIGTERM, a child, or a byte.
#include <signal.h>

#include <regex>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;
using Clock = std::chrono::steady_clock;

namespace {

// Asks for the status line until the master is running with every worker of its target serving; returns
// that target. The storm decided it (TTIN and TTOU coalesce in whatever order they were read).
std::optional<std::size_t> settled_target(test::ServerProcess& server, Duration timeout) {
    const std::regex status(R"(status: running: (\d+)/(\d+) workers serving)");
    std::optional<std::size_t> target;
    test::eventually(
        [&] {
            const long from = static_cast<long>(server.log().size());
            server.signal(SIGUSR1);
            long at = server.wait_for_log("status: ", 2s, from);
            if (at < 0) return false;
            const auto line = server.log_line_at(at);
            std::smatch m;
            if (!std::regex_search(line, m, status) || m[1] != m[2]) return false;
            target = std::stoul(m[2]);
            return server.workers().size() == *target;
        },
        timeout);
    return target;
}

}  // namespace

TEST_CASE(
    "signal storms under load: thousands of HUP/USR1/TTIN/TTOU, then SIGTERM is honoured, nothing lost") {
    constexpr int kBursts = 20, kPerBurst = 1000;
    auto server = test::start_server({"--workers", "2", "--drain-timeout", "30s"});
    REQUIRE(test::wait_for_workers(*server, 2).size() == 2);
    LoadRun load(server->port(), {"--mode", "pingpong", "-c", "32", "-s", "256", "--reconnect"});
    REQUIRE(test::eventually([&] { return established_on(server->port()) >= 32; }, 10s));

    const int storm[] = {SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU};
    std::vector<pid_t> seen, killed;
    for (int burst = 0; burst < kBursts; ++burst) {
        for (int i = 0; i < kPerBurst; ++i)
            server->signal(storm[i % 4]);
        auto workers = server->workers();
        seen.insert(seen.end(), workers.begin(), workers.end());
        if (workers.empty() || kill(workers.front(), SIGKILL) != 0) continue;
        killed.push_back(workers.front());  // a SIGCHLD in the middle of it all
        // The next burst lands once the master has read this one: the reap proves it got that far.
        CHECK(test::eventually([&] { return !test::proc_state(killed.back()); }, 5s));
    }
    const auto log = server->log();
    CHECK(log.find("SIGHUP: reloading") != std::string::npos);
    CHECK(log.find("SIGTTIN: ") != std::string::npos);
    auto occurrences = [&](const std::string& what) {
        std::size_t n = 0;
        for (auto at = log.find(what); at != std::string::npos; at = log.find(what, at + 1))
            ++n;
        return n;
    };
    const auto acted =
        fmt::format("the master acted on {} HUP, {} TTIN, {} TTOU, {} USR1", occurrences("SIGHUP: reloading"),
                    occurrences("SIGTTIN: "), occurrences("SIGTTOU: "), occurrences("status: "));
    // Retiring workers serve their busy connections until those go quiet: the load ends first.
    auto summary = load.stop();
    check_load(summary, true);
    const auto stop_at = Clock::now();
    auto target = settled_target(*server, 40s);
    REQUIRE_MESSAGE(target.has_value(), "never settled; log tail:\n"
                                            << server->log().substr(server->log().size() - 4000));
    const double settle_ms = ms_since(stop_at);
    auto after = settle(*server, *target);
    for (pid_t k : killed)
        CHECK_FALSE(test::proc_state(k).has_value());  // every SIGKILLed worker reaped
    const auto final_workers = server->workers();
    seen.insert(seen.end(), final_workers.begin(), final_workers.end());
    // SIGTERM in the middle of yet more signals.
    server->signal(SIGUSR1);
    server->signal(SIGHUP);
    server->signal(SIGTERM);
    server->signal(SIGTTIN);
    server->signal(SIGUSR1);
    CHECK(server->wait_exit_code(20s) == 0);
    CHECK(test::all_reaped(seen));
    report({"7 signal storms", "2 workers, pingpong 32 conns",
            fmt::format("{} bursts x {} of HUP/USR1/TTIN/TTOU ({}), {} SIGKILLs, then SIGTERM", kBursts,
                        kPerBurst, acted, killed.size()),
            summary.count("total_bytes"), summary.count("errors"), after.zombies,
            fmt::format("settled at {} workers {:.0f} ms after the load stopped; SIGTERM: exit 0", *target,
                        settle_ms)});
}
