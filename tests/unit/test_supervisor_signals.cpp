// test_supervisor_signals.cpp: the supervisor's table, one test per cell: every state against every signal.
#include <doctest/doctest.h>

#include "supervisor_harness.hpp"

using namespace echo;
using namespace echo::testing;
using St = MasterState;

// ---- SIGCHLD ----
namespace sigchld {
void check(St state) {
    auto [h, a] = signalled(state, SIGCHLD);
    CHECK(count(a, Action::Kind::Reap) == 1);
    CHECK(h.sup.state() == state);
    // The zombie demonstration holds exits only while serving; a stop always reaps.
    SupervisorSettings zombie = default_settings();
    zombie.zombie_mode = true;
    auto z = in_state(state, zombie);
    auto za = z.signal(SIGCHLD);
    bool serving = !stopping(state);
    CHECK(count(za, Action::Kind::Reap) == (serving ? 0u : 1u));
    if (serving) CHECK(logged(za, "SIGCHLD: not reaping (zombie mode)") == 1);
}
SUPERVISOR_CELLS("SIGCHLD")
}  // namespace sigchld

// ---- SIGTERM ----
namespace sigterm {
void check(St state) {
    auto h = in_state(state);
    auto before = h.pids();
    auto a = h.signal(SIGTERM);
    if (stopping(state)) {
        CHECK(ignored_and_logged_once(a, std::string("SIGTERM: already ") + std::string(state_name(state))));
        CHECK(h.sup.state() == state);
        return;
    }
    CHECK(h.sup.state() == St::Draining);
    CHECK(count(a, Action::Kind::CloseListeners) == 1);
    CHECK(signals_sent(a, SIGTERM) == before.size());
    CHECK(count(a, Action::Kind::NotifyStopping) == 1);
    CHECK(count(a, Action::Kind::Spawn) == 0);
    CHECK(logged(a, "SIGTERM: graceful stop of") == 1);
}
SUPERVISOR_CELLS("SIGTERM")
}  // namespace sigterm

// ---- SIGINT ----
namespace sigint {
void check(St state) {
    auto [h, a] = signalled(state, SIGINT);
    if (state == St::Upgrading) {  // the new master is the one to stop
        CHECK(ignored_and_logged_once(a, "SIGINT: already upgrading"));
        return;
    }
    if (ignored_in_this_state(state == St::Stopping, a, "SIGINT: already stopping")) return;
    if (state == St::Draining) {  // a second ^C: the operator does not want to wait
        CHECK(h.sup.state() == St::Stopping);
        CHECK(signals_sent(a, SIGQUIT) == 2);
        CHECK(logged(a, "SIGINT: fast stop") == 1);
        return;
    }
    CHECK(h.sup.state() == St::Draining);
    CHECK(signals_sent(a, SIGTERM) == h.pids().size());
}
SUPERVISOR_CELLS("SIGINT")
}  // namespace sigint

// ---- SIGQUIT ----
namespace sigquit {
void check(St state) {
    auto [h, a] = signalled(state, SIGQUIT);
    if (state == St::Upgrading) {
        CHECK(ignored_and_logged_once(a, "SIGQUIT: already upgrading"));
        CHECK(h.sup.state() == St::Upgrading);
        return;
    }
    if (ignored_in_this_state(state == St::Stopping, a, "SIGQUIT: already stopping"))
        return;  // silently dropped before
    CHECK(h.sup.state() == St::Stopping);
    CHECK(signals_sent(a, SIGQUIT) == h.pids().size());
    CHECK(count(a, Action::Kind::CloseListeners) == 1);
    CHECK(logged(a, "SIGQUIT: fast stop") == 1);
}
SUPERVISOR_CELLS("SIGQUIT")
}  // namespace sigquit

// ---- SIGHUP ----
namespace sighup {
void check(St state) {
    auto [h, a] = signalled(state, SIGHUP);
    if (ignored_in_this_state(stopping(state), a,
                              std::string("SIGHUP: ignored while ") + std::string(state_name(state))))
        return;
    CHECK(count(a, Action::Kind::NotifyReloading) == 1);
    CHECK(count(a, Action::Kind::ReloadConfig) == 1);
    CHECK(h.sup.state() == St::Reloading);
    // Slot 0's new worker starts beside the old one; nothing is retired before it serves.
    CHECK(count(a, Action::Kind::Spawn) == 1);
    CHECK(signals_sent(a, SIGTERM) == 0);
    CHECK(count(a, Action::Kind::HandOver) == 0);
}
SUPERVISOR_CELLS("SIGHUP")
}  // namespace sighup

