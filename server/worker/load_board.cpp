// load_board.cpp: claiming, publishing and reading the shared per-worker figures.
#include "worker/load_board.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <new>

namespace echo {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

}  // namespace

static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "shared between processes: must be lock-free");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared between processes: must be lock-free");

SysResult<LoadBoard> LoadBoard::create() {
    auto mapping = SharedMapping::create(sizeof(Layout));
    if (!mapping.ok()) return SysResult<LoadBoard>::failure(mapping.error());
    new (mapping->data()) Layout();  // the kernel zeroed it; this makes the atomics objects of their type
    return LoadBoard(std::move(mapping).value());
}

std::optional<std::uint32_t> LoadBoard::claim(unsigned slot) {
    Layout& l = layout();
    std::uint32_t used = l.used.load(kRelaxed);
    for (std::uint32_t i = 0; i < kEntries; ++i) {
        Entry& e = l.entries[i];
        if (e.state.load(kRelaxed) != kFree) continue;
        e.open.store(0, kRelaxed);
        e.slot.store(slot, kRelaxed);
        e.pid.store(0, kRelaxed);
        e.generation.store(0, kRelaxed);
        e.accepted.store(0, kRelaxed);
        e.bytes_echoed.store(0, kRelaxed);
        e.accept_pauses.store(0, kRelaxed);
        e.adopted.store(0, kRelaxed);
        for (auto& count : e.proxy)
            count.store(0, kRelaxed);
        // Not counted as able to accept until the worker says so: it may never get that far.
        e.state.store(kNotAccepting, kRelaxed);
        if (i >= used) l.used.store(i + 1, kRelaxed);
        return i;
    }
    return std::nullopt;
}

void LoadBoard::assign(std::uint32_t entry, pid_t pid, unsigned generation) {
    Entry& e = layout().entries[entry];
    e.pid.store(pid, kRelaxed);
    e.generation.store(generation, kRelaxed);
}

