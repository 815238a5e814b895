// master_upgrade.cpp: binary upgrade (R61): the old master starts the new binary beside itself through the
// exec helper, hands it every connection once it serves, names it the main process and exits; the new master
// adopts them. A new master that fails leaves the old one serving, its connections untouched.
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>

#include "base/log.hpp"
#include "master/master_loop.hpp"
#include "version.hpp"

namespace echo {
namespace {

// Long enough for a new master to fork its workers and every one to say Ready on a loaded machine; short
// enough that a hung one does not hold the reload for long (docs/UPGRADE.md).
constexpr Duration kSuccessorReadyTimeout = seconds(30);
constexpr const char* kEchoListenerName = "echo";
constexpr const char* kProxyListenerName = "proxy";  // is_proxy_socket_name(): still expects PROXY headers
constexpr const char* kMetricsListenerName = "metrics";  // what open_listeners() takes for the metrics page

}  // namespace

// SIGHUP's configuration re-read comes here first: a replaced binary makes it an upgrade.
bool MasterLoop::start_upgrade(TimePoint now) {
    if (predecessor_ || !exec_helper_.binary_changed()) return false;
    if (successor_) {
        spdlog::info("SIGHUP: an upgrade is already under way (new master pid {}); ignoring",
                     successor_->pid);
        return true;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0) {
        upgrade_failed(fmt::format("socketpair() failed: {}", errno_text(-errno)), now);
        return true;
    }
    UniqueFd ours(pair[0]), theirs(pair[1]);
    std::vector<std::pair<int, std::string>> passed;
    for (const auto& l : listeners_)
        passed.emplace_back(l.fd.get(), l.proxy ? kProxyListenerName : kEchoListenerName);
    if (metrics_listener_) passed.emplace_back(metrics_listener_->fd.get(), kMetricsListenerName);
    if (int r = exec_helper_.request_exec(theirs.get(), passed); r < 0) {
        upgrade_failed(fmt::format("the exec helper did not take the request: {}", errno_text(r)), now);
        return true;
    }
    if (int r = epoll_.add(ours.get(), EPOLLIN, {Source::Channel, kSuccessorChannelId}); r < 0) {
        // The helper starts it all the same; without its channel it never gets a connection, and the
        // deadline kills it (its pid comes from its exit, or never: then it is an orphan that exits at the
        // channel's hang-up, when `ours` closes below).
        upgrade_failed(fmt::format("epoll_ctl() failed: {}", errno_text(r)), now);
        return true;
    }
    successor_.emplace(WorkerChannel{0, std::move(ours), kSuccessorChannelId, std::nullopt});
    successor_deadline_ = now + kSuccessorReadyTimeout;
    successor_ready_ = successor_hung_up_ = false;
    spdlog::info(
        "SIGHUP: {} was replaced: upgrade: starting it beside this master (echo-hardened {}, pid {})",
        exec_helper_.path(), kVersion, master_pid_);
    return true;
}

void MasterLoop::on_successor(std::uint32_t events, TimePoint now) {
    if (!successor_) return;
    if (events & EPOLLOUT) flush(*successor_);
    ChannelMessage m;
    while (successor_ && !successor_hung_up_) {
        int r = successor_->in.next(successor_->fd.get(), channel_buffer_, m);
        if (r == -EPROTO) continue;  // dropped, what it carried closed: not from a build of ours
        if (r <= 0) break;
        switch (m.kind) {
            case MessageKind::SuccessorStarted:
                if (m.count == 0) return upgrade_failed("the exec helper could not start it", now);
                successor_->pid = static_cast<pid_t>(m.count);
                spdlog::info("upgrade: new master started (pid {}); waiting for its workers",
                             successor_->pid);
                break;
            case MessageKind::SuccessorReady:
                if (successor_ready_) break;
                successor_ready_ = true;
                successor_deadline_.reset();
                execute(supervisor_.hand_to_successor(now), now);
                break;
            case MessageKind::Adopted:
                successor_->out.adopted(m.count);
                break;
            default:
                break;
        }
    }
    if (!successor_ || !(events & (EPOLLHUP | EPOLLERR))) return;
    // Its end closed: it exited (it is not our child: its own lines say why) or broke the protocol; either
    // way nothing more can go to it.
    (void)epoll_.remove(successor_->fd.get());  // cannot fail for a registered fd
    successor_hung_up_ = true;
    if (!successor_ready_)
        return upgrade_failed(
            successor_->pid > 0
                ? fmt::format("the new master (pid {}) exited before it was ready (its own lines say why)",
                              successor_->pid)
                : std::string("the new master could not be started (the exec helper's lines say why)"),
            now);
    std::vector<Parcel> lost = successor_->out.take_back();
    spdlog::error(
        "upgrade: the new master (pid {}) went away during the hand-over; {} connection(s) on their "
        "way to it closed",
        successor_->pid, lost.size());
}

void MasterLoop::check_upgrade_deadline(TimePoint now) {
    if (!successor_deadline_ || now < *successor_deadline_) return;
    pid_t pid = successor_ ? successor_->pid : 0;
    if (pid > 0) (void)kill(pid, SIGKILL);  // ESRCH: it exited already
    upgrade_failed(fmt::format("the new master (pid {}) was not ready within {:.0f}s; killed it", pid,
                               to_seconds(kSuccessorReadyTimeout)),
                   now);
}

// Nothing had left the workers: they serve on, and systemd's reload ends with READY=1.
void MasterLoop::upgrade_failed(const std::string& why, TimePoint now) {
    if (successor_ && !successor_hung_up_) (void)epoll_.remove(successor_->fd.get());
    successor_.reset();
    successor_deadline_.reset();
    log_event(
        spdlog::level::err, {.event = LogEvent::UpgradeFailed},
        fmt::format("upgrade failed: {}; still serving with the running binary (echo-hardened {}, pid {})",
                    why, kVersion, master_pid_));
    status_note_ =
        "upgrade failed (journalctl MESSAGE_ID=" + std::string(message_id(LogEvent::UpgradeFailed)) + "); ";
    publish_status(now, true);
    notifier_.ready();
}

// Handed-over connections the new master has not said it adopted: the old master holds them until it does.
bool MasterLoop::successor_owes() const {
    return successor_ && successor_ready_ && !successor_hung_up_ &&
           (!successor_->out.empty() || successor_->out.parcels_unadopted() > 0);
}

void MasterLoop::finish_upgrade() {
    if (!successor_ || !successor_ready_ || successor_hung_up_) return;
    log_event(
        spdlog::level::info, {},
        fmt::format("upgrade: handed {} connection(s) to the new master (pid {}); it is the main process "
                    "now, exiting",
                    successor_->out.parcels_sent(), successor_->pid));
    notifier_.hand_over_main(successor_->pid);
}

// ---- the new master's side -----------------------------------------------------------------------------

// In place of the first READY=1: the old master is still the main process.
bool MasterLoop::ask_predecessor() {
    if (!predecessor_ || asked_predecessor_) return false;
    asked_predecessor_ = true;
    predecessor_->out.push(MessageKind::SuccessorReady);
    flush(*predecessor_);
    spdlog::info("upgrade: every worker serves; asking the old master for its connections");
    return true;
}

void MasterLoop::on_predecessor(std::uint32_t events, TimePoint now) {
    if (!predecessor_) return;
    if (events & EPOLLOUT) flush(*predecessor_);
    ChannelMessage m;
    std::uint64_t adopted = 0;
    for (;;) {
        int r = predecessor_->in.next(predecessor_->fd.get(), channel_buffer_, m);
        if (r == -EPROTO) continue;
        if (r <= 0) break;
        if (m.kind != MessageKind::ParcelHead) continue;
        // Ours now (placing keeps a copy until a worker adopts it): adopted at once, so the old master may
        // let go.
        place(std::move(m.parcel), nullptr);
        ++adopted;
    }
    if (adopted > 0) {
        taken_over_ += adopted;
        predecessor_->out.push(MessageKind::Adopted, adopted);
        flush(*predecessor_);
    }
    if (!(events & (EPOLLHUP | EPOLLERR))) return;
    // The old master has exited, MAINPID= naming this one first: the service is ours to report.
    (void)epoll_.remove(predecessor_->fd.get());  // cannot fail for a registered fd
    predecessor_.reset();
    notifier_.hold(false);
    log_event(spdlog::level::info, {.event = LogEvent::UpgradeDone},
              fmt::format("upgrade: now running echo-hardened {} (pid {}); {} connection(s) taken over",
                          kVersion, master_pid_, taken_over_));
    status_note_ = fmt::format("echo-hardened {} (upgraded); ", kVersion);
    publish_status(now, true);
    notifier_.ready();
}

}  // namespace echo
