// backoff.hpp: how long a slot whose workers keep dying waits before its next start (R12).
#pragma once

#include <algorithm>

#include "base/clock.hpp"

namespace echo {

inline constexpr Duration kBackoffBase = milliseconds(200);
inline constexpr Duration kBackoffCap = seconds(30);

// One death is an accident and is replaced at once; from the second quick exit in a row the wait doubles
// from kBackoffBase up to kBackoffCap, so a crash loop costs a fork every 30 s, not a fork storm.
inline Duration backoff_delay(unsigned quick_exits) {
    if (quick_exits <= 1) return Duration::zero();
    Duration d = kBackoffBase;
    for (unsigned i = 2; i < quick_exits && d < kBackoffCap; ++i)
        d *= 2;
    return std::min(d, kBackoffCap);
}

}  // namespace echo
