// supervisor_cells.cpp: the master's state × event table and the small handlers its cells name.
#include <signal.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <algorithm>

#include "base/log.hpp"
#include "config/bounds.hpp"
#include "master/backoff.hpp"
#include "master/supervisor.hpp"
#include "os/reaper.hpp"
#include "os/signals.hpp"

namespace echo {

// Rows: Starting, Running, Reloading, Draining, Stopping, Upgrading; columns: MasterEvent's order. Every cell
// is defined; an ignored event is ignored on purpose and logged where it arrives. The three serving states
// react alike but for a few cells, and so do the two stopping states. docs/ARCHITECTURE.md shows this table
// as table_markdown() prints it, and a unit test keeps the two the same.
using S = Supervisor;

Supervisor::Table Supervisor::make_table() {
    using E = MasterEvent;
    const Row serving = {{
        {&S::reap, "reap (unless the zombie demonstration holds exits)"},
        {&S::stop_gracefully, "graceful stop → draining"},
        {&S::stop_gracefully, "graceful stop → draining"},
        {&S::stop_fast, "fast stop → stopping"},
        {&S::reload, "re-read the configuration → reloading"},
        {&S::scale, "target + 1"},
        {&S::scale, "target − 1 (never below 1)"},
        {&S::log_status, "log the status and the worker table"},
        {&S::reap_zombies, "reap now; log how many zombies went"},
        {&S::record_report, "record; the worker serves"},
        {&S::record_report, "record figures and time"},
        {&S::account_exit, "account; replace an unexpected death after its back-off"},
        {&S::kill_hung, "SIGKILL it; replaced as a death"},
        {&S::note_gone, "zombie demonstration: keep it unreaped and replace it; else wait for SIGCHLD"},
        {&S::back_off_slot, "back off the slot, log"},
        {&S::ignore, "ignore, logged (no stop deadline is set)"},
    }};
    const Row stopping = {{
        {&S::reap, "reap"},
        {&S::ignore, "ignore, logged (already stopping)"},
        {&S::ignore, "ignore, logged (already stopping)"},
        {&S::ignore, "ignore, logged (already stopping)"},
        {&S::ignore, "ignore, logged"},
        {&S::ignore, "ignore, logged"},
        {&S::ignore, "ignore, logged"},
        {&S::log_status, "log the status and the worker table"},
        {&S::reap_zombies, "reap now; log how many zombies went"},
        {&S::record_report, "record figures (it is retiring)"},
        {&S::record_report, "record figures and time"},
        {&S::account_exit, "account; exit once none is left"},
        {&S::kill_hung, "SIGKILL it"},
        {&S::note_gone, "wait for SIGCHLD (a stop always reaps)"},
        {&S::ignore, "ignore, logged (no spawn while stopping)"},
        {&S::kill_stragglers, "SIGKILL every worker left (exit status 3)"},
    }};
    Table t{serving, serving, serving, stopping, stopping, stopping};
    auto cell = [&](MasterState state, E event) -> Cell& {
        return t[static_cast<std::size_t>(state)][static_cast<std::size_t>(event)];
    };
    cell(MasterState::Starting, E::WorkerReady).text = "record; the worker serves (READY=1 once all do)";
    cell(MasterState::Reloading, E::SigHup).text = "re-read again: a newer generation → reloading";
    cell(MasterState::Reloading, E::WorkerReady).text =
        "record; the worker serves, its slot's old workers retire (READY=1 when all have)";
    cell(MasterState::Draining, E::SigTerm).text = "ignore, logged (already draining)";
    cell(MasterState::Draining, E::SigInt) = {&S::stop_fast, "fast stop → stopping (a second ^C)"};
    cell(MasterState::Draining, E::SigQuit) = {&S::stop_fast, "fast stop → stopping"};
    // Upgrading: a stop's row. A stop signal is not for this master any more: in a moment the new one is
    // the main process, and stopping that one stops the service (docs/UPGRADE.md).
    for (E e : {E::SigTerm, E::SigInt, E::SigQuit})
        cell(MasterState::Upgrading, e).text = "ignore, logged (stop the new master instead)";
    cell(MasterState::Upgrading, E::WorkerReady).text = "record figures (it is handing over)";
    cell(MasterState::Upgrading, E::StopDeadline).text = "SIGKILL every worker still handing over (exit 3)";
    return t;
}

const Supervisor::Table Supervisor::kTable = Supervisor::make_table();

std::string_view state_name(MasterState state) {
    static constexpr std::string_view kNames[] = {"starting", "running",  "reloading",
                                                  "draining", "stopping", "upgrading"};
    return kNames[static_cast<std::size_t>(state)];
}

std::string_view event_name(MasterEvent event) {
    static constexpr std::string_view kNames[] = {
        "SIGCHLD", "SIGTERM",        "SIGINT",      "SIGQUIT",      "SIGHUP",    "SIGTTIN",
        "SIGTTOU", "SIGUSR1",        "SIGUSR2",     "ready",        "heartbeat", "exit",
        "hang",    "channel closed", "fork failed", "stop deadline"};
    return kNames[static_cast<std::size_t>(event)];
}

std::string_view Supervisor::cell_text(MasterState state, MasterEvent event) {
    return kTable[static_cast<std::size_t>(state)][static_cast<std::size_t>(event)].text;
}

std::string Supervisor::table_markdown() {
    // Transposed, events as rows: sixteen columns would not fit a page, five do.
    std::string md = "| event |";
    for (std::size_t s = 0; s < kMasterStates; ++s)
        md += fmt::format(" {} |", state_name(static_cast<MasterState>(s)));
    md += "\n|---|";
    for (std::size_t s = 0; s < kMasterStates; ++s)
        md += "---|";
    md += "\n";
    for (std::size_t e = 0; e < kMasterEvents; ++e) {
        md += fmt::format("| {} |", event_name(static_cast<MasterEvent>(e)));
        for (std::size_t s = 0; s < kMasterStates; ++s)
            md += fmt::format(" {} |", cell_text(static_cast<MasterState>(s), static_cast<MasterEvent>(e)));
        md += "\n";
    }
    return md;
}

// ---- the handlers --------------------------------------------------------------------------------------

void Supervisor::ignore(const Input& in, Actions& out) {
    bool is_signal = in.signo != 0;
    std::string what = is_signal ? signal_name(in.signo) : std::string(event_name(in.event));
    bool stop_signal = in.event == MasterEvent::SigTerm || in.event == MasterEvent::SigInt ||
                       in.event == MasterEvent::SigQuit;
    out.push_back(Action::log(is_signal ? spdlog::level::info : spdlog::level::debug,
                              stop_signal ? fmt::format("{}: already {}", what, state_name(state_))
                                          : fmt::format("{}: ignored while {}", what, state_name(state_))));
}

void Supervisor::reap(const Input&, Actions& out) {
    if (zombies_.holds_exits(stopping())) {
        out.push_back(Action::log(spdlog::level::debug, "SIGCHLD: not reaping (zombie mode)"));
        return;
    }
    out.push_back(Action::of(Action::Kind::Reap));
}

void Supervisor::reap_zombies(const Input&, Actions& out) {
    Action a = Action::of(Action::Kind::Reap);
    a.signo = SIGUSR2;  // on_reaped() then says how many went
    out.push_back(a);
}

void Supervisor::stop_gracefully(const Input& in, Actions& out) {
    begin_stop(true, in.signo, in.now, out);
}

void Supervisor::stop_fast(const Input& in, Actions& out) {
    begin_stop(false, in.signo, in.now, out);
}

void Supervisor::reload(const Input&, Actions& out) {
    out.push_back(Action::of(Action::Kind::NotifyReloading));
    out.push_back(Action::of(Action::Kind::ReloadConfig));
}

void Supervisor::scale(const Input& in, Actions& out) {
    int delta = in.event == MasterEvent::SigTtin ? +1 : -1;
    auto next = static_cast<unsigned>(
        std::clamp(static_cast<int>(target_) + delta, 1, static_cast<int>(bounds::kMaxWorkers)));
    if (next == target_) {
        out.push_back(Action::log(spdlog::level::info, fmt::format("{}: already at {} worker(s), ignoring",
                                                                   signal_name(in.signo), target_)));
        return;
    }
    out.push_back(Action::log(spdlog::level::info,
                              fmt::format("{}: {} workers -> {}", signal_name(in.signo), target_, next)));
    target_ = next;
    if (slots_.size() < target_) slots_.resize(target_);
}

void Supervisor::record_report(const Input& in, Actions& out) {
    WorkerProcess* w = table_.find(in.pid);
    if (w == nullptr) return;  // reaped a moment ago; its last report was read before it was accounted
    w->last_heartbeat = in.now;
    // The counters only grow: a heartbeat read late must not take back what the board already showed.
    WorkerReport merged = in.report;
    merged.connections_accepted = std::max(merged.connections_accepted, w->last_report.connections_accepted);
    merged.bytes_echoed = std::max(merged.bytes_echoed, w->last_report.bytes_echoed);
    w->last_report = merged;
    if (in.event == MasterEvent::WorkerReady && w->phase == WorkerPhase::Starting) {
        w->phase = WorkerPhase::Serving;
        log_accepting(*w, in.now, out);
    }
}

void Supervisor::account_exit(const Input& in, Actions& out) {
    if (zombies_.forget(in.pid)) {
        out.push_back(Action::log(spdlog::level::info,
                                  fmt::format("reaped zombie pid {}: {}", in.pid, describe_exit(in.status))));
        return;
    }
    auto w = table_.take(in.pid);
    if (!w) {
        out.push_back(Action::log(
            spdlog::level::info,
            fmt::format("reaped child pid {} that was not a worker: {}", in.pid, describe_exit(in.status))));
        return;
    }
    count_totals_of_exited(*w);
    bool expected = w->phase == WorkerPhase::Retiring || stopping();
    // A hung worker's death was the master's doing, already reported as HungKilled.
    LogFields fields = about(*w, expected || w->killed_as_hung ? LogEvent::None : LogEvent::WorkerDied);
    out.push_back(
        Action::log(expected ? spdlog::level::info : spdlog::level::warn, add_exit(fields, in.status),
                    fmt::format("worker {} (pid {}) {}{}", w->slot, w->pid, describe_exit(in.status),
                                w->killed_as_hung ? " (killed as hung)"
                                : expected        ? ""
                                                  : " unexpectedly")));
    if (WIFSIGNALED(in.status) && WTERMSIG(in.status) == SIGSYS) {
        fields.event = LogEvent::SeccompKill;
        out.push_back(Action::log(
            spdlog::level::err, fields,
            fmt::format(
                "worker {} made a system call outside seccomp/policy.txt: the kernel's audit line names it "
                "(journalctl -k: type=1326 ... syscall=N); RUNBOOK.md \"Seccomp\"",
                w->slot)));
    }
    // Only a kill the cgroup counted is called an OOM kill; any other SIGKILL is only "unexpectedly" above.
    if (killed_by_sigkill(in.status) && !w->killed_as_hung && !stragglers_killed_ &&
        unclaimed_oom_kills_ > 0) {
        --unclaimed_oom_kills_;
        ++oom_killed_;
        fields.event = LogEvent::OomKill;
        out.push_back(Action::log(
            spdlog::level::err, fields,
            fmt::format(
                "worker {} (pid {}) was killed by the kernel's OOM killer (its memory cgroup counted the "
                "kill): docs/MEMORY.md",
                w->slot, w->pid)));
    }
    if (!expected) schedule_respawn(*w, in.status, in.now, out);
}

void Supervisor::kill_hung(const Input& in, Actions& out) {
    WorkerProcess* w = table_.find(in.pid);
    if (w == nullptr || w->killed_as_hung) return;
    out.push_back(Action::log(
        spdlog::level::err, about(*w, LogEvent::HungKilled),
        fmt::format("worker {} (pid {}) sent no heartbeat for {:.1f}s (--worker-timeout {:.1f}s): killing it",
                    w->slot, w->pid, to_seconds(in.now - w->last_heartbeat),
                    to_seconds(settings_.worker_timeout))));
    w->killed_as_hung = true;
    ++hung_killed_;
    out.push_back(Action::signal(w->pid, SIGKILL));  // SIGKILL also ends a SIGSTOPped process
}

void Supervisor::note_gone(const Input& in, Actions& out) {
    if (!zombies_.holds_exits(stopping()))
        return;  // the reaper reports the exit, with its status, on SIGCHLD
    auto gone = table_.take(in.pid);
    if (!gone) return;
    out.push_back(
        Action::log(spdlog::level::warn, about(*gone),
                    fmt::format("worker {} (pid {}) is gone and NOT reaped (zombie mode): it stays <defunct>",
                                gone->slot, gone->pid)));
    zombies_.keep(gone->pid);
    count_totals_of_exited(*gone);
    if (gone->phase != WorkerPhase::Retiring) schedule_respawn(*gone, -1, in.now, out);
}

void Supervisor::back_off_slot(const Input& in, Actions& out) {
    SlotState& s = slots_[in.slot];
    ++s.quick_exits;
    ++fork_failures_;
    Duration delay = std::max(backoff_delay(s.quick_exits), kBackoffBase);
    s.respawn_after = in.now + delay;
    out.push_back(
        Action::log(spdlog::level::err, {.event = LogEvent::ForkFailed, .worker_slot = in.slot},
                    fmt::format("fork() failed while spawning worker {}: {}; retrying in {:.1f}s{}", in.slot,
                                errno_text(in.error), to_seconds(delay), zombies_.fork_failure_note())));
}

void Supervisor::kill_stragglers(const Input&, Actions& out) {
    kill_deadline_.reset();
    for (auto& w : table_.all()) {
        out.push_back(Action::log(
            spdlog::level::err, about(w, LogEvent::StragglersKilled),
            fmt::format("worker {} (pid {}) outlived the stop deadline: sending SIGKILL", w.slot, w.pid)));
        out.push_back(Action::signal(w.pid, SIGKILL));
        stragglers_killed_ = true;
    }
}

}  // namespace echo
