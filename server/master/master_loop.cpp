// master_loop.cpp: the master's event loop: reads its sources, hands each event to the supervisor and carries
// out the actions it returns. All the deciding is in supervisor.cpp; this file only does I/O.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "master/master_loop.hpp"
#include "os/reaper.hpp"
#include "os/spawn.hpp"

namespace echo {

sigset_t master_signals() {
    return Supervisor::signals_read();
}

namespace {

constexpr Duration kStatusInterval = seconds(1);  // STATUS= at most this often
constexpr Duration kStallTolerance = seconds(1);  // a timer this late means the master itself was not running

}  // namespace

SupervisorSettings supervisor_settings(const Config& c) {
    return {c.workers, c.worker_timeout, c.drain_timeout, c.zombie_mode, c.zombie_worker_lifetime};
}

int MasterLoop::run(TimePoint now) {
    int r = epoll_.add(signals_.fd(), EPOLLIN, {Source::Signal});
    if (r == 0) r = epoll_.add(timer_.fd(), EPOLLIN, {Source::Timer});
    if (r < 0) {
        spdlog::critical("epoll_ctl() failed while setting up the master: {}", errno_text(r));
        return kExitFailure;
    }
    for (const auto& l : listeners_)
        spdlog::info("listening on {}{}{}", l.name, from_systemd_ ? " (passed by systemd)" : "",
                     l.proxy ? " (expecting PROXY protocol headers)" : "");
    if (predecessor_) {
        // Started by an upgrade (R61): silent towards systemd until the old master has named us main.
        notifier_.hold(true);
        if (int e = epoll_.add(predecessor_->fd.get(), EPOLLIN, {Source::Channel, kPredecessorChannelId});
            e < 0) {
            spdlog::critical("epoll_ctl() failed for the upgrade channel: {}", errno_text(e));
            return kExitFailure;  // the old master sees the exit and keeps serving
        }
    }
    if (notifier_.watchdog_interval()) next_watchdog_ = now;
    execute(supervisor_.start(now), now);

    std::array<epoll_event, 64> events;
    while (!done()) {
        metrics_.tick(now);
        publish_status(now, false);
        arm_timer();
        int n = epoll_.wait(events);
        if (n < 0) {
            spdlog::critical("epoll_wait() failed in the master: {}", errno_text(n));
            return kExitFailure;
        }
        now = Clock::now();
        if (expected_wake_ && now > *expected_wake_ + kStallTolerance) {
            // The master was stopped (SIGSTOP, a debugger) or starved: its workers' heartbeats went unread.
            // Judging them on that gap would mass-kill healthy workers (RUNBOOK.md "Hung workers").
            spdlog::warn("master loop stalled for {:.1f}s; restarting every worker's heartbeat window",
                         to_seconds(now - *expected_wake_));
            supervisor_.restart_heartbeat_windows(now);
        }
        for (int i = 0; i < n && !done(); ++i) {
            const auto& ev = events[static_cast<std::size_t>(i)];
            EventTag tag = tag_of(ev);
            switch (tag.source) {
                case Source::Signal:
                    on_signals(now);
                    break;
                case Source::Timer:
                    on_timer(now);
                    break;
                case Source::Channel:
                    on_channel(tag.id, ev.events, now);
                    break;
                case Source::Metrics:
                    metrics_.on_hangup(now);
                    break;
                case Source::Listener:
                case Source::Client:
                    break;  // the master registers neither
            }
        }
    }
    metrics_.stop();
    flush_store();
    if (stored_ > 0 || store_full_ > 0)
        spdlog::info(
            "stopped: {} connection(s) kept in systemd's file descriptor store for the next start{}", stored_,
            store_full_ > 0
                ? fmt::format("; {} more drained instead (--fd-store {})", store_full_, config_.fd_store)
                : "");
    finish_upgrade();
    int code = supervisor_.exit_code();
    spdlog::info("master exiting with status {}", code);
    return code;
}

// ---- handlers ------------------------------------------------------------------------------------------

void MasterLoop::on_signals(TimePoint now) {
    refresh_figures();  // SIGUSR1's status shows the figures of this moment (R83)
    for (;;) {
        int signo = signals_.read_one();
        if (signo == 0) return;
        if (signo < 0) {
            spdlog::error("read() from the signalfd failed: {}", errno_text(signo));
            return;
        }
        on_signal(signo, now);
    }
}

void MasterLoop::on_timer(TimePoint now) {
    timer_.acknowledge();
    // Reports may be queued: the supervisor judges heartbeats on them, not on when the loop last looked.
    std::vector<pid_t> pids;
    for (const auto& c : channels_)
        pids.push_back(c.pid);
    for (pid_t pid : pids) {  // by pid: what a report leads to may add or remove channels
        auto it = std::find_if(channels_.begin(), channels_.end(), [&](auto& c) { return c.pid == pid; });
        if (it != channels_.end()) drain_channel(*it, now);
    }
    execute(supervisor_.on_tick(now), now);
    check_upgrade_deadline(now);
    check_leave_due(now);
    if (next_watchdog_ && now >= *next_watchdog_) {
        // Sent from the loop itself: a master wedged anywhere stops sending and systemd restarts it (R31).
        notifier_.watchdog();
        next_watchdog_ = now + *notifier_.watchdog_interval();
    }
}

void MasterLoop::on_channel(std::uint32_t id, std::uint32_t events, TimePoint now) {
    if (id == kSuccessorChannelId) return on_successor(events, now);
    if (id == kPredecessorChannelId) return on_predecessor(events, now);
    auto it = std::find_if(channels_.begin(), channels_.end(), [&](auto& c) { return c.id == id; });
    if (it == channels_.end()) return;
    pid_t pid = it->pid;
    if (events & EPOLLOUT) flush(*it);
    drain_channel(*it, now);
    if (events & (EPOLLHUP | EPOLLERR)) {
        forget_channel(pid);
        execute(supervisor_.on_channel_closed(pid, now), now);
    }
}

void MasterLoop::drain_channel(WorkerChannel& channel, TimePoint now) {
    pid_t pid = channel.pid;
    ChannelMessage m;
    // By pid on every turn: what a report leads to may fork a worker or forget one, which moves channels_
    // (a report can end a reload that retires workers, but never closes the reporting worker's channel before
    // its exit is reaped).
    for (WorkerChannel* ch = &channel; ch != nullptr; ch = channel_of(pid)) {
        int r = ch->in.next(ch->fd.get(), channel_buffer_, m);
        if (r == -EPROTO) {
            spdlog::error("a message from worker pid {} broke the channel's protocol; dropped", pid);
            continue;
        }
        // 0: nothing more now. An error (EOF included): the HUP that follows is handled by on_channel().
        if (r <= 0) break;
        switch (m.kind) {
            case MessageKind::Ready:
            case MessageKind::Heartbeat: {
                WorkerReport report;
                if (m.report.size() != sizeof report) break;  // not from this build: ignored
                std::memcpy(&report, m.report.data(), sizeof report);
                execute(supervisor_.on_report(pid, report, now), now);
                break;
            }
            case MessageKind::ParcelHead:
                on_parcel(*ch, std::move(m.parcel));
                break;
            case MessageKind::HandedOver:
                on_handed_over(*ch, m.count);
                break;
            case MessageKind::Adopted:
                ch->out.adopted(m.count);
                break;
            default:
                break;  // what only the master sends
        }
    }
    flush_store();  // what this batch of messages parked, in as few messages to systemd as may be
}

// ---- actions -------------------------------------------------------------------------------------------

void MasterLoop::execute(const Actions& actions, TimePoint now) {
    for (const Action& a : actions) {
        switch (a.kind) {
            case Action::Kind::Spawn:
                spawn(a.slot, now);
                break;
            case Action::Kind::HandOver:
                hand_over(a.pid);
                break;
            case Action::Kind::Signal:
                (void)kill(a.pid, a.signo);  // ESRCH: it died already; its exit is on the way through SIGCHLD
                break;
            case Action::Kind::Reap:
                reap(a.signo, now);
                break;
            case Action::Kind::ReloadConfig:
                reload(now);
                break;
            case Action::Kind::CloseListeners:
                listeners_.clear();
                break;
            case Action::Kind::NotifyReady:
                // Ready for a balancer's health check once its workers serve, a new master too (R91).
                rotation_.announced_ready();
                if (ask_predecessor()) break;  // a new master's first: the old master is still main
                notifier_.ready();
                revive_stored();
                break;
            case Action::Kind::NotifyReloading:
                notifier_.reloading();
                break;
            case Action::Kind::NotifyStopping:
                notifier_.stopping(a.delay);
                break;
            case Action::Kind::PublishStatus:
                publish_status(now, true);
                break;
            case Action::Kind::Log:
                log_event(a.level, a.fields, a.text);
                break;
        }
    }
}

void MasterLoop::spawn(unsigned slot, TimePoint now) {
    std::optional<std::uint32_t> entry = board_ ? board_->claim(slot) : std::nullopt;
    auto child = spawn_child(
        [&, generation = supervisor_.generation()](UniqueFd channel) {
            return worker_body_(config_, slot, generation, entry, std::move(channel));
        },
        &oom_score_);
    if (!child.ok()) {
        if (entry) board_->release(*entry);
        return execute(supervisor_.on_fork_failed(slot, child.error(), now), now);
    }
    int fd = child->channel.get();
    std::uint32_t id = next_channel_id_++;
    if (int r = epoll_.add(fd, EPOLLIN, {Source::Channel, id}); r < 0) {
        // Its reports could never be read: it would never count as serving (so READY=1 and a reload would
        // never come) and, with heartbeats on, would be killed as hung. Undo the spawn and back off instead.
        spdlog::error("epoll_ctl() failed for worker {}'s channel: {}; killing it", slot, errno_text(r));
        (void)kill(child->pid, SIGKILL);     // reaped as a child that was not a worker
        if (entry) board_->release(*entry);  // it may write once more before it dies: the next owner rewrites
        return execute(supervisor_.on_fork_failed(slot, r, now), now);
    }
    channels_.push_back({child->pid, std::move(child->channel), id, entry});
    pid_t pid = child->pid;
    execute(supervisor_.on_spawned(slot, pid, now), now);
    if (entry)
        if (const WorkerProcess* w = supervisor_.workers().find(pid); w != nullptr)
            board_->assign(*entry, pid, w->generation);
}

void MasterLoop::reap(int cause, TimePoint now) {
    auto exits = reap_exited_children();
    // The kernel counts an OOM kill before its victim can be reaped: this count covers this batch's SIGKILLs.
    std::optional<std::uint64_t> oom_kills;
    if (std::any_of(exits.begin(), exits.end(), [](auto& e) { return killed_by_sigkill(e.status); }))
        oom_kills = oom_kills_.new_kills();
    metrics_.take_exit(exits, now);  // not a worker: the supervisor never hears of it
    if (auto it =
            std::find_if(exits.begin(), exits.end(), [&](auto& e) { return e.pid == exec_helper_.pid(); });
        it != exits.end()) {
        spdlog::warn("the exec helper (pid {}) {}: no binary upgrade on SIGHUP any more", it->pid,
                     describe_exit(it->status));
        exits.erase(it);
    }
    for (const auto& exit : exits) {
        auto it =
            std::find_if(channels_.begin(), channels_.end(), [&](auto& c) { return c.pid == exit.pid; });
        if (it == channels_.end()) continue;
        drain_channel(*it, now);  // its last report still counts towards the totals
        forget_channel(exit.pid);
    }
    execute(supervisor_.on_reaped(exits, cause, now, oom_kills), now);
}

void MasterLoop::reload(TimePoint now) {
    if (start_upgrade(now)) return;  // a replaced binary: an upgrade instead (R61)
    ParsedConfig parsed = reload_();
    if (!parsed.error.empty()) return execute(supervisor_.on_reload_failed(parsed.error, now), now);
    Config next = std::move(parsed.config);
    auto changed = [](const std::vector<SocketAddress>& a, const std::vector<SocketAddress>& b) {
        return a.size() != b.size() || !std::equal(a.begin(), a.end(), b.begin(), [](auto& x, auto& y) {
                   return format_address(x) == format_address(y);
               });
    };
    if ((changed(next.listen, config_.listen) || changed(next.proxy_listen, config_.proxy_listen)) &&
        !from_systemd_)
        spdlog::warn("SIGHUP: a change of --listen or --proxy-listen needs a restart, ignoring it");
    next.listen = config_.listen;
    next.proxy_listen = config_.proxy_listen;
    // Which listeners expect PROXY headers was settled with the listeners (docs/PROXY.md "Which listeners").
    if (next.proxy_protocol != config_.proxy_protocol)
        spdlog::warn("SIGHUP: a change of --proxy-protocol needs a restart, ignoring it");
    next.proxy_protocol = config_.proxy_protocol;
    config_ = std::move(next);
    set_log_level(config_.log_level);
    rotation_.set_delay(config_.leave_delay);
    execute(supervisor_.on_reloaded(supervisor_settings(config_), now), now);
}

void MasterLoop::forget_channel(pid_t pid) {
    auto it = std::find_if(channels_.begin(), channels_.end(), [&](auto& c) { return c.pid == pid; });
    if (it == channels_.end()) return;
    rehome_in_transit(*it);  // moves nothing in channels_
    // Removed explicitly: a child forked a moment ago may still hold a copy of this fd, and an epoll
    // registration lives as long as any copy does. ENOENT/EBADF cannot happen for a registered fd; ignored.
    (void)epoll_.remove(it->fd.get());
    if (it->load_entry) {
        // Its final figures (it has exited) count towards the totals of the exited.
        supervisor_.note_figures(pid, board_->figures(*it->load_entry));
        board_->release(*it->load_entry);
    }
    channels_.erase(it);
}

// The workers' figures as the board holds them now, so the status does not lag a heartbeat behind (R83).
void MasterLoop::refresh_figures() {
    if (board_ == nullptr) return;
    for (const auto& c : channels_)
        if (c.load_entry) supervisor_.note_figures(c.pid, board_->figures(*c.load_entry));
}

void MasterLoop::publish_status(TimePoint now, bool force) {
    if (board_ != nullptr) {
        MasterFigures figures = supervisor_.figures();
        figures.master_pid = master_pid_;
        figures.readiness = rotation_.readiness(supervisor_.state());
        board_->publish_master(figures);
    }
    status_pending_ = !force && now < next_status_;
    if (status_pending_) return;
    refresh_figures();
    notifier_.status((rotation_.leaving() ? "leaving rotation; " : "") + status_note_ +
                     supervisor_.status_line());
    next_status_ = now + kStatusInterval;
}

void MasterLoop::arm_timer() {
    std::optional<TimePoint> next = supervisor_.next_deadline();
    auto consider = [&](std::optional<TimePoint> t) {
        if (t && (!next || *t < *next)) next = t;
    };
    consider(next_watchdog_);
    consider(rotation_.deadline());
    consider(metrics_.next_deadline());
    consider(successor_deadline_);
    if (status_pending_) consider(next_status_);
    expected_wake_ = next;
    if (int r = timer_.arm(next); r < 0)
        spdlog::error("timerfd_settime() failed in the master: {}", errno_text(r));
}

int run_master(MasterSetup setup) {
    auto epoll = Epoll::open();
    if (!epoll.ok())
        return spdlog::critical("epoll_create1() failed: {}", errno_text(epoll.error())), kExitFailure;
    auto signals = SignalFd::open(master_signals());
    if (!signals.ok())
        return spdlog::critical("signalfd() failed: {}", errno_text(signals.error())), kExitFailure;
    auto timer = TimerFd::open();
    if (!timer.ok())
        return spdlog::critical("timerfd_create() failed: {}", errno_text(timer.error())), kExitFailure;
    MasterLoop loop(std::move(setup), std::move(epoll).value(), std::move(signals).value(),
                    std::move(timer).value());
    return loop.run(Clock::now());
}

}  // namespace echo
