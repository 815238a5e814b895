// worker.cpp: the worker's event loop: accept, echo, expire idle connections, drain on SIGTERM.
#include "worker/worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "os/epoll.hpp"
#include "os/event_tag.hpp"
#include "os/seccomp_filter.hpp"
#include "os/signals.hpp"
#include "os/timer_fd.hpp"
#include "worker/connection.hpp"
#include "worker/memory_return.hpp"
#include "worker/worker_report.hpp"

namespace echo {
namespace {

constexpr Duration kAcceptPause = milliseconds(250);  // after EMFILE/ENFILE/ENOBUFS: R5's "back off"
constexpr Duration kWarningInterval = seconds(10);    // "log once per interval"
constexpr int kAcceptBatch = 64;
// During a drain a connection counts as idle only after this much silence: one accepted a moment before the
// stop, whose client's first bytes are still in flight, is not idle (RUNBOOK.md "Graceful stop").
constexpr Duration kDrainQuietPeriod = milliseconds(200);
constexpr Duration kDrainSweepInterval = milliseconds(100);

// A warning that repeats at most once per interval and says how many it swallowed.
class RateLimitedWarning {
  public:
    template <typename... Args>
    void warn(TimePoint now, fmt::format_string<Args...> format, Args&&... args) {
        if (now < next_) {
            ++suppressed_;
            return;
        }
        auto text = fmt::format(format, std::forward<Args>(args)...);
        if (suppressed_ > 0) text += fmt::format(" ({} more since the last report)", suppressed_);
        spdlog::warn("{}", text);
        suppressed_ = 0;
        next_ = now + kWarningInterval;
    }

  private:
    TimePoint next_{};
    std::uint64_t suppressed_ = 0;
};

class WorkerLoop {
  public:
    WorkerLoop(const WorkerSettings& settings, WorkerStart start, Epoll epoll, SignalFd signals,
               TimerFd timer)
        : settings_(settings),
          start_(std::move(start)),
          epoll_(std::move(epoll)),
          signals_(std::move(signals)),
          timer_(std::move(timer)),
          scratch_(std::make_unique_for_overwrite<char[]>(settings_.buffer_size)) {
        for (int fd : start_.listen_fds)
            listeners_.emplace_back(fd);
    }

    int run();

  private:
    enum class State { Serving, Draining, Done };

    // Handlers: one per source, each acting on what it read.
    void on_signal(TimePoint now);
    void on_timer(TimePoint now);
    void on_listener(int fd, TimePoint now);
    void on_client(int fd, std::uint32_t events, TimePoint now);

    // Actions.
    void refresh_accepting();
    void accept_pause(int err, TimePoint now);
    void add_connection(UniqueFd fd, TimePoint now);
    void close_connection(Connection& c);
    void update_interest(Connection& c);
    void touch(Connection& c);
    void unlink(Connection& c);  // out of the idle list (LRU), if it is in it
    void begin_drain(TimePoint now);
    bool idle_for_drain(const Connection& c, TimePoint now) const;
    std::size_t close_idle_for_drain(TimePoint now);
    void finish(const char* why);
    void send_report(WorkerReport::Kind kind);
    void arm_timer();

    const WorkerSettings settings_;
    WorkerStart start_;
    Epoll epoll_;
    SignalFd signals_;
    TimerFd timer_;
    std::unique_ptr<char[]> scratch_;  // one per worker: the direct echo path copies nothing per connection
    std::vector<UniqueFd> listeners_;
    std::vector<std::unique_ptr<Connection>> by_fd_;
    Connection* oldest_ = nullptr;  // least recently active; idle timeouts expire from here
    Connection* newest_ = nullptr;

    State state_ = State::Serving;
    bool accepting_ = false;
    bool at_capacity_ = false;
    std::optional<TimePoint> accept_resume_at_;  // set while paused after a resource error
    std::optional<TimePoint> drain_deadline_;
    std::optional<TimePoint> next_drain_sweep_;
    std::optional<TimePoint> lifetime_end_;
    TimePoint next_heartbeat_{};
    std::optional<TimePoint> timer_armed_for_;
    RateLimitedWarning accept_warning_;
    RateLimitedWarning capacity_warning_;

