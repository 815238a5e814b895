// Position-indexed pseudo-random byte pattern: generation and verification.
#include "pattern.hpp"

#include <bit>
#include <cstring>

namespace echoload {

std::uint64_t mix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

std::uint64_t Pattern::word(std::uint64_t index) const {
    return mix64(seed_ ^ (index * 0xd1342543de82ef95ULL));
}

namespace {

// Byte k of a word is bits [8k, 8k+8): fixed regardless of host byte order, so the pattern is portable.
std::byte byte_of(std::uint64_t w, std::uint64_t k) {
    return static_cast<std::byte>((w >> (8 * k)) & 0xffU);
}

void store_word(std::byte* dst, std::uint64_t w) {
    if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(dst, &w, sizeof w);
    } else {
        for (std::uint64_t k = 0; k < 8; ++k)
            dst[k] = byte_of(w, k);
    }
}

}  // namespace

std::byte Pattern::at(std::uint64_t offset) const {
    return byte_of(word(offset / 8), offset % 8);
}

void Pattern::fill(std::uint64_t offset, std::span<std::byte> out) const {
    std::size_t i = 0;
    for (; i < out.size() && (offset + i) % 8 != 0; ++i)
        out[i] = at(offset + i);
    for (; i + 8 <= out.size(); i += 8)
        store_word(out.data() + i, word((offset + i) / 8));
    for (; i < out.size(); ++i)
        out[i] = at(offset + i);
}

std::size_t Pattern::first_mismatch(std::uint64_t offset, std::span<const std::byte> in) const {
    std::size_t i = 0;
    for (; i < in.size() && (offset + i) % 8 != 0; ++i) {
        if (in[i] != at(offset + i)) return i;
    }
    for (; i + 8 <= in.size(); i += 8) {
        std::byte expected[8];
        store_word(expected, word((offset + i) / 8));
        if (std::memcmp(expected, in.data() + i, 8) != 0) {
            for (std::size_t k = 0; k < 8; ++k) {
                if (in[i + k] != expected[k]) return i + k;
            }
        }
    }
    for (; i < in.size(); ++i) {
        if (in[i] != at(offset + i)) return i;
    }
    return in.size();
}

}  // namespace echoload
