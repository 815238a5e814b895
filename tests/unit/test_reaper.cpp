// test_reaper.cpp: the waitpid loop collects every exited child, however many SIGCHLDs coalesced.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "os/reaper.hpp"

using namespace echo;

TEST_CASE("reap_exited_children collects all exits and their statuses") {
    std::vector<pid_t> pids;
    for (int i = 0; i < 5; ++i) {
        pid_t p = fork();
        REQUIRE(p >= 0);
        if (p == 0) _exit(10 + i);
        pids.push_back(p);
    }
    pid_t killed = fork();
    REQUIRE(killed >= 0);
    if (killed == 0) {
        pause();
        _exit(0);
    }
    kill(killed, SIGKILL);
    pids.push_back(killed);

    std::vector<ChildExit> all;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (all.size() < pids.size() && std::chrono::steady_clock::now() < deadline) {
        auto got = reap_exited_children();
        all.insert(all.end(), got.begin(), got.end());
        if (all.size() < pids.size()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(all.size() == pids.size());
    for (auto& e : all) {
        auto i = std::find(pids.begin(), pids.end(), e.pid) - pids.begin();
        if (e.pid == killed) {
            CHECK(describe_exit(e.status) == "killed by signal 9 (SIGKILL)");
        } else {
            CHECK(describe_exit(e.status) == "exited with status " + std::to_string(10 + i));
        }
    }
    CHECK(reap_exited_children().empty());  // ECHILD: nothing left, no error
}
