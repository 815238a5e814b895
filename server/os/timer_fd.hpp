// timer_fd.hpp: a one-shot CLOCK_MONOTONIC timerfd armed at absolute deadlines; the event loops' only clock.
#pragma once

#include <optional>

#include "base/clock.hpp"
#include "base/sys_result.hpp"
#include "base/unique_fd.hpp"

namespace echo {

class TimerFd {
  public:
    static SysResult<TimerFd> open();
    int fd() const { return fd_.get(); }
    // Arms the timer to fire once at `when` (now or in the past fires at once); std::nullopt disarms it.
    // Returns 0 or -errno.
    int arm(std::optional<TimePoint> when);
    // Consumes the expiration count so the fd stops being readable.
    void acknowledge();

  private:
    explicit TimerFd(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

}  // namespace echo