    std::uint32_t open_ = 0;
    MemoryReturn memory_return_;
    std::uint64_t accepted_ = 0;
    EchoCounters counters_;
};

int WorkerLoop::run() {
    TimePoint now = Clock::now();
    int r = epoll_.add(signals_.fd(), EPOLLIN, {Source::Signal});
    if (r == 0) r = epoll_.add(timer_.fd(), EPOLLIN, {Source::Timer});
    // No events requested: epoll still reports EPOLLHUP when the master's end closes (it died).
    if (r == 0) r = epoll_.add(start_.channel.get(), 0, {Source::Channel});
    if (r < 0) {
        spdlog::error("epoll_ctl() failed while setting up: {}", errno_text(r));
        return 1;
    }
    if (settings_.lifetime > Duration::zero()) lifetime_end_ = now + settings_.lifetime;
    refresh_accepting();
    if (!accepting_) return 1;
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
                    spdlog::warn("master pid {} is gone; exiting", start_.master_pid);
                    finish("master gone");
                    break;
                case Source::Listener:
                    on_listener(tag.fd(), now);
                    break;
                case Source::Client:
                    on_client(tag.fd(), event.events, now);
                    break;
            }
        }
    }
    return kWorkerExitOk;
}

void WorkerLoop::on_signal(TimePoint now) {
    for (int signo; (signo = signals_.read_one()) > 0;) {
        switch (signo) {
            case SIGTERM:
            case SIGINT:
                if (state_ == State::Serving) begin_drain(now);
                break;
            case SIGQUIT:
                spdlog::info("{}: fast stop, closing {} connection(s)", signal_name(signo), open_);
                finish("fast stop");
                return;
            default:
                break;  // not in the worker's signalfd set
        }
    }
}

void WorkerLoop::on_timer(TimePoint now) {
    timer_.acknowledge();
    timer_armed_for_.reset();
    if (now >= next_heartbeat_) {
        send_report(WorkerReport::Kind::Heartbeat);
        next_heartbeat_ = now + settings_.heartbeat_interval;
    }
    auto idle = settings_.idle_timeout;
    if (idle > Duration::zero()) {
        while (oldest_ != nullptr && oldest_->last_activity() + idle <= now) {
            spdlog::debug("closing connection fd {} after {:.1f}s without traffic", oldest_->fd(),
                          to_seconds(idle));
            close_connection(*oldest_);
        }
    }
    if (accept_resume_at_ && now >= *accept_resume_at_) {
        accept_resume_at_.reset();
        refresh_accepting();
    }
    if (drain_deadline_ && now >= *drain_deadline_) {
        std::size_t owed = 0;
        for (auto c = oldest_; c != nullptr; c = c->newer)
            owed += c->pending_bytes();
        spdlog::warn("drain deadline reached: closing {} busy connection(s), {} byte(s) not yet echoed",
                     open_, owed);
        finish("drain deadline");
        return;
    }
    if (next_drain_sweep_ && now >= *next_drain_sweep_) {
        close_idle_for_drain(now);
        next_drain_sweep_ = now + kDrainSweepInterval;
    }
    if (lifetime_end_ && now >= *lifetime_end_) {
        spdlog::info("zombie demonstration: worker lifetime reached, exiting");
        finish("lifetime reached");
    }
    if (state_ == State::Draining && open_ == 0) finish("drained");
}

void WorkerLoop::on_listener(int fd, TimePoint now) {
    for (int i = 0; i < kAcceptBatch && accepting_; ++i) {
        if (open_ >= settings_.max_connections) {
            capacity_warning_.warn(now, "at --max-connections {}: new connections wait in the backlog",
                                   settings_.max_connections);
            at_capacity_ = true;
            refresh_accepting();
            return;
        }
        int client = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client >= 0) {
            add_connection(UniqueFd(client), now);
            continue;
        }
        switch (errno) {
            case EAGAIN:
                return;  // another worker took it, or the backlog is empty
            case EINTR:
            case ECONNABORTED:  // the client gave up while queued
            case EPROTO:
            case EPERM:  // a firewall rule refused it
                continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                accept_pause(errno, now);
                return;
            default:
                accept_pause(errno, now);  // unknown: treat like exhaustion rather than spin on it
                return;
        }
    }
}

void WorkerLoop::accept_pause(int err, TimePoint now) {
    // With a level-triggered listener, retrying at once would spin on the same error while the backlog is
    // non-empty: stop watching the listeners for a while instead (R5).
    accept_warning_.warn(now, "accept4() failed: {}; pausing accepts for {}ms with {} connection(s) open",
                         errno_text(err), std::chrono::duration_cast<milliseconds>(kAcceptPause).count(),
                         open_);
    accept_resume_at_ = now + kAcceptPause;
    refresh_accepting();
}

void WorkerLoop::add_connection(UniqueFd fd, TimePoint now) {
    int one = 1;
    // R7: echo replies are small writes that must not wait for Nagle. Fails with EOPNOTSUPP on AF_UNIX
    // sockets a .socket unit may pass: nothing to disable there, ignored.
    (void)setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto index = static_cast<std::size_t>(fd.get());
    int raw = fd.get();
    if (by_fd_.size() <= index) by_fd_.resize(index + 1);
    auto conn = std::make_unique<Connection>(std::move(fd), settings_.buffer_size, now);
    if (int r = epoll_.add(raw, EPOLLIN, EventTag::of(raw, Source::Client)); r < 0) {
        spdlog::warn("epoll_ctl(ADD) failed for a new connection: {}; closing it", errno_text(r));
        return;  // conn's destructor closes the socket
    }
    conn->set_armed(EPOLLIN);
    ++open_;
    ++accepted_;
    memory_return_.opened(open_);
    by_fd_[index] = std::move(conn);
    touch(*by_fd_[index]);
}

