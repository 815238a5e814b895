// test_backoff.cpp: the respawn back-off schedule.
#include <doctest/doctest.h>

#include "master/backoff.hpp"

using namespace echo;

TEST_CASE("one death is replaced at once, repeated quick deaths back off exponentially up to the cap") {
    CHECK(backoff_delay(0) == Duration::zero());
    CHECK(backoff_delay(1) == Duration::zero());
    CHECK(backoff_delay(2) == kBackoffBase);
    CHECK(backoff_delay(3) == 2 * kBackoffBase);
    CHECK(backoff_delay(4) == 4 * kBackoffBase);
    CHECK(backoff_delay(20) == kBackoffCap);
    CHECK(backoff_delay(1000) == kBackoffCap);
    for (unsigned k = 2; k < 40; ++k)
        CHECK(backoff_delay(k + 1) >= backoff_delay(k));
}
