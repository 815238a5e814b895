// supervisor.hpp: the master's decisions: given its state and one event, the actions to take, with no I/O.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "master/supervisor_types.hpp"
#include "master/worker_table.hpp"
#include "master/zombie_demo.hpp"
#include "os/reaper.hpp"
#include "worker/figures.hpp"
#include "worker/worker_report.hpp"

namespace echo {

// s6-supervise's shape: a table of (state, event) cells, each naming a small handler; after every event one
// reconcile step compares what is with what should be (spawn into empty slots, retire surplus workers,
// advance a reload, announce readiness, exit once everything is gone). It forks, signals, reads and writes
// nothing: it returns Actions, and the master's loop (master_loop.cpp) carries them out and feeds back what
// happened (a fork's pid or error, each reaped exit, each report). So every cell is unit-tested with a fake
// clock and no fork (tests/unit/test_supervisor.cpp), and docs/ARCHITECTURE.md shows the table it runs.
class Supervisor {
  public:
    // `listening_on` is what the ready line says the workers accept on.
    Supervisor(SupervisorSettings settings, std::string listening_on);

    // One event. Each returns every action it leads to, reconcile's included, in the order to carry out.
    Actions on_signal(int signo, TimePoint now);
    Actions on_report(pid_t pid, const WorkerReport& report, TimePoint now);
    Actions on_exit(pid_t pid, int status, TimePoint now);
    // The outcome of an Action::Reap: every exit collected. After a SIGUSR2 (`cause`), says how many of them
    // were the demonstration's zombies.
    // `oom_kills`: how many OOM kills the memory cgroup counted since the last batch (nullopt: unknown); each
    // is taken for one of the batch's SIGKILLed workers that the master did not kill itself (R96).
    Actions on_reaped(const std::vector<ChildExit>& exits, int cause, TimePoint now,
                      std::optional<std::uint64_t> oom_kills = std::nullopt);
    Actions on_channel_closed(pid_t pid, TimePoint now);  // its end closed: it died, maybe unreaped
    Actions on_tick(TimePoint now);                       // the timer: hung workers, deadlines, respawns
    // The outcome of an Action::Spawn.
    Actions on_spawned(unsigned slot, pid_t pid, TimePoint now);
    Actions on_fork_failed(unsigned slot, int error, TimePoint now);
    // The outcome of an Action::ReloadConfig: the new settings, or why the configuration was refused.
    Actions on_reloaded(const SupervisorSettings& next, TimePoint now);
    Actions on_reload_failed(const std::string& why, TimePoint now);
    // The loop itself did not run for a while (SIGSTOP, a debugger): its workers' heartbeats went unread, so
    // their windows start again instead of judging them on the gap (RUNBOOK.md "Hung workers").
    void restart_heartbeat_windows(TimePoint now);
    // The first workers.
    Actions start(TimePoint now);
    // A new master of a new binary serves (R61): every worker hands its connections over (to it, through
    // the loop) and is not replaced; finished() once they are gone, exit status 0.
    Actions hand_to_successor(TimePoint now);
    // A worker's current figures, read by the loop from the shared board (R83): the status line and the
    // totals of exited workers use them instead of its last heartbeat's. Not an event: nothing is decided.
    void note_figures(pid_t pid, const WorkerFigures& figures);

    MasterState state() const { return state_; }
    // Stopping, and every worker (and kept zombie) is gone: the master may exit with exit_code().
    bool finished() const { return done_; }
    // The earliest time on_tick() has something to do; std::nullopt: nothing timed is pending.
    std::optional<TimePoint> next_deadline() const;
    std::string status_line() const;
    // What the loop publishes on the shared board for the metrics page (the master's pid left for it).
    MasterFigures figures() const;
    int exit_code() const;
    const WorkerTable& workers() const { return table_; }
    unsigned target() const { return target_; }
    std::uint64_t oom_killed() const { return oom_killed_; }  // workers whose SIGKILL the cgroup counted
    // The configuration generation a worker spawned now belongs to (its journal records say it).
    unsigned generation() const { return generation_; }

