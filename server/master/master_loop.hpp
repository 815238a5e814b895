// master_loop.hpp: the master's event loop, its sources and what it keeps of each worker; the definitions are
// in master_loop.cpp (the loop and the supervisor's actions) and master_handover.cpp (connections in
// transit).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "master/master.hpp"
#include "master/notifier.hpp"
#include "master/rotation.hpp"
#include "master/supervisor.hpp"
#include "os/channel.hpp"
#include "os/epoll.hpp"
#include "os/reaper.hpp"
#include "os/timer_fd.hpp"

namespace echo {

SupervisorSettings supervisor_settings(const Config& c);

// A worker's channel, owned by the loop; the supervisor knows the worker by its pid only.
struct WorkerChannel {
    pid_t pid;
    UniqueFd fd;
    // Its epoll tag. Not the fd: a channel closed while handling one event of a batch can have its number
    // reused at once by the next worker's channel, and a stale event later in the same batch (its HUP) would
    // then be taken for the new worker's.
    std::uint32_t id;
    std::optional<std::uint32_t> load_entry;  // freed with the channel: a closed channel means it has exited
    // Connections in transit (RUNBOOK.md "Connections across reload, upgrade and restart"): what we send it,
    // kept until it says Adopted, and what it sends us.
    ChannelWriter out{true};
    ChannelReader in{};
    bool out_armed = false;      // EPOLLOUT requested while `out` is blocked
    std::uint64_t placed = 0;    // of its connections, how many went to other workers
    std::uint64_t returned = 0;  // and how many came back to it, there being no room anywhere
};

// The epoll tags of the upgrade channels (R61): never a worker's, whose ids count up from 0.
inline constexpr std::uint32_t kSuccessorChannelId = 0xffffffffu;
inline constexpr std::uint32_t kPredecessorChannelId = 0xfffffffeu;

class MasterLoop {
  public:
    MasterLoop(MasterSetup setup, Epoll epoll, SignalFd signals, TimerFd timer)
        : config_(std::move(setup.config)),
          worker_body_(std::move(setup.worker_body)),
          board_(setup.board),
          reload_(std::move(setup.reload)),
          listeners_(std::move(setup.listeners.sockets)),
          from_systemd_(setup.listeners.from_systemd),
          metrics_listener_(std::move(setup.listeners.metrics)),
          revived_(std::move(setup.listeners.stored)),
          epoll_(std::move(epoll)),
          signals_(std::move(signals)),
          timer_(std::move(timer)),
          oom_score_(std::move(setup.oom_score)),
          oom_kills_(std::move(setup.oom_kills)),
          supervisor_(supervisor_settings(config_), describe(listeners_)),
          rotation_(config_.leave_delay),
          metrics_(std::move(setup.metrics_body), epoll_, &oom_score_),
          exec_helper_(std::move(setup.exec_helper)) {
        if (setup.predecessor.valid())
            predecessor_.emplace(
                WorkerChannel{0, std::move(setup.predecessor), kPredecessorChannelId, std::nullopt});
    }

    int run(TimePoint now);

  private:
    // Handlers: read one source, hand what it said to the supervisor.
    void on_signals(TimePoint now);
    void on_signal(int signo, TimePoint now);
    void check_leave_due(TimePoint now);
    void on_timer(TimePoint now);
    void on_channel(std::uint32_t id, std::uint32_t events, TimePoint now);
    void drain_channel(WorkerChannel& channel, TimePoint now);

    // Connections in transit (master_handover.cpp).
    void on_parcel(WorkerChannel& from, Parcel parcel);
    void on_handed_over(WorkerChannel& from, std::uint64_t count);
    void place(Parcel parcel, WorkerChannel* origin);
    WorkerChannel* room_for_one(const WorkerChannel* origin);
    bool send_where_room(Parcel& parcel, const WorkerChannel* origin);
    void hand_over(pid_t pid);
    void flush(WorkerChannel& channel);
    void rehome_in_transit(WorkerChannel& gone);
    WorkerChannel* channel_of(pid_t pid);
    // The file descriptor store (R62): what a stop parks goes there, what the last instance parked comes
    // back.
    bool store(Parcel& parcel);
    void flush_store();
    void revive_stored();

    // Binary upgrade (master_upgrade.cpp, R61). The old master's side: is SIGHUP an upgrade, start it,
    // hear from the new master, fail safely; the new master's side: ask for the connections, adopt them,
    // become the main process once the old master has gone.
    bool start_upgrade(TimePoint now);
    void on_successor(std::uint32_t events, TimePoint now);
    void upgrade_failed(const std::string& why, TimePoint now);
    void check_upgrade_deadline(TimePoint now);
    bool successor_owes() const;
    void finish_upgrade();
    bool ask_predecessor();
    void on_predecessor(std::uint32_t events, TimePoint now);
    bool done() const { return supervisor_.finished() && !successor_owes(); }

    // Carrying out the supervisor's actions.
    void execute(const Actions& actions, TimePoint now);
    void spawn(unsigned slot, TimePoint now);
    void reap(int cause, TimePoint now);
    void reload(TimePoint now);
    void forget_channel(pid_t pid);

    void publish_status(TimePoint now, bool force);
    void refresh_figures();
    void arm_timer();

    Config config_;
    WorkerBody worker_body_;
    LoadBoard* board_;
    ConfigReload reload_;
    std::vector<Listener> listeners_;
    bool from_systemd_;
    // Kept open for every metrics process forked (they use the fd number metrics_body was bound with), and
    // through a drain: the page shows the stop as it happens.
    std::optional<Listener> metrics_listener_;
    std::vector<UniqueFd> revived_;      // from the store, until the workers accept (revive_stored())
    std::vector<UniqueFd> store_batch_;  // to send to the store (flush_store())
    std::uint64_t stored_ = 0;           // sent to the store at this stop
    std::uint64_t store_full_ = 0;       // parked, but over --fd-store: drained instead
    Epoll epoll_;
    SignalFd signals_;
    TimerFd timer_;
    Notifier notifier_;
    OomScore oom_score_;
    OomKillCounter oom_kills_;
    Supervisor supervisor_;
    Rotation rotation_;  // the leave before a graceful stop (R91), and what /ready says
    MetricsKeeper metrics_;
    std::vector<WorkerChannel> channels_;
    std::vector<char> channel_buffer_ = std::vector<char>(kChannelDatagram);  // one read at a time
    std::uint32_t next_channel_id_ = 0;
    const pid_t master_pid_ = getpid();

    ExecHelper exec_helper_;
    // The old master's upgrade in progress: its channel to the new master (pid 0 until the helper says),
    // the deadline for it to be ready, whether it is; parcels go out on it as to a worker.
    std::optional<WorkerChannel> successor_;
    std::optional<TimePoint> successor_deadline_;
    bool successor_ready_ = false;
    bool successor_hung_up_ = false;
    // The new master's channel to the master it replaces, until that one exits.
    std::optional<WorkerChannel> predecessor_;
    bool asked_predecessor_ = false;
    std::uint64_t taken_over_ = 0;  // connections adopted from the predecessor
    std::string status_note_;       // said before the status line: an upgrade's outcome

    std::optional<TimePoint> next_watchdog_;
    std::optional<TimePoint> expected_wake_;
    TimePoint next_status_{};
    bool status_pending_ = false;  // a STATUS= change held back by kStatusInterval
};

}  // namespace echo
