// proxy_header.cpp: the PROXY protocol's two header formats, after HAProxy's doc/proxy-protocol.txt.
#include "worker/proxy_header.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

namespace echo {
namespace {

using Status = ProxyParse::Status;

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::array<unsigned char, 12> kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                        0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t kV2Fixed = 16;  // signature, version and command, family and transport, length

ProxyParse bad(ProxyResult reason, std::string_view detail) {
    return {Status::Bad, {}, reason, detail};
}

ProxyParse need_more() {
    return {};
}

// Whether the first min(size) bytes agree with `prefix`.
bool agrees(std::span<const char> bytes, std::span<const unsigned char> prefix) {
    std::size_t n = std::min(bytes.size(), prefix.size());
    return std::memcmp(bytes.data(), prefix.data(), n) == 0;
}

std::span<const unsigned char> as_bytes(std::string_view s) {
    return {reinterpret_cast<const unsigned char*>(s.data()), s.size()};
}

// A v1 port: 1 to 5 decimal digits, at most 65535.
std::optional<std::uint16_t> v1_port(std::string_view text) {
    if (text.empty() || text.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(ch - '0');
    }
    if (value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// A v1 address of the line's family; inet_pton reads a C string, so the field is copied (a NUL in it was
// refused with the line's characters already).
std::optional<SocketAddress> v1_address(std::string_view host, std::string_view port, bool v6) {
    auto p = v1_port(port);
    if (!p || host.empty() || host.size() > INET6_ADDRSTRLEN) return std::nullopt;
    if (!v6 && host.find(':') != std::string_view::npos) return std::nullopt;
    if (v6 && host.find(':') == std::string_view::npos) return std::nullopt;
    return numeric_address(host, *p);
}

// "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443", "PROXY TCP6 ...", or "PROXY UNKNOWN" and anything.
ProxyParse parse_v1(std::span<const char> bytes) {
    std::string_view text(bytes.data(), std::min(bytes.size(), kProxyV1Max));
    auto lf = text.find('\n');
    if (lf == std::string_view::npos) {
        if (bytes.size() >= kProxyV1Max) return bad(ProxyResult::TooLong, "a v1 line longer than 107 bytes");
        // Only printable text can still become a valid line: say so now rather than at the 107th byte.
        if (std::any_of(text.begin(), text.end(),
                        [](char ch) { return ch != '\r' && (ch < 0x20 || ch > 0x7e); }))
            return bad(ProxyResult::Malformed, "a control character in a v1 line");
        return need_more();
    }
    if (lf == 0 || text[lf - 1] != '\r') return bad(ProxyResult::Malformed, "a v1 line not ended by CRLF");
    std::string_view line = text.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
    if (std::any_of(line.begin(), line.end(), [](char ch) { return ch < 0x20 || ch > 0x7e; }))
        return bad(ProxyResult::Malformed, "a control character in a v1 line");
    ProxyParse out{Status::Done, {lf + 1, 1, ProxyCommand::Proxy, {}, {}}, {}, {}};
    // The spec: after UNKNOWN the receiver ignores the rest of the line and keeps the connection's own
    // addresses.
    if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) return out;
    std::array<std::string_view, 5> field;
    std::size_t count = 0;
    std::size_t start = 0;
    while (start <= line.size()) {
        auto space = line.find(' ', start);
        auto end = space == std::string_view::npos ? line.size() : space;
        if (count == field.size()) return bad(ProxyResult::Malformed, "too many fields in a v1 line");
        field[count++] = line.substr(start, end - start);
        if (space == std::string_view::npos) break;
        start = space + 1;
    }
    if (count != field.size()) return bad(ProxyResult::Malformed, "too few fields in a v1 line");
    bool v6 = field[0] == "TCP6";
    if (!v6 && field[0] != "TCP4")
        return bad(ProxyResult::Malformed, "a v1 protocol other than TCP4, TCP6 or UNKNOWN");
    auto source = v1_address(field[1], field[3], v6);
    auto destination = v1_address(field[2], field[4], v6);
    if (!source || !destination) return bad(ProxyResult::Malformed, "a bad address or port in a v1 line");
    out.header.source = source;
    out.header.destination = destination;
    return out;
}

std::uint16_t be16(const unsigned char* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

SocketAddress inet(const unsigned char* addr, const unsigned char* port) {
    SocketAddress out;
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, addr, 4);
    std::memcpy(&sin->sin_port, port, 2);  // both in network order already
    out.length = sizeof(sockaddr_in);
    return out;
}

SocketAddress inet6(const unsigned char* addr, const unsigned char* port) {
    SocketAddress out;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, addr, 16);
    std::memcpy(&sin6->sin6_port, port, 2);
    out.length = sizeof(sockaddr_in6);
    return out;
}

// A 108-byte path, NUL-padded: a file's path ends at its first NUL; an abstract one (a NUL first) at its
// last byte that is not NUL; one that fills all 108 bytes has no NUL at all, as sockaddr_un allows.
SocketAddress unix_path(const unsigned char* path) {
    constexpr std::size_t kPath = 108;
    SocketAddress out;
    auto* sun = reinterpret_cast<sockaddr_un*>(&out.storage);
    sun->sun_family = AF_UNIX;
    static_assert(sizeof sun->sun_path == kPath);
    std::memcpy(sun->sun_path, path, kPath);
    std::size_t len = 0;
    if (path[0] != 0) {
        while (len < kPath && path[len] != 0)
            ++len;
    } else {
        for (std::size_t i = kPath; i > 1 && len == 0; --i)
            if (path[i - 1] != 0) len = i;
    }
    out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    return out;
}

ProxyParse parse_v2(std::span<const char> bytes) {
    if (bytes.size() < kV2Fixed) return need_more();
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const unsigned version = p[12] >> 4;
    const unsigned command = p[12] & 0x0F;
    const unsigned family = p[13] >> 4;
    const unsigned transport = p[13] & 0x0F;
    const std::size_t length = be16(p + 14);
    if (version != 2) return bad(ProxyResult::UnknownVersion, "a v2 signature with a version other than 2");
    if (command > 1) return bad(ProxyResult::UnknownCommand, "a v2 command other than LOCAL or PROXY");
    // LOCAL (a balancer's own health check) ignores the family: the connection keeps its own addresses.
    if (command == 1 && (family > 3 || transport > 2))
        return bad(ProxyResult::Malformed, "a v2 address family or transport the spec does not define");
    if (kV2Fixed + length > kProxyHeaderMax)
        return bad(ProxyResult::TooLong, "a v2 header longer than 1024 bytes");
    static constexpr std::size_t kNeeds[] = {0, 12, 36, 216};  // UNSPEC, INET, INET6, UNIX
    if (command == 1 && length < kNeeds[family])
        return bad(ProxyResult::Malformed, "a v2 address block shorter than its family needs");
    if (bytes.size() < kV2Fixed + length) return need_more();
    ProxyParse out{Status::Done, {kV2Fixed + length, 2, ProxyCommand::Proxy, {}, {}}, {}, {}};
    const unsigned char* a = p + kV2Fixed;
    if (command == 0) {
        out.header.command = ProxyCommand::Local;
        return out;
    }
    // What follows the addresses (TLVs: ALPN, authority, SSL...) is skipped unread.
    switch (family) {
        case 1:
            out.header.source = inet(a, a + 8);
            out.header.destination = inet(a + 4, a + 10);
            break;
        case 2:
            out.header.source = inet6(a, a + 32);
            out.header.destination = inet6(a + 16, a + 34);
            break;
        case 3:
            out.header.source = unix_path(a);
            out.header.destination = unix_path(a + 108);
            break;
        default:
            break;  // UNSPEC: the spec says to keep the connection's own addresses
    }
    return out;
}

}  // namespace

ProxyParse parse_proxy_header(std::span<const char> bytes) {
    if (bytes.empty()) return need_more();
    if (agrees(bytes, kV2Signature))
        return bytes.size() < kV2Signature.size() ? need_more() : parse_v2(bytes);
    if (agrees(bytes, as_bytes(kV1Prefix)))
        return bytes.size() < kV1Prefix.size() ? need_more() : parse_v1(bytes);
    // Neither signature: a client speaking directly, or a balancer sending something else (v1 and v2 are
    // the only versions there are).
    return bad(ProxyResult::Malformed, "no PROXY signature");
}

bool starts_with_proxy_signature(std::span<const char> first_read) {
    auto starts = [&](std::span<const unsigned char> prefix) {
        return first_read.size() >= prefix.size() && agrees(first_read, prefix);
    };
    return starts(as_bytes(kV1Prefix)) || starts(kV2Signature);
}

}  // namespace echo
