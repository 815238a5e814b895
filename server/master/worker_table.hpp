// worker_table.hpp: the master's table of worker processes and of the slots they fill (after nginx's
// ngx_processes): who is alive, in what phase, since when, and what each last reported.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.hpp"
#include "worker/worker_report.hpp"

namespace echo {

enum class WorkerPhase {
    Starting,  // forked, has not reported Ready yet
    Serving,   // accepting connections
    Retiring,  // sent SIGTERM by the master (reload, scale down, stop): its exit is expected
};

std::string_view phase_name(WorkerPhase phase);

struct WorkerProcess {
    pid_t pid = -1;
    unsigned slot = 0;
    unsigned generation = 0;  // configuration generation it was started with; bumped by each reload
    WorkerPhase phase = WorkerPhase::Starting;
    TimePoint started_at{};
    TimePoint last_heartbeat{};
    WorkerReport last_report{};
    bool killed_as_hung = false;
};

// Per-slot supervision state: the back-off of a slot whose workers keep dying.
struct SlotState {
    unsigned quick_exits = 0;                // consecutive deaths soon after start
    std::optional<TimePoint> respawn_after;  // not before this
    bool fatal = false;                      // a worker exited with kWorkerExitFatal: do not respawn
    std::optional<TimePoint> down_since;     // its worker died unexpectedly: logged when refilled
    bool spawn_pending = false;              // a spawn was asked for and its outcome is not known yet
};

class WorkerTable {
  public:
    std::vector<WorkerProcess>& all() { return workers_; }
    const std::vector<WorkerProcess>& all() const { return workers_; }

    WorkerProcess& add(WorkerProcess process);
    const WorkerProcess* find(pid_t pid) const;
    WorkerProcess* find(pid_t pid) { return const_cast<WorkerProcess*>(std::as_const(*this).find(pid)); }
    // Removes the entry and returns it.
    std::optional<WorkerProcess> take(pid_t pid);

    // A worker filling `slot` that is not on its way out, optionally of a given generation.
    const WorkerProcess* active_in_slot(unsigned slot,
                                        std::optional<unsigned> generation = std::nullopt) const;
    WorkerProcess* active_in_slot(unsigned slot, std::optional<unsigned> generation = std::nullopt) {
        return const_cast<WorkerProcess*>(std::as_const(*this).active_in_slot(slot, generation));
    }
    std::size_t count(WorkerPhase phase) const;
    std::size_t size() const { return workers_.size(); }

  private:
    std::vector<WorkerProcess> workers_;
};

}  // namespace echo
