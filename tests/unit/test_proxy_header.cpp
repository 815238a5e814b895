// test_proxy_header.cpp: the PROXY protocol parser (R90): v1 and v2, every bad case, every split point.
#include <doctest/doctest.h>

#include <string>

#include "os/listener.hpp"
#include "worker/proxy_header.hpp"

using namespace echo;
using Status = ProxyParse::Status;

namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string be16(std::size_t v) {
    return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// A v2 header: signature, version 2 and `command`, `family_transport`, then `body` with its length.
std::string v2(int command, int family_transport, const std::string& body, int version = 2) {
    std::string h = kSig;
    h += static_cast<char>(version << 4 | command);
    h += static_cast<char>(family_transport);
    h += be16(body.size());
    return h + body;
}

std::string bytes(std::initializer_list<int> values) {
    std::string s;
    for (int v : values)
        s += static_cast<char>(v);
    return s;
}

std::string inet4_block() {
    return bytes({192, 0, 2, 1, 198, 51, 100, 7}) + be16(56324) + be16(443);
}

ProxyParse parse(const std::string& s) {
    return parse_proxy_header({s.data(), s.size()});
}

std::string shown(const std::optional<SocketAddress>& a) {
    return a ? format_address(*a) : "(none)";
}

// Every proper prefix of `whole` asks for more; the whole parses to `expected`.
void check_every_split(const std::string& whole, Status expected) {
    for (std::size_t n = 0; n < whole.size(); ++n) {
        CAPTURE(n);
        REQUIRE(parse(whole.substr(0, n)).status == Status::NeedMore);
    }
    CHECK(parse(whole).status == expected);
}

}  // namespace

TEST_CASE("PROXY v1: TCP4 and TCP6 give both addresses, UNKNOWN gives none; the data after is not consumed") {
    const std::string tcp4 = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
    auto p = parse(tcp4 + "hello");
    REQUIRE(p.status == Status::Done);
    CHECK(p.header.version == 1);
    CHECK(p.header.consumed == tcp4.size());
    CHECK(p.header.command == ProxyCommand::Proxy);
    CHECK(shown(p.header.source) == "192.0.2.1:56324");
    CHECK(shown(p.header.destination) == "198.51.100.7:443");

    p = parse("PROXY TCP6 2001:db8::1 ::1 65535 7007\r\n");
    REQUIRE(p.status == Status::Done);
    CHECK(shown(p.header.source) == "[2001:db8::1]:65535");
    CHECK(shown(p.header.destination) == "[::1]:7007");

    for (std::string unknown : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ::1 1 2\r\n"}) {
        CAPTURE(unknown);
        p = parse(unknown + "x");
        REQUIRE(p.status == Status::Done);
        CHECK(p.header.consumed == unknown.size());
        CHECK(!p.header.source);
        CHECK(!p.header.destination);
    }
    check_every_split(tcp4, Status::Done);
}

TEST_CASE("PROXY v1 at its limit of 107 bytes is read; one byte more is too long") {
    // The longest TCP6 line the spec shows: 104 bytes with CRLF; padding with UNKNOWN's free text reaches
    // 107.
    std::string line = "PROXY UNKNOWN " + std::string(107 - 16, 'a') + "\r\n";
    REQUIRE(line.size() == 107);
    CHECK(parse(line).status == Status::Done);
    std::string longer = "PROXY UNKNOWN " + std::string(107 - 15, 'a') + "\r\n";
    auto p = parse(longer);
    CHECK(p.status == Status::Bad);
    CHECK(p.reason == ProxyResult::TooLong);
    // Without its newline the 107th byte settles it, whatever comes later.
    p = parse("PROXY TCP4 " + std::string(96, '1'));
    CHECK(p.status == Status::Bad);
    CHECK(p.reason == ProxyResult::TooLong);
}

TEST_CASE("PROXY v1: malformed lines") {
    for (std::string bad : std::initializer_list<std::string>{
             "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\n",                 // LF without CR
             "PROXY TCP4 192.0.2.1 198.51.100.7 56324\r\n",                   // a field missing
             "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443 9\r\n",             // one too many
             "PROXY TCP4  192.0.2.1 198.51.100.7 56324 443\r\n",              // two spaces
             "PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n",               // port out of range
             "PROXY TCP4 192.0.2.1 198.51.100.7 -1 443\r\n",                  // not digits
             "PROXY TCP4 ::1 ::1 1 2\r\n",                                    // family mismatch
             "PROXY TCP6 192.0.2.1 198.51.100.7 1 2\r\n",                     // family mismatch
             "PROXY TCP4 192.0.2.256 198.51.100.7 1 2\r\n",                   // not an address
             "PROXY UDP4 192.0.2.1 198.51.100.7 1 2\r\n",                     // no such protocol
             std::string("PROXY TCP4 192.0.2.1\0 198.51.100.7 1 2\r\n", 41),  // a NUL
             "PROXY \x01",                                                    // a control character, early
             "GET / HTTP/1.1\r\n",                                            // no signature at all
             "PROXX",
         }) {
        CAPTURE(bad);
        auto p = parse(bad);
        CHECK(p.status == Status::Bad);
        CHECK(p.reason == ProxyResult::Malformed);
        CHECK(!p.detail.empty());
    }
}

