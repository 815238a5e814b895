// The per-connection state machine: every transition happens here, mode decisions come from modes.hpp.
#include "connection.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "modes.hpp"

namespace echoload {

namespace {

std::uint64_t nanoseconds(Clock::duration d) {
    return static_cast<std::uint64_t>(
        std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

ErrorKind connect_error_kind(int err) {
    switch (err) {
        case ECONNREFUSED:
            return ErrorKind::Refused;
        case ETIMEDOUT:
            return ErrorKind::ConnectTimeout;
        default:
            return ErrorKind::ConnectFailed;
    }
}

ErrorKind io_error_kind(int err) {
    return err == ECONNRESET || err == EPIPE ? ErrorKind::Reset : ErrorKind::Io;
}

}  // namespace

bool Connection::busy() const {
    switch (state_) {
        case State::Connecting:
            return true;
        case State::Exchanging:
            return tx_end_ > rx_off_;
        case State::Idle:
        case State::Resting:
        case State::Closed:
            return false;
    }
    return false;
}

void Connection::start(ThreadContext& ctx) {
    if (state_ != State::Idle) return;
    if (ctx.opt.mode == Mode::ConnRate && !ctx.admit()) return;
    const Options& opt = ctx.opt;
    fd_.reset(::socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd_.valid()) return fail(ctx, ErrorKind::ConnectFailed, "socket()", errno);
    const int one = 1;
    // Without TCP_NODELAY a small ping-pong waits on Nagle + delayed ACK and measures timers, not the server.
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    ++generation_;
    epoll_event ev{};
    // Edge-triggered, registered once: no epoll_ctl per message. Reads stop at EAGAIN or when no echo is
    // owed.
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = tag(id_, generation_);
    if (::epoll_ctl(ctx.epoll_fd, EPOLL_CTL_ADD, fd_.get(), &ev) != 0) {
        return fail(ctx, ErrorKind::ConnectFailed, "epoll_ctl(ADD)", errno);
    }

    pattern_ = Pattern(mix64(ctx.opt.seed ^ mix64(ctx.next_serial++)));
    tx_off_ = rx_off_ = tx_end_ = 0;
    served_ = hangup_ = tx_blocked_ = false;
    op_start_ = Clock::now();
    deadline_ = op_start_ + ctx.timeout();

    state_ = State::Connecting;
    ++ctx.connecting;
    if (!opened_ && !settled_) {
        opened_ = true;
        ++ctx.unproven;
    }
    const auto* addr = reinterpret_cast<const sockaddr*>(&opt.addr);
    if (::connect(fd_.get(), addr, opt.addr_len) == 0) return connected(ctx);
    if (errno != EINPROGRESS) fail(ctx, connect_error_kind(errno), "connect()", errno);
}

void Connection::connected(ThreadContext& ctx) {
    --ctx.connecting;
    ++ctx.stats.established;
    const auto now = Clock::now();
    born_ = now;
    if (ctx.opt.mode == Mode::ConnRate && ctx.measuring(now)) {
        ctx.stats.latency.record(nanoseconds(now - op_start_));
    }
    state_ = State::Resting;
    switch (ctx.opt.mode) {
        case Mode::ConnRate:
            begin_message(ctx, now);
            break;
        case Mode::Stream:
            state_ = State::Exchanging;
            deadline_ = now + ctx.timeout();
            pump(ctx, false);
            break;
        case Mode::PingPong:
        case Mode::Hold:
            if (ctx.admit()) begin_message(ctx, now);
            break;
    }
}

void Connection::begin_message(ThreadContext& ctx, Clock::time_point now) {
    state_ = State::Exchanging;
    tx_end_ = tx_off_ + ctx.opt.size;
    op_start_ = now;
    deadline_ = now + ctx.timeout();
    pump(ctx, false);
}

void Connection::message_complete(ThreadContext& ctx) {
    const auto now = Clock::now();
    const bool measured = ctx.measuring(now);
    ctx.last_done = now;
    ++ctx.stats.total_ops;
    if (measured) ++ctx.stats.ops;
    if (measured && ctx.opt.mode != Mode::ConnRate) ctx.stats.latency.record(nanoseconds(now - op_start_));
    served_ = true;
    settle(ctx);
    if (ctx.opt.lifetime > 0 && std::chrono::duration<double>(now - born_).count() >= ctx.opt.lifetime) {
        // Nothing is owed at this point, so the close is clean on both sides: the server reads an EOF with
        // nothing pending and has no connection of ours left for a drain to cut.
        ++ctx.stats.recycled;
        drop_socket();
        state_ = State::Idle;
        if (!ctx.stopping) ctx.to_connect.push_back(id_);
        return;
    }
    switch (after_echo(ctx.opt.mode)) {
        case AfterEcho::SendNext:
            if (ctx.admit()) return begin_message(ctx, now);
            state_ = State::Resting;
            return;
        case AfterEcho::Close:
            drop_socket();
            state_ = State::Idle;
            ctx.to_connect.push_back(id_);
            return;
        case AfterEcho::Rest: {
            // Spread over [0.5, 1.5) x interval so the pings of connections opened in one burst drift apart
            // instead of reaching the server in the same tick forever.
            const double spread = 0.5 + static_cast<double>(mix64(pattern_.seed() ^ tx_off_) >> 11) * 0x1p-53;
            state_ = State::Resting;
            next_ping_ = now + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(ctx.opt.interval * spread));
            return;
        }
        case AfterEcho::Continue:
            return;
    }
}

void Connection::on_events(ThreadContext& ctx, std::uint32_t events) {
    switch (state_) {
        case State::Connecting: {
            if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
            int err = 0;
            socklen_t len = sizeof err;
            if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
            if (err != 0) return fail(ctx, connect_error_kind(err), "connect()", err);
            return connected(ctx);
        }
        case State::Exchanging:
        case State::Resting:
            if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hangup_ = true;
            if (events & EPOLLOUT) tx_blocked_ = false;
            return pump(ctx, (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
        case State::Idle:
        case State::Closed:
            return;  // an event for a socket already dropped
    }
}

void Connection::on_tick(ThreadContext& ctx) {
    switch (state_) {
        case State::Connecting:
            if (ctx.now > deadline_) fail(ctx, ErrorKind::ConnectTimeout, "connect() timed out");
            return;
        case State::Exchanging:
            if (busy() && ctx.now > deadline_) fail(ctx, ErrorKind::Timeout, "echo timed out");
            return;
        case State::Resting:
            if (ctx.opt.mode == Mode::Hold && ctx.now >= next_ping_ && ctx.admit())
                begin_message(ctx, Clock::now());
            return;
        case State::Idle:
        case State::Closed:
            return;
    }
}

void Connection::finish(ThreadContext& ctx) {
    const bool healthy = (state_ == State::Resting || state_ == State::Exchanging) && served_;
    if (healthy && ctx.opt.mode == Mode::Hold) ++ctx.stats.held;
    if (state_ == State::Connecting) --ctx.connecting;
    drop_socket();
    state_ = State::Closed;
}

void Connection::pump(ThreadContext& ctx, bool readable) {
    const std::uint64_t tx_before = tx_off_;
    const std::uint64_t rx_before = rx_off_;
    if (readable && !receive(ctx)) return;
    if (state_ == State::Exchanging && ctx.opt.mode != Mode::Stream && tx_end_ > 0 && rx_off_ == tx_end_) {
        message_complete(ctx);
        if (state_ != State::Exchanging) return;
    }
    if (ctx.opt.mode == Mode::Stream && state_ == State::Exchanging) admit_stream(ctx);
    if (!tx_blocked_ && tx_off_ < tx_end_ && !send(ctx)) return;
    if (tx_off_ != tx_before || rx_off_ != rx_before) deadline_ = ctx.now + ctx.timeout();
}

void Connection::admit_stream(ThreadContext& ctx) {
    const std::uint64_t size = ctx.opt.size;
    while (tx_end_ - rx_off_ + size <= ctx.opt.window && ctx.admit())
        tx_end_ += size;
}

bool Connection::receive(ThreadContext& ctx) {
    auto& buf = ctx.buffer;
    for (;;) {
        const std::uint64_t owed = tx_off_ - rx_off_;
        // Reading only what is owed saves the EAGAIN read per round trip; a hangup or an idle socket is read
        // in full so an EOF or unsolicited bytes are noticed.
        std::size_t want = owed ? static_cast<std::size_t>(std::min<std::uint64_t>(owed, buf.size())) : 0;
        if (want == 0 && (hangup_ || state_ == State::Resting)) want = buf.size();
        if (want == 0) return true;
        const ssize_t n = ::recv(fd_.get(), buf.data(), want, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            fail(ctx, io_error_kind(errno), "recv()", errno);
            return false;
        }
        if (n == 0 && owed == 0 && ctx.opt.closed_ok) {
            closed_by_server(ctx);
            return false;
        }
        if (n == 0) {
            fail(ctx, ErrorKind::Eof,
                 owed ? "server closed with " + std::to_string(owed) + " echoed bytes still owed"
                      : std::string("server closed the connection"));
            return false;
        }
        const auto got = static_cast<std::size_t>(n);
        if (owed == 0) {
            fail(ctx, ErrorKind::Mismatch, std::to_string(got) + " unsolicited bytes received");
            return false;
        }
        const std::size_t bad = pattern_.first_mismatch(rx_off_, std::span(buf.data(), got));
        if (bad != got) {
            fail(ctx, ErrorKind::Mismatch,
                 "echo differs at stream offset " + std::to_string(rx_off_ + bad) + ": expected " +
                     std::to_string(std::to_integer<unsigned>(pattern_.at(rx_off_ + bad))) + ", got " +
                     std::to_string(std::to_integer<unsigned>(buf[bad])));
            return false;
        }
        if (ctx.opt.mode == Mode::Stream) {
            const std::uint64_t chunks = (rx_off_ + got) / ctx.opt.size - rx_off_ / ctx.opt.size;
            ctx.stats.total_ops += chunks;
            if (chunks > 0) ctx.last_done = ctx.now;
            if (ctx.measuring(ctx.now)) ctx.stats.ops += chunks;
            served_ = true;
        }
        rx_off_ += got;
        ctx.stats.total_bytes += got;
        if (ctx.measuring(ctx.now)) ctx.stats.bytes += got;
    }
}

bool Connection::send(ThreadContext& ctx) {
    auto& buf = ctx.buffer;
    while (tx_off_ < tx_end_) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(tx_end_ - tx_off_, buf.size()));
        pattern_.fill(tx_off_, std::span(buf.data(), want));
        const ssize_t n = ::send(fd_.get(), buf.data(), want, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                tx_blocked_ = true;
                return true;
            }
            fail(ctx, io_error_kind(errno), "send()", errno);
            return false;
        }
        tx_off_ += static_cast<std::uint64_t>(n);
    }
    return true;
}

void Connection::settle(ThreadContext& ctx) {
    if (settled_) return;
    settled_ = true;
    ++ctx.settled;
    if (opened_) --ctx.unproven;
}

void Connection::fail(ThreadContext& ctx, ErrorKind kind, std::string_view what, int err) {
    std::string detail = "connection " + std::to_string(id_) + ": " + std::string(what);
    if (err != 0) detail += std::string(": ") + std::strerror(err);
    const bool established = state_ == State::Exchanging || state_ == State::Resting;
    if (ctx.opt.reconnect && established && (kind == ErrorKind::Eof || kind == ErrorKind::Reset)) {
        // A fault test killed the process serving this socket: what arrived before was verified, what was
        // in flight is gone with it. A mismatch or a stall is still an error: those are the server's fault.
        ++ctx.stats.dropped;
        if (ctx.stats.first_drop.empty()) ctx.stats.first_drop = std::move(detail);
        drop_socket();
        state_ = State::Idle;
        if (!ctx.stopping) ctx.to_connect.push_back(id_);
        return;
    }
    ctx.stats.add_error(kind, std::move(detail));
    if (state_ == State::Connecting) --ctx.connecting;
    settle(ctx);
    drop_socket();
    state_ = State::Closed;
}

void Connection::closed_by_server(ThreadContext& ctx) {
    ++ctx.stats.closed_clean;
    settle(ctx);
    drop_socket();
    state_ = State::Closed;
}

void Connection::drop_socket() {
    fd_.reset();
    ++generation_;
}

}  // namespace echoload
