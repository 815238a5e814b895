// test_oom_score.cpp: R96's ordering for the OOM killer: every child of the master (first workers,
// replacements, SIGTTIN's, a reload's, the metrics process) has a higher oom_score_adj than the master, and
// the master keeps the value it was started with. The OOM kill itself, in a memory cgroup:
// runbook/oom-cgroup.sh.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "fixture.hpp"

using namespace test;

namespace {

int oom_score_adj(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/oom_score_adj");
    int v = -9999;
    in >> v;
    return v;
}

// What the server was started with: it inherits this process's value.
int started_with() {
    return oom_score_adj(getpid());
}

int child_value() {
    return std::min(started_with() + 500, 1000);
}

bool all_children_above(const std::vector<pid_t>& pids) {
    return std::all_of(pids.begin(), pids.end(), [](pid_t p) { return oom_score_adj(p) == child_value(); });
}

}  // namespace

TEST_CASE("workers, their replacements and the metrics process score above the master for the OOM killer") {
    if (started_with() >= 1000) {
        MESSAGE("this test runs at oom_score_adj 1000: nothing can score above it");
        return;
    }
    auto server = start_server({"--workers", "2", "--metrics-listen", "127.0.0.1:0"});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    CHECK(oom_score_adj(server->pid()) == started_with());
    for (pid_t w : workers)
        CHECK_MESSAGE(oom_score_adj(w) == child_value(), "worker " << w);
    REQUIRE(eventually([&] { return server->metrics_process().has_value(); }, 5s));
    CHECK(oom_score_adj(*server->metrics_process()) == child_value());

    // A replacement after a death, and a worker more on SIGTTIN.
    REQUIRE(kill(workers[0], SIGKILL) == 0);
    CHECK(eventually(
        [&] {
            auto now = server->workers();
            return now.size() == 2 && std::find(now.begin(), now.end(), workers[0]) == now.end();
        },
        5s));
    server->signal(SIGTTIN);
    auto three = wait_for_workers(*server, 3);
    REQUIRE(three.size() == 3);
    CHECK(all_children_above(three));

    // A rolling reload forks every worker anew (back to --workers 2: the configuration is read again).
    server->signal(SIGHUP);
    REQUIRE(server->wait_for_log("reload", 10s) >= 0);
    CHECK(eventually(
        [&] {
            auto now = server->workers();
            return now.size() == 2 && std::none_of(now.begin(), now.end(), [&](pid_t p) {
                       return std::find(three.begin(), three.end(), p) != three.end();
                   });
        },
        15s));
    CHECK(all_children_above(server->workers()));
    // The master lowered its own value back after every one of those forks.
    CHECK(oom_score_adj(server->pid()) == started_with());
    CHECK(server->log().find("oom_score_adj") == std::string::npos);  // no warning: every write succeeded
    CHECK(echo_once(server->port(), "scored") == "scored");
}
