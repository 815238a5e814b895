// load_board.hpp: how many connections each worker holds, in memory the master and all workers share.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "base/clock.hpp"
#include "base/sys_result.hpp"
#include "os/shared_mapping.hpp"

namespace echo {

// One entry per live worker process. The master claims an entry at each fork and frees it when the worker is
// gone (its channel closed: it has exited); the worker writes its own entry, and reads the others' to decide
// whether to accept (balance.hpp). Entries are per process, not per slot: during a reload a slot holds an old
// worker and its replacement at once. Plain relaxed atomics: a figure a moment old only shifts one accept.
// Single-threaded processes, so each entry has one writer. (RUNBOOK.md "Even load across workers".)
class LoadBoard {
  public:
    // Room for every worker of the largest --workers, twice over (a reload starts a replacement beside each).
    static constexpr std::uint32_t kEntries = 2 * 1024 + 64;

    static SysResult<LoadBoard> create();

    // Master: an entry for a new worker, or std::nullopt when all are taken (that worker then accepts
    // without balancing, as every worker did before the board existed).
    std::optional<std::uint32_t> claim();
    void release(std::uint32_t entry);

    // A figure older than this is not believed: its worker is stopped (SIGSTOP, a debugger) or wedged, and
    // must not hold the others back while the master's heartbeat check catches up with it. Workers publish
    // at least at every heartbeat (at most 1 s apart), so a live worker's figure is never this old.
    static constexpr Duration kStale = seconds(3);

    // Worker: its figures. `can_accept` is false while it will not accept whatever the others hold
    // (at --max-connections, paused after EMFILE, draining).
    void publish(std::uint32_t entry, std::uint32_t open, bool can_accept, TimePoint now);
    // Worker: the fewest connections held by another worker that can accept, among fresh figures.
    std::optional<std::uint32_t> least_loaded_other(std::uint32_t entry, TimePoint now) const;

  private:
    struct Entry {
        std::atomic<std::uint32_t> open;
        std::atomic<std::uint32_t> state;  // kFree, kAccepting or kNotAccepting
        std::atomic<std::uint32_t>
            stamp_ms;  // when it was published, monotonic milliseconds (wraps: 49 days)
    };
    static std::uint32_t stamp(TimePoint t);
    struct Layout {
        std::atomic<std::uint32_t> used;  // entries [0, used) may be claimed: what readers scan
        Entry entries[kEntries];
    };
    static constexpr std::uint32_t kFree = 0, kAccepting = 1, kNotAccepting = 2;

    explicit LoadBoard(SharedMapping mapping) : mapping_(std::move(mapping)) {}
    Layout& layout() const { return *static_cast<Layout*>(mapping_.data()); }

    SharedMapping mapping_;
};

}  // namespace echo