void WorkerLoop::on_client(int fd, std::uint32_t events, TimePoint now) {
    auto index = static_cast<std::size_t>(fd);
    if (index >= by_fd_.size() || !by_fd_[index]) return;
    Connection& c = *by_fd_[index];
    // As redis ae does: an error or hang-up is handled as readable and writable, so the read or write itself
    // discovers what happened and the connection is closed along the normal path.
    if (events & (EPOLLERR | EPOLLHUP)) events |= EPOLLIN | EPOLLOUT;
    Connection::Step step = Connection::Step::Keep;
    if ((events & EPOLLOUT) && (c.armed_events() & EPOLLOUT)) step = c.on_writable(counters_, now);
    if (step == Connection::Step::Keep && (events & EPOLLIN))
        step = c.on_readable({scratch_.get(), settings_.buffer_size}, counters_, now);
    if (step == Connection::Step::Close || (state_ == State::Draining && idle_for_drain(c, now))) {
        close_connection(c);
        if (state_ == State::Draining && open_ == 0) finish("drained");
        return;
    }
    if (c.last_activity() == now) touch(c);
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

void WorkerLoop::unlink(Connection& c) {
    if (c.older) c.older->newer = c.newer;
    if (c.newer) c.newer->older = c.older;
    if (oldest_ == &c) oldest_ = c.newer;
    if (newest_ == &c) newest_ = c.older;
}

void WorkerLoop::touch(Connection& c) {
    if (newest_ == &c) return;
    unlink(c);  // if linked; then append at the newest end
    c.older = newest_;
    c.newer = nullptr;
    if (newest_) newest_->newer = &c;
    newest_ = &c;
    if (oldest_ == nullptr) oldest_ = &c;
}

void WorkerLoop::close_connection(Connection& c) {
    unlink(c);
    // close() removes the fd from the epoll set; no EPOLL_CTL_DEL needed (no other process shares this fd).
    by_fd_[static_cast<std::size_t>(c.fd())].reset();
    --open_;
    if (memory_return_.due_after_close(open_) && trim_heap())
        spdlog::debug("returned freed memory to the kernel; {} connection(s) open", open_);
    if (at_capacity_ && open_ < settings_.max_connections) {
        at_capacity_ = false;
        refresh_accepting();
    }
}

void WorkerLoop::refresh_accepting() {
    bool want = state_ == State::Serving && !at_capacity_ && !accept_resume_at_;
    if (want == accepting_) return;
    for (auto& l : listeners_) {
        // EPOLLEXCLUSIVE: one connection wakes one worker, not all of them (R2). Such a registration cannot
        // be modified, only removed and added again.
        int r = want ? epoll_.add(l.get(), EPOLLIN | EPOLLEXCLUSIVE, EventTag::of(l.get(), Source::Listener))
                     : epoll_.remove(l.get());
        if (r < 0) spdlog::error("epoll_ctl() on listening fd {} failed: {}", l.get(), errno_text(r));
        if (r < 0 && want) return;
    }
    accepting_ = want;
}

void WorkerLoop::begin_drain(TimePoint now) {
    state_ = State::Draining;
    refresh_accepting();
    // Our copies of the listening sockets go: once the master and every worker have closed theirs, the kernel
    // refuses new connections instead of queueing them for nobody.
    listeners_.clear();
    std::size_t closed = close_idle_for_drain(now);
    spdlog::info("draining: closed {} idle connection(s), serving {} busy one(s) for at most {:.1f}s", closed,
                 open_, to_seconds(settings_.drain_timeout));
    drain_deadline_ = now + settings_.drain_timeout;
    next_drain_sweep_ = now + kDrainSweepInterval;
    if (open_ == 0) finish("drained");
}

bool WorkerLoop::idle_for_drain(const Connection& c, TimePoint now) const {
    return now - c.last_activity() >= kDrainQuietPeriod && c.quiescent();
}

std::size_t WorkerLoop::close_idle_for_drain(TimePoint now) {
    std::size_t closed = 0;
    for (Connection* c = oldest_; c != nullptr;) {
        Connection* next = c->newer;
        if (idle_for_drain(*c, now)) {
            close_connection(*c);
            ++closed;
        }
        c = next;
    }
    return closed;
}

void WorkerLoop::finish(const char* why) {
    spdlog::debug("exiting ({}): {} connection(s) served, {} byte(s) echoed", why, accepted_,
                  counters_.bytes_written);
    state_ = State::Done;
}

void WorkerLoop::send_report(WorkerReport::Kind kind) {
    WorkerReport report{kind, open_, accepted_, counters_.bytes_written};
    // EAGAIN: the master is not reading right now (stopped, or busy); this heartbeat is dropped, the next
    // one carries the same news. EPIPE/ECONNRESET: the master is gone; the HUP on the channel handles that.
    (void)::send(start_.channel.get(), &report, sizeof report, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void WorkerLoop::arm_timer() {
    TimePoint next = next_heartbeat_;
    if (settings_.idle_timeout > Duration::zero() && oldest_ != nullptr)
        next = std::min(next, oldest_->last_activity() + settings_.idle_timeout);
    for (const auto& t : {accept_resume_at_, drain_deadline_, next_drain_sweep_, lifetime_end_})
        if (t) next = std::min(next, *t);
    // Every client event moves the idle deadline later; re-arming for it would cost a timerfd_settime() per
    // message. A timer armed no later than needed is left alone: if it fires early, on_timer() finds nothing
    // due and re-arms. So a ping-pong stays at one read and one send per message (R7).
    if (timer_armed_for_ && *timer_armed_for_ <= next) return;
    if (int r = timer_.arm(next); r < 0) {
        spdlog::error("timerfd_settime() failed: {}", errno_text(r));
        return;
    }
    timer_armed_for_ = next;
}

// Keeps the fds a worker needs and closes every other one it inherited from the master: its signalfd,
// timerfd and epoll, and the other workers' channels. A prefork child never exec()s, so O_CLOEXEC does not
// do this for us (docs/ARCHITECTURE.md "Signals across fork").
void close_inherited_fds(std::vector<int> keep) {
    keep.push_back(STDIN_FILENO);
    keep.push_back(STDOUT_FILENO);
    keep.push_back(STDERR_FILENO);
    std::sort(keep.begin(), keep.end());
    unsigned from = 0;
    for (int fd : keep) {
        if (static_cast<unsigned>(fd) > from) close_range(from, static_cast<unsigned>(fd) - 1, 0);
        from = static_cast<unsigned>(fd) + 1;
    }
    close_range(from, ~0U, 0);
}

}  // namespace

WorkerSettings worker_settings(const Config& config, SeccompMode seccomp) {
    WorkerSettings s;
    s.max_connections = config.max_connections;
    s.idle_timeout = config.idle_timeout;
    s.drain_timeout = config.drain_timeout;
    // A third of --worker-timeout, so two lost or late heartbeats are not yet a verdict; at most a second, so
    // the master's figures (STATUS=, SIGUSR1) stay fresh; at least 100 ms, so a tiny timeout cannot spin.
    Duration third = config.worker_timeout / 3;
    s.heartbeat_interval = third == Duration::zero() || third > seconds(1)
                               ? seconds(1)
                               : std::max<Duration>(third, milliseconds(100));
    s.buffer_size = config.buffer_size;
    if (config.zombie_mode) s.lifetime = config.zombie_worker_lifetime;
    s.seccomp = seccomp;
    return s;
}

int run_worker(const WorkerSettings& settings, WorkerStart start) {
    // Only the stop signals are read; the master's other signals mean nothing to a worker and must not
    // stop or kill it if they reach the whole process group (a terminal's ^C does, a `kill -HUP -PGID` may).
    reset_signals_in_child(make_sigset({SIGTERM, SIGINT, SIGQUIT}));
    for (int s : {SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGPIPE})
        signal(s, SIG_IGN);

    // R18: die with the master. The parent may already have died between fork() and prctl(), in which case
    // the signal will never come: check the parent after setting it, as the man page advises.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != start.master_pid) return 1;

    std::vector<int> keep = start.listen_fds;
    keep.push_back(start.channel.get());
    close_inherited_fds(std::move(keep));
    rename_logger(fmt::format("worker {}", start.slot));

    auto epoll = Epoll::open();
    auto signals = SignalFd::open(make_sigset({SIGTERM, SIGINT, SIGQUIT}));
    auto timer = TimerFd::open();
    for (int r : {epoll.error(), signals.error(), timer.error()}) {
        if (r == 0) continue;
        spdlog::error("cannot create the worker's event sources: {}", errno_text(r));
        return 1;  // EMFILE/ENOMEM are transient: let the master retry with back-off
    }
    if (!install_worker_filter(settings.seccomp)) return kWorkerExitFatal;
    WorkerLoop loop(settings, std::move(start), std::move(epoll).value(), std::move(signals).value(),
                    std::move(timer).value());
    return loop.run();
}

}  // namespace echo
