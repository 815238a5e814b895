// proxy_header.hpp: the PROXY protocol header (v1 text, v2 binary) a load balancer sends first, parsed.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "config/address.hpp"
#include "worker/figures.hpp"

namespace echo {

// The most of a header this server reads: a v1 line is at most 107 bytes with its CRLF (the spec's bound);
// a v2 header of 16 bytes, the addresses and its TLVs must fit in this many, or it is too long. It is
// --buffer-size's floor, so whatever follows the header in the same read fits the pending buffer
// (docs/PROXY.md "Limits").
inline constexpr std::size_t kProxyHeaderMax = 1024;
inline constexpr std::size_t kProxyV1Max = 107;

enum class ProxyCommand { Proxy, Local };

// A complete header. `source` is the original client, `destination` the address it connected to on the
// balancer; both unset when the header carries none (v2 LOCAL, v2 UNSPEC, v1 UNKNOWN): the connection then
// keeps its own peer address.
struct ProxyHeader {
    std::size_t consumed = 0;  // header bytes; whatever follows is the client's data
    int version = 0;           // 1 or 2
    ProxyCommand command = ProxyCommand::Proxy;
    std::optional<SocketAddress> source;
    std::optional<SocketAddress> destination;
};

struct ProxyParse {
    enum class Status { NeedMore, Done, Bad };
    Status status = Status::NeedMore;
    ProxyHeader header{};                         // Done
    ProxyResult reason = ProxyResult::Malformed;  // Bad: Malformed, TooLong, UnknownVersion, UnknownCommand
    std::string_view detail{};                    // Bad: a phrase for the log line
};

// `bytes`: everything received so far on the connection. NeedMore until a whole header is there; Bad as soon
// as the bytes cannot begin one. Pure: no I/O, no allocation.
ProxyParse parse_proxy_header(std::span<const char> bytes);

// Whether a connection's first read on a listener that expects no header starts with one: the whole v1
// prefix "PROXY " or the whole 12-byte v2 signature (docs/PROXY.md "A header where none is expected").
bool starts_with_proxy_signature(std::span<const char> first_read);

}  // namespace echo
