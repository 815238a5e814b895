// test_supervisor_workers.cpp: the supervisor's table, one test per cell: every state against every worker
// event (ready, heartbeat, exit, hang, channel closed, fork failed) and the stop deadline; and the table's
// own properties (every cell defined, docs/ARCHITECTURE.md in step with it).
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "supervisor_harness.hpp"

using namespace echo;
using namespace echo::testing;
using St = MasterState;

// ---- ready ----
namespace ready {
void check(St state) {
    auto h = in_state(state);
    if (state == St::Starting) {
        h.ready(100);
        CHECK(h.sup.state() == St::Starting);  // READY=1 only once every slot serves
        auto a = h.ready(101);
        CHECK(h.sup.state() == St::Running);
        CHECK(logged(a, "ready: 2 workers accepting on 127.0.0.1:7007") == 1);
        CHECK(count(a, Action::Kind::NotifyReady) == 1);
        return;
    }
    if (state == St::Running) {  // a replacement after a crash: how long the slot was empty is logged
        h.exit(100, killed_by(SIGKILL));
        h.now += milliseconds(5);
        auto a = h.ready(102);
        CHECK(logged(a, "worker 0 (pid 102) is accepting: the slot was empty for 5.0 ms") == 1);
        CHECK(h.sup.state() == St::Running);
        return;
    }
    if (state == St::Reloading) {
        auto a = h.ready(102);
        CHECK(logged(a, "retiring worker 0 (pid 100): replaced by reload") == 1);
        return;
    }
    auto a = h.report(100, WorkerReport::Kind::Ready, 7);  // retiring: recorded, never serving again
    CHECK(a.empty());
    CHECK(h.sup.status_line().find("0/2 workers serving, 7 connections open") != std::string::npos);
}
SUPERVISOR_CELLS("ready")
}  // namespace ready

// ---- heartbeat ----
namespace heartbeat {
void check(St state) {
    auto h = in_state(state);
    h.now += seconds(20);
    auto a = h.report(100, WorkerReport::Kind::Heartbeat, 3);
    CHECK(count(a, Action::Kind::Spawn) + count(a, Action::Kind::Signal) == 0);
    CHECK(h.sup.status_line().find("3 connections open") != std::string::npos);
    // Worker 100's window starts again; 101 sent nothing, so its deadline is the earliest.
    auto next = h.sup.next_deadline();
    REQUIRE(next.has_value());
    if (!stopping(state)) CHECK(*next == h.now - seconds(20) + seconds(30));
}
SUPERVISOR_CELLS("heartbeat")
}  // namespace heartbeat

// ---- exit ----
namespace exit_event {
void check(St state) {
    auto h = in_state(state);
    auto a = h.exit(100, killed_by(SIGKILL));
    if (!stopping(state)) {
        CHECK(logged(a, "worker 0 (pid 100) killed by signal 9 (SIGKILL) unexpectedly") == 1);
        CHECK(count(a, Action::Kind::Spawn) == 1);  // one death is an accident: replaced at once
        CHECK(h.sup.status_line().find("1 restarts") != std::string::npos);
        CHECK(!h.sup.finished());
        return;
    }
    CHECK(logged(a, "worker 0 (pid 100) killed by signal 9 (SIGKILL)") == 1);
    CHECK(logged(a, "unexpectedly") == 0);
    CHECK(count(a, Action::Kind::Spawn) == 0);
    CHECK(!h.sup.finished());
    h.exit(101, exited_with(0));
    CHECK(h.sup.finished());
    CHECK(h.sup.exit_code() == 0);
}
SUPERVISOR_CELLS("exit")
}  // namespace exit_event

TEST_CASE("supervisor: quick deaths in a row back off, then log a crash loop") {
    auto h = in_state(St::Running);
    h.exit(100, exited_with(1));  // replaced at once by 102
    auto a = h.exit(102, exited_with(1));
    CHECK(count(a, Action::Kind::Spawn) == 0);  // the second quick death waits kBackoffBase
    a = h.tick_after(milliseconds(200));
    CHECK(count(a, Action::Kind::Spawn) == 1);
    a = h.exit(103, exited_with(1));
    CHECK(logged(a, "worker 0 is crash-looping: 3 exits in a row") == 1);
}

TEST_CASE(
    "supervisor: a worker that exits with the fatal status is not restarted; all fatal ends the master") {
    auto h = in_state(St::Starting);
    auto a = h.exit(100, exited_with(78));
    CHECK(logged(a, "worker 0 failed at start-up in a way a restart cannot fix") == 1);
    CHECK(count(a, Action::Kind::Spawn) == 0);
    a = h.exit(101, exited_with(78));
    CHECK(logged(a, "every worker failed with a fatal start-up error; exiting") == 1);
    CHECK(h.sup.finished());
    CHECK(h.sup.exit_code() == 1);
}

TEST_CASE("supervisor: a reaped child that is no worker is said and otherwise ignored") {
    auto h = in_state(St::Running);
    auto a = h.exit(4242, exited_with(0));
    CHECK(ignored_and_logged_once(a, "reaped child pid 4242 that was not a worker"));
}

// ---- hang ----
namespace hang {
void check(St state) {
    SupervisorSettings s = default_settings();
    s.worker_timeout = seconds(1);  // sooner than any stop deadline
    auto h = in_state(state, s);
    auto a = h.tick_after(milliseconds(1500));
    CHECK(signals_sent(a, SIGKILL) == h.pids().size());
    CHECK(logged(a, "sent no heartbeat for 1.5s (--worker-timeout 1.0s): killing it") == h.pids().size());
    auto again = h.tick_after(milliseconds(100));  // killed once, not at every tick
    CHECK(signals_sent(again, SIGKILL) == 0);
    auto e = h.exit(100, killed_by(SIGKILL));
    CHECK(logged(e, "(killed as hung)") == 1);
}
SUPERVISOR_CELLS("hang")
}  // namespace hang

