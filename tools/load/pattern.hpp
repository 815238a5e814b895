// The bytes a connection sends, as a pure function of (seed, stream offset), so echoes are verified without a
// copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace echoload {

// Counter-based (splitmix64 of the word index) rather than a running xorshift state: any offset is computable
// in O(1), so a partial send is regenerated from its offset and a receiver needs only the offset it has
// verified.
class Pattern {
  public:
    explicit Pattern(std::uint64_t seed = 0) : seed_(seed) {}

    // Writes the pattern bytes for stream positions [offset, offset + out.size()).
    void fill(std::uint64_t offset, std::span<std::byte> out) const;

    // Index into `in` of the first byte that differs from the pattern at `offset`, or in.size() if all match.
    [[nodiscard]] std::size_t first_mismatch(std::uint64_t offset, std::span<const std::byte> in) const;

    [[nodiscard]] std::byte at(std::uint64_t offset) const;
    [[nodiscard]] std::uint64_t seed() const { return seed_; }

  private:
    [[nodiscard]] std::uint64_t word(std::uint64_t index) const;
    std::uint64_t seed_;
};

// A well-mixed 64-bit value from any input; used to derive per-connection seeds from a run seed and a serial.
[[nodiscard]] std::uint64_t mix64(std::uint64_t x);

}  // namespace echoload
