// clock.hpp: the one monotonic clock every timer and deadline in the server is measured on.
#pragma once

#include <chrono>

namespace echo {

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC on Linux, the clock timerfd is armed on
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

inline double to_seconds(Duration d) {
    return std::chrono::duration<double>(d).count();
}

}  // namespace echo
