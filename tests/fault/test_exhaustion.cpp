// test_exhaustion.cpp: out of descriptors, out of processes, and ten thousand connections at once, each under
// load (issue scenarios 5 and 6; SPEC R5, R12, R32).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;
using Clock = std::chrono::steady_clock;

namespace {

// RLIMIT_NPROC counts per user: this suite's own uid, apart from the integration tests' (fixture.hpp).
constexpr uid_t kUidRespawnBudget = 64004;

// A process of the server's user that does nothing but count against its RLIMIT_NPROC, as a runaway cron
// job of the same account would. setuid() does not check the limit, so it can take the last slot.
class BudgetEater {
  public:
    explicit BudgetEater(uid_t uid) {
        int ready[2];
        REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
        pid_ = fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            if (setgid(uid) != 0 || setuid(uid) != 0) _exit(1);
            (void)!write(ready[1], "u", 1);  // counted against the user from here on
            for (;;)
                pause();
        }
        close(ready[1]);
        pollfd p{ready[0], POLLIN, 0};
        char c = 0;
        const bool counted = poll(&p, 1, 5000) == 1 && read(ready[0], &c, 1) == 1;
        close(ready[0]);
        REQUIRE_MESSAGE(counted, "the process eating the RLIMIT_NPROC budget never took its uid");
    }
    BudgetEater(const BudgetEater&) = delete;
    BudgetEater& operator=(const BudgetEater&) = delete;
    ~BudgetEater() { end(); }
    void end() {
        if (pid_ <= 0) return;
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("EMFILE under load: no busy loop while the backlog waits, service resumes as descriptors free up") {
    constexpr std::size_t kExtra = 160, kFreed = 110;
    test::ServerOptions options;
    options.nofile = 64;  // per worker: some 50 connections, then accept4() fails with EMFILE
    auto server = test::start_server({"--workers", "2"}, options);
    auto workers = test::wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    // A trickle of verified pings on connections accepted before the exhaustion: they must not suffer.
    LoadRun load(server->port(), {"--mode", "hold", "-c", "20", "--interval", "0.2"});
    REQUIRE(load.wait_for_output("hold: 20 of 20 connections established", 10s));
    std::vector<UniqueFd> extra;
    for (std::size_t i = 0; i < kExtra; ++i) {
        extra.push_back(test::connect_local(server->port()));  // completes in the kernel's backlog
        REQUIRE(extra.back().valid());
    }
    REQUIRE(server->wait_for_log("accept4() failed: Too many open files", 5s) >= 0);
    const double cpu_before = test::total_cpu_seconds(workers);
    const auto window_start = Clock::now();
    std::this_thread::sleep_for(2s);  // a window of time to measure CPU over, not a wait for an event
    const double cpu_used = test::total_cpu_seconds(workers) - cpu_before;
    const double window_s = ms_since(window_start) / 1000.0;
    CHECK(cpu_used < 0.3);  // a spinning accept loop burns the whole window on each core

    // Closing most of them frees descriptors: the rest, still in the backlog, must now be served.
    extra.erase(extra.begin(), extra.begin() + kFreed);
    const auto freed_at = Clock::now();
    std::uint64_t verified = 0;
    std::size_t served = 0;
    for (std::size_t i = 0; i < extra.size(); ++i) {
        const auto msg = test::random_bytes(32, i);
        if (test::send_all(extra[i].get(), msg, 5s) &&
            test::recv_exact(extra[i].get(), msg.size(), 10s) == msg) {
            ++served;
            verified += msg.size();
        }
    }
    const double resume_ms = ms_since(freed_at);
    CHECK(served == extra.size());
    auto summary = load.stop();
    check_load(summary, false);
    auto after = settle(*server, 2);
    check_no_worker_died(*server, workers, after.workers);
    report(
        {"5a EMFILE", "hold 20 conns, a ping each every ~0.2 s",
         fmt::format("RLIMIT_NOFILE 64, {} connections more than fit", kExtra),
         summary.count("total_bytes") + verified, summary.count("errors") + (extra.size() - served),
         after.zombies,
         fmt::format(
             "workers' CPU {:.3f} s over {:.1f} s at EMFILE; the {} queued served {:.0f} ms after fds freed",
             cpu_used, window_s, extra.size(), resume_ms)});
}

TEST_CASE("RLIMIT_NPROC reached while respawning under load: survived, logged, recovered when room returns") {
    test::ServerOptions options;
    options.uid = kUidRespawnBudget;
    options.nproc = 4;  // the master, its exec helper and its two workers, not one more
    auto server = test::start_server({"--workers", "2"}, options);
    auto workers = test::wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    LoadRun load(server->port(), {"--mode", "pingpong", "-c", "16", "-s", "256", "--reconnect"});
    REQUIRE(test::eventually([&] { return established_on(server->port()) >= 16; }, 10s));

    BudgetEater eater(kUidRespawnBudget);
    long from = static_cast<long>(server->log().size());
    REQUIRE(kill(workers[0], SIGKILL) == 0);
    CHECK(server->wait_for_log("fork() failed while spawning worker", 10s, from) >= 0);
    CHECK(server->wait_for_log("Resource temporarily unavailable; retrying in", 1s, from) >= 0);
    // One worker short, the other still serves: new connections and the load go on.
    const auto hello = test::random_bytes(100, 1);
    CHECK(test::echo_once(server->port(), hello) == hello);
    CHECK(test::eventually([&] { return !test::proc_state(workers[0]); }, 5s));  // reaped all the same

    const auto room_at = Clock::now();
    eater.end();
    CHECK(server->wait_for_log("is accepting: the slot was empty for", 30s, from) >= 0);
    const double recovered_ms = ms_since(room_at);
    auto summary = load.stop();
    check_load(summary, true);
    auto after = settle(*server, 2);
    report({"5b RLIMIT_NPROC at respawn", "pingpong 16 conns",
            "1 SIGKILL with the user's last process slot taken", summary.count("total_bytes") + hello.size(),
            summary.count("errors"), after.zombies,
            fmt::format("slot refilled {:.0f} ms after a process slot came free (fork retried with back-off)",
                        recovered_ms)});
}

TEST_CASE("10,000 connections held at once on two workers, then all closed: no error, memory returned") {
    constexpr unsigned kConnections = 10000;
    raise_nofile();
    auto server = test::start_server({"--workers", "2"});
    auto workers = test::wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    auto rss = [&] { return test::total_rss_kib(workers); };
    auto fds = [&] { return total_open_fds(workers); };
    const long rss_before = rss();
    const auto fds_before = fds();
    // Two crowds, one after the other: what the first leaves behind must be reused by the second, so memory
    // after the second is no higher than after the first (nothing accumulates), and lower than while held.
    struct Cycle {
        long rss_held = 0, rss_after = 0;
        double closed_ms = 0;
        std::uint64_t bytes = 0, errors = 0;
    };
    std::vector<Cycle> cycles(2);
    for (auto& cycle : cycles) {
        LoadRun hold(server->port(), {"--mode", "hold", "-c", std::to_string(kConnections), "--threads", "2",
                                      "--interval", "2", "--duration", "3", "--timeout", "20"});
        REQUIRE(hold.wait_for_output("hold: " + std::to_string(kConnections) + " of " +
                                         std::to_string(kConnections) + " connections established",
                                     120s));
        cycle.rss_held = rss();
        CHECK(fds() >= fds_before + kConnections);
        auto summary = hold.wait(60s);
        check_load(summary, false);
        CHECK(summary.count("held") == kConnections);
        cycle.bytes = summary.count("total_bytes");
        cycle.errors = summary.count("errors");
        const auto closed_at = Clock::now();
        CHECK(test::eventually([&] { return fds() <= fds_before; }, 20s));
        cycle.closed_ms = ms_since(closed_at);
        cycle.rss_after = rss();
    }
#if !defined(__SANITIZE_ADDRESS__)
    // The worker trims its heap as a crowd leaves (server/memory_return.hpp). ASan's quarantine keeps freed
    // memory on purpose, so only the optimised build can show it.
    // Most of what the first crowd cost is back with the kernel, and the second crowd leaves no more behind.
    CHECK(cycles[0].rss_after - rss_before <= (cycles[0].rss_held - rss_before) / 3);
    CHECK(cycles[1].rss_after <= cycles[0].rss_after + 64);
#endif
    auto after = settle(*server, 2);
    check_no_worker_died(*server, workers, after.workers);
    report({"6 10,000 connections", fmt::format("hold {} conns, a ping each every ~2 s, twice", kConnections),
            "-", cycles[0].bytes + cycles[1].bytes, cycles[0].errors + cycles[1].errors, after.zombies,
            fmt::format(
                "worker RSS {} KiB before, {} held, {} after the first crowd, {} after the second; fds back "
                "to {} within {:.0f} ms of the close",
                rss_before, cycles[0].rss_held, cycles[0].rss_after, cycles[1].rss_after, fds_before,
                std::max(cycles[0].closed_ms, cycles[1].closed_ms))});
}
