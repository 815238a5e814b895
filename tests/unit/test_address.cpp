// test_address.cpp: listen address parsing and formatting.
#include <doctest/doctest.h>

#include "config/address.hpp"

using namespace echo;

TEST_CASE("IPv4 and bracketed IPv6 addresses parse and print back") {
    std::string why;
    for (const char* text : {"127.0.0.1:7007", "0.0.0.0:0", "[::1]:7007", "[::]:65535", "[fe80::1:2]:80"}) {
        auto a = parse_listen_address(text, why);
        REQUIRE_MESSAGE(a, text);
        CHECK(format_address(*a) == text);
    }
}

TEST_CASE("bad listen addresses are refused with a reason") {
    for (const char* text :
         {"", "7007", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:7x",
          "localhost:7007", "::1:7007", "[::1]7007", "[::1]:", "[127.0.0.1]:7007", "1.2.3:80"}) {
        std::string why;
        CHECK_MESSAGE(!parse_listen_address(text, why), text);
        CHECK_MESSAGE(!why.empty(), text);
    }
}

TEST_CASE("a NUL inside the host is refused, not read as the end of the address") {
    using namespace std::string_literals;
    for (const auto& text : {"[::\0\0\0001]:7007"s, "127.0.0.1\0junk:80"s, "[::1\0]:80"s}) {
        std::string why;
        CHECK_MESSAGE(!parse_listen_address(text, why), text.size());
        CHECK(why == "the host holds a NUL byte");
    }
    CHECK(!numeric_address("::\0junk"s, 80));
    CHECK(!numeric_address("127.0.0.1\0"s, 80));
}

TEST_CASE("each refusal names what was wrong") {
    struct Case {
        const char* text;
        const char* why;
    };
    for (auto c : {Case{"nowhere", "expected ADDR:PORT (IPv6 as [ADDR]:PORT)"},
                   Case{"[::1]7007", "expected [IPv6]:PORT"},
                   Case{"::1:7007", "an IPv6 address must be in brackets: [ADDR]:PORT"},
                   Case{"127.0.0.1:65536", "port must be a number from 0 to 65535"},
                   Case{"unix:/run/echo.sock", "port must be a number from 0 to 65535"},
                   Case{"localhost:7007", "'localhost' is not a numeric IPv4 address"},
                   Case{"256.0.0.1:7007", "'256.0.0.1' is not a numeric IPv4 address"},
                   Case{"[127.0.0.1]:7007", "'127.0.0.1' is not a numeric IPv6 address"},
                   Case{":80", "'' is not a numeric IPv4 address"}}) {
        std::string why;
        CHECK_MESSAGE(!parse_listen_address(c.text, why), c.text);
        CHECK_MESSAGE(why == c.why, c.text);
    }
}

TEST_CASE("a numeric host and a port, the family told by the host") {
    auto v4 = numeric_address("127.0.0.1", 7007);
    REQUIRE(v4);
    CHECK(v4->family() == AF_INET);
    CHECK(v4->port() == 7007);
    CHECK(format_address(*v4) == "127.0.0.1:7007");
    auto v6 = numeric_address("::1", 9);
    REQUIRE(v6);
    CHECK(v6->family() == AF_INET6);
    CHECK(v6->port() == 9);
    CHECK(format_address(*v6) == "[::1]:9");
    CHECK(!numeric_address("localhost", 1));
    CHECK(!numeric_address("", 1));
    CHECK(!numeric_address("[::1]", 1));
    CHECK(!numeric_address("1.2.3", 1));
}
