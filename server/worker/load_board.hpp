// load_board.hpp: each worker's live figures (connections, bytes echoed) and the master's, in memory the
// master, its workers and the metrics process share.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>

#include "base/clock.hpp"
#include "base/sys_result.hpp"
#include "os/shared_mapping.hpp"
#include "worker/figures.hpp"

namespace echo {

// One entry per live worker process. The master claims an entry at each fork and frees it when the worker is
// gone (its channel closed: it has exited); the worker writes its own entry, and reads the others' to decide
// whether to accept (balance.hpp). Entries are per process, not per slot: during a reload a slot holds an old
// worker and its replacement at once. Plain relaxed atomics: a figure a moment old only shifts one accept.
// Single-threaded processes, so each entry has one writer. (RUNBOOK.md "Even load across workers".)
//
// The same entries carry the worker's counters as they change, so the master's SIGUSR1 and STATUS= and the
// metrics process read current figures, not a heartbeat's (R83, R81). Freeing an entry folds its final
// counters into the retired totals under a sequence lock, so a reader never sees a total go back or count a
// worker twice (RUNBOOK.md "Metrics").
class LoadBoard {
  public:
    // Room for every worker of the largest --workers, twice over (a reload starts a replacement beside each).
    static constexpr std::uint32_t kEntries = 2 * 1024 + 64;

    static SysResult<LoadBoard> create();

    // Master: an entry for a new worker of `slot`, or std::nullopt when all are taken (that worker then
    // accepts without balancing and its figures reach the master by its heartbeats only).
    std::optional<std::uint32_t> claim(unsigned slot);
    // Master, once fork() has returned: who holds the entry.
    void assign(std::uint32_t entry, pid_t pid, unsigned generation);
    void release(std::uint32_t entry);
    // Master: its own figures, after every event.
    void publish_master(const MasterFigures& figures);

    // A figure older than this is not believed: its worker is stopped (SIGSTOP, a debugger) or wedged, and
    // must not hold the others back while the master's heartbeat check catches up with it. Workers publish
    // at least at every heartbeat (at most 1 s apart), so a live worker's figure is never this old.
    static constexpr Duration kStale = seconds(3);

    // Worker: its figures. `can_accept` is false while it will not accept whatever the others hold
    // (at --max-connections, paused after EMFILE, draining).
    void publish(std::uint32_t entry, std::uint32_t open, std::uint64_t accepted, bool can_accept,
                 TimePoint now);
    // Worker, after each echo: one relaxed store to a cache line no other worker writes.
    void publish_bytes(std::uint32_t entry, std::uint64_t bytes_echoed) {
        layout().entries[entry].bytes_echoed.store(bytes_echoed, std::memory_order_relaxed);
    }
    void publish_accept_pauses(std::uint32_t entry, std::uint64_t pauses);
    // Worker, after each PROXY header's outcome (R90).
    void publish_proxy(std::uint32_t entry, ProxyResult result, std::uint64_t count) {
        layout().entries[entry].proxy[static_cast<std::size_t>(result)].store(count,
                                                                              std::memory_order_relaxed);
    }
    // Worker, after taking on connections handed over (R60), once `open` counts them: the master places the
    // next ones by open + what it has sent and this does not yet count.
    void publish_adopted(std::uint32_t entry, std::uint64_t adopted) {
        layout().entries[entry].adopted.store(adopted, std::memory_order_release);
    }
    // Worker: the fewest connections held by another worker that can accept, among fresh figures.
    std::optional<std::uint32_t> least_loaded_other(std::uint32_t entry, TimePoint now) const;

    // Anyone: one entry's figures now (the master's status), or everything at once (the metrics page).
    WorkerFigures figures(std::uint32_t entry) const;
    BoardSnapshot snapshot() const;
    // Anyone: the master's readiness alone (what /ready answers), one load.
    Readiness readiness() const {
        return static_cast<Readiness>(layout().master.readiness.load(std::memory_order_relaxed));
    }

    // The metrics process maps the board read-only: a fault there cannot write a worker's figures.
    int make_read_only() const;

  private:
    // A cache line each: a worker stores its byte count after every echo, and a line shared with another
    // worker's entry would bounce between their CPUs.
    struct alignas(64) Entry {
        std::atomic<std::uint32_t> open;
        std::atomic<std::uint32_t> state;  // kFree, kAccepting or kNotAccepting
        std::atomic<std::uint32_t>
            stamp_ms;  // when it was published, monotonic milliseconds (wraps: 49 days)
        std::atomic<std::uint32_t> slot;
        std::atomic<std::int32_t> pid;
        std::atomic<std::uint32_t> generation;
        std::atomic<std::uint64_t> accepted;
        std::atomic<std::uint64_t> bytes_echoed;
        std::atomic<std::uint64_t> accept_pauses;
        std::atomic<std::uint64_t> adopted;
        std::atomic<std::uint64_t> proxy[kProxyResultNames.size()];  // by ProxyResult
    };
    struct alignas(64) Master {
        std::atomic<std::uint64_t> sequence;  // odd while the master folds a freed entry into the totals
        std::atomic<std::int32_t> pid;
        std::atomic<std::uint32_t> workers_alive, workers_target, zombies;
        std::atomic<std::uint64_t> restarts, crash_loop_backoffs, hung_workers_killed, fork_failures, reloads;
        std::atomic<std::uint64_t> retired_accepted, retired_bytes, retired_pauses;
        std::atomic<std::uint64_t> retired_proxy[kProxyResultNames.size()];
        std::atomic<std::uint32_t> readiness;  // a Readiness
    };
    static std::uint32_t stamp(TimePoint t);
    struct Layout {
        Master master;
        std::atomic<std::uint32_t> used;  // entries [0, used) may be claimed: what readers scan
        Entry entries[kEntries];
    };
    static constexpr std::uint32_t kFree = 0, kAccepting = 1, kNotAccepting = 2;

    explicit LoadBoard(SharedMapping mapping) : mapping_(std::move(mapping)) {}
    Layout& layout() const { return *static_cast<Layout*>(mapping_.data()); }
    void read_into(BoardSnapshot& out) const;

    SharedMapping mapping_;
};

}  // namespace echo
