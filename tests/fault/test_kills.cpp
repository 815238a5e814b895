// test_kills.cpp: SIGKILL of workers, one at a time and all at once, round after round, and of the master,
// all under ping-pong load (issue scenarios 1 and 2; SPEC R11, R12, R18).
#include <signal.h>

#include <algorithm>
#include <map>
#include <regex>
#include <thread>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;
using test::start_server;
using Clock = std::chrono::steady_clock;

namespace {

// Bytes echoed so far by the whole server, from SIGUSR1's status line, which reads the workers' figures of
// this moment (R83); -1 when no status line came. The line gives them rounded ("16.5 KiB"), good enough for
// "at least".
double echoed_now(const test::ServerProcess& server) {
    long from = static_cast<long>(server.log().size());
    server.signal(SIGUSR1);
    long at = server.wait_for_log(" workers serving, ", 5s, from);
    if (at < 0) return -1;
    static const std::regex figure(R"(, ([0-9.]+) (B|KiB|MiB|GiB|TiB) echoed, )");
    std::smatch m;
    const std::string line = server.log_line_at(at);
    if (!std::regex_search(line, m, figure)) return -1;
    double bytes = std::stod(m[1]);
    for (const char* unit : {"B", "KiB", "MiB", "GiB", "TiB"}) {
        if (m[2] == unit) break;
        bytes *= 1024;
    }
    return bytes;
}

// A worker killed within a second of its start counts as a quick death and its slot backs off (RUNBOOK.md
// "Supervision"). These scenarios measure plain replacement, so each victim is first left to live that long;
// the back-off has its own test.
constexpr auto kPastQuickDeath = 1100ms;

// "worker S (pid P) is accepting: the slot was empty for X ms after its last worker died", after `from`.
struct Refill {
    pid_t pid = -1;
    double empty_ms = 0;
    long next = 0;  // log offset past this line's marker, where to look for the next one
};
std::optional<Refill> wait_refill(const test::ServerProcess& server, long from, Duration timeout) {
    const std::string marker = "is accepting: the slot was empty for ";
    long at = server.wait_for_log(marker, timeout, from);
    if (at < 0) return std::nullopt;
    const auto line = server.log_line_at(at);
    std::smatch m;
    if (!std::regex_search(line, m,
                           std::regex(R"(\(pid (\d+)\) is accepting: the slot was empty for ([0-9.]+) ms)")))
        return std::nullopt;
    return Refill{static_cast<pid_t>(std::stol(m[1])), std::stod(m[2]), at + 1};
}

// The stage of the kill rounds: `n` workers under reconnecting ping-pong load, and probes of the test's own,
// each tied to the worker serving it.
class KillStage {
  public:
    KillStage(std::size_t n, std::size_t load_connections, std::size_t probe_count)
        : n_(n), server(start_server({"--workers", std::to_string(n)})) {
        workers = test::wait_for_workers(*server, n);
        REQUIRE(workers.size() == n);
        load_ = std::make_unique<LoadRun>(
            server->port(),
            std::vector<std::string>{"--mode", "pingpong", "-c", std::to_string(load_connections), "-s",
                                     "512", "--reconnect"});
        REQUIRE(test::eventually([&] { return established_on(server->port()) >= load_connections; }, 10s));
        for (std::size_t i = 0; i < probe_count; ++i)
            probes_.push_back(new_probe());
    }

    // After `victims` were SIGKILLed and replaced: each is reaped, the count is back, the probes the victims
    // served are closed and every other probe still echoes every byte. The closed ones are replaced.
    void after_kill(const std::vector<pid_t>& victims) {
        // Reaped: a zombie would stay in /proc as state Z.
        CHECK(test::eventually([&] { return test::all_reaped(victims); }, 5s));
        workers = test::wait_for_workers(*server, n_);
        REQUIRE(workers.size() == n_);
        for (auto& p : probes_) {
            if (std::find(victims.begin(), victims.end(), p.owner) != victims.end()) {
                CHECK_MESSAGE(test::closed_by_peer(p.fd.get(), 5s), "probe of killed worker " << p.owner);
                ++closed_checks;
                p = new_probe();
                continue;
            }
            ++survivor_checks;
            const bool ok = ping(p, ++seed, probe_bytes);
            survivor_errors += !ok;
            CHECK_MESSAGE(ok, "probe on surviving worker " << p.owner << " lost its echo");
        }
    }

