// connection.cpp: the echo itself.
#include "worker/connection.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "config/bounds.hpp"

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
      first_read_seen_(true),
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
    // The first read is always direct: nothing is pending before it.
    if (!first_read_seen_) {
        first_read_seen_ = true;
        if (starts_with_proxy_signature(into.first(got))) return {false, true, true};
    }
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

// Whatever follows the header in the same read fits the pending buffer: a read takes at most a header's
// worth, and the pending buffer holds at least that much.
static_assert(kProxyHeaderMax <= bounds::kMinBufferSize);

HeaderStep Connection::on_header_readable(std::span<char> scratch, EchoCounters& counters, TimePoint now) {
    HeaderWait& wait = *header_;
    const bool split = wait.used > 0;
    // The parser settles every header within kProxyHeaderMax bytes, so a wait with bytes has room for more.
    std::span<char> into = split ? std::span<char>(wait.bytes.get() + wait.used, kProxyHeaderMax - wait.used)
                                 : scratch.first(std::min(scratch.size(), kProxyHeaderMax));
    ssize_t n;
    do {
        n = socket_read(fd_.get(), into.data(), into.size());
    } while (n < 0 && errno == EINTR);
    if (n < 0 && would_block(errno)) return {};
    if (n <= 0) {
        // EOF or reset. A connection that sent nothing at all is a plain TCP check, not a broken header.
        HeaderStep step{.close = true};
        if (split) {
            step.result = ProxyResult::Truncated;
            step.detail =
                n == 0 ? "closed before the header was complete" : "reset before the header was complete";
        }
        return step;
    }
    last_activity_ = now;
    auto got = static_cast<std::size_t>(n);
    std::span<const char> seen = into.first(got);
    if (split) {
        wait.used += got;
        seen = {wait.bytes.get(), wait.used};
    }
    ProxyParse parse = parse_proxy_header(seen);
    switch (parse.status) {
        case ProxyParse::Status::NeedMore:
            if (!split) {
                wait.bytes = std::make_unique_for_overwrite<char[]>(kProxyHeaderMax);
                std::memcpy(wait.bytes.get(), seen.data(), got);
                wait.used = got;
            }
            return {.active = true};
        case ProxyParse::Status::Bad:
            return {.close = true, .result = parse.reason, .detail = parse.detail};
        case ProxyParse::Status::Done:
            break;
    }
    HeaderStep step{.active = true,
                    .result = parse.header.source ? ProxyResult::Proxy : ProxyResult::Local,
                    .header = parse.header};
    // The client's first bytes go straight back, as on_readable()'s direct path sends them: only what the
    // socket does not take is copied into the pending buffer.
    auto rest = seen.subspan(parse.header.consumed);
    if (rest.empty()) return step;
    ssize_t w = send_some(fd_.get(), rest.data(), rest.size());
    if (w < 0) {
        if (!would_block(errno)) {
            step.close = true;
            return step;
        }
        w = 0;
    }
    counters.bytes_written += static_cast<std::uint64_t>(w);
    if (static_cast<std::size_t>(w) < rest.size()) pending_.append(rest.subspan(static_cast<std::size_t>(w)));
    return step;
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
