// grammar.cpp: parsing the numbers, durations, sizes and ADDR:PORT forms every echo-hardened tool accepts.
#include "config/grammar.hpp"

#include <charconv>
#include <cmath>
#include <system_error>

#include "config/bounds.hpp"

namespace echo {

std::optional<std::uint64_t> parse_unsigned(std::string_view text, std::uint64_t low, std::uint64_t high) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    if (value < low || value > high) return std::nullopt;
    return value;
}

std::optional<Duration> parse_duration(std::string_view text) {
    double scale = 1.0;
    if (text.ends_with("ms")) {
        scale = 1e-3;
        text.remove_suffix(2);
    } else if (text.ends_with("s")) {
        text.remove_suffix(1);
    } else if (text.ends_with("m")) {
        scale = 60.0;
        text.remove_suffix(1);
    }
    double value = 0;
    // Fixed notation only: "1e3" is not a duration anyone writes on purpose. signbit also refuses "-0".
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
        std::signbit(value) || value * scale > bounds::kMaxDurationSeconds)
        return std::nullopt;
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(value * scale));
}

std::optional<std::size_t> parse_size(std::string_view text) {
    std::size_t scale = 1;
    bool binary = text.ends_with("iB");  // "64KiB", but never a bare "65536iB"
    if (binary) text.remove_suffix(2);
    if (!text.empty()) {
        switch (text.back()) {
            case 'K':
            case 'k':
                scale = 1024;
                break;
            case 'M':
            case 'm':
                scale = 1024 * 1024;
                break;
            case 'G':
            case 'g':
                scale = 1024 * 1024 * 1024;
                break;
            default:
                break;
        }
        if (scale != 1) text.remove_suffix(1);
    }
    if (binary && scale == 1) return std::nullopt;
    auto v = parse_unsigned(text, 0, std::numeric_limits<std::size_t>::max() / scale);
    if (!v) return std::nullopt;
    return static_cast<std::size_t>(*v) * scale;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
    auto v = parse_unsigned(text, 0, 65535);
    if (!v) return std::nullopt;
    return static_cast<std::uint16_t>(*v);
}

std::optional<HostPort> split_host_port(std::string_view text, std::string& error) {
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            error = "expected [IPv6]:PORT";
            return std::nullopt;
        }
        return HostPort{text.substr(1, close - 1), text.substr(close + 2), true};
    }
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        error = "expected ADDR:PORT (IPv6 as [ADDR]:PORT)";
        return std::nullopt;
    }
    HostPort parts{text.substr(0, colon), text.substr(colon + 1), false};
    // "::1:7007" cannot say where the address ends and the port begins.
    if (parts.host.find(':') != std::string_view::npos) {
        error = "an IPv6 address must be in brackets: [ADDR]:PORT";
        return std::nullopt;
    }
    return parts;
}

}  // namespace echo