TEST_CASE("supervisor: a reload that fails keeps the configuration and announces READY=1 again") {
    auto h = in_state(St::Running);
    auto a = h.run(h.sup.on_reload_failed("bad value", h.now));
    CHECK(logged(a, "SIGHUP: reload failed: bad value; keeping the current configuration") == 1);
    CHECK(count(a, Action::Kind::NotifyReady) == 1);
    CHECK(h.sup.state() == St::Running);
}

TEST_CASE("supervisor: a reload completes slot by slot, then READY=1") {
    auto h = in_state(St::Reloading);
    auto a = h.ready(102);  // slot 0's new worker serves: 100 retires, slot 1's new worker starts
    // Retired by handing its connections over (R60), never by SIGTERM, whose drain would close idle ones.
    CHECK(hand_overs(a, 100) == 1);
    CHECK(signals_sent(a, SIGTERM) == 0);
    CHECK(count(a, Action::Kind::Spawn) == 1);
    a = h.ready(103);
    CHECK(hand_overs(a, 101) == 1);
    CHECK(logged(a, "reload complete: 2 worker(s) of generation 1") == 1);
    CHECK(count(a, Action::Kind::NotifyReady) == 1);
    CHECK(h.sup.state() == St::Running);
}

// ---- SIGTTIN / SIGTTOU ----
namespace scaling {
// One worker more or fewer: ignored, and said, while stopping (they were dropped silently before).
void check_scale(St state, int signo) {
    auto h = in_state(state);
    auto a = h.signal(signo);
    std::string name = signo == SIGTTIN ? "SIGTTIN" : "SIGTTOU";
    if (stopping(state)) {
        CHECK(ignored_and_logged_once(a, name + ": ignored while"));
        CHECK(h.sup.target() == 2);
        return;
    }
    if (signo == SIGTTIN) {
        CHECK(h.sup.target() == 3);
        CHECK(logged(a, "SIGTTIN: 2 workers -> 3") == 1);
        CHECK(count(a, Action::Kind::Spawn) == 1);
        return;
    }
    CHECK(h.sup.target() == 1);
    CHECK(logged(a, "retiring worker 1 (pid 101): scaling down") == 1);
    CHECK(hand_overs(a, 101) == 1);
    CHECK(signals_sent(a, SIGTERM) == 0);
    CHECK(logged(h.signal(SIGTTOU), "SIGTTOU: already at 1 worker(s), ignoring") == 1);
    CHECK(h.sup.target() == 1);
}
}  // namespace scaling
namespace sigttin {
void check(St state) {
    scaling::check_scale(state, SIGTTIN);
}
SUPERVISOR_CELLS("SIGTTIN")
}  // namespace sigttin
namespace sigttou {
void check(St state) {
    scaling::check_scale(state, SIGTTOU);
}
SUPERVISOR_CELLS("SIGTTOU")
}  // namespace sigttou

// ---- SIGUSR1 / SIGUSR2 ----
namespace sigusr1 {
void check(St state) {
    auto [h, a] = signalled(state, SIGUSR1);
    CHECK(logged(a, std::string("status: ") + std::string(state_name(state))) == 1);
    CHECK(logged(a, "  worker 0 pid 100") == 1);
    CHECK(count(a, Action::Kind::Log) == a.size());  // it only tells
    CHECK(h.sup.state() == state);
}
SUPERVISOR_CELLS("SIGUSR1")
}  // namespace sigusr1

namespace sigusr2 {
void check(St state) {
    SupervisorSettings zombie = default_settings();
    zombie.zombie_mode = true;
    auto h = in_state(state, zombie);
    auto a = h.signal(SIGUSR2);
    REQUIRE(count(a, Action::Kind::Reap) == 1);
    auto reap = std::find_if(a.begin(), a.end(), [](auto& x) { return x.kind == Action::Kind::Reap; });
    CHECK(reap->signo == SIGUSR2);
    auto told = h.run(h.sup.on_reaped({}, SIGUSR2, h.now));
    CHECK(logged(told, "SIGUSR2: reaped 0 zombie(s)") == 1);
}
SUPERVISOR_CELLS("SIGUSR2")
}  // namespace sigusr2

TEST_CASE("supervisor: a signal outside the master's set is said, not acted on") {
    auto h = in_state(St::Running);
    auto a = h.signal(SIGWINCH);
    CHECK(ignored_and_logged_once(a, "SIGWINCH: not handled"));
}
