// Unit tests of the position-indexed byte pattern that echo-load sends and verifies.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <vector>

#include "pattern.hpp"

using echoload::Pattern;

namespace {
std::vector<std::byte> bytes(const Pattern& p, std::uint64_t offset, std::size_t n) {
    std::vector<std::byte> out(n);
    p.fill(offset, out);
    return out;
}
}  // namespace

TEST_CASE("fill is position-indexed: any split of the stream yields the same bytes") {
    const Pattern p(42);
    const auto whole = bytes(p, 0, 1000);
    for (std::size_t cut : {0UL, 1UL, 3UL, 7UL, 8UL, 9UL, 63UL, 500UL, 999UL}) {
        const auto head = bytes(p, 0, cut);
        const auto tail = bytes(p, cut, 1000 - cut);
        std::vector<std::byte> joined(head);
        joined.insert(joined.end(), tail.begin(), tail.end());
        CHECK(joined == whole);
    }
    for (std::uint64_t i = 0; i < whole.size(); ++i)
        CHECK(p.at(i) == whole[i]);
}

TEST_CASE("an untouched echo verifies at any offset and alignment") {
    const Pattern p(7);
    for (std::uint64_t offset : {0ULL, 1ULL, 5ULL, 8ULL, 4093ULL, (1ULL << 33) + 3}) {
        for (std::size_t n : {1UL, 7UL, 8UL, 15UL, 64UL, 65536UL}) {
            const auto echo = bytes(p, offset, n);
            CHECK(p.first_mismatch(offset, echo) == n);
        }
    }
}

TEST_CASE("every single corrupted byte is found at its exact index") {
    const Pattern p(99);
    const std::uint64_t offset = 13;
    auto echo = bytes(p, offset, 77);
    for (std::size_t i = 0; i < echo.size(); ++i) {
        const auto saved = echo[i];
        echo[i] ^= std::byte{0x01};
        CHECK(p.first_mismatch(offset, echo) == i);
        echo[i] = saved;
    }
}

TEST_CASE("bytes verified at the wrong offset or with another seed do not pass") {
    const Pattern p(5);
    const auto echo = bytes(p, 100, 64);
    CHECK(p.first_mismatch(101, echo) < echo.size());  // a dropped or duplicated byte shifts the stream
    CHECK(Pattern(6).first_mismatch(100, echo) < echo.size());  // another connection's bytes
}

TEST_CASE("all-zero and repeated data, what a broken server returns, never verifies") {
    const Pattern p(1);
    const std::vector<std::byte> zeros(4096, std::byte{0});
    CHECK(p.first_mismatch(0, zeros) < 16);
    const auto first = bytes(p, 0, 64);
    CHECK(p.first_mismatch(64, first) < 64);  // the previous message echoed twice
}

TEST_CASE("the pattern looks random: every byte value appears, no short period") {
    const Pattern p(3);
    const auto data = bytes(p, 0, 1 << 16);
    std::vector<int> histogram(256, 0);
    for (auto b : data)
        ++histogram[std::to_integer<unsigned>(b)];
    for (int count : histogram) {
        CHECK(count > 128);  // expected 256 each
        CHECK(count < 400);
    }
    CHECK(bytes(p, 0, 64) != bytes(p, 64, 64));
    CHECK(bytes(Pattern(3), 0, 64) != bytes(Pattern(4), 0, 64));
}
