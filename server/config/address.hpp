// address.hpp: parsing "ADDR:PORT" / "[IPv6]:PORT" listen addresses and printing socket addresses.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace echo {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const { return storage.ss_family; }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    std::uint16_t port() const;  // host byte order; 0 for a family without ports
};

// Numeric addresses only: a daemon that resolves names at start-up depends on DNS being up before it, and
// binds to whatever the resolver said that day. On failure returns std::nullopt and says why in `error`.
// The syntax is the grammar's (config/grammar.hpp: split_host_port, parse_port).
std::optional<SocketAddress> parse_listen_address(std::string_view text, std::string& error);

// A numeric host, IPv6 when it holds a ':' ("::1"), IPv4 otherwise, with `port`; std::nullopt when the host
// is not a literal of that family.
std::optional<SocketAddress> numeric_address(std::string_view host, std::uint16_t port);

// "127.0.0.1:7007", "[::1]:7007", "unix:/run/x.sock" or "unix:@abstract".
std::string format_address(const sockaddr* addr, socklen_t length);
std::string format_address(const SocketAddress& addr);

}  // namespace echo
