// test_soak.cpp: the soak (R98): the fault scenarios' faults, picked at random (seeded), against one server
// under ping-pong load for as long as --soak says, then the usual checks (docs/SOAK.md).
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"

using namespace fault;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kWorkers = 2;
constexpr std::size_t kLoadConnections = 32;
// As in test_kills.cpp: a worker killed within a second of its start is a quick death and its slot backs off
// (RUNBOOK.md "Supervision"); the soak kills only workers past that, so each fault meets plain replacement.
constexpr auto kPastQuickDeath = 1100ms;

// One server and its load. A SIGKILL of the master ends a stage; the soak then starts the next one.
struct Stage {
    Stage() {
        // A short drain: a worker retired by a reload or SIGTTOU under continuous load is done within 2 s.
        server = test::start_server({"--workers", std::to_string(kWorkers), "--drain-timeout", "2s"});
        auto workers = test::wait_for_workers(*server, kWorkers);
        REQUIRE(workers.size() == kWorkers);
        // The descriptors of an idle server, which it must be back to at the end.
        master_fds = open_fds(server->pid());
        worker_fds = open_fds(workers.front());
        note_workers();
        load = std::make_unique<LoadRun>(
            server->port(),
            std::vector<std::string>{"--mode", "pingpong", "-c", std::to_string(kLoadConnections), "-s",
                                     "512", "--reconnect"});
        REQUIRE(test::eventually([&] { return established_on(server->port()) >= kLoadConnections; }, 10s));
    }

    // Records when each current worker was first seen, and every pid seen, for the final reaping check.
    std::vector<pid_t> note_workers() {
        auto workers = server->workers();
        std::map<pid_t, Clock::time_point> now_born;
        for (pid_t w : workers) {
            auto it = born.find(w);
            now_born[w] = it != born.end() ? it->second : Clock::now();
            if (std::find(seen.begin(), seen.end(), w) == seen.end()) seen.push_back(w);
        }
        born = std::move(now_born);
        return workers;
    }

    // Waits for kWorkers live workers, none of them in `gone`.
    bool restored(const std::vector<pid_t>& gone, Duration timeout = 20s) {
        const bool ok = test::eventually(
            [&] {
                auto w = server->workers();
                return w.size() == kWorkers && std::all_of(w.begin(), w.end(), test::alive) &&
                       std::none_of(w.begin(), w.end(), [&](pid_t p) {
                           return std::find(gone.begin(), gone.end(), p) != gone.end();
                       });
            },
            timeout);
        note_workers();
        return ok;
    }

    void sleep_past_quick_death(const std::vector<pid_t>& victims) {
        for (pid_t v : victims)
            if (auto it = born.find(v); it != born.end())
                std::this_thread::sleep_until(it->second + kPastQuickDeath);
    }

    std::unique_ptr<test::ServerProcess> server;
    std::unique_ptr<LoadRun> load;
    std::size_t master_fds = 0, worker_fds = 0;
    std::map<pid_t, Clock::time_point> born;
    std::vector<pid_t> seen;
};

struct Tally {
    std::map<std::string, unsigned> faults;
    std::uint64_t verified = 0;  // bytes the soak's own clients checked
    std::uint64_t load_bytes = 0, load_errors = 0, dropped = 0;
    std::mt19937_64 rng;

    std::size_t pick(std::size_t low, std::size_t high) {
        return std::uniform_int_distribution<std::size_t>(low, high)(rng);
    }
};

void kill_one_worker(Stage& s, Tally& t) {
    auto workers = s.note_workers();
    REQUIRE(!workers.empty());
    const pid_t victim = workers[t.pick(0, workers.size() - 1)];
    s.sleep_past_quick_death({victim});
    REQUIRE(kill(victim, SIGKILL) == 0);
    CHECK(test::eventually([&] { return test::all_reaped({victim}); }, 5s));
    CHECK_MESSAGE(s.restored({victim}), "worker " << victim << " not replaced");
}

void kill_all_workers(Stage& s, Tally& t) {
    const auto victims = s.note_workers();
    s.sleep_past_quick_death(victims);
    for (pid_t w : victims)
        REQUIRE(kill(w, SIGKILL) == 0);
    // A new connection waits in the backlog the master keeps open and is echoed by the first replacement.
    const auto hello = test::random_bytes(64, t.rng());
    const bool echoed = test::echo_once(s.server->port(), hello) == hello;
    CHECK(echoed);
    t.verified += echoed ? hello.size() : 0;
    CHECK(test::eventually([&] { return test::all_reaped(victims); }, 5s));
    CHECK(s.restored(victims));
}

