// test_supervisor_upgrade.cpp: the supervisor's part of a binary upgrade (R61): handing everything to a new
// master retires every worker with HandOver, replaces none, and ends with exit status 0.
#include "supervisor_harness.hpp"

using namespace echo;
using namespace echo::testing;
using St = MasterState;

TEST_CASE("supervisor upgrade: every worker hands over, none is replaced, the master exits 0") {
    auto h = in_state(St::Running);
    auto a = h.run(h.sup.hand_to_successor(h.now));
    CHECK(h.sup.state() == St::Upgrading);
    CHECK(hand_overs(a, 100) == 1);
    CHECK(hand_overs(a, 101) == 1);
    CHECK(signals_sent(a, SIGTERM) == 0);                // a drain would close idle connections
    CHECK(count(a, Action::Kind::CloseListeners) == 0);  // the new master accepts on them already
    CHECK(count(a, Action::Kind::Spawn) == 0);
    CHECK(logged(a, "upgrade: the new master serves; handing over 2 worker(s)' connections") == 1);
    auto e = h.exit(100, exited_with(0));
    CHECK(count(e, Action::Kind::Spawn) == 0);
    CHECK_FALSE(h.sup.finished());
    h.exit(101, exited_with(0));
    CHECK(h.sup.finished());
    CHECK(h.sup.exit_code() == 0);
}

TEST_CASE("supervisor upgrade: a worker that dies while handing over is not replaced") {
    auto h = in_state(St::Upgrading);
    auto a = h.exit(100, killed_by(SIGKILL));
    CHECK(count(a, Action::Kind::Spawn) == 0);
    CHECK(h.sup.state() == St::Upgrading);
}

TEST_CASE("supervisor upgrade: a reload's new workers are handed over too") {
    auto h = in_state(St::Reloading);  // 102 forked for slot 0, not yet ready
    auto a = h.run(h.sup.hand_to_successor(h.now));
    CHECK(hand_overs(a, 100) == 1);
    CHECK(hand_overs(a, 101) == 1);
    CHECK(hand_overs(a, 102) == 1);
    CHECK(h.sup.state() == St::Upgrading);
}
