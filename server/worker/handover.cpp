// handover.cpp: the worker's side of the hand-over (R60): sending its connections away when retired, and
// taking on those another worker sent, each resumed exactly where it stopped.
#include <cerrno>

#include "base/log.hpp"
#include "os/event_tag.hpp"
#include "worker/worker_loop.hpp"

namespace echo {
namespace {

// After the drain deadline of a stop that parks: how long a busy connection may take to write out what it
// read before it is closed instead. Inside the master's grace after the deadline (kStopGrace, 2 s).
constexpr Duration kParkFlush = seconds(1);

}  // namespace

void WorkerLoop::on_channel(std::uint32_t events, TimePoint now) {
    if (events & EPOLLOUT) flush_channel();
    if (events & EPOLLIN) {
        if (channel_buffer_.empty()) channel_buffer_.resize(kChannelDatagram);
        std::uint64_t adopted = 0;
        ChannelMessage m;
        while (state_ != State::Done) {
            int r = from_master_.next(start_.channel.get(), channel_buffer_, m);
            if (r == -EPROTO) {
                spdlog::error("a message from the master broke the channel's protocol; dropped");
                continue;
            }
            if (r <= 0) break;  // 0: nothing more now; an error: the master is gone, its HUP is in `events`
            switch (m.kind) {
                case MessageKind::ParcelHead:
                    adopt(std::move(m.parcel), now);
                    ++adopted;
                    break;
                case MessageKind::HandOver:
                    decide(Event::HandOver, now);
                    break;
                case MessageKind::Released:
                    decide(Event::Released, now);
                    break;
                default:
                    break;  // reports and acknowledgements travel the other way only
            }
        }
        // Said before any of them is read (arm_adopted() waits for it): until the master hears it, it keeps
        // its copies and would send them elsewhere should we die, which is safe only if we touched nothing.
        if (adopted > 0) {
            to_master_.push(MessageKind::Adopted, adopted);
            flush_channel();
        }
    }
    if (events & (EPOLLHUP | EPOLLERR)) decide(Event::MasterGone, now);
}

void WorkerLoop::begin_hand_over(TimePoint now) {
    state_ = State::HandingOver;
    refresh_accepting();  // off the listeners: the others accept what arrives from now on
    listeners_.clear();
    start_.listen_fds.clear();
    std::size_t count = 0;
    std::size_t bytes = 0;
    std::size_t kept = 0;
    for (Connection& c : idle_) {  // removing the current one is safe (idle_list.hpp)
        // Still awaiting its PROXY header: kept, since the header's bytes read so far would not travel
        // with the socket; served here like what comes back, or closed at its header's deadline
        // (docs/PROXY.md "Reload, hand-over and stop").
        if (c.awaiting_header()) {
            ++kept;
            continue;
        }
        bytes += c.pending_bytes();
        send_away(c);
        ++count;
    }
    unarmed_.clear();  // they went with the rest, untouched
    to_master_.push(MessageKind::HandedOver, count);
    spdlog::info("retired: handing over {} connection(s) with {} byte(s) not yet echoed{}", count, bytes,
                 kept > 0 ? fmt::format(", keeping {} awaiting a PROXY header", kept) : std::string());
    hand_over_deadline_ = now + settings_.drain_timeout;
    publish_load(now);
    flush_channel();
}

// What the master could not place came back before Released (one channel, in order): drained like any stop.
void WorkerLoop::end_hand_over(TimePoint now) {
    hand_over_deadline_.reset();
    spdlog::info("handed over {} connection(s); {} came back to be drained", handed_over_, open_);
    if (open_ == 0) return finish("handed over");
    begin_drain(now);
}

void WorkerLoop::send_away(Connection& c) {
    // Out of our epoll set before it goes: from now on another process reads it, and we must not.
    if (c.armed_events() != 0) (void)epoll_.remove(c.fd());  // cannot fail for a registered fd
    idle_.remove(c);
    int fd = c.fd();
    to_master_.push(c.to_parcel());
    by_fd_[static_cast<std::size_t>(fd)].reset();
    --open_;
    ++handed_over_;
}

// The drain deadline of a stop that parks (R62): a connection still busy is not cut but stops being read, and
// goes to the store once what it read is echoed, within kParkFlush; what came back from the master (no room
// in the store) was drained and closes now, as at any drain deadline.
void WorkerLoop::park_the_busy(TimePoint now) {
    park_flushing_ = true;
    std::size_t parked = 0;
    std::size_t waiting = 0;
    for (Connection& c : idle_) {  // removing the current one is safe (idle_list.hpp)
        if (c.kept_here() || c.awaiting_header()) {
            close_connection(c);
            continue;
        }
        c.stop_reading();
        if (c.pending_bytes() == 0) {
            send_away(c);
            ++parked;
            continue;
        }
        update_interest(c);  // write only
        ++waiting;
    }
    spdlog::info(
        "drain deadline: {} busy connection(s) parked for the store, {} more once they have echoed what "
        "they read (at most {:.1f}s)",
        parked, waiting, to_seconds(kParkFlush));
    drain_deadline_ = now + kParkFlush;
    flush_channel();
}

// Everything is parked or closed: say so once, then wait for Released, after what came back (no room in the
// store) has been drained.
void WorkerLoop::end_parking() {
    if (!parked_all_said_) {
        parked_all_said_ = true;
        to_master_.push(MessageKind::HandedOver, handed_over_);
        flush_channel();
    }
    if (released_ && open_ == 0) finish("parked");
}

void WorkerLoop::adopt(Parcel parcel, TimePoint now) {
    int raw = parcel.fd.get();
    auto index = static_cast<std::size_t>(raw);
    if (by_fd_.size() <= index) by_fd_.resize(index + 1);
    by_fd_[index] = std::make_unique<Connection>(std::move(parcel), settings_.buffer_size, now);
    // While stopping, anything that comes is what the store had no room for: it drains here (R13).
    if (state_ == State::Draining) by_fd_[index]->keep_here();
    ++open_;
    ++adopted_total_;
    memory_return_.opened(open_);
    idle_.touch(*by_fd_[index]);
    unarmed_.push_back(raw);
    // The master places by room (--max-connections), but figures move: one more than the cap is served, not
    // refused, and stops our accepting until one closes.
    if (open_ >= settings_.max_connections) at_capacity_ = true;
    refresh_accepting();  // publishes `open`, before the count of adopted that the master subtracts
    if (start_.board != nullptr && start_.load_entry)
        start_.board->publish_adopted(*start_.load_entry, adopted_total_);
}

void WorkerLoop::flush_channel() {
    int r = to_master_.flush(start_.channel.get());
    set_channel_interest(r == -EAGAIN);
    // Any other error: the master is gone, and the channel's HUP ends us.
    if (r == 0) arm_adopted();
}

void WorkerLoop::arm_adopted() {
    for (int fd : unarmed_) {
        auto index = static_cast<std::size_t>(fd);
        if (index >= by_fd_.size() || !by_fd_[index]) continue;  // closed meanwhile (idle, drain)
        Connection& c = *by_fd_[index];
        std::uint32_t wanted = c.wanted_events();
        int r = wanted == 0 ? -EINVAL : epoll_.add(fd, wanted, EventTag::of(fd, Source::Client));
        if (r < 0) {
            spdlog::warn("epoll_ctl(ADD) failed for a connection handed over: {}; closing it", errno_text(r));
            close_connection(c);
            continue;
        }
        c.set_armed(wanted);
    }
    unarmed_.clear();
}

void WorkerLoop::set_channel_interest(bool want_out) {
    if (want_out == channel_out_armed_) return;
    std::uint32_t events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
    if (int r = epoll_.modify(start_.channel.get(), events, {Source::Channel}); r < 0) {
        // Cannot fail for a registered fd; were it to, flush_channel() runs again at the next message.
        spdlog::error("epoll_ctl(MOD) on the channel failed: {}", errno_text(r));
        return;
    }
    channel_out_armed_ = want_out;
}

}  // namespace echo
