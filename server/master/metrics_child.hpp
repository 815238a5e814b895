// metrics_child.hpp: when the master starts its metrics process again, as a pure policy with a fake-able
// clock.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <optional>

#include "base/clock.hpp"

namespace echo {

// The metrics process is not a worker: it fills no slot, the supervisor's table never sees it, and its death
// costs nothing but the page. The master keeps one running while it serves (RUNBOOK.md "Metrics"): started
// with the first workers, replaced when it dies after a back-off that doubles while it keeps dying young, and
// never started again once the master is stopping.
class MetricsChildPolicy {
  public:
    static constexpr Duration kFirstDelay = seconds(1);
    static constexpr Duration kMaxDelay = seconds(30);
    static constexpr Duration kStableRun = seconds(10);  // lived this long: its next death is an accident

    explicit MetricsChildPolicy(bool enabled) : enabled_(enabled) {}

    bool enabled() const { return enabled_; }
    std::optional<pid_t> pid() const { return pid_; }
    // Whether to fork one now.
    bool due(TimePoint now) const {
        return enabled_ && !stopped_ && !pid_ && (!start_after_ || now >= *start_after_);
    }
    // When due() next turns true, for the master's timer.
    std::optional<TimePoint> next_deadline() const {
        if (!enabled_ || stopped_ || pid_) return std::nullopt;
        return start_after_;
    }

    void started(pid_t pid, TimePoint now) {
        pid_ = pid;
        started_at_ = now;
    }
    // A fork that failed is retried like a death at once.
    Duration fork_failed(TimePoint now) { return back_off(now, Duration::zero()); }
    // Its exit was collected; returns how long until the next start.
    Duration exited(TimePoint now) {
        pid_.reset();
        return back_off(now, now - started_at_);
    }
    // The master is stopping: no more starts.
    void stop() { stopped_ = true; }

  private:
    Duration back_off(TimePoint now, Duration lived) {
        quick_exits_ = lived >= kStableRun ? 1 : quick_exits_ + 1;
        Duration delay = kFirstDelay;
        for (unsigned i = 1; i < quick_exits_ && delay < kMaxDelay; ++i)
            delay *= 2;
        delay = std::min(delay, kMaxDelay);
        start_after_ = now + delay;
        return delay;
    }

    bool enabled_;
    bool stopped_ = false;
    std::optional<pid_t> pid_;
    TimePoint started_at_{};
    std::optional<TimePoint> start_after_;
    unsigned quick_exits_ = 0;
};

}  // namespace echo