// HUP (a rolling reload: every worker replaced) and USR1 (status) in a burst; they coalesce while pending.
void signal_storm(Stage& s, Tally& t) {
    const auto before = s.note_workers();
    const std::size_t count = t.pick(100, 1000);
    bool reload = false;
    for (std::size_t i = 0; i < count; ++i) {
        const bool hup = t.pick(0, 3) == 0;
        reload = reload || hup;
        s.server->signal(hup ? SIGHUP : SIGUSR1);
    }
    CHECK_MESSAGE(s.restored(reload ? before : std::vector<pid_t>{}, 30s), "after " << count << " signals");
}

// SIGTTIN then SIGTTOU: one worker more, then back.
void resize(Stage& s, Tally&) {
    s.server->signal(SIGTTIN);
    CHECK(test::eventually([&] { return s.server->workers().size() == kWorkers + 1; }, 10s));
    s.note_workers();
    s.server->signal(SIGTTOU);
    CHECK(s.restored({}, 20s));
}

// Clients that send a burst and then reset instead of closing.
void resets(Stage& s, Tally& t) {
    const std::size_t n = t.pick(10, 100);
    const auto payload = test::random_bytes(t.pick(1, 64) * 1024, t.rng());
    for (std::size_t i = 0; i < n; ++i) {
        auto c = test::connect_local(s.server->port());
        REQUIRE(c.valid());
        (void)send(c.get(), payload.data(), payload.size(), MSG_NOSIGNAL | MSG_DONTWAIT);  // what fits
        linger reset{1, 0};
        REQUIRE(setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
    }
}

// Clients that send, half-close, and must get every byte back and then EOF.
void half_closes(Stage& s, Tally& t) {
    const std::size_t n = t.pick(2, 16);
    std::vector<UniqueFd> fds;
    std::vector<std::string> payloads;
    for (std::size_t i = 0; i < n; ++i) {
        fds.push_back(test::connect_local(s.server->port()));
        REQUIRE(fds.back().valid());
        payloads.push_back(test::random_bytes(t.pick(1, 64 * 1024), t.rng()));
        REQUIRE(test::send_all(fds.back().get(), payloads.back(), 10s));
        REQUIRE(shutdown(fds.back().get(), SHUT_WR) == 0);
    }
    for (std::size_t i = 0; i < n; ++i) {
        bool eof = false;
        const auto back = test::recv_to_eof(fds[i].get(), 10s, &eof);
        CHECK(eof);
        CHECK_MESSAGE(back == payloads[i], "half-closed client " << i << " of " << n);
        t.verified += back == payloads[i] ? back.size() : 0;
    }
}

// Clients that trickle single bytes, each echoed before the next.
void trickles(Stage& s, Tally& t) {
    const std::size_t n = t.pick(5, 50);
    std::vector<UniqueFd> fds;
    for (std::size_t i = 0; i < n; ++i) {
        fds.push_back(test::connect_local(s.server->port()));
        REQUIRE(fds.back().valid());
    }
    for (int round = 0; round < 5; ++round) {
        for (auto& fd : fds) {
            const std::string byte(1, static_cast<char>(t.pick(0, 255)));
            REQUIRE(test::send_all(fd.get(), byte, 5s));
            const bool ok = test::recv_exact(fd.get(), 1, 5s) == byte;
            CHECK(ok);
            t.verified += ok;
        }
        std::this_thread::sleep_for(50ms);  // the pace of a slow client, not a wait for anything
    }
}

// Hundreds of connections opened at once, each served once, left idle, then closed.
void idle_crowd(Stage& s, Tally& t) {
    auto fds = open_idle(s.server->port(), t.pick(100, 500), t.verified);
    CHECK(!fds.empty());
}

// SIGKILL of the master: every worker goes with it (PR_SET_PDEATHSIG), then a new stage on the same port.
void kill_master(std::unique_ptr<Stage>& s, Tally& t) {
    const auto workers = s->note_workers();
    s->server->signal(SIGKILL);
    CHECK(s->server->wait_exit_code(5s) == 128 + SIGKILL);
    CHECK(test::eventually([&] { return std::none_of(workers.begin(), workers.end(), test::alive); }, 2s));
    auto broken = s->load->stop();
    INFO("echo-load output:\n" << broken.output);
    // Every connection broke with its worker; what came back before was still right.
    CHECK(broken.count("errors_mismatch") == 0);
    CHECK(broken.count("errors_timeout") == 0);
    t.load_bytes += broken.count("total_bytes");
    t.load_errors += broken.count("errors_mismatch") + broken.count("errors_timeout");
    t.dropped += broken.count("dropped");
    s = std::make_unique<Stage>();
}

}  // namespace

