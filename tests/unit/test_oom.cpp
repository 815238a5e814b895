// test_oom.cpp: R96 in the master: where the OOM-kill count is read from, how it is parsed, and which deaths
// the supervisor calls OOM kills; and the OOM score a forked child starts with.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "os/oom_kills.hpp"
#include "os/oom_score.hpp"
#include "os/spawn.hpp"
#include "supervisor_harness.hpp"

using namespace echo;
using namespace echo::testing;

namespace {

int read_oom_score_adj(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/oom_score_adj");
    int v = -9999;
    in >> v;
    return v;
}

std::size_t oom_events(const Actions& actions) {
    return static_cast<std::size_t>(std::count_if(actions.begin(), actions.end(), [](const Action& a) {
        return a.kind == Action::Kind::Log && a.fields.event == LogEvent::OomKill;
    }));
}

}  // namespace

TEST_CASE("oom_kill count files: cgroup v2 first (unified and hybrid mounts), then v1's memory hierarchy") {
    auto files =
        oom_kill_count_files("12:pids:/x\n4:cpu,memory:/process_api/abc\n0::/system.slice/e.service\n");
    REQUIRE(files.size() == 3);
    CHECK(files[0] == "/sys/fs/cgroup/system.slice/e.service/memory.events");
    CHECK(files[1] == "/sys/fs/cgroup/unified/system.slice/e.service/memory.events");
    CHECK(files[2] == "/sys/fs/cgroup/memory/process_api/abc/memory.oom_control");
    // The root cgroup ("/") gives no "//"; a name=systemd line is no memory hierarchy; junk lines are
    // skipped.
    files = oom_kill_count_files("1:name=systemd:/\nnonsense\n0::/\n");
    REQUIRE(files.size() == 2);
    CHECK(files[0] == "/sys/fs/cgroup/memory.events");
    CHECK(oom_kill_count_files("").empty());
}

TEST_CASE("the oom_kill line of memory.events and memory.oom_control, and nothing like it") {
    CHECK(parse_oom_kill_count("low 0\nhigh 3\nmax 9\noom 2\noom_kill 2\noom_group_kill 0\n") == 2u);
    CHECK(parse_oom_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 17") == 17u);
    CHECK_FALSE(parse_oom_kill_count("oom_kill_disable 0\nunder_oom 0\n").has_value());  // before Linux 4.13
    CHECK_FALSE(parse_oom_kill_count("oom_kill x\n").has_value());
    CHECK_FALSE(parse_oom_kill_count("").has_value());
}

TEST_CASE("a SIGKILL the cgroup counted is an OOM kill, one it did not count is only unexpected") {
    auto h = in_state(MasterState::Running);
    auto a = h.run(h.sup.on_reaped({{100, killed_by(SIGKILL)}}, 0, h.now, 1));
    CHECK(oom_events(a) == 1);
    CHECK(logged(a, "worker 0 (pid 100) was killed by the kernel's OOM killer") == 1);
    CHECK(logged(a, "worker 0 (pid 100) killed by signal 9 (SIGKILL) unexpectedly") == 1);  // WorkerDied too
    CHECK(count(a, Action::Kind::Spawn) == 1);  // replaced like any other death
    CHECK(h.sup.oom_killed() == 1);

    a = h.run(h.sup.on_reaped({{101, killed_by(SIGKILL)}}, 0, h.now, 0));  // counted nothing: someone's kill
    CHECK(oom_events(a) == 0);
    a = h.run(h.sup.on_reaped({{102, killed_by(SIGKILL)}}, 0, h.now, std::nullopt));  // cannot tell
    CHECK(oom_events(a) == 0);
    CHECK(h.sup.oom_killed() == 1);
}

TEST_CASE(
    "one counted kill names one worker, a SIGSEGV is never one, and a hung worker's kill is the master's") {
    auto h = in_state(MasterState::Running);
    auto a = h.run(h.sup.on_reaped({{100, killed_by(SIGSEGV)}, {101, killed_by(SIGKILL)}}, 0, h.now, 1));
    CHECK(oom_events(a) == 1);
    CHECK(logged(a, "(pid 101) was killed by the kernel's OOM killer") == 1);
    h.ready_all();
    a = h.run(h.sup.on_reaped({{102, killed_by(SIGKILL)}, {103, killed_by(SIGKILL)}}, 0, h.now, 1));
    CHECK(oom_events(a) == 1);
}

TEST_CASE("a hung worker's SIGKILL is the master's own, whatever the count, and no count carries over") {
    auto h = in_state(MasterState::Running);
    h.tick_after(seconds(31));  // both heartbeats overdue: the master SIGKILLs 100 and 101 itself
    auto a = h.run(h.sup.on_reaped({{100, killed_by(SIGKILL)}, {101, killed_by(SIGKILL)}}, 0, h.now, 2));
    CHECK(logged(a, "(killed as hung)") == 2);
    CHECK(oom_events(a) == 0);
    auto replacement = h.pids();
    REQUIRE(!replacement.empty());
    a = h.run(h.sup.on_reaped({{replacement[0], killed_by(SIGKILL)}}, 0, h.now, 0));
    CHECK(logged(a, "unexpectedly") == 1);
    CHECK(oom_events(a) == 0);
}

TEST_CASE(
    "a child forked with the master's OomScore starts above it, and the master's own value comes back") {
    OomScore score = OomScore::open();
    REQUIRE(score.master_value().has_value());
    int before = read_oom_score_adj(getpid());
    CHECK(before == *score.master_value());
    if (!score.child_value()) {
        MESSAGE("oom_score_adj is already 1000 here: nothing higher to give");
        return;
    }
    CHECK(*score.child_value() == std::min(before + kChildOomScoreBoost, 1000));
    auto child = spawn_child(
        [](UniqueFd channel) {
            pollfd p{channel.get(), POLLIN, 0};  // waits (bounded) for the parent's look at it
            char b = 0;
            return poll(&p, 1, 10000) == 1 && read(channel.get(), &b, 1) == 1 ? 0 : 1;
        },
        &score);
    REQUIRE(child.ok());
    CHECK(read_oom_score_adj(child->pid) == *score.child_value());
    CHECK(read_oom_score_adj(getpid()) == before);
    char go = 1;
    CHECK(write(child->channel.get(), &go, 1) == 1);
    int status = 0;
    REQUIRE(waitpid(child->pid, &status, 0) == child->pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
