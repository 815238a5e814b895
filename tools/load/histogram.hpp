// Log-linear latency histogram (HdrHistogram-style buckets): constant memory, bounded relative error,
// mergeable.
#pragma once

#include <cstdint>
#include <vector>

namespace echoload {

// Values below 2^kSubBits are counted exactly; above, each power-of-two range is split into 2^kSubBits equal
// buckets, so a reported percentile is within 1/2^kSubBits (0.8 %) of the true sample. Recording is O(1) and
// allocation-free, which a sorted vector of samples could not be at millions of round trips per second.
class Histogram {
  public:
    static constexpr unsigned kSubBits = 7;
    static constexpr std::uint64_t kSubCount = std::uint64_t{1} << kSubBits;

    Histogram();

    void record(std::uint64_t value);
    void merge(const Histogram& other);

    [[nodiscard]] std::uint64_t count() const { return count_; }
    [[nodiscard]] std::uint64_t min() const { return count_ ? min_ : 0; }
    [[nodiscard]] std::uint64_t max() const { return max_; }
    [[nodiscard]] double mean() const;

    // The value at quantile q in [0, 1]: the highest value of the bucket holding the ceil(q * count)-th
    // smallest sample, clamped to the exact min and max seen. 0 when empty.
    [[nodiscard]] std::uint64_t percentile(double q) const;

    // Bucket geometry, public for tests.
    [[nodiscard]] static std::size_t bucket_of(std::uint64_t value);
    [[nodiscard]] static std::uint64_t bucket_low(std::size_t index);
    [[nodiscard]] static std::uint64_t bucket_high(std::size_t index);  // inclusive
    [[nodiscard]] static std::size_t bucket_count();

  private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

}  // namespace echoload
