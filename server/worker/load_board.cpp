// load_board.cpp: claiming, publishing and reading the shared per-worker connection counts.
#include "worker/load_board.hpp"

#include <new>

namespace echo {

static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "shared between processes: must be lock-free");

SysResult<LoadBoard> LoadBoard::create() {
    auto mapping = SharedMapping::create(sizeof(Layout));
    if (!mapping.ok()) return SysResult<LoadBoard>::failure(mapping.error());
    new (mapping->data()) Layout();  // the kernel zeroed it; this makes the atomics objects of their type
    return LoadBoard(std::move(mapping).value());
}

std::optional<std::uint32_t> LoadBoard::claim() {
    Layout& l = layout();
    std::uint32_t used = l.used.load(std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < kEntries; ++i) {
        if (l.entries[i].state.load(std::memory_order_relaxed) != kFree) continue;
        l.entries[i].open.store(0, std::memory_order_relaxed);
        // Not counted as able to accept until the worker says so: it may never get that far.
        l.entries[i].state.store(kNotAccepting, std::memory_order_relaxed);
        if (i >= used) l.used.store(i + 1, std::memory_order_relaxed);
        return i;
    }
    return std::nullopt;
}

void LoadBoard::release(std::uint32_t entry) {
    Entry& e = layout().entries[entry];
    e.open.store(0, std::memory_order_relaxed);
    e.state.store(kFree, std::memory_order_relaxed);
}

std::uint32_t LoadBoard::stamp(TimePoint t) {
    auto ms = std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
    return static_cast<std::uint32_t>(ms);  // only differences are used, modulo 2^32
}

void LoadBoard::publish(std::uint32_t entry, std::uint32_t open, bool can_accept, TimePoint now) {
    Entry& e = layout().entries[entry];
    e.open.store(open, std::memory_order_relaxed);
    e.stamp_ms.store(stamp(now), std::memory_order_relaxed);
    e.state.store(can_accept ? kAccepting : kNotAccepting, std::memory_order_relaxed);
}

std::optional<std::uint32_t> LoadBoard::least_loaded_other(std::uint32_t entry, TimePoint now) const {
    const Layout& l = layout();
    const std::uint32_t at = stamp(now);
    const auto stale = static_cast<std::uint32_t>(std::chrono::duration_cast<milliseconds>(kStale).count());
    std::optional<std::uint32_t> least;
    std::uint32_t used = l.used.load(std::memory_order_relaxed);
    for (std::uint32_t i = 0; i < used && i < kEntries; ++i) {
        if (i == entry || l.entries[i].state.load(std::memory_order_relaxed) != kAccepting) continue;
        if (at - l.entries[i].stamp_ms.load(std::memory_order_relaxed) > stale) continue;
        std::uint32_t open = l.entries[i].open.load(std::memory_order_relaxed);
        if (!least || open < *least) least = open;
    }
    return least;
}

}  // namespace echo
