// address.cpp: numeric socket addresses from the grammar's ADDR:PORT, and printing them back.
#include "config/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include "config/grammar.hpp"

namespace echo {
namespace {

bool fill(SocketAddress& out, const std::string& host, std::uint16_t port, bool v6) {
    // inet_pton reads a C string: "::\0junk" would be "::", an address the text does not say (found by
    // fuzz-address, docs/FUZZING.md).
    if (host.find('\0') != std::string::npos) return false;
    if (v6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        out.length = sizeof(sockaddr_in6);
        return inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1;
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
    return inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1;
}

}  // namespace

std::uint16_t SocketAddress::port() const {
    switch (family()) {
        case AF_INET:
            return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
        case AF_INET6:
            return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
        default:
            return 0;
    }
}

std::optional<SocketAddress> parse_listen_address(std::string_view text, std::string& error) {
    auto parts = split_host_port(text, error);
    if (!parts) return std::nullopt;
    auto port = parse_port(parts->port);
    if (!port) {
        error = "port must be a number from 0 to 65535";
        return std::nullopt;
    }
    std::string host(parts->host);
    if (host.find('\0') != std::string::npos) {
        error = "the host holds a NUL byte";
        return std::nullopt;
    }
    SocketAddress out;
    if (!fill(out, host, *port, parts->bracketed)) {
        error = "'" + host + "' is not a numeric " + (parts->bracketed ? "IPv6" : "IPv4") + " address";
        return std::nullopt;
    }
    return out;
}

std::optional<SocketAddress> numeric_address(std::string_view host, std::uint16_t port) {
    SocketAddress out;
    if (!fill(out, std::string(host), port, host.find(':') != std::string_view::npos)) return std::nullopt;
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
            // Appended in order, not `"[" + std::string(buf)`: that inserts at the front of a temporary,
            // which GCC 12 at -O3 reports as an overlapping memcpy (a false -Wrestrict, GCC bug 105651).
            std::string out(1, '[');
            out += buf;
            out += "]:";
            out += std::to_string(ntohs(sin6->sin6_port));
            return out;
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
