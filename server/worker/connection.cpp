// connection.cpp: the echo itself.
#include "worker/connection.hpp"

#include <algorithm>
#include <cerrno>

#include "worker/socket_io.hpp"

namespace echo {
namespace {

ssize_t send_some(int fd, const char* data, std::size_t n) {
    for (;;) {
        ssize_t w = socket_send(fd, data, n);
        if (w < 0 && errno == EINTR) continue;
        return w;
    }
}

bool would_block(int err) {
    return err == EAGAIN || err == EWOULDBLOCK;
}

}  // namespace

Connection::Connection(Parcel parcel, std::size_t buffer_cap, TimePoint now)
    : fd_(std::move(parcel.fd)),
      pending_(std::max(buffer_cap, parcel.bytes.size())),
      last_activity_(now),
      peer_closed_(parcel.peer_closed),
      adopted_(true) {
    if (!parcel.bytes.empty()) pending_.append(parcel.bytes);
}

Parcel Connection::to_parcel() {
    Parcel p{std::move(fd_), {}, peer_closed_};
    auto bytes = pending_.data();
    p.bytes.assign(bytes.begin(), bytes.end());
    pending_.release();
    armed_ = 0;
    return p;
}

IoOutcome Connection::on_readable(std::span<char> scratch, EchoCounters& counters, TimePoint now) {
    if (peer_closed_ || reading_stopped_ || pending_.space() == 0)
        return IoOutcome::keep(false);  // reading is paused; stale event
    ssize_t n;
    const bool direct = pending_.empty();
    std::span<char> into =
        direct ? scratch.first(std::min(scratch.size(), pending_.capacity())) : pending_.free_tail();
    do {
        n = socket_read(fd_.get(), into.data(), into.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0) {  // ECONNRESET and friends: the peer is gone
        return would_block(errno) ? IoOutcome::keep(false) : IoOutcome::closed();
    }
    if (n == 0) {
        // The client half-closed: echo what is pending, then close our side (RUNBOOK.md "Architecture").
        peer_closed_ = true;
        return pending_.empty() ? IoOutcome::closed() : IoOutcome::keep(false);
    }
    last_activity_ = now;
    auto got = static_cast<std::size_t>(n);
    if (!direct) {
        pending_.commit(got);
        return IoOutcome::keep(true);  // the write side is armed already; pending bytes are written first
    }
    ssize_t w = send_some(fd_.get(), into.data(), got);
    if (w < 0) {
        if (!would_block(errno)) return IoOutcome::closed();
        w = 0;
    }
    counters.bytes_written += static_cast<std::uint64_t>(w);
    if (static_cast<std::size_t>(w) < got)
        pending_.append(into.subspan(static_cast<std::size_t>(w), got - static_cast<std::size_t>(w)));
    return IoOutcome::keep(true);
}

IoOutcome Connection::on_writable(EchoCounters& counters, TimePoint now) {
    IoOutcome out = write_pending(counters, now);
    if (!out.close && peer_closed_ && pending_.empty()) return IoOutcome::closed();
    return out;
}

IoOutcome Connection::write_pending(EchoCounters& counters, TimePoint now) {
    bool wrote = false;
    while (!pending_.empty()) {
        auto bytes = pending_.data();
        ssize_t w = send_some(fd_.get(), bytes.data(), bytes.size());
        if (w < 0) return would_block(errno) ? IoOutcome::keep(wrote) : IoOutcome::closed();
        last_activity_ = now;
        wrote = true;
        counters.bytes_written += static_cast<std::uint64_t>(w);
        pending_.consume(static_cast<std::size_t>(w));
    }
    return IoOutcome::keep(wrote);
}

std::uint32_t Connection::wanted_events() const {
    std::uint32_t events = 0;
    if (!peer_closed_ && !reading_stopped_ && pending_.space() > 0) events |= EPOLLIN;
    if (!pending_.empty()) events |= EPOLLOUT;
    return events;
}

bool Connection::quiescent() const {
    if (!pending_.empty()) return false;
    if (peer_closed_) return true;
    int unread = 0;
    // If FIONREAD fails the socket is broken; closing it loses nothing that could still be delivered.
    if (socket_unread(fd_.get(), unread) < 0) return true;
    return unread == 0;
}

}  // namespace echo
