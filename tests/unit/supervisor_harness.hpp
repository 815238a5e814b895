// supervisor_harness.hpp: drives the supervisor as the master's loop would, with a fake clock and no fork.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <string>
#include <utility>

#include <doctest/doctest.h>

#include "master/supervisor.hpp"

namespace echo::testing {

inline SupervisorSettings default_settings() {
    SupervisorSettings s;
    s.workers = 2;
    s.worker_timeout = seconds(30);
    s.drain_timeout = seconds(10);
    return s;
}

inline int killed_by(int signo) {
    return signo;  // a wait status: WIFSIGNALED with WTERMSIG == signo, no core
}
inline int exited_with(int code) {
    return (code & 0xff) << 8;
}

// Carries out actions as the loop does, except that forks are fake: each Spawn "succeeds" with the next pid.
// Everything the supervisor returned, reconcile's answers to the fake spawns included, is kept in `seen`.
struct Harness {
    TimePoint now = TimePoint{} + seconds(1000);
    SupervisorSettings settings;
    Supervisor sup;
    pid_t next_pid = 100;
    bool fork_fails = false;
    Actions seen;
    int depth = 0;

    explicit Harness(SupervisorSettings s = default_settings()) : settings(s), sup(s, "127.0.0.1:7007") {
        run(sup.start(now));
    }

    // Carries out `actions` and returns them, with what they led to, as one list.
    Actions run(Actions actions) {
        ++depth;
        Actions all;
        for (const Action& a : actions) {
            all.push_back(a);
            Actions more;
            if (a.kind == Action::Kind::Spawn)
                more = fork_fails ? sup.on_fork_failed(a.slot, -EAGAIN, now)
                                  : sup.on_spawned(a.slot, next_pid++, now);
            if (a.kind == Action::Kind::ReloadConfig) more = sup.on_reloaded(settings, now);
            Actions deeper = run(more);
            all.insert(all.end(), deeper.begin(), deeper.end());
        }
        if (--depth == 0) seen.insert(seen.end(), all.begin(), all.end());
        return all;
    }

    Actions signal(int signo) { return run(sup.on_signal(signo, now)); }
    Actions report(pid_t pid, WorkerReport::Kind kind, std::uint32_t open = 0) {
        return run(sup.on_report(pid, {kind, open, open, 0}, now));
    }
    Actions ready(pid_t pid) { return report(pid, WorkerReport::Kind::Ready); }
    Actions exit(pid_t pid, int status) { return run(sup.on_reaped({{pid, status}}, 0, now)); }
    Actions tick_after(Duration d) {
        now += d;
        return run(sup.on_tick(now));
    }
    void ready_all() {
        for (const auto& w : std::vector<WorkerProcess>(sup.workers().all()))
            if (w.phase == WorkerPhase::Starting) ready(w.pid);
    }
    std::vector<pid_t> pids() const {
        std::vector<pid_t> out;
        for (const auto& w : sup.workers().all())
            out.push_back(w.pid);
        return out;
    }
};

// The harness in a given state, reached the way a real master reaches it: Starting has workers 100 and 101
// forked and not yet ready; Running has both serving; Reloading has also forked 102, the new slot 0; Draining
// and Stopping come from Running through SIGTERM and SIGQUIT; Upgrading from Running when a new master
// serves (hand_to_successor()).
inline Harness in_state(MasterState state, SupervisorSettings settings = default_settings()) {
    Harness h(settings);
    if (state == MasterState::Starting) return h;
    h.ready_all();
    if (state == MasterState::Reloading) h.signal(SIGHUP);
    if (state == MasterState::Draining) h.signal(SIGTERM);
    if (state == MasterState::Stopping) h.signal(SIGQUIT);
    if (state == MasterState::Upgrading) h.run(h.sup.hand_to_successor(h.now));
    h.seen.clear();
    return h;
}

// The harness in `state` after `signo`, and the actions that signal led to.
inline std::pair<Harness, Actions> signalled(MasterState state, int signo,
                                             SupervisorSettings settings = default_settings()) {
    auto h = in_state(state, settings);
    auto a = h.signal(signo);
    return {std::move(h), std::move(a)};
}

inline bool stopping(MasterState s) {
    return s == MasterState::Draining || s == MasterState::Stopping || s == MasterState::Upgrading;
}

inline std::size_t count(const Actions& actions, Action::Kind kind) {
    return static_cast<std::size_t>(
        std::count_if(actions.begin(), actions.end(), [&](const Action& a) { return a.kind == kind; }));
}
inline std::size_t hand_overs(const Actions& actions, pid_t pid) {
    return static_cast<std::size_t>(std::count_if(actions.begin(), actions.end(), [&](const Action& a) {
        return a.kind == Action::Kind::HandOver && a.pid == pid;
    }));
}
inline std::size_t signals_sent(const Actions& actions, int signo) {
    return static_cast<std::size_t>(std::count_if(actions.begin(), actions.end(), [&](const Action& a) {
        return a.kind == Action::Kind::Signal && a.signo == signo;
    }));
}
inline std::size_t logged(const Actions& actions, const std::string& text) {
    return static_cast<std::size_t>(std::count_if(actions.begin(), actions.end(), [&](const Action& a) {
        return a.kind == Action::Kind::Log && a.text.find(text) != std::string::npos;
    }));
}
// An ignored event: exactly one log line saying so, and nothing else done.
inline bool ignored_and_logged_once(const Actions& actions, const std::string& text) {
    return actions.size() == 1 && logged(actions, text) == 1;
}

// For a cell that ignores its event: when `ignored_here`, checks that `actions` only said `text` once, and
// returns true so the test can stop there.
inline bool ignored_in_this_state(bool ignored_here, const Actions& actions, const std::string& text) {
    if (!ignored_here) return false;
    CHECK(ignored_and_logged_once(actions, text));
    return true;
}

}  // namespace echo::testing

// One test case per cell: instantiates `check(state)` of the enclosing namespace for each of the five states.
#define SUPERVISOR_CELLS(event)                        \
    TEST_CASE("supervisor cell: starting × " event) {  \
        check(echo::MasterState::Starting);            \
    }                                                  \
    TEST_CASE("supervisor cell: running × " event) {   \
        check(echo::MasterState::Running);             \
    }                                                  \
    TEST_CASE("supervisor cell: reloading × " event) { \
        check(echo::MasterState::Reloading);           \
    }                                                  \
    TEST_CASE("supervisor cell: draining × " event) {  \
        check(echo::MasterState::Draining);            \
    }                                                  \
    TEST_CASE("supervisor cell: stopping × " event) {  \
        check(echo::MasterState::Stopping);            \
    }                                                  \
    TEST_CASE("supervisor cell: upgrading × " event) { \
        check(echo::MasterState::Upgrading);           \
    }