TEST_CASE("PROXY v2: PROXY over TCP4, TCP6 and UNIX, LOCAL and UNSPEC, TLVs skipped, data after it kept") {
    auto h = v2(1, 0x11, inet4_block());
    auto p = parse(h + "data");
    REQUIRE(p.status == Status::Done);
    CHECK(p.header.version == 2);
    CHECK(p.header.consumed == 16 + 12);
    CHECK(p.header.command == ProxyCommand::Proxy);
    CHECK(shown(p.header.source) == "192.0.2.1:56324");
    CHECK(shown(p.header.destination) == "198.51.100.7:443");
    check_every_split(h, Status::Done);

    std::string six = std::string(15, '\0') + "\x01" + bytes({0x20, 0x01, 0x0d, 0xb8}) +
                      std::string(11, '\0') + "\x02" + be16(1234) + be16(7007);
    p = parse(v2(1, 0x21, six));
    REQUIRE(p.status == Status::Done);
    CHECK(shown(p.header.source) == "[::1]:1234");
    CHECK(shown(p.header.destination) == "[2001:db8::2]:7007");

    std::string path_a = "/run/haproxy.sock", path_b = std::string(1, '\0') + "abstract";
    std::string unix_block =
        path_a + std::string(108 - path_a.size(), '\0') + path_b + std::string(108 - path_b.size(), '\0');
    p = parse(v2(1, 0x31, unix_block));
    REQUIRE(p.status == Status::Done);
    CHECK(shown(p.header.source) == "unix:/run/haproxy.sock");
    CHECK(shown(p.header.destination) == "unix:@abstract");

    // TLVs (here an ALPN and a NOOP) follow the addresses: counted in the length, skipped unread.
    std::string tlvs = std::string("\x01", 1) + be16(2) + "h2" + std::string("\x04", 1) + be16(3) + "pad";
    h = v2(1, 0x11, inet4_block() + tlvs);
    p = parse(h + "x");
    REQUIRE(p.status == Status::Done);
    CHECK(p.header.consumed == h.size());
    CHECK(shown(p.header.source) == "192.0.2.1:56324");
    check_every_split(h, Status::Done);

    // LOCAL: a balancer's health check; the addresses, even a family the spec does not define, are ignored.
    for (int family : {0x00, 0x11, 0xF5}) {
        CAPTURE(int(family));
        p = parse(v2(0, family, family == 0x11 ? inet4_block() : std::string()));
        REQUIRE(p.status == Status::Done);
        CHECK(p.header.command == ProxyCommand::Local);
        CHECK(!p.header.source);
    }
    // PROXY with UNSPEC: accepted, no addresses.
    p = parse(v2(1, 0x00, "ignored"));
    REQUIRE(p.status == Status::Done);
    CHECK(p.header.command == ProxyCommand::Proxy);
    CHECK(!p.header.source);
}

TEST_CASE("PROXY v2: unknown version, unknown command, bad family, short block, too long") {
    auto p = parse(v2(1, 0x11, inet4_block(), 1));
    CHECK(p.reason == ProxyResult::UnknownVersion);
    CHECK(p.status == Status::Bad);
    p = parse(v2(1, 0x11, inet4_block(), 3));
    CHECK(p.reason == ProxyResult::UnknownVersion);
    p = parse(v2(2, 0x11, inet4_block()));
    CHECK(p.status == Status::Bad);
    CHECK(p.reason == ProxyResult::UnknownCommand);
    p = parse(v2(0xF, 0x11, inet4_block()));
    CHECK(p.reason == ProxyResult::UnknownCommand);
    for (int family : {0x41, 0x13, 0x1F}) {
        CAPTURE(int(family));
        p = parse(v2(1, family, inet4_block()));
        CHECK(p.status == Status::Bad);
        CHECK(p.reason == ProxyResult::Malformed);
    }
    p = parse(v2(1, 0x21, inet4_block()));  // TCP6 with a TCP4-sized block
    CHECK(p.status == Status::Bad);
    CHECK(p.reason == ProxyResult::Malformed);
    // Settled from the 16 fixed bytes alone: a header announcing more than 1024 bytes waits for none of them.
    std::string fixed = v2(1, 0x11, "").substr(0, 14) + be16(kProxyHeaderMax - 16 + 1);
    p = parse(fixed);
    CHECK(p.status == Status::Bad);
    CHECK(p.reason == ProxyResult::TooLong);
    auto at_limit = v2(1, 0x11, inet4_block() + std::string(kProxyHeaderMax - 16 - 12, '\0'));
    REQUIRE(at_limit.size() == kProxyHeaderMax);
    CHECK(parse(at_limit).status == Status::Done);
    // A signature that breaks off is no header.
    p = parse(kSig.substr(0, 5) + "X");
    CHECK(p.status == Status::Bad);
    CHECK(p.reason == ProxyResult::Malformed);
}

TEST_CASE("a stray header on a plain listener is recognised only from its whole prefix") {
    auto stray = [](const std::string& s) { return starts_with_proxy_signature({s.data(), s.size()}); };
    CHECK(stray("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"));
    CHECK(stray("PROXY "));
    CHECK(!stray("PROXY"));  // could be an echo client's word: too short to say
    CHECK(!stray("PROXYX"));
    CHECK(stray(kSig));
    CHECK(stray(v2(1, 0x11, inet4_block())));
    CHECK(!stray(kSig.substr(0, 11)));
    CHECK(!stray("hello"));
    CHECK(!stray(""));
}

TEST_CASE("which sockets systemd passes expect a PROXY header: named proxy or *-proxy") {
    CHECK(is_proxy_socket_name("proxy"));
    CHECK(is_proxy_socket_name("edge-proxy"));
    CHECK(is_proxy_socket_name("lb-2-proxy"));
    CHECK(!is_proxy_socket_name("echo-hardened.socket"));
    CHECK(!is_proxy_socket_name("proxy-edge"));
    CHECK(!is_proxy_socket_name("noproxy"));
    CHECK(!is_proxy_socket_name("-prox"));
    CHECK(!is_proxy_socket_name("metrics"));
    CHECK(!is_proxy_socket_name(""));
}
