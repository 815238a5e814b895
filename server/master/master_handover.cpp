// master_handover.cpp: connections in transit through the master (R60): a retired worker's connections are
// placed on the serving workers with room, kept by the master until each is adopted, sent on again if the
// worker they were meant for dies first, and sent back to their sender when there is no room anywhere.
#include <algorithm>
#include <cerrno>
#include <limits>

#include "base/log.hpp"
#include "master/master_loop.hpp"

namespace echo {
namespace {

constexpr std::size_t kStoreBatch = 253;  // SCM_MAX_FD: the most fds one sd_notify message can carry

}  // namespace

WorkerChannel* MasterLoop::channel_of(pid_t pid) {
    auto it = std::find_if(channels_.begin(), channels_.end(), [&](auto& c) { return c.pid == pid; });
    return it == channels_.end() ? nullptr : &*it;
}

void MasterLoop::hand_over(pid_t pid) {
    WorkerChannel* ch = channel_of(pid);
    if (ch == nullptr) return;  // it died already: its exit is on the way through SIGCHLD
    ch->out.push(MessageKind::HandOver);
    flush(*ch);
}

void MasterLoop::flush(WorkerChannel& ch) {
    int r = ch.out.flush(ch.fd.get());
    // Any other error: the worker is gone, and its channel's HUP re-homes whatever is still queued for it.
    bool want_out = r == -EAGAIN;
    if (want_out == ch.out_armed) return;
    std::uint32_t events = EPOLLIN | (want_out ? EPOLLOUT : 0u);
    if (int e = epoll_.modify(ch.fd.get(), events, {Source::Channel, ch.id}); e < 0) {
        // Cannot fail for a registered fd; were it to, the next message to or from it flushes again.
        spdlog::error("epoll_ctl(MOD) on worker pid {}'s channel failed: {}", ch.pid, errno_text(e));
        return;
    }
    ch.out_armed = want_out;
}

void MasterLoop::on_parcel(WorkerChannel& from, Parcel parcel) {
    place(std::move(parcel), &from);
}

// Everything it sent came before this (one channel, in order): each is placed or on its way back, and
// Released follows the returns, so the worker knows when it has all it will get.
void MasterLoop::on_handed_over(WorkerChannel& from, std::uint64_t count) {
    from.out.push(MessageKind::Released);
    flush(from);
    const WorkerProcess* w = supervisor_.workers().find(from.pid);
    LogFields fields{.worker_pid = from.pid};
    if (w != nullptr) {
        fields.worker_slot = w->slot;
        fields.worker_generation = w->generation;
    }
    log_event(
        spdlog::level::info, fields,
        fmt::format(
            "worker {} (pid {}) handed over {} connection(s): {} placed on other workers, {} returned to it "
            "for lack of room",
            w ? w->slot : 0u, from.pid, count, from.placed, from.returned));
}

// The serving worker, other than `origin`, with the fewest connections (those on their way to it counted) and
// room under --max-connections; nullptr while stopping, or when none has room.
WorkerChannel* MasterLoop::room_for_one(const WorkerChannel* origin) {
    if (supervisor_.state() == MasterState::Draining || supervisor_.state() == MasterState::Stopping)
        return nullptr;
    WorkerChannel* best = nullptr;
    std::uint64_t best_load = std::numeric_limits<std::uint64_t>::max();
    for (auto& c : channels_) {
        if (&c == origin) continue;
        const WorkerProcess* w = supervisor_.workers().find(c.pid);
        if (w == nullptr || w->phase != WorkerPhase::Serving) continue;
        std::uint64_t load = c.out.parcels_queued();
        if (board_ != nullptr && c.load_entry) {
            WorkerFigures f = board_->figures(*c.load_entry);
            load += f.open + (c.out.parcels_sent() - std::min(f.adopted, c.out.parcels_sent()));
        } else {
            // No board: its last heartbeat's count, and everything not yet acknowledged, to be safe.
            load += w->last_report.connections_open + c.out.parcels_unadopted();
        }
        if (load >= config_.max_connections || load >= best_load) continue;
        best = &c;
        best_load = load;
    }
    return best;
}

// On its way to the worker room_for_one() names, if any; `parcel` is left as it was when there is none.
bool MasterLoop::send_where_room(Parcel& parcel, const WorkerChannel* origin) {
    WorkerChannel* to = room_for_one(origin);
    if (to == nullptr) return false;
    to->out.push(std::move(parcel));
    flush(*to);
    return true;
}

void MasterLoop::place(Parcel parcel, WorkerChannel* origin) {
    if (supervisor_.state() == MasterState::Upgrading && successor_ && !successor_hung_up_) {
        // To the new master (R61), which places it on its own workers; kept here until it says Adopted.
        successor_->out.push(std::move(parcel));
        if (origin != nullptr) ++origin->placed;
        flush(*successor_);
        return;
    }
    if (send_where_room(parcel, origin)) {
        if (origin != nullptr) ++origin->placed;
        return;
    }
    if (store(parcel)) return;
    if (origin != nullptr) {
        // No room, or a stop has begun: back to its sender, which drains it like any connection at a stop
        // (RUNBOOK.md "Graceful stop").
        origin->out.push(std::move(parcel));
        ++origin->returned;
        flush(*origin);
        return;
    }
    // Only a dead worker's parcels have no origin to go back to: dropping ours closes it, or leaves it to
    // the process that still holds it.
}

void MasterLoop::rehome_in_transit(WorkerChannel& gone) {
    std::vector<Parcel> parcels = gone.out.take_back();
    if (parcels.empty()) return;
    std::size_t placed = 0;
    for (auto& p : parcels)
        placed += send_where_room(p, &gone);
    // Untouched by the dead worker (ChannelWriter::take_back()), so sending them on loses and repeats
    // nothing; those with no room anywhere close with our copy, their clients see an orderly end of stream.
    spdlog::warn(
        "worker pid {} exited with {} connection(s) on their way to it: {} sent to other workers, {} "
        "closed (no room)",
        gone.pid, parcels.size(), placed, parcels.size() - placed);
}

// ---- the file descriptor store (R62) ---------------------------------------------------------------------

// While stopping under systemd with --fd-store: a connection with nothing left to echo goes to the store, up
// to
// --fd-store of them (FileDescriptorStoreMax= must allow as many: what systemd refuses it closes).
bool MasterLoop::store(Parcel& parcel) {
    if (supervisor_.state() != MasterState::Draining || !notifier_.enabled() || config_.fd_store == 0)
        return false;
    if (!parcel.bytes.empty()) return false;  // owed bytes cannot be stored: its sender drains it
    if (stored_ + store_batch_.size() >= config_.fd_store) {
        ++store_full_;
        return false;
    }
    store_batch_.push_back(std::move(parcel.fd));
    if (store_batch_.size() == kStoreBatch) flush_store();
    return true;
}

void MasterLoop::flush_store() {
    if (store_batch_.empty()) return;
    std::vector<int> fds;
    for (const auto& fd : store_batch_)
        fds.push_back(fd.get());
    // Sent or not, our copies go: systemd holds its own, or the connection ends here with our close (the
    // error is logged; the clients see an orderly end of stream).
    if (notifier_.store(fds, kStoredConnectionName)) stored_ += fds.size();
    store_batch_.clear();
}

// At the first READY=1: the connections the last instance parked, placed like any hand-over; then out of the
// store, which would otherwise keep each socket open after its worker closes it for good.
void MasterLoop::revive_stored() {
    if (revived_.empty()) return;
    std::size_t total = revived_.size();
    std::size_t placed = 0;
    for (auto& fd : revived_) {
        Parcel parcel{std::move(fd), {}, false};
        placed += send_where_room(parcel, nullptr);
    }
    revived_.clear();
    notifier_.remove_stored(kStoredConnectionName);
    spdlog::info("serving {} connection(s) kept in systemd's file descriptor store by the last instance{}",
                 placed,
                 placed < total ? fmt::format("; {} closed, no worker had room", total - placed) : "");
}

}  // namespace echo
