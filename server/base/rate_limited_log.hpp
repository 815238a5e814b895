// rate_limited_log.hpp: a warning that repeats at most once per interval and says how many it swallowed.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "base/clock.hpp"

namespace echo {

// For conditions that can recur thousands of times a second (accept4() failing while the backlog stays full):
// the first occurrence is logged at once, the next ones at most once per interval, each with the number
// swallowed since the last line. The time is passed in, so the loop's one clock reading serves, and tests can
// choose it.
class RateLimitedWarning {
  public:
    explicit RateLimitedWarning(Duration interval) : interval_(interval) {}

    // The decision alone: std::nullopt to stay silent at `now`; otherwise how many were swallowed before it.
    std::optional<std::uint64_t> admit(TimePoint now) {
        if (next_ && now < *next_) {
            ++suppressed_;
            return std::nullopt;
        }
        next_ = now + interval_;
        return std::exchange(suppressed_, 0);
    }

    template <typename... Args>
    void warn(TimePoint now, fmt::format_string<Args...> format, Args&&... args) {
        auto swallowed = admit(now);
        if (!swallowed) return;
        auto text = fmt::format(format, std::forward<Args>(args)...);
        if (*swallowed > 0) text += fmt::format(" ({} more since the last report)", *swallowed);
        spdlog::warn("{}", text);
    }

  private:
    Duration interval_;
    std::optional<TimePoint> next_;  // unset until the first line: that one always goes out
    std::uint64_t suppressed_ = 0;
};

}  // namespace echo
