// fuzz_address.cpp: the listen address parser (parse_listen_address) on fuzzer input.
//
// The invariant (docs/FUZZING.md "What each target checks"): either an error and no address, or an IPv4 or
// IPv6 address that prints back to text which parses to the same address; an accepted text holds no control
// character (a NUL would cut the host short and bind an address the text does not say).
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "config/address.hpp"

namespace {

[[noreturn]] void violated(const char* what, std::string_view text) {
    std::fprintf(stderr, "fuzz-address: invariant violated: %s (input of %zu bytes)\n", what, text.size());
    std::abort();
}

bool same(const echo::SocketAddress& a, const echo::SocketAddress& b) {
    return a.length == b.length && std::memcmp(&a.storage, &b.storage, a.length) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto address = echo::parse_listen_address(text, error);
    if (!address) {
        if (error.empty()) violated("rejected without a reason", text);
        return 0;
    }
    if (!error.empty()) violated("accepted with an error", text);
    for (unsigned char ch : text)
        if (ch < 0x20 || ch == 0x7f) violated("accepted a control character", text);
    const int family = address->family();
    if (family != AF_INET && family != AF_INET6) violated("an unexpected family", text);
    const auto expected_length = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (address->length != expected_length) violated("a length that does not fit the family", text);

    const std::string printed = echo::format_address(*address);
    std::string again_error;
    auto again = echo::parse_listen_address(printed, again_error);
    if (!again) violated("the printed form does not parse", text);
    if (!same(*address, *again)) violated("the printed form parses to another address", text);
    return 0;
}
