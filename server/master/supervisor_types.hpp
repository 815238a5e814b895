// supervisor_types.hpp: the supervisor's vocabulary: its states, the events it reads, the actions it returns.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>

#include "base/clock.hpp"
#include "base/log_event.hpp"

namespace echo {

// The master's states (docs/ARCHITECTURE.md "The master's state × event table").
enum class MasterState {
    Starting,   // forking the first workers; READY=1 once every slot serves
    Running,    // every slot filled; replacing deaths
    Reloading,  // SIGHUP: replacing the workers slot by slot; READY=1 again when done
    Draining,   // graceful stop: workers finish their busy connections
    Stopping,   // fast stop: workers close everything now
    Upgrading,  // a new master serves: every worker hands its connections to it, then this master exits (R61)
};
inline constexpr std::size_t kMasterStates = 6;

// The events it reads, the columns of the table: the signals, then what it learns about its workers.
enum class MasterEvent {
    SigChld,
    SigTerm,
    SigInt,
    SigQuit,
    SigHup,
    SigTtin,
    SigTtou,
    SigUsr1,
    SigUsr2,
    WorkerReady,      // a worker's first report: it accepts connections
    WorkerHeartbeat,  // a later report
    WorkerExit,       // reaped, with its status
    WorkerHang,       // no heartbeat for --worker-timeout
    ChannelClosed,    // its channel hung up: it died (unreaped, in the zombie demonstration)
    ForkFailed,       // a spawn the supervisor asked for could not fork
    StopDeadline,     // the stop's grace period is over
};
inline constexpr std::size_t kMasterEvents = 16;

std::string_view state_name(MasterState state);
std::string_view event_name(MasterEvent event);

// What the supervisor needs of the configuration (the master's loop keeps the rest).
struct SupervisorSettings {
    unsigned workers = 1;
    Duration worker_timeout{};  // 0: no heartbeat check
    Duration drain_timeout{};
    bool zombie_mode = false;
    Duration zombie_worker_lifetime{};
};

// One thing for the loop to do. A flat struct rather than a variant: tests compare them field by field.
struct Action {
    enum class Kind {
        Spawn,            // fork a worker into `slot`, then report on_spawned() or on_fork_failed()
        Signal,           // kill(pid, signo); ESRCH means its exit is on the way
        HandOver,         // tell `pid` to hand its connections over to the others and exit (R60)
        Reap,             // waitpid() until nothing is left, then on_exit() for each
        ReloadConfig,     // re-read the configuration, then on_reloaded() or on_reload_failed()
        CloseListeners,   // the master's copies, so the workers' closing is the last word
        NotifyReady,      // READY=1 with the current STATUS=
        NotifyReloading,  // RELOADING=1
        NotifyStopping,   // STOPPING=1, extending systemd's stop timeout by `delay`
        PublishStatus,    // STATUS= now, not at the next status interval
        Log,              // `text` at `level`, with `fields` (the event and the worker it is about)
    };
    Kind kind = Kind::Log;
    unsigned slot = 0;
    pid_t pid = 0;
    int signo = 0;
    Duration delay{};
    spdlog::level::level_enum level = spdlog::level::info;
    std::string text = {};
    LogFields fields = {};

    static Action of(Kind what) { return {.kind = what}; }
    static Action spawn(unsigned into) { return {.kind = Kind::Spawn, .slot = into}; }
    static Action signal(pid_t to, int sig) { return {.kind = Kind::Signal, .pid = to, .signo = sig}; }
    static Action hand_over(pid_t from) { return {.kind = Kind::HandOver, .pid = from}; }
    static Action stopping(Duration may_take) { return {.kind = Kind::NotifyStopping, .delay = may_take}; }
    static Action log(spdlog::level::level_enum at, std::string line) {
        return {.kind = Kind::Log, .level = at, .text = std::move(line)};
    }
    static Action log(spdlog::level::level_enum at, LogFields about, std::string line) {
        return {.kind = Kind::Log, .level = at, .text = std::move(line), .fields = about};
    }
};
using Actions = std::vector<Action>;

}  // namespace echo
