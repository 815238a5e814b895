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