// The writer's half of a sequence lock (one writer: the master). A reader that saw the sequence odd, or
// changed across its reading, reads again.
void LoadBoard::release(std::uint32_t entry) {
    Master& m = layout().master;
    Entry& e = layout().entries[entry];
    const std::uint64_t seq = m.sequence.load(kRelaxed);
    m.sequence.store(seq + 1, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    // Its worker has exited (its channel closed), so these are its final figures.
    m.retired_accepted.store(m.retired_accepted.load(kRelaxed) + e.accepted.load(kRelaxed), kRelaxed);
    m.retired_bytes.store(m.retired_bytes.load(kRelaxed) + e.bytes_echoed.load(kRelaxed), kRelaxed);
    m.retired_pauses.store(m.retired_pauses.load(kRelaxed) + e.accept_pauses.load(kRelaxed), kRelaxed);
    for (std::size_t r = 0; r < kProxyResultNames.size(); ++r)
        m.retired_proxy[r].store(m.retired_proxy[r].load(kRelaxed) + e.proxy[r].load(kRelaxed), kRelaxed);
    e.open.store(0, kRelaxed);
    e.state.store(kFree, kRelaxed);
    m.sequence.store(seq + 2, std::memory_order_release);
}

void LoadBoard::publish_master(const MasterFigures& f) {
    Master& m = layout().master;
    m.pid.store(f.master_pid, kRelaxed);
    m.workers_alive.store(f.workers_alive, kRelaxed);
    m.workers_target.store(f.workers_target, kRelaxed);
    m.zombies.store(f.zombies, kRelaxed);
    m.restarts.store(f.restarts, kRelaxed);
    m.crash_loop_backoffs.store(f.crash_loop_backoffs, kRelaxed);
    m.hung_workers_killed.store(f.hung_workers_killed, kRelaxed);
    m.fork_failures.store(f.fork_failures, kRelaxed);
    m.reloads.store(f.reloads, kRelaxed);
    m.readiness.store(static_cast<std::uint32_t>(f.readiness), kRelaxed);
}

std::uint32_t LoadBoard::stamp(TimePoint t) {
    auto ms = std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
    return static_cast<std::uint32_t>(ms);  // only differences are used, modulo 2^32
}

void LoadBoard::publish(std::uint32_t entry, std::uint32_t open, std::uint64_t accepted, bool can_accept,
                        TimePoint now) {
    Entry& e = layout().entries[entry];
    e.open.store(open, kRelaxed);
    e.accepted.store(accepted, kRelaxed);
    e.stamp_ms.store(stamp(now), kRelaxed);
    e.state.store(can_accept ? kAccepting : kNotAccepting, kRelaxed);
}

void LoadBoard::publish_accept_pauses(std::uint32_t entry, std::uint64_t pauses) {
    layout().entries[entry].accept_pauses.store(pauses, kRelaxed);
}

std::optional<std::uint32_t> LoadBoard::least_loaded_other(std::uint32_t entry, TimePoint now) const {
    const Layout& l = layout();
    const std::uint32_t at = stamp(now);
    const auto stale = static_cast<std::uint32_t>(std::chrono::duration_cast<milliseconds>(kStale).count());
    std::optional<std::uint32_t> least;
    std::uint32_t used = l.used.load(kRelaxed);
    for (std::uint32_t i = 0; i < used && i < kEntries; ++i) {
        if (i == entry || l.entries[i].state.load(kRelaxed) != kAccepting) continue;
        if (at - l.entries[i].stamp_ms.load(kRelaxed) > stale) continue;
        std::uint32_t open = l.entries[i].open.load(kRelaxed);
        if (!least || open < *least) least = open;
    }
    return least;
}

WorkerFigures LoadBoard::figures(std::uint32_t entry) const {
    const Entry& e = layout().entries[entry];
    // Adopted first (acquire): the `open` read after it counts at least those (publish_adopted()).
    std::uint64_t adopted = e.adopted.load(std::memory_order_acquire);
    WorkerFigures out{e.slot.load(kRelaxed),          e.pid.load(kRelaxed),
                      e.generation.load(kRelaxed),    e.open.load(kRelaxed),
                      e.accepted.load(kRelaxed),      e.bytes_echoed.load(kRelaxed),
                      e.accept_pauses.load(kRelaxed), adopted};
    for (std::size_t r = 0; r < kProxyResultNames.size(); ++r)
        out.proxy_headers[r] = e.proxy[r].load(kRelaxed);
    return out;
}

void LoadBoard::read_into(BoardSnapshot& out) const {
    const Layout& l = layout();
    const Master& m = l.master;
    out = BoardSnapshot{};
    out.master = {m.pid.load(kRelaxed),
                  m.workers_alive.load(kRelaxed),
                  m.workers_target.load(kRelaxed),
                  m.zombies.load(kRelaxed),
                  m.restarts.load(kRelaxed),
                  m.crash_loop_backoffs.load(kRelaxed),
                  m.hung_workers_killed.load(kRelaxed),
                  m.fork_failures.load(kRelaxed),
                  m.reloads.load(kRelaxed),
                  static_cast<Readiness>(m.readiness.load(kRelaxed))};
    out.accepted = m.retired_accepted.load(kRelaxed);
    out.bytes_echoed = m.retired_bytes.load(kRelaxed);
    out.accept_pauses = m.retired_pauses.load(kRelaxed);
    for (std::size_t r = 0; r < kProxyResultNames.size(); ++r)
        out.proxy_headers[r] = m.retired_proxy[r].load(kRelaxed);
    const std::uint32_t used = l.used.load(kRelaxed);
    for (std::uint32_t i = 0; i < used && i < kEntries; ++i) {
        if (l.entries[i].state.load(kRelaxed) == kFree) continue;
        WorkerFigures w = figures(i);
        out.open += w.open;
        out.accepted += w.accepted;
        out.bytes_echoed += w.bytes_echoed;
        out.accept_pauses += w.accept_pauses;
        for (std::size_t r = 0; r < kProxyResultNames.size(); ++r)
            out.proxy_headers[r] += w.proxy_headers[r];
        out.workers.push_back(w);
    }
}

// The reader's half of the sequence lock: bounded, since the master holds it for a few stores only; should
// it be stopped inside them (SIGSTOP), the last reading is returned rather than waiting for it.
BoardSnapshot LoadBoard::snapshot() const {
    const Master& m = layout().master;
    BoardSnapshot out;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        const std::uint64_t before = m.sequence.load(std::memory_order_acquire);
        if (before & 1) continue;
        read_into(out);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (m.sequence.load(kRelaxed) == before) return out;
    }
    read_into(out);
    return out;
}

int LoadBoard::make_read_only() const {
    if (mprotect(mapping_.data(), mapping_.size(), PROT_READ) < 0) return -errno;
    return 0;
}

}  // namespace echo
