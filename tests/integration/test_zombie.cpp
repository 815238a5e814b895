// test_zombie.cpp: the zombie-reproduction mode (R20-R22): the bug on purpose, its cost, its cure.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "fixture.hpp"

using namespace test;

namespace {

std::vector<pid_t> zombies_of(const ServerProcess& server) {
    std::vector<pid_t> out;
    for (pid_t p : server.workers())
        if (proc_state(p) == 'Z') out.push_back(p);
    return out;
}

}  // namespace

TEST_CASE("zombie mode: K worker deaths leave exactly K <defunct> children until SIGUSR2 reaps them all") {
    auto server = start_server({"--workers", "2", "--zombie-mode"});
    std::vector<pid_t> killed;
    for (int round = 0; round < 3; ++round) {
        auto live = std::vector<pid_t>{};
        REQUIRE(eventually(
            [&] {
                live.clear();
                for (pid_t p : server->workers())
                    if (alive(p)) live.push_back(p);
                return live.size() == 2;
            },
            20s));
        for (pid_t p : live)
            kill(p, SIGKILL);
        REQUIRE(
            eventually([&] { return std::none_of(live.begin(), live.end(), alive); }, 5s));  // dead: now Z
        killed.insert(killed.end(), live.begin(), live.end());
    }
    CHECK(eventually([&] { return zombies_of(*server).size() == 6; }, 10s));
    auto zombies = zombies_of(*server);
    std::sort(zombies.begin(), zombies.end());
    std::sort(killed.begin(), killed.end());
    CHECK(zombies == killed);
    CHECK(server->log().find("is gone and NOT reaped (zombie mode)") != std::string::npos);
    server->signal(SIGUSR1);
    CHECK(server->wait_for_log("6 zombies", 5s) >= 0);

    server->signal(SIGUSR2);
    CHECK(server->wait_for_log("SIGUSR2: reaped 6 zombie(s)", 5s) >= 0);
    CHECK(zombies_of(*server).empty());
    for (pid_t z : killed)
        CHECK(!proc_state(z));
    CHECK(echo_once(server->port(), "alive") == "alive");
}

TEST_CASE(
    "zombie mode's cost: zombies exhaust RLIMIT_NPROC, fork fails with EAGAIN, and the master stays "
    "bounded") {
    ServerOptions options;
    options.uid = kUidZombieCost;
    options.nproc = 6;
    auto server =
        start_server({"--workers", "2", "--zombie-mode", "--zombie-worker-lifetime", "300ms"}, options);
    CHECK(server->wait_for_log("fork() failed while spawning worker", 20s) >= 0);
    CHECK(server->wait_for_log("unreaped zombie(s) count against RLIMIT_NPROC", 5s) >= 0);
    CHECK(server->workers().size() <= 5);  // never more than the limit allows: no fork bomb
    // The cure at stop: every zombie reaped, every worker gone, exit 0.
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(20s) == 0);
    CHECK(server->log().find("reaping") != std::string::npos);
}

TEST_CASE("zombie mode: when the master dies its zombies are reparented and reaped by the new parent") {
    // This test process becomes the subreaper, standing in for init: orphans come to it.
    REQUIRE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    auto server = start_server({"--workers", "2", "--zombie-mode"});
    auto workers = wait_for_workers(*server, 2);
    for (pid_t p : workers)
        kill(p, SIGKILL);
    REQUIRE(eventually([&] { return zombies_of(*server).size() == 2; }, 10s));
    server->signal(SIGKILL);
    REQUIRE(server->wait_exit_code(5s) == 128 + SIGKILL);
    std::size_t reaped = 0;
    eventually(
        [&] {
            for (pid_t z : workers)
                if (waitpid(z, nullptr, WNOHANG) == z) ++reaped;
            return reaped == workers.size();
        },
        5s);
    CHECK(reaped == 2);
    // The replacements, orphaned too, die with the master (PDEATHSIG) and are reaped the same way.
    for (pid_t p : workers)
        CHECK(!proc_state(p));
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}
