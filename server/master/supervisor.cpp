// supervisor.cpp: the supervisor's entry points, its reconcile step and the small actions the cells share.
#include "master/supervisor.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "master/backoff.hpp"
#include "os/reaper.hpp"
#include "os/signals.hpp"

namespace echo {
namespace {

// A worker that lived this long was not crash-looping: its death is replaced at once (s6-supervise's rule).
constexpr Duration kStableRun = seconds(1);
constexpr unsigned kCrashLoopThreshold = 3;
constexpr Duration kStopGrace = seconds(2);      // after --drain-timeout, before SIGKILL
constexpr Duration kFastStopGrace = seconds(2);  // after SIGQUIT, before SIGKILL

// The signals the supervisor reads, and the column of the table each one is.
constexpr std::pair<int, MasterEvent> kSignalEvents[] = {
    {SIGCHLD, MasterEvent::SigChld}, {SIGTERM, MasterEvent::SigTerm}, {SIGINT, MasterEvent::SigInt},
    {SIGQUIT, MasterEvent::SigQuit}, {SIGHUP, MasterEvent::SigHup},   {SIGTTIN, MasterEvent::SigTtin},
    {SIGTTOU, MasterEvent::SigTtou}, {SIGUSR1, MasterEvent::SigUsr1}, {SIGUSR2, MasterEvent::SigUsr2},
};

}  // namespace

Supervisor::Supervisor(SupervisorSettings settings, std::string listening_on)
    : settings_(settings),
      listening_on_(std::move(listening_on)),
      target_(settings.workers),
      zombies_(settings.zombie_mode, settings.zombie_worker_lifetime) {
    slots_.resize(target_);
}

// ---- entry points: each turns what happened into one cell of the table, then reconciles ----------------

Actions Supervisor::start(TimePoint now) {
    Actions out;
    if (zombies_.enabled())
        out.push_back(Action::log(spdlog::level::warn,
                                  "zombie mode: exited workers will NOT be reaped (a "
                                  "demonstration; SIGUSR2 reaps them)"));
    out.push_back(Action::log(spdlog::level::info, fmt::format("starting {} worker(s)", target_)));
    reconcile(now, out);
    return out;
}

Actions Supervisor::hand_to_successor(TimePoint now) {
    Actions out;
    state_ = MasterState::Upgrading;
    out.push_back(Action::log(spdlog::level::info,
                              fmt::format("upgrade: the new master serves; handing over {} worker(s)' "
                                          "connections to it",
                                          table_.size())));
    for (auto& w : table_.all())
        if (w.phase != WorkerPhase::Retiring) retire(w, "handing over to the new master", out);
    // A hand-over takes well under a second; a worker wedged in one must not keep this master for ever.
    TimePoint deadline = now + settings_.drain_timeout + kStopGrace;
    kill_deadline_ = kill_deadline_ ? std::min(*kill_deadline_, deadline) : deadline;
    out.push_back(Action::of(Action::Kind::PublishStatus));
    reconcile(now, out);
    return out;
}

Actions Supervisor::dispatch(const Input& in) {
    Actions out;
    const Cell& cell = kTable[static_cast<std::size_t>(state_)][static_cast<std::size_t>(in.event)];
    (this->*cell.handler)(in, out);
    reconcile(in.now, out);
    return out;
}

sigset_t Supervisor::signals_read() {
    sigset_t set;
    sigemptyset(&set);
    for (auto [signo, event] : kSignalEvents)
        sigaddset(&set, signo);
    return set;
}

Actions Supervisor::on_signal(int signo, TimePoint now) {
    for (auto [known, event] : kSignalEvents)
        if (signo == known) return dispatch({event, now, signo});
    // Not in master_signals(), so the signalfd cannot deliver it; said rather than assumed.
    return {Action::log(spdlog::level::debug, signal_name(signo) + ": not handled")};
}

Actions Supervisor::on_report(pid_t pid, const WorkerReport& report, TimePoint now) {
    auto event =
        report.kind == WorkerReport::Kind::Ready ? MasterEvent::WorkerReady : MasterEvent::WorkerHeartbeat;
    return dispatch({event, now, 0, pid, 0, report});
}

Actions Supervisor::on_exit(pid_t pid, int status, TimePoint now) {
    return dispatch({MasterEvent::WorkerExit, now, 0, pid, status});
}

Actions Supervisor::on_reaped(const std::vector<ChildExit>& exits, int cause, TimePoint now,
                              std::optional<std::uint64_t> oom_kills) {
    Actions out;
    auto before = zombies_.count();
    unclaimed_oom_kills_ = oom_kills.value_or(0);
    for (const auto& e : exits) {
        Actions more = on_exit(e.pid, e.status, now);
        out.insert(out.end(), more.begin(), more.end());
    }
    unclaimed_oom_kills_ = 0;  // a kill nobody here claimed was of another process of the cgroup
    if (cause == SIGUSR2)
        out.push_back(Action::log(spdlog::level::info,
                                  fmt::format("SIGUSR2: reaped {} zombie(s)", before - zombies_.count())));
    return out;
}

Actions Supervisor::on_channel_closed(pid_t pid, TimePoint now) {
    return dispatch({MasterEvent::ChannelClosed, now, 0, pid});
}

Actions Supervisor::on_tick(TimePoint now) {
    Actions out;
    auto append = [&](Actions more) { out.insert(out.end(), more.begin(), more.end()); };
    if (kill_deadline_ && now >= *kill_deadline_) append(dispatch({MasterEvent::StopDeadline, now}));
    if (settings_.worker_timeout > Duration::zero()) {
        std::vector<pid_t> hung;
        for (const auto& w : table_.all())
            if (!w.killed_as_hung && now - w.last_heartbeat >= settings_.worker_timeout)
                hung.push_back(w.pid);
        for (pid_t pid : hung)
            append(dispatch({MasterEvent::WorkerHang, now, 0, pid}));
    }
    reconcile(now, out);  // a respawn's back-off may have run out
    return out;
}

Actions Supervisor::on_spawned(unsigned slot, pid_t pid, TimePoint now) {
    Actions out;
    slots_[slot].spawn_pending = false;
    WorkerProcess w;
    w.pid = pid;
    w.slot = slot;
    w.generation = generation_;
    w.started_at = w.last_heartbeat = now;
    table_.add(w);
    out.push_back(
        Action::log(spdlog::level::info, about(w), fmt::format("started worker {} (pid {})", slot, pid)));
    reconcile(now, out);
    return out;
}

Actions Supervisor::on_fork_failed(unsigned slot, int error, TimePoint now) {
    slots_[slot].spawn_pending = false;
    Input in{MasterEvent::ForkFailed, now};
    in.slot = slot;
    in.error = error;
    return dispatch(in);
}

Actions Supervisor::on_reload_failed(const std::string& why, TimePoint now) {
    Actions out;
    out.push_back(Action::log(spdlog::level::err, {.event = LogEvent::ReloadFailed},
                              "SIGHUP: reload failed: " + why + "; keeping the current configuration"));
    out.push_back(Action::of(Action::Kind::NotifyReady));
    reconcile(now, out);
    return out;
}

Actions Supervisor::on_reloaded(const SupervisorSettings& next, TimePoint now) {
    Actions out;
    settings_ = next;
    zombies_.reconfigure(next.zombie_mode, next.zombie_worker_lifetime);
    target_ = next.workers;
    slots_.assign(std::max<std::size_t>(slots_.size(), target_), SlotState{});  // a reload is a fresh start
    ++generation_;
    ++reloads_;
    state_ = MasterState::Reloading;
    out.push_back(
        Action::log(spdlog::level::info,
                    fmt::format("SIGHUP: reloading: replacing {} worker(s) one by one (generation {})",
                                target_, generation_)));
    out.push_back(Action::of(Action::Kind::PublishStatus));
    reconcile(now, out);
    return out;
}

void Supervisor::restart_heartbeat_windows(TimePoint now) {
    for (auto& w : table_.all())
        w.last_heartbeat = std::max(w.last_heartbeat, now);
}

// ---- reconcile: the one place that compares what is with what should be ---------------------------------

void Supervisor::reconcile(TimePoint now, Actions& out) {
    if (done_) return;
    if (stopping()) {
        if (table_.size() == 0 && zombies_.count() == 0) done_ = true;
        return;
    }
    spawn_due(now, out);
    for (auto& w : table_.all())
        if (w.slot >= target_ && w.phase != WorkerPhase::Retiring) retire(w, "scaling down", out);
    if (state_ == MasterState::Reloading) advance_reload(now, out);
    if (every_slot_fatal() && no_active_worker()) {
        out.push_back(
            Action::log(spdlog::level::critical, "every worker failed with a fatal start-up error; exiting"));
        failure_exit_ = kExitFailure;
        begin_stop(false, 0, now, out);
        reconcile(now, out);
        return;
    }
    if (state_ == MasterState::Starting && all_serving()) {
        state_ = MasterState::Running;
        out.push_back(Action::log(spdlog::level::info, {.event = LogEvent::Ready},
                                  fmt::format("ready: {} worker{} accepting on {}", target_,
                                              target_ == 1 ? "" : "s", listening_on_)));
        out.push_back(Action::of(Action::Kind::PublishStatus));
        out.push_back(Action::of(Action::Kind::NotifyReady));
    }
}

bool Supervisor::spawn_allowed(unsigned slot, TimePoint now) const {
    const SlotState& s = slots_[slot];
    return !s.fatal && !s.spawn_pending && !(s.respawn_after && now < *s.respawn_after);
}

void Supervisor::spawn_due(TimePoint now, Actions& out) {
    for (unsigned slot = 0; slot < target_; ++slot) {
        if (table_.active_in_slot(slot) || !spawn_allowed(slot, now)) continue;
        slots_[slot].spawn_pending = true;
        out.push_back(Action::spawn(slot));
    }
}

void Supervisor::advance_reload(TimePoint now, Actions& out) {
    // One slot at a time: start the new worker beside the old, retire the old once the new one accepts. The
    // slot never stops accepting, so neither does the service (R15). A SIGHUP during a reload bumps the
    // generation again, so a slot may hold several outdated workers: all of them go once its new one serves.
    for (unsigned slot = 0; slot < target_; ++slot) {
        auto outdated = [&](const WorkerProcess& w) {
            return w.slot == slot && w.phase != WorkerPhase::Retiring && w.generation != generation_;
        };
        if (std::none_of(table_.all().begin(), table_.all().end(), outdated)) continue;
        WorkerProcess* fresh = table_.active_in_slot(slot, generation_);
        if (fresh == nullptr) {
            if (spawn_allowed(slot, now)) {
                slots_[slot].spawn_pending = true;
                out.push_back(Action::spawn(slot));
            }
            return;
        }
        if (fresh->phase != WorkerPhase::Serving) return;
        for (auto& w : table_.all())
            if (outdated(w)) retire(w, "replaced by reload", out);
    }
    state_ = MasterState::Running;
    out.push_back(
        Action::log(spdlog::level::info, {.event = LogEvent::ReloadDone, .worker_generation = generation_},
                    fmt::format("reload complete: {} worker(s) of generation {}", target_, generation_)));
    out.push_back(Action::of(Action::Kind::PublishStatus));
    out.push_back(Action::of(Action::Kind::NotifyReady));
}

bool Supervisor::every_slot_fatal() const {
    return std::all_of(slots_.begin(), slots_.begin() + target_, [](const SlotState& s) { return s.fatal; });
}

bool Supervisor::no_active_worker() const {
    for (unsigned slot = 0; slot < target_; ++slot)
        if (table_.active_in_slot(slot)) return false;
    return true;
}

bool Supervisor::all_serving() const {
    for (unsigned slot = 0; slot < target_; ++slot) {
        const WorkerProcess* w = table_.active_in_slot(slot);
        if (!slots_[slot].fatal && (w == nullptr || w->phase != WorkerPhase::Serving)) return false;
    }
    return true;
}

// ---- small actions ---------------------------------------------------------------------------------------

void Supervisor::begin_stop(bool graceful, int signo, TimePoint now, Actions& out) {
    Duration grace = graceful ? settings_.drain_timeout + kStopGrace : kFastStopGrace;
    if (signo != 0)
        out.push_back(Action::log(spdlog::level::info, {.event = LogEvent::StopBegun, .signal = signo},
                                  fmt::format("{}: {} stop of {} worker(s){}", signal_name(signo),
                                              graceful ? "graceful" : "fast", table_.size(),
                                              graceful ? fmt::format(", draining for at most {:.1f}s",
                                                                     to_seconds(settings_.drain_timeout))
                                                       : "")));
    state_ = graceful ? MasterState::Draining : MasterState::Stopping;
    out.push_back(Action::of(Action::Kind::CloseListeners));
    for (auto& w : table_.all()) {
        w.phase = WorkerPhase::Retiring;
        out.push_back(Action::signal(w.pid, graceful ? SIGTERM : SIGQUIT));
    }
    if (zombies_.count() > 0) {
        out.push_back(Action::log(spdlog::level::info,
                                  fmt::format("reaping {} zombie(s) before exiting", zombies_.count())));
        out.push_back(Action::of(Action::Kind::Reap));
    }
    TimePoint deadline = now + grace;
    kill_deadline_ = kill_deadline_ ? std::min(*kill_deadline_, deadline) : deadline;
    out.push_back(Action::stopping(grace + seconds(1)));
    out.push_back(Action::of(Action::Kind::PublishStatus));
}

void Supervisor::retire(WorkerProcess& w, const char* why, Actions& out) {
    out.push_back(Action::log(spdlog::level::info, about(w),
                              fmt::format("retiring worker {} (pid {}): {}", w.slot, w.pid, why)));
    w.phase = WorkerPhase::Retiring;
    // Not SIGTERM: a drain would close its idle connections; handed over, every one carries on elsewhere
    // (RUNBOOK.md "Connections across reload, upgrade and restart").
    out.push_back(Action::hand_over(w.pid));
}

void Supervisor::schedule_respawn(const WorkerProcess& w, int status, TimePoint now, Actions& out) {
    ++restarts_;
    if (w.slot >= target_) return;
    SlotState& s = slots_[w.slot];
    if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == kWorkerExitFatal) {
        s.fatal = true;
        out.push_back(Action::log(
            spdlog::level::err, about(w),
            fmt::format(
                "worker {} failed at start-up in a way a restart cannot fix (status {}); not restarting it",
                w.slot, kWorkerExitFatal)));
        return;
    }
    Duration lived = now - w.started_at;
    if (lived >= kStableRun || zombies_.planned_exit(lived)) s.quick_exits = 0;
    ++s.quick_exits;
    Duration delay = backoff_delay(s.quick_exits);
    s.respawn_after = now + delay;
    if (!s.down_since) s.down_since = now;
    if (delay > Duration::zero()) ++crash_loop_backoffs_;
    if (s.quick_exits >= kCrashLoopThreshold)
        out.push_back(
            Action::log(spdlog::level::err, about(w, LogEvent::CrashLoop),
                        fmt::format("worker {} is crash-looping: {} exits in a row within {:.1f}s of "
                                    "starting; next start in {:.1f}s",
                                    w.slot, s.quick_exits, to_seconds(kStableRun), to_seconds(delay))));
}

void Supervisor::count_totals_of_exited(const WorkerProcess& w) {
    // The status line's totals cover the whole life of the master, not only the workers alive now.
    accepted_by_exited_ += w.last_report.connections_accepted;
    bytes_by_exited_ += w.last_report.bytes_echoed;
}

void Supervisor::log_accepting(const WorkerProcess& w, TimePoint now, Actions& out) {
    if (w.slot >= slots_.size()) return;
    auto& down_since = slots_[w.slot].down_since;
    if (!down_since) {
        out.push_back(Action::log(spdlog::level::debug, about(w),
                                  fmt::format("worker {} (pid {}) is accepting", w.slot, w.pid)));
        return;
    }
    // How long a crash took capacity away, back-off included: the figure an operator wants after a kill
    // (RUNBOOK.md "Reliability").
    out.push_back(
        Action::log(spdlog::level::info, about(w),
                    fmt::format("worker {} (pid {}) is accepting: the slot was empty for {:.1f} ms after its "
                                "last worker died",
                                w.slot, w.pid, to_seconds(now - *down_since) * 1000.0)));
    down_since.reset();
}

}  // namespace echo
