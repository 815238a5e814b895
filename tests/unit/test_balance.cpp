// test_balance.cpp: the balancing rule, and the shared board it reads, without a second process.
#include <doctest/doctest.h>

#include <algorithm>

#include "worker/balance.hpp"
#include "worker/load_board.hpp"

using namespace echo;

TEST_CASE("balance: a worker alone, or with no other able to accept, always takes more") {
    CHECK(may_take_more(0, std::nullopt));
    CHECK(may_take_more(100000, std::nullopt));
}

TEST_CASE("balance: a worker takes more while within the margin of the least loaded other") {
    CHECK(may_take_more(0, 0));
    CHECK(!may_take_more(1, 0));  // below 32 the margin is 0: one ahead of an idle worker leaves it the next
    CHECK(may_take_more(12, 12));
    CHECK(!may_take_more(13, 12));
    CHECK(may_take_more(50, 49));  // margin 50/32 = 1
    CHECK(!may_take_more(51, 49));
    CHECK(may_take_more(5000, 4900));  // margin 5000/32 = 156
    CHECK(!may_take_more(5100, 4900));
    // The least loaded worker always qualifies against anyone, so some worker is always accepting.
    for (std::uint32_t least = 0; least < 3000; least += 7)
        CHECK(may_take_more(least, least));
}

TEST_CASE("balance: with the rule, the busiest of two holds at most a margin more than the other") {
    // Connections arrive one by one; each goes to a worker that may take more (the first that may, as
    // EPOLLEXCLUSIVE wakes the same one whenever it can).
    std::uint32_t a = 0, b = 0;
    for (int i = 0; i < 10000; ++i) {
        if (may_take_more(a, b))
            ++a;
        else
            ++b;
    }
    CHECK(a - b <= balance_margin(a) + 1);
    // And with 100 connections over 8 workers, the benchmark's case, none is more than one ahead.
    std::uint32_t w[8] = {};
    for (int i = 0; i < 100; ++i) {
        for (auto& mine : w) {
            std::uint32_t least = ~0u;
            for (auto& other : w)
                if (&other != &mine) least = std::min(least, other);
            if (may_take_more(mine, least)) {
                ++mine;
                break;
            }
        }
    }
    CHECK(*std::max_element(w, w + 8) - *std::min_element(w, w + 8) <= 1);
}

TEST_CASE("load board: entries are claimed, published, read and released") {
    const TimePoint t0 = TimePoint{} + seconds(5000);
    auto board = LoadBoard::create();
    REQUIRE(board.ok());
    auto first = board->claim(0), second = board->claim(0), third = board->claim(0);
    REQUIRE(first);
    REQUIRE(second);
    REQUIRE(third);
    CHECK(*first != *second);
    // Claimed but not yet published: not counted as able to accept.
    CHECK(!board->least_loaded_other(*first, t0));
    board->publish(*second, 40, 0, true, t0);
    board->publish(*third, 10, 0, false, t0);  // at capacity or draining: never "the least loaded"
    CHECK(board->least_loaded_other(*first, t0) == 40u);
    CHECK(!board->least_loaded_other(*second, t0));  // itself is not an "other"
    board->publish(*third, 10, 0, true, t0);
    CHECK(board->least_loaded_other(*first, t0) == 10u);
    board->release(*third);
    CHECK(board->least_loaded_other(*first, t0) == 40u);
    // A figure older than kStale is not believed: a stopped worker must not hold the others back.
    board->publish(*third, 10, 0, true, t0);
    CHECK(board->least_loaded_other(*first, t0 + LoadBoard::kStale - milliseconds(1)) == 10u);
    CHECK(board->least_loaded_other(*first, t0 + LoadBoard::kStale + milliseconds(1)) == std::nullopt);
    board->release(*third);
    auto again = board->claim(0);
    REQUIRE(again);
    CHECK(*again == *third);  // the lowest free entry is reused, so the scanned range stays short
}

TEST_CASE("load board: every entry can be claimed once, then claims fail cleanly") {
    auto board = LoadBoard::create();
    REQUIRE(board.ok());
    for (std::uint32_t i = 0; i < LoadBoard::kEntries; ++i)
        REQUIRE(board->claim(0));
    CHECK(!board->claim(0));
}
