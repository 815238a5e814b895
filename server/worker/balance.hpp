// balance.hpp: whether a worker should take on more connections, given what the other workers hold.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace echo {

// The rule (RUNBOOK.md "Even load across workers"): a worker accepts while it holds no more than the least
// loaded of the workers that could accept instead, plus a margin of 1/32 of what it holds. The least loaded
// worker always passes, so some worker is always accepting, and one that falls behind is never turned away.
// Below 32 connections the margin is 0: with 100 connections over 8 workers a margin of even one connection
// let the busiest reach 15 (1.2x its share; measured). Above, the margin keeps workers that are level from
// handing the listeners back and forth at every accept, and bounds the busiest at about 1 + 1/32 of the
// least.
inline std::uint32_t balance_margin(std::uint32_t mine) {
    return mine / 32;
}

// `least_other`: the fewest connections any other worker able to accept holds; std::nullopt when no other
// worker can accept (all at --max-connections, paused, draining, or none there).
inline bool may_take_more(std::uint32_t mine, std::optional<std::uint32_t> least_other) {
    if (!least_other) return true;
    return mine <= *least_other + balance_margin(mine);
}

}  // namespace echo
