// test_rotation.cpp: the leave before a graceful stop and what /ready answers (R91), with a fake clock.
#include <doctest/doctest.h>
#include <signal.h>

#include "master/rotation.hpp"
#include "metrics/ready_page.hpp"
#include "worker/load_board.hpp"

using namespace echo;

namespace {

const TimePoint t0{seconds(1000)};

Rotation serving(Duration delay) {
    Rotation r(delay);
    r.announced_ready();
    return r;
}

}  // namespace

TEST_CASE("rotation: not in the rotation before READY=1, whatever the state says") {
    Rotation r(seconds(4));
    CHECK(r.readiness(MasterState::Starting) == Readiness::Starting);
    CHECK(r.readiness(MasterState::Reloading) == Readiness::Starting);  // a SIGHUP before the first READY
    // A SIGTERM then stops at once: no balancer sends it anything yet.
    CHECK(r.on_signal(SIGTERM, MasterState::Starting, t0) == Rotation::Verdict::Pass);
    CHECK_FALSE(r.leaving());
    r.announced_ready();
    CHECK(r.readiness(MasterState::Running) == Readiness::Serving);
    CHECK(r.readiness(MasterState::Reloading) == Readiness::Serving);  // a reload keeps serving
}

TEST_CASE("rotation: a SIGTERM is held for --leave-delay, not ready meanwhile, then handed on once") {
    Rotation r = serving(seconds(4));
    CHECK(r.on_signal(SIGTERM, MasterState::Running, t0) == Rotation::Verdict::Hold);
    CHECK(r.leaving());
    REQUIRE(r.deadline());
    CHECK(*r.deadline() == t0 + seconds(4));
    CHECK(r.readiness(MasterState::Running) == Readiness::Leaving);
    CHECK(r.on_signal(SIGTERM, MasterState::Running, t0 + seconds(1)) == Rotation::Verdict::AlreadyLeaving);
    CHECK(*r.deadline() == t0 + seconds(4));  // a second SIGTERM does not push the stop back
    // Other signals go on to the supervisor: it still reloads, scales and reports while leaving.
    CHECK(r.on_signal(SIGHUP, MasterState::Running, t0 + seconds(1)) == Rotation::Verdict::Pass);
    CHECK(r.on_signal(SIGUSR1, MasterState::Running, t0 + seconds(1)) == Rotation::Verdict::Pass);
    CHECK(r.leaving());
    CHECK_FALSE(r.take_due(t0 + seconds(4) - milliseconds(1)));
    CHECK(r.take_due(t0 + seconds(4)));
    CHECK_FALSE(r.take_due(t0 + seconds(5)));  // once
    CHECK_FALSE(r.deadline());
    CHECK(r.readiness(MasterState::Draining) == Readiness::Stopping);
}

TEST_CASE("rotation: a SIGTERM during a reload leaves too; none is held with a delay of 0 (today's stop)") {
    Rotation r = serving(seconds(2));
    CHECK(r.on_signal(SIGTERM, MasterState::Reloading, t0) == Rotation::Verdict::Hold);
    Rotation none = serving(Duration::zero());
    CHECK(none.on_signal(SIGTERM, MasterState::Running, t0) == Rotation::Verdict::Pass);
    CHECK_FALSE(none.leaving());
}

TEST_CASE("rotation: SIGINT and SIGQUIT are never held, and while leaving they end the leave at once") {
    Rotation r = serving(seconds(4));
    CHECK(r.on_signal(SIGINT, MasterState::Running, t0) == Rotation::Verdict::Pass);
    CHECK(r.on_signal(SIGQUIT, MasterState::Running, t0) == Rotation::Verdict::Pass);
    REQUIRE(r.on_signal(SIGTERM, MasterState::Running, t0) == Rotation::Verdict::Hold);
    CHECK(r.on_signal(SIGINT, MasterState::Running, t0 + seconds(1)) == Rotation::Verdict::Pass);
    CHECK_FALSE(r.leaving());
    CHECK_FALSE(r.take_due(t0 + seconds(10)));  // the supervisor got the SIGINT: no SIGTERM follows
}

TEST_CASE("rotation: a stop the supervisor began is Stopping, even while a leave is pending") {
    Rotation r = serving(seconds(4));
    REQUIRE(r.on_signal(SIGTERM, MasterState::Running, t0) == Rotation::Verdict::Hold);
    CHECK(r.readiness(MasterState::Stopping) == Readiness::Stopping);
    CHECK(r.on_signal(SIGTERM, MasterState::Draining, t0) == Rotation::Verdict::AlreadyLeaving);
}

TEST_CASE("rotation: a reload's new --leave-delay applies to the next SIGTERM") {
    Rotation r = serving(seconds(4));
    r.set_delay(seconds(1));
    REQUIRE(r.on_signal(SIGTERM, MasterState::Running, t0) == Rotation::Verdict::Hold);
    CHECK(*r.deadline() == t0 + seconds(1));
}

TEST_CASE("/ready: 200 only when serving; the board carries the master's readiness to the metrics process") {
    CHECK(ready_answer(Readiness::Serving).status == 200);
    CHECK(ready_answer(Readiness::Starting).status == 503);
    CHECK(ready_answer(Readiness::Leaving).status == 503);
    CHECK(ready_answer(Readiness::Leaving).body == "leaving rotation\n");
    CHECK(ready_answer(Readiness::Stopping).status == 503);
    auto board = LoadBoard::create();
    REQUIRE(board.ok());
    CHECK(board->readiness() == Readiness::Starting);  // a fresh mapping is zero: not ready
    MasterFigures f;
    f.readiness = Readiness::Leaving;
    board->publish_master(f);
    CHECK(board->readiness() == Readiness::Leaving);
    CHECK(board->snapshot().master.readiness == Readiness::Leaving);
}
