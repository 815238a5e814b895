// worker_loop.hpp: the worker's event loop: its state, the events that move it, the handlers that act.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/rate_limited_log.hpp"
#include "base/unique_fd.hpp"
#include "os/channel.hpp"
#include "os/epoll.hpp"
#include "os/signals.hpp"
#include "os/timer_fd.hpp"
#include "worker/connection.hpp"
#include "worker/idle_list.hpp"
#include "worker/memory_return.hpp"
#include "worker/worker.hpp"
#include "worker/worker_report.hpp"

namespace echo {

class WorkerLoop {
  public:
    WorkerLoop(const WorkerSettings& settings, WorkerStart start, Epoll epoll, SignalFd signals,
               TimerFd timer);

    // Serves until the state machine reaches Done; returns the worker's exit status.
    int run();

  private:
    // Serving: accepting and echoing. HandingOver: retired by a reload or a scale-down, sending every
    // connection to the master for another worker, until the master says Released (RUNBOOK.md "Connections
    // across reload, upgrade and restart"). Draining: not accepting, echoing the busy connections until they
    // are done or the drain deadline passes (RUNBOOK.md "Graceful stop"). Done: the loop ends.
    enum class State { Serving, HandingOver, Draining, Done };
    // What can change the state. Handlers report these to decide(); they never change the state themselves.
    enum class Event {
        Stop,           // SIGTERM or SIGINT
        FastStop,       // SIGQUIT
        MasterGone,     // the channel hung up
        DrainDeadline,  // --drain-timeout passed
        LifetimeEnd,    // the zombie demonstration's lifetime passed
        AllClosed,      // the last open connection closed
        HandOver,       // the master retires us: hand every connection over
        Released,       // the master has placed everything we handed over
    };

    // The one place that decides: (state, event) -> action and next state.
    void decide(Event event, TimePoint now);
    // Whether the listeners should be in the epoll set now (able, and the balance allows), and whether a
    // connection should be closed after an I/O step: the standing questions the state answers. Able: serving
    // and with room, what it tells the other workers; refresh_accepting() asks the balance too.
    bool able_to_accept() const;
    bool balance_allows(TimePoint now) const;
    // Whether a drain is done with it: quiet for the quiet period with nothing pending, or, once the deadline
    // has stopped the reading of a stop that parks, with everything it read echoed.
    bool quiet_for_drain(const Connection& c, TimePoint now) const;

    // Handlers: one per source, each acting on what it read.
    void on_signal(TimePoint now);
    void on_timer(TimePoint now);
    void on_listener(int fd, TimePoint now);
    void on_client(int fd, std::uint32_t events, TimePoint now);
    void on_channel(std::uint32_t events, TimePoint now);

    // Actions (accepting.cpp for the first four).
    void refresh_accepting();
    void accept_from(int fd, TimePoint now);
    void take_absorbed_wakeups(TimePoint now);
    void publish_load(TimePoint now);
    void pause_accepting(int err, TimePoint now);
    Connection* add_connection(UniqueFd fd,
                               TimePoint now);  // nullptr: it could not be watched, and is closed
    void warn_at_capacity(TimePoint now);
    void close_connection(Connection& c);
    void update_interest(Connection& c);
    void expire_idle(TimePoint now);
    void begin_drain(TimePoint now);
    std::size_t close_idle_for_drain(TimePoint now);
    void end_quiet(Connection& c);
    void finish(const char* why);
    // PROXY protocol headers (proxy_intake.cpp, R90).
    bool is_proxy_listener(int fd) const;
    void start_header_wait(Connection& c, const SocketAddress& peer, TimePoint now);
    void on_header_step(Connection& c, const HeaderStep& step, TimePoint now);
    void on_stray_header(TimePoint now);
    void expire_headers(TimePoint now);
    void count_proxy(ProxyResult result);
    void warn_bad_header(TimePoint now, ProxyResult result, std::string_view detail,
                         const SocketAddress* peer);
    // The hand-over (handover.cpp).
    void begin_hand_over(TimePoint now);
    void end_hand_over(TimePoint now);
    void adopt(Parcel parcel, TimePoint now);
    void send_away(Connection& c);
    void park_the_busy(TimePoint now);
    void end_parking();
    void flush_channel();
    void arm_adopted();
    void set_channel_interest(bool want_out);
    void send_report(WorkerReport::Kind kind);
    void arm_timer();

    const WorkerSettings settings_;
    WorkerStart start_;
    Epoll epoll_;
    SignalFd signals_;
    TimerFd timer_;
    std::unique_ptr<char[]> scratch_;  // one per worker: the direct echo path copies nothing per connection
    std::vector<UniqueFd> listeners_;  // our copies of start_.listen_fds, closed when the drain begins
    std::vector<std::unique_ptr<Connection>> by_fd_;
    IdleList<Connection, &Connection::idle_hook> idle_;  // least recently active first
    IdleList<HeaderWait, &HeaderWait::hook> awaiting_;   // connections awaiting a PROXY header, oldest first

    State state_ = State::Serving;
    const char* exit_reason_ = "";
    bool accepting_ = false;
    bool at_capacity_ = false;
    bool signal_read_failed_ = false;              // logged once; see on_signal()
    std::optional<TimePoint> accept_resume_at_;    // set while paused after a resource error
    std::optional<TimePoint> balance_recheck_at_;  // set while the balance keeps it from accepting
    std::optional<TimePoint> drain_deadline_;
    std::optional<TimePoint> next_drain_sweep_;
    std::optional<TimePoint> lifetime_end_;
    std::optional<TimePoint> hand_over_deadline_;
    TimePoint next_heartbeat_{};
    std::optional<TimePoint> timer_armed_for_;
    RateLimitedWarning accept_warning_;
    RateLimitedWarning capacity_warning_;
    RateLimitedWarning proxy_warning_;  // one line for every kind of bad header: a flood of them says it once
    ProxyCounts proxy_counts_{};

    std::uint32_t open_ = 0;
    MemoryReturn memory_return_;
    std::uint64_t accepted_ = 0;
    std::uint64_t accept_pauses_ = 0;
    EchoCounters counters_;

    // The channel's two directions. What we send in order: reports bypass the queue only while it is empty.
    ChannelWriter to_master_{false};
    ChannelReader from_master_;
    std::vector<char> channel_buffer_;  // allocated at the first message: most workers never get one
    std::vector<int> unarmed_;          // adopted, Adopted not yet sent: not to be touched before
    bool channel_out_armed_ = false;    // EPOLLOUT on the channel, while to_master_ is blocked
    std::uint64_t handed_over_ = 0;     // connections sent away
    std::uint64_t adopted_total_ = 0;   // connections taken on from other workers
    // A stop under systemd with the fd store (R62): connections go to the master once echoed, not closed.
    bool parking_ = false;
    bool park_flushing_ = false;    // past the drain deadline: reading stopped, parked once echoed
    bool parked_all_said_ = false;  // HandedOver sent: nothing more will be parked
    bool released_ = false;         // the master answered it
};

}  // namespace echo
