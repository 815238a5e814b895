// fuzz_proxy.cpp: the PROXY protocol header parser (parse_proxy_header) on fuzzer input.
//
// The invariant (docs/FUZZING.md "What each target checks"): a header is settled within kProxyHeaderMax
// bytes (never NeedMore at that size); a complete one consumes no more than it was given and parses the same
// from exactly its own bytes, while one byte fewer still asks for more; v1 ends in CRLF within 107 bytes, v2
// is at least its 16 fixed bytes; addresses come both or neither, of a family the protocol carries, and
// print; a bad header stays bad whatever follows it, for the same reason.
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "worker/proxy_header.hpp"

namespace {

using echo::ProxyParse;
using Status = ProxyParse::Status;

[[noreturn]] void violated(const char* what, std::size_t size) {
    std::fprintf(stderr, "fuzz-proxy: invariant violated: %s (input of %zu bytes)\n", what, size);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::span<const char> bytes(reinterpret_cast<const char*>(data), size);
    ProxyParse p = echo::parse_proxy_header(bytes);
    switch (p.status) {
        case Status::NeedMore:
            if (size >= echo::kProxyHeaderMax) violated("more asked for at the limit", size);
            return 0;
        case Status::Bad: {
            if (p.detail.empty()) violated("rejected without a reason", size);
            std::string longer(bytes.data(), bytes.size());
            longer += '\n';
            ProxyParse again = echo::parse_proxy_header({longer.data(), longer.size()});
            if (again.status != Status::Bad || again.reason != p.reason)
                violated("a bad header became good or changed its reason with more bytes", size);
            return 0;
        }
        case Status::Done:
            break;
    }
    const auto& h = p.header;
    if (h.consumed == 0 || h.consumed > size || h.consumed > echo::kProxyHeaderMax)
        violated("consumed more than it was given, or nothing", size);
    if (h.version == 1 &&
        (h.consumed > echo::kProxyV1Max || bytes[h.consumed - 2] != '\r' || bytes[h.consumed - 1] != '\n'))
        violated("a v1 header not ended by CRLF within 107 bytes", size);
    if (h.version == 2 && h.consumed < 16) violated("a v2 header shorter than 16 bytes", size);
    if (h.version != 1 && h.version != 2) violated("a version other than 1 or 2", size);
    if (h.source.has_value() != h.destination.has_value()) violated("one address without the other", size);
    if (h.command == echo::ProxyCommand::Local && h.source) violated("LOCAL with addresses", size);
    for (const auto& a : {h.source, h.destination}) {
        if (!a) continue;
        if (a->family() != AF_INET && a->family() != AF_INET6 && a->family() != AF_UNIX)
            violated("an address of another family", size);
        if (echo::format_address(*a).empty()) violated("an address that does not print", size);
    }
    ProxyParse exact = echo::parse_proxy_header(bytes.first(h.consumed));
    if (exact.status != Status::Done || exact.header.consumed != h.consumed)
        violated("the header's own bytes parse otherwise", size);
    if (echo::parse_proxy_header(bytes.first(h.consumed - 1)).status != Status::NeedMore)
        violated("one byte short of a header is not a need for more", size);
    return 0;
}
