// Log-linear histogram: bucket geometry, recording, merging, percentiles.
#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace echoload {

namespace {
// Exponents kSubBits..63 each get kSubCount buckets, after the kSubCount exact ones.
constexpr std::size_t kBuckets = Histogram::kSubCount * (64 - Histogram::kSubBits + 1);
}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

std::size_t Histogram::bucket_count() {
    return kBuckets;
}

std::size_t Histogram::bucket_of(std::uint64_t value) {
    if (value < kSubCount) return static_cast<std::size_t>(value);
    const unsigned exponent = 63U - static_cast<unsigned>(std::countl_zero(value));
    const unsigned shift = exponent - kSubBits;
    const std::uint64_t sub = (value >> shift) & (kSubCount - 1);
    return static_cast<std::size_t>(kSubCount + shift * kSubCount + sub);
}

std::uint64_t Histogram::bucket_low(std::size_t index) {
    if (index < kSubCount) return index;
    const std::uint64_t shift = (index - kSubCount) / kSubCount;
    const std::uint64_t sub = (index - kSubCount) % kSubCount;
    return (kSubCount + sub) << shift;
}

std::uint64_t Histogram::bucket_high(std::size_t index) {
    if (index < kSubCount) return index;
    const std::uint64_t shift = (index - kSubCount) / kSubCount;
    return bucket_low(index) + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::record(std::uint64_t value) {
    ++counts_[bucket_of(value)];
    min_ = count_ == 0 ? value : std::min(min_, value);
    max_ = std::max(max_, value);
    sum_ += static_cast<long double>(value);
    ++count_;
}

void Histogram::merge(const Histogram& other) {
    if (other.count_ == 0) return;
    for (std::size_t i = 0; i < kBuckets; ++i)
        counts_[i] += other.counts_[i];
    min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    sum_ += other.sum_;
    count_ += other.count_;
}

double Histogram::mean() const {
    return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

std::uint64_t Histogram::percentile(double q) const {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::clamp(bucket_high(i), min_, max_);
    }
    return max_;
}

}  // namespace echoload
