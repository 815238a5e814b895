// balance.hpp: whether a worker should take on more connections, given what the other workers hold.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace echo {

// The rule (RUNBOOK.md "Even load across workers"): a worker accepts while it holds no more than the least
// loaded of the workers that could accept instead, plus a margin. The least loaded worker always passes,
// so some worker is always accepting; a worker that falls behind is never turned away. The margin (one
// connection, plus 1/32 of what it holds) keeps two workers that are level from handing the listeners back
// and forth at every accept, and bounds the busiest worker at about 1 + 1/32 of the least loaded one.
inline std::uint32_t balance_margin(std::uint32_t mine) {
    return 1 + mine / 32;
}

// `least_other`: the fewest connections any other worker able to accept holds; std::nullopt when no other
// worker can accept (all at --max-connections, paused, draining, or none there).
inline bool may_take_more(std::uint32_t mine, std::optional<std::uint32_t> least_other) {
    if (!least_other) return true;
    return mine <= *least_other + balance_margin(mine);
}

}  // namespace echo