TEST_CASE("supervisor: after the master itself stalled, heartbeat windows start again") {
    auto h = in_state(St::Running);
    h.now += seconds(60);
    h.sup.restart_heartbeat_windows(h.now);
    auto a = h.tick_after(milliseconds(1));
    CHECK(signals_sent(a, SIGKILL) == 0);
}

// ---- channel closed ----
namespace channel_closed {
void check(St state) {
    auto plain = in_state(state);
    CHECK(plain.run(plain.sup.on_channel_closed(100, plain.now)).empty());  // SIGCHLD brings its exit
    CHECK(plain.pids().size() >= 2);

    SupervisorSettings zombie = default_settings();
    zombie.zombie_mode = true;
    auto h = in_state(state, zombie);
    auto a = h.run(h.sup.on_channel_closed(100, h.now));
    if (stopping(state)) {
        CHECK(a.empty());  // a stop reaps everything
        return;
    }
    CHECK(logged(a, "worker 0 (pid 100) is gone and NOT reaped (zombie mode): it stays <defunct>") == 1);
    CHECK(count(a, Action::Kind::Spawn) == 1);
    CHECK(h.sup.status_line().find("1 zombies") != std::string::npos);
    auto reaped = h.run(h.sup.on_reaped({{100, exited_with(0)}}, SIGUSR2, h.now));
    CHECK(logged(reaped, "reaped zombie pid 100: exited with status 0") == 1);
    CHECK(logged(reaped, "SIGUSR2: reaped 1 zombie(s)") == 1);
}
SUPERVISOR_CELLS("channel closed")
}  // namespace channel_closed

// ---- fork failed ----
namespace fork_failed {
void check(St state) {
    auto h = in_state(state);
    auto a = h.run(h.sup.on_fork_failed(1, -EAGAIN, h.now));
    if (ignored_in_this_state(stopping(state), a, "fork failed: ignored while")) return;
    CHECK(
        logged(a,
               "fork() failed while spawning worker 1: Resource temporarily unavailable; retrying in 0.2s") ==
        1);
    CHECK(count(a, Action::Kind::Spawn) == 0);
}
SUPERVISOR_CELLS("fork failed")
}  // namespace fork_failed

TEST_CASE("supervisor: a slot whose fork failed is retried after its back-off") {
    auto h = in_state(St::Running);
    h.fork_fails = true;
    h.exit(101, killed_by(SIGKILL));  // replaced at once: that fork fails
    CHECK(logged(h.seen, "fork() failed while spawning worker 1") == 1);
    h.fork_fails = false;
    auto a = h.tick_after(milliseconds(100));
    CHECK(count(a, Action::Kind::Spawn) == 0);
    a = h.tick_after(milliseconds(100));
    CHECK(count(a, Action::Kind::Spawn) == 1);
}

// ---- stop deadline ----
namespace stop_deadline {
void check(St state) {
    SupervisorSettings s = default_settings();
    s.worker_timeout = Duration::zero();  // only the stop deadline can kill
    auto h = in_state(state, s);
    auto a = h.tick_after(seconds(13));  // past --drain-timeout + 2 s and the fast stop's 2 s
    if (!stopping(state)) {
        CHECK(signals_sent(a, SIGKILL) == 0);  // no stop, no deadline
        return;
    }
    CHECK(signals_sent(a, SIGKILL) == 2);
    CHECK(logged(a, "outlived the stop deadline: sending SIGKILL") == 2);
    h.exit(100, killed_by(SIGKILL));
    h.exit(101, killed_by(SIGKILL));
    CHECK(h.sup.finished());
    CHECK(h.sup.exit_code() == 3);
}
SUPERVISOR_CELLS("stop deadline")
}  // namespace stop_deadline

// ---- the table itself ----
TEST_CASE("supervisor: every cell of the table is defined") {
    for (std::size_t s = 0; s < kMasterStates; ++s)
        for (std::size_t e = 0; e < kMasterEvents; ++e)
            CHECK(!Supervisor::cell_text(static_cast<MasterState>(s), static_cast<MasterEvent>(e)).empty());
}

TEST_CASE("supervisor: docs/ARCHITECTURE.md shows the table the supervisor runs") {
    std::ifstream doc(ECHO_ARCHITECTURE_MD);
    REQUIRE(doc.good());
    std::stringstream text;
    text << doc.rdbuf();
    std::string all = text.str();
    const std::string begin = "<!-- supervisor-table:begin -->\n", end = "<!-- supervisor-table:end -->";
    auto b = all.find(begin), e = all.find(end);
    REQUIRE(b != std::string::npos);
    REQUIRE(e != std::string::npos);
    std::string shown = all.substr(b + begin.size(), e - b - begin.size());
    // On a mismatch, the expected text is printed: paste it between the markers.
    CHECK_MESSAGE(shown == Supervisor::table_markdown(), "expected:\n" << Supervisor::table_markdown());
}

TEST_CASE("supervisor: the zombie demonstration announces itself at start, once") {
    SupervisorSettings zombie = default_settings();
    zombie.zombie_mode = true;
    Harness h(zombie);
    CHECK(logged(h.seen, "zombie mode: exited workers will NOT be reaped") == 1);
    CHECK(logged(h.seen, "starting 2 worker(s)") == 1);
    CHECK(logged(Harness().seen, "zombie mode") == 0);
}
