// address.hpp: parsing "ADDR:PORT" / "[IPv6]:PORT" listen addresses and printing socket addresses.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace echo {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const { return storage.ss_family; }
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Numeric addresses only: a daemon that resolves names at start-up depends on DNS being up before it, and
// binds to whatever the resolver said that day. On failure returns std::nullopt and says why in `error`.
std::optional<SocketAddress> parse_listen_address(std::string_view text, std::string& error);

// "127.0.0.1:7007", "[::1]:7007", "unix:/run/x.sock" or "unix:@abstract".
std::string format_address(const sockaddr* addr, socklen_t length);
std::string format_address(const SocketAddress& addr);

}  // namespace echo
