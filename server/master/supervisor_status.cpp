// supervisor_status.cpp: what the supervisor tells: its status line, its worker table, its next deadline.
#include <fmt/format.h>

#include <algorithm>

#include "base/exit_codes.hpp"
#include "master/supervisor.hpp"

namespace echo {
namespace {

std::string human_bytes(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace

// ---- what the loop asks ----------------------------------------------------------------------------------

std::optional<TimePoint> Supervisor::next_deadline() const {
    std::optional<TimePoint> next;
    auto consider = [&](std::optional<TimePoint> t) {
        if (t && (!next || *t < *next)) next = t;
    };
    consider(kill_deadline_);
    if (settings_.worker_timeout > Duration::zero())
        for (const auto& w : table_.all())
            if (!w.killed_as_hung) consider(w.last_heartbeat + settings_.worker_timeout);
    if (!stopping())
        for (unsigned slot = 0; slot < target_; ++slot)
            if (!slots_[slot].fatal && slots_[slot].respawn_after && !table_.active_in_slot(slot))
                consider(slots_[slot].respawn_after);
    return next;
}

std::string Supervisor::status_line() const {
    std::uint64_t open = 0, accepted = accepted_by_exited_, bytes = bytes_by_exited_;
    for (const auto& w : table_.all()) {
        open += w.last_report.connections_open;
        accepted += w.last_report.connections_accepted;
        bytes += w.last_report.bytes_echoed;
    }
    auto line =
        fmt::format("{}: {}/{} workers serving, {} connections open, {} served, {} echoed, {} restarts",
                    state_name(state_), table_.count(WorkerPhase::Serving), target_, open, accepted,
                    human_bytes(bytes), restarts_);
    if (zombies_.count() > 0) line += fmt::format(", {} zombies", zombies_.count());
    return line;
}

MasterFigures Supervisor::figures() const {
    MasterFigures f;
    f.workers_alive = static_cast<std::uint32_t>(table_.size());
    f.workers_target = target_;
    f.zombies = static_cast<std::uint32_t>(zombies_.count());
    f.restarts = restarts_;
    f.crash_loop_backoffs = crash_loop_backoffs_;
    f.hung_workers_killed = hung_killed_;
    f.fork_failures = fork_failures_;
    f.reloads = reloads_;
    return f;
}

void Supervisor::note_figures(pid_t pid, const WorkerFigures& figures) {
    WorkerProcess* w = table_.find(pid);
    if (w == nullptr) return;
    WorkerReport& r = w->last_report;
    r.connections_open = figures.open;
    r.connections_accepted = std::max(r.connections_accepted, figures.accepted);
    r.bytes_echoed = std::max(r.bytes_echoed, figures.bytes_echoed);
}

void Supervisor::log_status(const Input& in, Actions& out) {
    out.push_back(Action::log(spdlog::level::info, "status: " + status_line()));
    for (const auto& w : table_.all())
        out.push_back(Action::log(
            spdlog::level::info,
            fmt::format("  worker {} pid {} gen {} {}: up {:.0f}s, {} open, {} served, {} echoed, heartbeat "
                        "{:.1f}s ago",
                        w.slot, w.pid, w.generation, phase_name(w.phase), to_seconds(in.now - w.started_at),
                        w.last_report.connections_open, w.last_report.connections_accepted,
                        human_bytes(w.last_report.bytes_echoed), to_seconds(in.now - w.last_heartbeat))));
    for (pid_t z : zombies_.pids())
        out.push_back(
            Action::log(spdlog::level::info, fmt::format("  zombie pid {} (not reaped: zombie mode)", z)));
}

int Supervisor::exit_code() const {
    return failure_exit_ != 0 ? failure_exit_ : stragglers_killed_ ? kExitStragglersKilled : kExitOk;
}

}  // namespace echo