    // Every signal the table has a column for: what the master blocks and reads from its signalfd, so the
    // two cannot drift apart.
    static sigset_t signals_read();

    // The table, for docs/ARCHITECTURE.md and its drift test: what each cell does, in words.
    static std::string_view cell_text(MasterState state, MasterEvent event);
    static std::string table_markdown();

  private:
    struct Input {
        MasterEvent event;
        TimePoint now;
        int signo = 0;
        pid_t pid = 0;
        int status = 0;
        WorkerReport report{};
        unsigned slot = 0;
        int error = 0;
    };
    using Handler = void (Supervisor::*)(const Input&, Actions&);
    struct Cell {
        Handler handler;
        const char* text;  // as docs/ARCHITECTURE.md shows it
    };
    using Row = std::array<Cell, kMasterEvents>;
    using Table = std::array<Row, kMasterStates>;
    static Table make_table();
    static const Table kTable;

    Actions dispatch(const Input& in);

    // The cells' handlers (supervisor_cells.cpp).
    void ignore(const Input& in, Actions& out);
    void reap(const Input& in, Actions& out);
    void stop_gracefully(const Input& in, Actions& out);
    void stop_fast(const Input& in, Actions& out);
    void reload(const Input& in, Actions& out);
    void scale(const Input& in, Actions& out);
    void log_status(const Input& in, Actions& out);
    void reap_zombies(const Input& in, Actions& out);
    void record_report(const Input& in, Actions& out);
    void account_exit(const Input& in, Actions& out);
    void kill_hung(const Input& in, Actions& out);
    void note_gone(const Input& in, Actions& out);
    void kill_stragglers(const Input& in, Actions& out);
    void back_off_slot(const Input& in, Actions& out);

    // Reconcile and its steps (supervisor.cpp).
    void reconcile(TimePoint now, Actions& out);
    void spawn_due(TimePoint now, Actions& out);
    void advance_reload(TimePoint now, Actions& out);
    bool every_slot_fatal() const;
    bool no_active_worker() const;
    bool all_serving() const;

    // Small actions shared by the handlers.
    void begin_stop(bool graceful, int signo, TimePoint now, Actions& out);
    void retire(WorkerProcess& w, const char* why, Actions& out);
    void schedule_respawn(const WorkerProcess& w, int status, TimePoint now, Actions& out);
    void count_totals_of_exited(const WorkerProcess& w);
    void log_accepting(const WorkerProcess& w, TimePoint now, Actions& out);
    bool spawn_allowed(unsigned slot, TimePoint now) const;
    // The journal fields of a record about `w` (RUNBOOK.md "Journal records").
    static LogFields about(const WorkerProcess& w, LogEvent event = LogEvent::None) {
        return {
            .event = event, .worker_slot = w.slot, .worker_pid = w.pid, .worker_generation = w.generation};
    }
    bool stopping() const {
        return state_ == MasterState::Draining || state_ == MasterState::Stopping ||
               state_ == MasterState::Upgrading;
    }

    SupervisorSettings settings_;
    std::string listening_on_;
    MasterState state_ = MasterState::Starting;
    WorkerTable table_;
    std::vector<SlotState> slots_;
    unsigned target_;
    unsigned generation_ = 0;
    ZombieDemo zombies_;
    std::optional<TimePoint> kill_deadline_;
    bool done_ = false;
    int failure_exit_ = 0;
    bool stragglers_killed_ = false;
    std::uint64_t unclaimed_oom_kills_ = 0;
    std::uint64_t oom_killed_ = 0;  // of the batch on_reaped() is accounting for
    std::uint64_t restarts_ = 0;
    std::uint64_t crash_loop_backoffs_ = 0;
    std::uint64_t hung_killed_ = 0;
    std::uint64_t fork_failures_ = 0;
    std::uint64_t reloads_ = 0;
    std::uint64_t accepted_by_exited_ = 0;  // totals of workers that are gone, so the figures never go back
    std::uint64_t bytes_by_exited_ = 0;
};

}  // namespace echo
