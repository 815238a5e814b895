// grammar.hpp: the one text grammar of numbers, durations, sizes and ADDR:PORT that the server, echo-load and
// the tests all parse with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.hpp"

namespace echo {

// A whole number in decimal digits only (no sign, no spaces, no "0x") from `low` to `high`.
std::optional<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t low = 0,
                                            std::uint64_t high = std::numeric_limits<std::uint64_t>::max());

// "10" (seconds), "2.5s", "500ms" or "2m"; fixed notation only, never negative, at most
// bounds::kMaxDurationSeconds.
std::optional<Duration> parse_duration(std::string_view text);

// "65536", "64K" / "64k" / "64KiB", "1M", "1G": binary multiples; "iB" only after K, M or G.
std::optional<std::size_t> parse_size(std::string_view text);

// A port number, 0-65535.
std::optional<std::uint16_t> parse_port(std::string_view text);

// The parts of "ADDR:PORT" or "[IPv6]:PORT", not yet checked: the host may be empty or a name, the port
// text anything. They view the text that was split.
struct HostPort {
    std::string_view host;
    std::string_view port;
    bool bracketed = false;  // "[...]": the host can only be IPv6
};

// On failure returns std::nullopt and says why in `error`.
std::optional<HostPort> split_host_port(std::string_view text, std::string& error);

}  // namespace echo
