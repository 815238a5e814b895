// address.cpp: listen address parsing and formatting.
#include "config/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>

namespace echo {
namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value > 65535) return false;
    port = static_cast<std::uint16_t>(value);
    return true;
}

}  // namespace

std::optional<SocketAddress> parse_listen_address(std::string_view text, std::string& error) {
    std::string host;
    std::string_view port_text;
    bool v6 = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            error = "expected [IPv6]:PORT";
            return std::nullopt;
        }
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
        v6 = true;
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            error = "expected ADDR:PORT (IPv6 as [ADDR]:PORT)";
            return std::nullopt;
        }
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        if (host.find(':') != std::string::npos) {
            error = "an IPv6 address must be in brackets: [ADDR]:PORT";
            return std::nullopt;
        }
    }
    std::uint16_t port = 0;
    if (!parse_port(port_text, port)) {
        error = "port must be a number from 0 to 65535";
        return std::nullopt;
    }
    SocketAddress out;
    if (v6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) {
            error = "'" + host + "' is not a numeric IPv6 address";
            return std::nullopt;
        }
        out.length = sizeof(sockaddr_in6);
    } else {
        auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) {
            error = "'" + host + "' is not a numeric IPv4 address";
            return std::nullopt;
        }
        out.length = sizeof(sockaddr_in);
    }
    return out;
}

std::string format_address(const sockaddr* addr, socklen_t length) {
    char buf[INET6_ADDRSTRLEN] = {};
    switch (addr->sa_family) {
        case AF_INET: {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(addr);
            inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
            return std::string(buf) + ":" + std::to_string(ntohs(sin->sin_port));
        }
        case AF_INET6: {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(addr);
            inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
            return "[" + std::string(buf) + "]:" + std::to_string(ntohs(sin6->sin6_port));
        }
        case AF_UNIX: {
            const auto* sun = reinterpret_cast<const sockaddr_un*>(addr);
            auto path_len =
                length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
            if (path_len == 0) return "unix:(unnamed)";
            if (sun->sun_path[0] == '\0') return "unix:@" + std::string(sun->sun_path + 1, path_len - 1);
            return "unix:" + std::string(sun->sun_path, strnlen(sun->sun_path, path_len));
        }
        default:
            return "family " + std::to_string(addr->sa_family);
    }
}

std::string format_address(const SocketAddress& addr) {
    return format_address(addr.get(), addr.length);
}

}  // namespace echo
