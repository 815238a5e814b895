// accepting.cpp: the worker's side of the listening sockets: accepting, pausing, taking on a connection.
#include "worker/accepting.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "base/log.hpp"
#include "os/event_tag.hpp"
#include "worker/worker_loop.hpp"

namespace echo {
namespace {

// After EMFILE/ENFILE/ENOBUFS/ENOMEM: back off rather than spin on the error (RUNBOOK.md "Limits").
constexpr Duration kAcceptPause = milliseconds(250);
constexpr int kAcceptBatch = 64;
// While the balance keeps a worker from accepting, how often it looks at the others' figures again: a worker
// behind by more than the margin rejoins within this, and an idle board costs nothing (no one is behind).
constexpr Duration kBalanceRecheck = milliseconds(20);

}  // namespace

void WorkerLoop::on_listener(int fd, TimePoint now) {
    accept_from(fd, now);
}

// A wake-up for a listener is this worker's to use: with EPOLLEXCLUSIVE the kernel woke no other worker for
// that connection. So at least one accept is tried even when the balance took the listeners away earlier in
// this batch (a close can), and after that the loop goes on only while the worker still wants more.
void WorkerLoop::accept_from(int fd, TimePoint now) {
    const bool proxy = is_proxy_listener(fd);
    for (int i = 0; i < kAcceptBatch && (accepting_ || i == 0); ++i) {
        if (state_ != State::Serving || accept_resume_at_) return;
        if (open_ >= settings_.max_connections) {
            warn_at_capacity(now);
            return;
        }
        // A proxy listener's peer is the balancer: its address is logged with the header (docs/PROXY.md
        // "Logs").
        SocketAddress peer;
        peer.length = sizeof peer.storage;
        int client = proxy ? accept4(fd, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC)
                           : accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client >= 0) {
            Connection* c = add_connection(UniqueFd(client), now);
            if (c != nullptr && proxy) start_header_wait(*c, peer, now);
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
                pause_accepting(errno, now);
                return;
            default:
                pause_accepting(errno, now);  // unknown: treat like exhaustion rather than spin on it
                return;
        }
    }
}

void WorkerLoop::warn_at_capacity(TimePoint now) {
    capacity_warning_.warn(now, "at --max-connections {}: new connections wait in the backlog",
                           settings_.max_connections);
    at_capacity_ = true;
    refresh_accepting();
}

void WorkerLoop::pause_accepting(int err, TimePoint now) {
    // With a level-triggered listener, retrying at once would spin on the same error while the backlog is
    // non-empty: stop watching the listeners for a while instead.
    accept_warning_.warn(now, "accept4() failed: {}; pausing accepts for {}ms with {} connection(s) open",
                         errno_text(err), std::chrono::duration_cast<milliseconds>(kAcceptPause).count(),
                         open_);
    accept_resume_at_ = now + kAcceptPause;
    ++accept_pauses_;
    if (start_.board != nullptr && start_.load_entry)
        start_.board->publish_accept_pauses(*start_.load_entry, accept_pauses_);
    refresh_accepting();
}

Connection* WorkerLoop::add_connection(UniqueFd fd, TimePoint now) {
    int one = 1;
    // Echo replies are small writes that must not wait for Nagle. Fails with EOPNOTSUPP on AF_UNIX sockets a
    // .socket unit may pass: nothing to disable there, ignored.
    (void)setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto index = static_cast<std::size_t>(fd.get());
    int raw = fd.get();
    if (by_fd_.size() <= index) by_fd_.resize(index + 1);
    auto conn = std::make_unique<Connection>(std::move(fd), settings_.buffer_size, now);
    if (int r = epoll_.add(raw, EPOLLIN, EventTag::of(raw, Source::Client)); r < 0) {
        spdlog::warn("epoll_ctl(ADD) failed for a new connection: {}; closing it", errno_text(r));
        return nullptr;  // conn's destructor closes the socket
    }
    conn->set_armed(EPOLLIN);
    ++open_;
    ++accepted_;
    memory_return_.opened(open_);
    by_fd_[index] = std::move(conn);
    idle_.touch(*by_fd_[index]);
    // After each accept, not each batch: a worker that got ahead leaves the listeners before the next
    // connection arrives, so the kernel's one wake-up goes to a worker that wants it. Having been woken,
    // it took this one: every wake-up accepts at least one connection, so none waits for nobody.
    refresh_accepting();
    return by_fd_[index].get();
}

// Leaving the listeners for the balance's sake can swallow a wake-up: one the kernel gave this worker for a
// connection that arrived while it was busy, whose readiness the EPOLL_CTL_DEL just removed, and for which
// no other worker was woken. Such a connection would wait for the next arrival. So, once out of the wait
// queues (arrivals from now on wake the others), whatever is already queued is taken here. Usually there is
// nothing, and this costs one accept4() that fails with EAGAIN per listener.
void WorkerLoop::take_absorbed_wakeups(TimePoint now) {
    for (int fd : start_.listen_fds)
        accept_from(fd, now);
}

void WorkerLoop::publish_load(TimePoint now) {
    if (start_.board != nullptr && start_.load_entry)
        start_.board->publish(*start_.load_entry, open_, accepted_, able_to_accept(), now);
}

void WorkerLoop::refresh_accepting() {
    // Called from every accept and close, most of which carry no time: the clock is read once, here.
    const TimePoint now = Clock::now();
    publish_load(now);
    bool able = able_to_accept();
    bool want = able && balance_allows(now);
    if (able && !want && !balance_recheck_at_) balance_recheck_at_ = now + kBalanceRecheck;
    if (want || !able) balance_recheck_at_.reset();
    if (want == accepting_) return;
    if (!want) {
        for (auto& l : listeners_) {
            // Only ENOENT can be left once it was added, and then it is not registered either: logged, and
            // the listener counts as removed.
            if (int r = epoll_.remove(l.get()); r < 0)
                spdlog::error("epoll_ctl(DEL) on listening fd {} failed: {}", l.get(), errno_text(r));
        }
        accepting_ = false;
        if (able) take_absorbed_wakeups(now);
        return;
    }
    // EPOLLEXCLUSIVE: one connection wakes one worker, not all of them (RUNBOOK.md "Architecture"). Such a
    // registration cannot be modified, only removed and added again. The listeners are added all or none.
    auto failure = add_all_or_none(
        start_.listen_fds,
        [&](int fd) { return epoll_.add(fd, EPOLLIN | EPOLLEXCLUSIVE, EventTag::of(fd, Source::Listener)); },
        [&](int fd) { return epoll_.remove(fd); });
    if (failure.error < 0) {
        spdlog::error("epoll_ctl(ADD) on listening fd {} failed: {}", failure.fd, errno_text(failure.error));
        return;
    }
    accepting_ = true;
}

}  // namespace echo
