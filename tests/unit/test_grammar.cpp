// test_grammar.cpp: the one grammar of numbers, durations, sizes and ADDR:PORT, accepted and refused forms.
#include <doctest/doctest.h>

#include <limits>

#include "config/grammar.hpp"

using namespace echo;

TEST_CASE("whole numbers: decimal digits only, within the range asked for") {
    CHECK(parse_unsigned("0") == 0u);
    CHECK(parse_unsigned("42") == 42u);
    CHECK(parse_unsigned("007") == 7u);
    CHECK(parse_unsigned("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
    for (const char* text : {"", "-1", "+1", " 1", "1 ", "1.0", "0x10", "1e3", "12x", "18446744073709551616",
                             "99999999999999999999999"})
        CHECK_MESSAGE(!parse_unsigned(text), text);
    CHECK(parse_unsigned("1", 1, 1024) == 1u);
    CHECK(parse_unsigned("1024", 1, 1024) == 1024u);
    CHECK(!parse_unsigned("0", 1, 1024));
    CHECK(!parse_unsigned("1025", 1, 1024));
    CHECK(!parse_unsigned("4294967297", 1, 1024));  // not wrapped to 1
}

TEST_CASE("durations: seconds, s, ms and m, fixed notation, never negative") {
    CHECK(parse_duration("0") == Duration::zero());
    CHECK(parse_duration("2m") == seconds(120));
    CHECK(parse_duration("10s") == seconds(10));
    CHECK(parse_duration("10") == seconds(10));
    CHECK(parse_duration("0.25") == milliseconds(250));
    CHECK(parse_duration("2.5s") == milliseconds(2500));
    CHECK(parse_duration("500ms") == milliseconds(500));
    CHECK(parse_duration("1000000000") == seconds(1'000'000'000));
    CHECK(!parse_duration(""));
    CHECK(!parse_duration("s"));
    CHECK(!parse_duration("ms"));
    CHECK(!parse_duration("m"));
    CHECK(!parse_duration("5h"));
    CHECK(!parse_duration("7d"));
    CHECK(!parse_duration("inf"));
    CHECK(!parse_duration("nan"));
    CHECK(!parse_duration("1e3"));  // fixed notation only
    CHECK(!parse_duration("1e300"));
    CHECK(!parse_duration("-0"));
    CHECK(!parse_duration("-0.0"));
    CHECK(!parse_duration("-5s"));
    CHECK(!parse_duration("+1"));
    CHECK(!parse_duration("1,5"));
    CHECK(!parse_duration("1000000001"));  // past the grammar's ceiling
    CHECK(!parse_duration("99999999999m"));
}

TEST_CASE("sizes: bytes, or K, M, G binary multiples, with iB only after one") {
    CHECK(parse_size("64K") == 65536u);
    CHECK(parse_size("64k") == 65536u);
    CHECK(parse_size("64KiB") == 65536u);
    CHECK(parse_size("2MiB") == 2u * 1024 * 1024);
    CHECK(parse_size("1M") == 1024u * 1024);
    CHECK(parse_size("1G") == 1024u * 1024 * 1024);
    CHECK(parse_size("123") == 123u);
    CHECK(parse_size("0") == 0u);
    CHECK(!parse_size(""));
    CHECK(!parse_size("K"));
    CHECK(!parse_size("iB"));
    CHECK(!parse_size("KiB"));
    CHECK(!parse_size("12Q"));
    CHECK(!parse_size("1T"));
    CHECK(!parse_size("64KB"));
    CHECK(!parse_size("1.5K"));
    CHECK(!parse_size("-1"));
    CHECK(!parse_size("+1K"));
    CHECK(!parse_size("65536iB"));  // "iB" only after K, M or G
    CHECK(!parse_size("99999999999999999999G"));
    CHECK(!parse_size("17179869184G"));  // 2^34 G overflows 64 bits
}

TEST_CASE("ports: 0 to 65535") {
    CHECK(parse_port("0") == 0);
    CHECK(parse_port("7007") == 7007);
    CHECK(parse_port("65535") == 65535);
    for (const char* text : {"", "65536", "-1", "7x", "+1", "99999999999"})
        CHECK_MESSAGE(!parse_port(text), text);
}

TEST_CASE("ADDR:PORT and [IPv6]:PORT split into host and port text") {
    std::string why;
    auto v4 = split_host_port("127.0.0.1:7007", why);
    REQUIRE(v4);
    CHECK(v4->host == "127.0.0.1");
    CHECK(v4->port == "7007");
    CHECK(!v4->bracketed);
    auto v6 = split_host_port("[::1]:9001", why);
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK(v6->port == "9001");
    CHECK(v6->bracketed);
    // The split leaves the parts' content to the caller: a name, an empty host or port, a bad port.
    auto name = split_host_port("localhost:x", why);
    REQUIRE(name);
    CHECK(name->host == "localhost");
    CHECK(name->port == "x");
    auto empty = split_host_port(":", why);
    REQUIRE(empty);
    CHECK(empty->host.empty());
    CHECK(empty->port.empty());
    auto brackets = split_host_port("[]:", why);
    REQUIRE(brackets);
    CHECK(brackets->host.empty());
}

TEST_CASE("a host and port that cannot be split say why") {
    struct Case {
        const char* text;
        const char* why;
    };
    for (auto c : {Case{"", "expected ADDR:PORT (IPv6 as [ADDR]:PORT)"},
                   Case{"7007", "expected ADDR:PORT (IPv6 as [ADDR]:PORT)"},
                   Case{"/run/echo.sock", "expected ADDR:PORT (IPv6 as [ADDR]:PORT)"},
                   Case{"[::1", "expected [IPv6]:PORT"}, Case{"[::1]7007", "expected [IPv6]:PORT"},
                   Case{"[::1]", "expected [IPv6]:PORT"},
                   Case{"::1:7007", "an IPv6 address must be in brackets: [ADDR]:PORT"},
                   Case{"a:b:c", "an IPv6 address must be in brackets: [ADDR]:PORT"}}) {
        std::string why;
        CHECK_MESSAGE(!split_host_port(c.text, why), c.text);
        CHECK_MESSAGE(why == c.why, c.text);
    }
}
