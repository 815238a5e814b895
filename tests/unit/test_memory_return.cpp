// test_memory_return.cpp: when a worker gives freed memory back (server/memory_return.hpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "worker/memory_return.hpp"

using echo::MemoryReturn;

namespace {

// Opens `up_to` connections one by one, then closes them all; returns the counts left open at each trim.
std::vector<std::uint32_t> trims_while_a_crowd_leaves(MemoryReturn& m, std::uint32_t up_to) {
    for (std::uint32_t open = 1; open <= up_to; ++open)
        m.opened(open);
    std::vector<std::uint32_t> at;
    for (std::uint32_t open = up_to; open-- > 0;)
        if (m.due_after_close(open)) at.push_back(open);
    return at;
}

}  // namespace

TEST_CASE("a crowd leaving is trimmed at each halving and once more at zero") {
    MemoryReturn m;
    CHECK(trims_while_a_crowd_leaves(m, 2000) ==
          std::vector<std::uint32_t>{1000, 500, 250, 125, 62, 31, 15, 7, 3, 1, 0});
}

TEST_CASE("churn below a crowd never trims") {
    MemoryReturn m;
    for (int round = 0; round < 100; ++round)
        CHECK(trims_while_a_crowd_leaves(m, MemoryReturn::kCrowd - 1).empty());
}

TEST_CASE("a crowd that returns after a partial exit is trimmed again as it leaves") {
    MemoryReturn m;
    for (std::uint32_t open = 1; open <= 4000; ++open)
        m.opened(open);
    for (std::uint32_t open = 4000; open-- > 1500;)
        (void)m.due_after_close(open);  // trimmed at 2000; 1500 left
    for (std::uint32_t open = 1501; open <= 3000; ++open)
        m.opened(open);
    CHECK(m.due_after_close(1500));  // half of the new peak
    CHECK_FALSE(m.due_after_close(1499));
}