    // Stops the load (dropped connections allowed: they were on killed workers) and checks the aftermath.
    std::pair<LoadSummary, Aftermath> finish() {
        auto summary = load_->stop();
        check_load(summary, true);
        return {summary, settle(*server, n_)};
    }

    std::size_t n_;
    std::unique_ptr<test::ServerProcess> server;
    std::vector<pid_t> workers;
    std::uint64_t seed = 0;
    std::uint64_t probe_bytes = 0, survivor_checks = 0, survivor_errors = 0, closed_checks = 0;

  private:
    Probe new_probe() {
        auto p = open_probe(server->port(), workers, ++seed);
        REQUIRE(p.has_value());
        return std::move(*p);
    }

    std::unique_ptr<LoadRun> load_;
    std::vector<Probe> probes_;
};

}  // namespace

TEST_CASE("kill -9 of one worker, round after round under load: reaped, replaced, survivors lose nothing") {
    constexpr std::size_t kWorkers = 4, kLoadConnections = 64, kProbes = 16;
    KillStage stage(kWorkers, kLoadConnections, kProbes);
    auto& server = *stage.server;
    std::map<pid_t, Clock::time_point> born;
    for (pid_t w : stage.workers)
        born[w] = Clock::now();
    std::vector<double> refill_ms, seen_ms;
    for (unsigned round = 0; round < rounds(); ++round) {
        CAPTURE(round);
        auto victim =
            std::min_element(born.begin(), born.end(), [](auto& a, auto& b) { return a.second < b.second; });
        std::this_thread::sleep_until(victim->second + kPastQuickDeath);
        const pid_t pid = victim->first;
        born.erase(victim);
        const long from = static_cast<long>(server.log().size());
        const auto killed_at = Clock::now();
        REQUIRE(kill(pid, SIGKILL) == 0);
        auto refill = wait_refill(server, from, 10s);
        REQUIRE_MESSAGE(refill.has_value(), "no replacement for pid " << pid << "; log:\n" << server.log());
        seen_ms.push_back(ms_since(killed_at));
        refill_ms.push_back(refill->empty_ms);
        born[refill->pid] = Clock::now();
        stage.after_kill({pid});
    }
    auto [summary, after] = stage.finish();
    CHECK(stage.survivor_errors == 0);
    CHECK(stage.closed_checks > 0);
    CHECK(stage.survivor_checks > 0);
    MESSAGE("probes: " << stage.survivor_checks << " echoes on surviving workers, " << stage.closed_checks
                       << " closed with their worker; echo-load: " << summary.count("dropped")
                       << " connections dropped and reopened");
    report({"1a kill -9 one worker",
            fmt::format("{} workers, pingpong {} conns + {} probes", kWorkers, kLoadConnections, kProbes),
            fmt::format("{} SIGKILLs, one worker each", rounds()),
            summary.count("total_bytes") + stage.probe_bytes, summary.count("errors") + stage.survivor_errors,
            after.zombies,
            "slot empty " + spread_ms(refill_ms) + "; kill to log line " + spread_ms(seen_ms)});
}