TEST_CASE("soak: random faults under load for --soak DURATION, then every check" * doctest::skip()) {
    const auto duration = soak_duration().value_or(3min);
    Tally t;
    t.rng.seed(soak_seed());
    std::fprintf(stderr, "soak: seed %llu (--seed to replay the same sequence of faults), %.0f s\n",
                 static_cast<unsigned long long>(soak_seed()),
                 std::chrono::duration<double>(duration).count());
    MESSAGE("soak seed " << soak_seed());

    raise_nofile();
    auto stage = std::make_unique<Stage>();
    // Workers of a master the soak SIGKILLed: children of init once orphaned, so reaping them is not this
    // server's job. kill_master checks they died; they are not looked up again at the end, because in an
    // hour pids wrap (pid_max 32768) and a pid of theirs then names some other process.
    std::vector<pid_t> orphaned;
    using Fault = void (*)(Stage&, Tally&);
    const std::vector<std::pair<const char*, Fault>> menu = {
        {"kill-worker", kill_one_worker},
        {"kill-all-workers", kill_all_workers},
        {"signal-storm", signal_storm},
        {"resize", resize},
        {"resets", resets},
        {"half-closes", half_closes},
        {"trickles", trickles},
        {"idle-crowd", idle_crowd},
        {"kill-master", nullptr},
    };
    const auto start = Clock::now();
    const auto deadline = start + duration;
    while (Clock::now() < deadline) {
        // Not a structured binding: clang 14 cannot capture one in CAPTURE's lambda.
        const auto& choice = menu[t.pick(0, menu.size() - 1)];
        const char* name = choice.first;
        const Fault fault = choice.second;
        CAPTURE(name);
        std::fprintf(stderr, "soak: %.1f s: %s\n", ms_since(start) / 1000, name);
        ++t.faults[name];
        if (fault != nullptr) {
            fault(*stage, t);
        } else {
            orphaned.insert(orphaned.end(), stage->seen.begin(), stage->seen.end());
            kill_master(stage, t);
        }
    }

    // The usual checks: the load lost nothing, the count is back, no zombie, one thread each, every
    // descriptor returned, and SIGTERM ends it all with status 0.
    auto summary = stage->load->stop();
    check_load(summary, true);
    t.load_bytes += summary.count("total_bytes");
    t.load_errors += summary.count("errors");
    t.dropped += summary.count("dropped");
    auto after = settle(*stage->server, kWorkers);
    const auto workers = after.workers;
    CHECK_MESSAGE(test::eventually(
                      [&] {
                          return open_fds(stage->server->pid()) == stage->master_fds &&
                                 std::all_of(workers.begin(), workers.end(),
                                             [&](pid_t w) { return open_fds(w) == stage->worker_fds; });
                      },
                      10s),
                  "descriptors: master " << open_fds(stage->server->pid()) << " (was " << stage->master_fds
                                         << "), workers " << total_open_fds(workers) << " (each was "
                                         << stage->worker_fds << ")");
    stage->note_workers();
    const auto& seen = stage->seen;
    stage->server->signal(SIGTERM);
    CHECK(stage->server->wait_exit_code(20s) == 0);
    CHECK(test::all_reaped(seen));

    std::string mix;
    unsigned total = 0;
    for (const auto& [name, n] : t.faults) {
        mix += fmt::format("{}{} {}", mix.empty() ? "" : ", ", n, name);
        total += n;
    }
    report(
        {"soak", fmt::format("{} workers, pingpong {} conns --reconnect", kWorkers, kLoadConnections),
         fmt::format("{:.0f} s, seed {}, {} faults: {}", ms_since(start) / 1000, soak_seed(), total, mix),
         t.load_bytes + t.verified, t.load_errors, after.zombies,
         fmt::format("last server's {} workers all reaped, {} more gone with killed masters; {} load "
                     "connections dropped and reopened; fds back to master {} / worker {}; SIGTERM: exit 0",
                     seen.size(), orphaned.size(), t.dropped, stage->master_fds, stage->worker_fds)});
}
