// worker_loop.cpp: the worker's event loop: one decision point, and the handlers that echo, expire and drain.
#include "worker/worker_loop.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "os/event_tag.hpp"
#include "worker/balance.hpp"

namespace echo {
namespace {

constexpr Duration kWarningInterval = seconds(10);  // rate-limited warnings: at most one line per interval
// During a drain a connection counts as idle only after this much silence: one accepted a moment before the
// stop, whose client's first bytes are still in flight, is not idle (RUNBOOK.md "Graceful stop").
constexpr Duration kDrainQuietPeriod = milliseconds(200);
constexpr Duration kDrainSweepInterval = milliseconds(100);

bool due(const std::optional<TimePoint>& deadline, TimePoint now) {
    return deadline && now >= *deadline;
}

bool idle_for_drain(const Connection& c, TimePoint now) {
    return now - c.last_activity() >= kDrainQuietPeriod && c.quiescent();
}

}  // namespace

WorkerLoop::WorkerLoop(const WorkerSettings& settings, WorkerStart start, Epoll epoll, SignalFd signals,
                       TimerFd timer)
    : settings_(settings),
      start_(std::move(start)),
      epoll_(std::move(epoll)),
      signals_(std::move(signals)),
      timer_(std::move(timer)),
      scratch_(std::make_unique_for_overwrite<char[]>(settings_.buffer_size)),
      accept_warning_(kWarningInterval),
      capacity_warning_(kWarningInterval),
      proxy_warning_(kWarningInterval) {
    for (int fd : start_.listen_fds)
        listeners_.emplace_back(fd);
}

int WorkerLoop::run() {
    TimePoint now = Clock::now();
    int r = epoll_.add(signals_.fd(), EPOLLIN, {Source::Signal});
    if (r == 0) r = epoll_.add(timer_.fd(), EPOLLIN, {Source::Timer});
    // Readable: the master's hand-over messages. EPOLLHUP comes anyway when the master's end closes (it
    // died).
    if (r == 0) r = epoll_.add(start_.channel.get(), EPOLLIN, {Source::Channel});
    if (r < 0) {
        spdlog::error("epoll_ctl() failed while setting up: {}", errno_text(r));
        return 1;
    }
    if (settings_.lifetime > Duration::zero()) lifetime_end_ = now + settings_.lifetime;
    refresh_accepting();
    if (!accepting_) return 1;  // refresh_accepting() said why
    send_report(WorkerReport::Kind::Ready);
    next_heartbeat_ = now + settings_.heartbeat_interval;
    spdlog::debug("accepting connections");

    std::array<epoll_event, 256> events;
    while (state_ != State::Done) {
        arm_timer();
        int n = epoll_.wait(events);
        if (n < 0) {
            spdlog::error("epoll_wait() failed: {}", errno_text(n));
            return 1;
        }
        now = Clock::now();
        for (int i = 0; i < n && state_ != State::Done; ++i) {
            const auto& event = events[static_cast<std::size_t>(i)];
            EventTag tag = tag_of(event);
            switch (tag.source) {
                case Source::Signal:
                    on_signal(now);
                    break;
                case Source::Timer:
                    on_timer(now);
                    break;
                case Source::Channel:
                    on_channel(event.events, now);
                    break;
                case Source::Listener:
                    on_listener(tag.fd(), now);
                    break;
                case Source::Client:
                    on_client(tag.fd(), event.events, now);
                    break;
                case Source::Metrics:
                    break;  // the master's alone
            }
            // "Anything left?" after every event, whichever handler closed the last connection.
            if (open_ == 0) decide(Event::AllClosed, now);
        }
    }
    spdlog::debug("exiting ({}): {} connection(s) served, {} byte(s) echoed", exit_reason_, accepted_,
                  counters_.bytes_written);
    return kWorkerExitOk;
}

// The state table. Serving: Stop drains, HandOver hands over. HandingOver: Stop changes nothing (what comes
// back is drained once Released says everything else has a home), the deadline ends it, Released ends it or
// drains what came back. Draining: a second Stop changes nothing, the drain deadline ends it, and so does the
// last connection closing. In any, SIGQUIT, the master's death and the lifetime's end finish at once. Done
// decides nothing more.
void WorkerLoop::decide(Event event, TimePoint now) {
    if (state_ == State::Done) return;
    switch (event) {
        case Event::Stop:
            if (state_ == State::Serving) begin_drain(now);
            break;
        case Event::HandOver:
            if (state_ == State::Serving) begin_hand_over(now);
            break;
        case Event::Released:
            if (state_ == State::HandingOver) end_hand_over(now);
            if (state_ == State::Draining && parking_) released_ = true;
            break;
        case Event::FastStop:
            spdlog::info("SIGQUIT: fast stop, closing {} connection(s)", open_);
            finish("fast stop");
            break;
        case Event::MasterGone:
            spdlog::warn("master pid {} is gone; exiting", start_.master_pid);
            finish("master gone");
            break;
        case Event::DrainDeadline: {
            if (state_ == State::HandingOver) {
                spdlog::warn(
                    "hand-over not released by the master within {:.1f}s; exiting with {} connection(s)",
                    to_seconds(settings_.drain_timeout), open_);
                finish("hand-over deadline");
                break;
            }
            std::size_t owed = 0;
            for (const Connection& c : idle_)
                owed += c.pending_bytes();
            if (parking_ && !park_flushing_) {
                park_the_busy(now);  // the store takes them once what they read is echoed
                break;
            }
            spdlog::warn("drain deadline reached: closing {} busy connection(s), {} byte(s) not yet echoed",
                         open_, owed);
            if (!parking_) {
                finish("drain deadline");
                break;
            }
            // What was parked must still reach the master: close the rest, then end as a stop that parks.
            drain_deadline_.reset();
            while (!idle_.empty())
                close_connection(*idle_.oldest());
            break;
        }
        case Event::LifetimeEnd:
            spdlog::info("zombie demonstration: worker lifetime reached, exiting");
            finish("lifetime reached");
            break;
        case Event::AllClosed:
            break;
    }
    if (state_ == State::Draining && open_ == 0) {
        if (!parking_) return finish("drained");
        end_parking();
    }
}

bool WorkerLoop::able_to_accept() const {
    return state_ == State::Serving && !at_capacity_ && !accept_resume_at_;
}

bool WorkerLoop::balance_allows(TimePoint now) const {
    if (start_.board == nullptr || !start_.load_entry) return true;
    return may_take_more(open_, start_.board->least_loaded_other(*start_.load_entry, now));
}

bool WorkerLoop::quiet_for_drain(const Connection& c, TimePoint now) const {
    if (state_ != State::Draining) return false;
    // Awaiting its PROXY header, a connection is not idle but waiting for the balancer: its header's
    // deadline decides (docs/PROXY.md "Reload, hand-over and stop").
    if (c.awaiting_header() && settings_.proxy_timeout > Duration::zero()) return false;
    if (park_flushing_ && !c.kept_here() && c.pending_bytes() == 0)
        return true;  // echoed all it read: parked
    return idle_for_drain(c, now);
}

void WorkerLoop::on_signal(TimePoint now) {
    int signo = 0;
    while (state_ != State::Done && (signo = signals_.read_one()) > 0) {
        switch (signo) {
            case SIGTERM:
            case SIGINT:
                decide(Event::Stop, now);
                break;
            case SIGQUIT:
                decide(Event::FastStop, now);
                break;
            default:
                break;  // not in the worker's signalfd set
        }
    }
    // EINTR is retried and EAGAIN ends the loop; anything else (EBADF, EFAULT) is a bug, not a condition we
    // can wait out. Said once, not once per wake-up: the fd stays readable, epoll reports it again, and a
    // later read may yet succeed. Should it never, the master's SIGKILL after the drain timeout still ends
    // us.
    if (signo < 0 && !signal_read_failed_) {
        signal_read_failed_ = true;
        spdlog::error("read() from the signalfd failed: {}; carrying on, stop signals may be missed",
                      errno_text(signo));
    }
}

void WorkerLoop::on_timer(TimePoint now) {
    timer_.acknowledge();
    timer_armed_for_.reset();
    if (now >= next_heartbeat_) {
        send_report(WorkerReport::Kind::Heartbeat);
        publish_load(now);  // keeps its figure fresh for the others (LoadBoard::kStale)
        next_heartbeat_ = now + settings_.heartbeat_interval;
    }
    expire_idle(now);
    expire_headers(now);
    if (due(accept_resume_at_, now)) {
        accept_resume_at_.reset();
        refresh_accepting();
    }
    if (due(balance_recheck_at_, now)) {
        balance_recheck_at_.reset();
        refresh_accepting();  // the others' figures may have moved; sets the next recheck if still behind
    }
    if (due(drain_deadline_, now) || (state_ == State::HandingOver && due(hand_over_deadline_, now))) {
        decide(Event::DrainDeadline, now);
        return;
    }
    if (due(next_drain_sweep_, now)) {
        close_idle_for_drain(now);
        next_drain_sweep_ = now + kDrainSweepInterval;
    }
    if (due(lifetime_end_, now)) decide(Event::LifetimeEnd, now);
}

void WorkerLoop::on_client(int fd, std::uint32_t events, TimePoint now) {
    auto index = static_cast<std::size_t>(fd);
    if (index >= by_fd_.size() || !by_fd_[index]) return;  // closed earlier in this batch
    Connection& c = *by_fd_[index];
    // As redis ae does: an error or hang-up is handled as readable and writable, so the read or write itself
    // discovers what happened and the connection is closed along the normal path.
    if (events & (EPOLLERR | EPOLLHUP)) events |= EPOLLIN | EPOLLOUT;
    IoOutcome outcome;
    if ((events & EPOLLOUT) && (c.armed_events() & EPOLLOUT)) outcome = c.on_writable(counters_, now);
    const std::span<char> scratch{scratch_.get(), settings_.buffer_size};
    if (!outcome.close && (events & EPOLLIN) && c.awaiting_header()) {
        HeaderStep step = c.on_header_readable(scratch, counters_, now);
        outcome = outcome.then({step.active, step.close});
        if (step.result) on_header_step(c, step, now);
    } else if (!outcome.close && (events & EPOLLIN)) {
        outcome = outcome.then(c.on_readable(scratch, counters_, now));
        if (outcome.stray_header) on_stray_header(now);
    }
    // Current figures for the master's status and the metrics page (R83): one relaxed store, no call.
    if (start_.board != nullptr && start_.load_entry)
        start_.board->publish_bytes(*start_.load_entry, counters_.bytes_written);
    if (outcome.close) {
        close_connection(c);
        return;
    }
    if (quiet_for_drain(c, now)) {
        end_quiet(c);
        if (parking_) flush_channel();
        return;
    }
    if (outcome.active) idle_.touch(c);
    update_interest(c);
}

void WorkerLoop::update_interest(Connection& c) {
    auto wanted = c.wanted_events();
    if (wanted == c.armed_events()) return;
    if (wanted == 0) {
        close_connection(c);
        return;
    }
    if (int r = epoll_.modify(c.fd(), wanted, EventTag::of(c.fd(), Source::Client)); r < 0) {
        spdlog::warn("epoll_ctl(MOD) failed for fd {}: {}; closing the connection", c.fd(), errno_text(r));
        close_connection(c);
        return;
    }
    c.set_armed(wanted);
}

void WorkerLoop::close_connection(Connection& c) {
    idle_.remove(c);
    if (HeaderWait* wait = c.header_wait()) awaiting_.remove(*wait);
    // close() removes the fd from the epoll set only once no process holds the socket; an adopted one may
    // still be held by the master (connection.hpp), so it leaves explicitly. ENOENT (never armed) is fine.
    if (c.adopted()) (void)epoll_.remove(c.fd());
    by_fd_[static_cast<std::size_t>(c.fd())].reset();
    --open_;
    if (memory_return_.due_after_close(open_) && trim_heap())
        spdlog::debug("returned freed memory to the kernel; {} connection(s) open", open_);
    if (at_capacity_ && open_ < settings_.max_connections) at_capacity_ = false;
    refresh_accepting();  // one fewer may put it back among the least loaded
}

void WorkerLoop::expire_idle(TimePoint now) {
    const auto idle = settings_.idle_timeout;
    if (idle <= Duration::zero()) return;  // --idle-timeout 0: never
    while (!idle_.empty() && idle_.oldest()->last_activity() + idle <= now) {
        spdlog::debug("closing connection fd {} after {:.1f}s without traffic", idle_.oldest()->fd(),
                      to_seconds(idle));
        close_connection(*idle_.oldest());
    }
}

void WorkerLoop::begin_drain(TimePoint now) {
    state_ = State::Draining;
    refresh_accepting();
    // Our copies of the listening sockets go: once the master and every worker have closed theirs, the kernel
    // refuses new connections instead of queueing them for nobody.
    listeners_.clear();
    start_.listen_fds.clear();
    drain_deadline_ = now + settings_.drain_timeout;
    next_drain_sweep_ = now + kDrainSweepInterval;
    parking_ = settings_.park_on_stop;
    std::size_t closed = close_idle_for_drain(now);
    spdlog::info("draining: {} {} idle connection(s), serving {} busy one(s) for at most {:.1f}s", closed,
                 parking_ ? "parked for systemd's file descriptor store" : "closed", open_,
                 to_seconds(settings_.drain_timeout));
}

std::size_t WorkerLoop::close_idle_for_drain(TimePoint now) {
    std::size_t closed = 0;
    for (Connection& c : idle_) {  // closing the current one is safe (idle_list.hpp)
        if (!quiet_for_drain(c, now)) continue;
        end_quiet(c);
        ++closed;
    }
    if (parking_ && closed > 0) flush_channel();
    return closed;
}

// What a drain does to a connection that has gone quiet: closes it, or, when the stop keeps connections for
// the next instance (R62), sends it to the master for systemd's file descriptor store.
void WorkerLoop::end_quiet(Connection& c) {
    // One still awaiting its PROXY header is closed: the bytes of it read so far would not travel with the
    // socket (docs/PROXY.md "Reload, hand-over and stop").
    if (parking_ && !c.kept_here() && !c.awaiting_header())
        send_away(c);
    else
        close_connection(c);
}

void WorkerLoop::finish(const char* why) {
    state_ = State::Done;
    exit_reason_ = why;
}

void WorkerLoop::send_report(WorkerReport::Kind kind) {
    // While hand-over messages wait, a heartbeat would only add to the queue: they show life as well.
    if (!to_master_.empty()) return;
    WorkerReport report{kind, open_, accepted_, counters_.bytes_written};
    // EAGAIN: the master is not reading right now (stopped, or busy); this heartbeat is dropped, the next
    // one carries the same news. EPIPE/ECONNRESET: the master is gone; the HUP on the channel handles that.
    (void)::send(start_.channel.get(), &report, sizeof report, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void WorkerLoop::arm_timer() {
    TimePoint next = next_heartbeat_;
    if (settings_.idle_timeout > Duration::zero() && !idle_.empty())
        next = std::min(next, idle_.oldest()->last_activity() + settings_.idle_timeout);
    if (!awaiting_.empty()) next = std::min(next, awaiting_.oldest()->deadline);
    for (const auto& t : {accept_resume_at_, balance_recheck_at_, drain_deadline_, next_drain_sweep_,
                          lifetime_end_, hand_over_deadline_})
        if (t) next = std::min(next, *t);
    // Every client event moves the idle deadline later; re-arming for it would cost a timerfd_settime() per
    // message. A timer armed no later than needed is left alone: if it fires early, on_timer() finds nothing
    // due and re-arms. So a ping-pong stays at one read and one send per message (RUNBOOK.md "Reading
    // `strace -c`").
    if (timer_armed_for_ && *timer_armed_for_ <= next) return;
    if (int r = timer_.arm(next); r < 0) {
        // Not fatal: timer_armed_for_ stays unset, so the next iteration tries again; the heartbeats that
        // go missing meanwhile make the master notice a worker that cannot keep time.
        spdlog::error("timerfd_settime() failed: {}", errno_text(r));
        return;
    }
    timer_armed_for_ = next;
}

}  // namespace echo