TEST_CASE("kill -9 of every worker at once, round after round under load: all reaped, all replaced") {
    constexpr std::size_t kWorkers = 2, kLoadConnections = 32, kProbes = 8;
    KillStage stage(kWorkers, kLoadConnections, kProbes);
    auto& server = *stage.server;
    std::vector<double> refill_ms, echo_ms;
    auto generation_born = Clock::now();
    for (unsigned round = 0; round < rounds(); ++round) {
        CAPTURE(round);
        std::this_thread::sleep_until(generation_born + kPastQuickDeath);
        const long from = static_cast<long>(server.log().size());
        const auto killed_at = Clock::now();
        const auto victims = stage.workers;
        for (pid_t w : victims)
            REQUIRE(kill(w, SIGKILL) == 0);
        // Accepting again, as a client sees it: a new connection waits in the listen backlog the master keeps
        // open, and is echoed by the first replacement to come up.
        const auto hello = test::random_bytes(64, ++stage.seed);
        CHECK(test::echo_once(server.port(), hello) == hello);
        echo_ms.push_back(ms_since(killed_at));
        long at = from;
        for (std::size_t i = 0; i < kWorkers; ++i) {
            auto refill = wait_refill(server, at, 10s);
            REQUIRE_MESSAGE(refill.has_value(), "slot not refilled; log:\n" << server.log());
            refill_ms.push_back(refill->empty_ms);
            at = refill->next;
        }
        generation_born = Clock::now();
        stage.after_kill(victims);
    }
    auto [summary, after] = stage.finish();
    CHECK(stage.closed_checks == kProbes * rounds());
    report({"1b kill -9 all workers",
            fmt::format("{} workers, pingpong {} conns + {} probes", kWorkers, kLoadConnections, kProbes),
            fmt::format("{} rounds x {} SIGKILLs", rounds(), kWorkers),
            summary.count("total_bytes") + stage.probe_bytes, summary.count("errors"), after.zombies,
            "new connection echoed " + spread_ms(echo_ms) + "; slot empty " + spread_ms(refill_ms)});
}

TEST_CASE("master SIGKILL under load: every worker gone within a second, the port bound again at once") {
    auto server = start_server({"--workers", "2"});
    auto workers = test::wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    const auto port = server->port();
    constexpr int kConnections = 32, kSize = 512;
    LoadRun load(port,
                 {"--mode", "pingpong", "-c", std::to_string(kConnections), "-s", std::to_string(kSize)});
    REQUIRE(test::eventually([&] { return established_on(port) >= kConnections; }, 10s));
    // Handshakes are the kernel's: the load may not have seen one echo yet. More echoes than connections
    // means some connection had its second one, which echo-load sends only after checking the first.
    REQUIRE(test::eventually([&] { return echoed_now(*server) > kConnections * kSize; }, 10s));

    server->signal(SIGKILL);
    CHECK(server->wait_exit_code(5s) == 128 + SIGKILL);
    const auto master_gone = Clock::now();
    // Each worker asked the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG; RUNBOOK.md "Signals").
    CHECK(test::eventually([&] { return std::none_of(workers.begin(), workers.end(), test::alive); }, 1s));
    const double orphans_ms = ms_since(master_gone);
    auto broken = load.stop();
    // Every connection broke with its worker, as it must; what came back before was still right.
    INFO("echo-load output:\n" << broken.output);
    CHECK(broken.count("errors_mismatch") == 0);
    CHECK(broken.count("errors_timeout") == 0);
    CHECK(broken.count("total_bytes") > 0);

    const auto rebind = Clock::now();
    auto again = start_server({"--listen", "127.0.0.1:" + std::to_string(port)});
    const double rebind_ms = ms_since(rebind);
    LoadRun after_load(port, {"--mode", "pingpong", "-c", "32", "-s", "512", "-d", "1"});
    auto fresh = after_load.wait(20s);
    check_load(fresh, false);
    auto after = settle(*again, 2);
    report({"2 kill -9 the master", "2 workers, pingpong 32 conns", "1 SIGKILL of the master",
            broken.count("total_bytes") + fresh.count("total_bytes"),
            broken.count("errors_mismatch") + fresh.count("errors"), after.zombies,
            fmt::format("workers gone {:.0f} ms after the master; new master ready {:.0f} ms after start",
                        orphans_ms, rebind_ms)});
}
