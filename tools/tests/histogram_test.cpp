// Unit tests of the log-linear latency histogram: bucket geometry, percentile accuracy, merge.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "histogram.hpp"

using echoload::Histogram;

namespace {

constexpr double kRelativeError = 1.0 / static_cast<double>(Histogram::kSubCount);

// The sample a sorted vector would report for quantile q (the ceil(q*n)-th smallest).
std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double q) {
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    rank = std::clamp<std::size_t>(rank, 1, v.size());
    return v[rank - 1];
}

void check_close(std::uint64_t got, std::uint64_t exact) {
    const double tolerance = std::max(1.0, static_cast<double>(exact) * kRelativeError);
    INFO("got " << got << ", exact " << exact);
    CHECK(got >= exact);  // the bucket's highest value: never under-reports
    CHECK(static_cast<double>(got - exact) <= tolerance);
}

}  // namespace

TEST_CASE("buckets tile the whole 64-bit range without gaps or overlaps") {
    CHECK(Histogram::bucket_low(0) == 0);
    for (std::size_t i = 0; i + 1 < Histogram::bucket_count(); ++i) {
        REQUIRE(Histogram::bucket_high(i) + 1 == Histogram::bucket_low(i + 1));
    }
    CHECK(Histogram::bucket_high(Histogram::bucket_count() - 1) == UINT64_MAX);
    CHECK(Histogram::bucket_of(UINT64_MAX) == Histogram::bucket_count() - 1);
}

TEST_CASE("every value lands in the bucket that contains it, within the relative error") {
    std::mt19937_64 rng(1);
    for (int i = 0; i < 100000; ++i) {
        const std::uint64_t v = rng() >> (rng() % 64);
        const auto b = Histogram::bucket_of(v);
        REQUIRE(Histogram::bucket_low(b) <= v);
        REQUIRE(v <= Histogram::bucket_high(b));
        const double width = static_cast<double>(Histogram::bucket_high(b) - Histogram::bucket_low(b) + 1);
        REQUIRE(width <= std::max(1.0, static_cast<double>(Histogram::bucket_low(b)) * kRelativeError));
    }
}

TEST_CASE("small values are exact") {
    Histogram h;
    for (std::uint64_t v = 1; v <= 100; ++v)
        h.record(v);
    CHECK(h.percentile(0.5) == 50);
    CHECK(h.percentile(0.99) == 99);
    CHECK(h.percentile(1.0) == 100);
    CHECK(h.min() == 1);
    CHECK(h.max() == 100);
    CHECK(h.mean() == doctest::Approx(50.5));
}

TEST_CASE("percentiles of skewed latency-like data match a sorted vector within bucket error") {
    std::mt19937_64 rng(2024);
    std::lognormal_distribution<double> body(std::log(40000.0), 0.3);  // ~40 us in ns
    std::vector<std::uint64_t> samples;
    Histogram h;
    for (int i = 0; i < 200000; ++i) {
        auto v = static_cast<std::uint64_t>(body(rng));
        if (i % 1000 == 0) v *= 50;  // a tail of stalls
        samples.push_back(v);
        h.record(v);
    }
    for (double q : {0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
        CAPTURE(q);
        check_close(h.percentile(q), exact_percentile(samples, q));
    }
    CHECK(h.count() == samples.size());
    CHECK(h.max() == *std::max_element(samples.begin(), samples.end()));
    CHECK(h.percentile(1.0) == h.max());
}

TEST_CASE("a single outlier is the max and only the top quantiles see it") {
    Histogram h;
    for (int i = 0; i < 9999; ++i)
        h.record(1000);
    h.record(5'000'000);
    check_close(h.percentile(0.5), 1000);
    check_close(h.percentile(0.999), 1000);
    CHECK(h.percentile(1.0) == 5'000'000);
    CHECK(h.max() == 5'000'000);
}

TEST_CASE("merging two histograms equals recording everything in one") {
    std::mt19937_64 rng(7);
    Histogram a, b, all;
    for (int i = 0; i < 50000; ++i) {
        const std::uint64_t v = rng() % 10'000'000;
        (i % 3 ? a : b).record(v);
        all.record(v);
    }
    a.merge(b);
    CHECK(a.count() == all.count());
    CHECK(a.min() == all.min());
    CHECK(a.max() == all.max());
    CHECK(a.mean() == doctest::Approx(all.mean()));
    for (double q : {0.5, 0.9, 0.99, 0.999})
        CHECK(a.percentile(q) == all.percentile(q));
}

TEST_CASE("an empty histogram reports zeros") {
    const Histogram h;
    CHECK(h.count() == 0);
    CHECK(h.percentile(0.99) == 0);
    CHECK(h.max() == 0);
    CHECK(h.mean() == 0.0);
}
