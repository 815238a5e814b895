// Unit tests of echo-load's command-line parsing: accepted forms, and one clear error for each bad one.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <netinet/in.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "cli.hpp"

using namespace echoload;

namespace {

ParseResult parse(std::initializer_list<const char*> args) {
    std::vector<std::string> storage{"echo-load"};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage)
        argv.push_back(s.data());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(storage.size()), argv.data());
}

Options ok(std::initializer_list<const char*> args) {
    const auto r = parse(args);
    if (const auto* e = std::get_if<UsageError>(&r)) FAIL("unexpected usage error: " << e->message);
    REQUIRE(std::holds_alternative<Options>(r));
    return std::get<Options>(r);
}

std::string error(std::initializer_list<const char*> args) {
    const auto r = parse(args);
    REQUIRE(std::holds_alternative<UsageError>(r));
    return std::get<UsageError>(r).message;
}

}  // namespace

TEST_CASE("defaults: pingpong, one connection, 64 bytes, 5 seconds, 127.0.0.1:7007") {
    const auto o = ok({});
    CHECK(o.mode == Mode::PingPong);
    CHECK(o.connections == 1);
    CHECK(o.size == 64);
    CHECK(o.duration == 5.0);
    CHECK(o.port == 7007);
    CHECK(o.addr.ss_family == AF_INET);
    CHECK_FALSE(o.reconnect);
    CHECK(ok({"--reconnect"}).reconnect);
}

TEST_CASE("targets: IPv4, bracketed IPv6, host and port apart") {
    CHECK(ok({"--target", "127.0.0.1:9000"}).port == 9000);
    const auto v6 = ok({"--target", "[::1]:9001"});
    CHECK(v6.host == "::1");
    CHECK(v6.port == 9001);
    CHECK(v6.addr.ss_family == AF_INET6);
    const auto apart = ok({"--host", "::1", "--port", "9002"});
    CHECK(apart.addr.ss_family == AF_INET6);
}

TEST_CASE("sizes take K/M/G suffixes; stream window defaults to four writes") {
    const auto o = ok({"--mode", "stream", "-s", "16K"});
    CHECK(o.size == 16384);
    CHECK(o.window == 65536);
    CHECK(ok({"--mode", "stream", "--size", "1M", "--window", "2M"}).window == 2 * 1024 * 1024);
}

TEST_CASE("numbers, sizes, durations and addresses follow the server's grammar") {
    CHECK(ok({"-s", "64KiB"}).size == 65536);
    CHECK(ok({"-s", "2k"}).size == 2048);
    CHECK(ok({"--duration", "1.5"}).duration == 1.5);
    CHECK(ok({"--duration", "2s"}).duration == 2.0);
    CHECK(ok({"--timeout", "500ms"}).timeout == 0.5);
    CHECK(ok({"--interval", "0.25", "--mode", "hold"}).interval == 0.25);
    CHECK(ok({"--warmup", "1m", "-d", "2m"}).warmup == 60.0);
    CHECK(ok({"--target", "[::1]:1", "--port", "2"}).port == 2);
    CHECK(error({"--size", "65536iB"}).find("--size") != std::string::npos);
    CHECK(error({"--size", "1.5K"}).find("--size") != std::string::npos);
    CHECK(error({"--duration", "1e3"}).find("--duration") != std::string::npos);
    CHECK(error({"--duration", "-0"}).find("--duration") != std::string::npos);
    CHECK(error({"--duration", "86401"}).find("--duration") != std::string::npos);
    CHECK(error({"--duration", "2h"}).find("--duration") != std::string::npos);
    CHECK(error({"--port", "+1"}).find("--port") != std::string::npos);
    CHECK(error({"--target", "::1:80"}).find("--target") != std::string::npos);
    CHECK(error({"--target", ":80"}).find("--target") != std::string::npos);
    CHECK(error({"--target", "[]:80"}).find("--target") != std::string::npos);
    CHECK(error({"--target", "127.0.0.1:"}).find("--target") != std::string::npos);
}

TEST_CASE("a count alone bounds the run; both may be given") {
    const auto o = ok({"--count", "1000"});
    CHECK(o.count == 1000);
    CHECK(o.duration == 0.0);
    CHECK(ok({"--count", "10", "--duration", "2"}).duration == 2.0);
}

TEST_CASE("every bad value is a usage error naming the problem") {
    CHECK(error({"--mode", "flood"}).find("--mode") != std::string::npos);
    CHECK(error({"--connections", "0"}).find("--connections") != std::string::npos);
    CHECK(error({"--connections", "12x"}).find("--connections") != std::string::npos);
    CHECK(error({"--size", "-1"}).find("--size") != std::string::npos);
    CHECK(error({"--port", "70000"}).find("--port") != std::string::npos);
    CHECK(error({"--target", "nohostport"}).find("--target") != std::string::npos);
    CHECK(error({"--target", "[::1]9000"}).find("--target") != std::string::npos);
    CHECK(error({"--duration", "abc"}).find("--duration 'abc'") != std::string::npos);
    CHECK(error({"--timeout", "0"}).find("--timeout") != std::string::npos);
    CHECK(error({"--duration", "0"}).find("bounded") != std::string::npos);
    CHECK(error({"--threads", "4", "-c", "2"}).find("--threads") != std::string::npos);
    CHECK(error({"--window", "4K"}).find("stream") != std::string::npos);
    CHECK(error({"--mode", "stream", "-s", "8K", "--window", "4K"}).find("--window") != std::string::npos);
    CHECK(error({"--mode", "hold", "--count", "5"}).find("hold") != std::string::npos);
    CHECK(error({"--bogus"}).find("--bogus") != std::string::npos);
    CHECK(error({"--size"}).find("needs a value") != std::string::npos);
    CHECK(error({"stray"}).find("stray") != std::string::npos);
}

TEST_CASE("--help is recognised") {
    CHECK(std::holds_alternative<HelpRequested>(parse({"--help"})));
}

TEST_CASE("--lifetime: seconds for pingpong and hold; refused for the modes without a message boundary") {
    CHECK(ok({}).lifetime == 0.0);
    CHECK(ok({"--lifetime", "1.5"}).lifetime == 1.5);
    CHECK(ok({"--lifetime", "500ms", "--mode", "hold"}).lifetime == 0.5);
    CHECK(error({"--lifetime", "1", "--mode", "connrate"}).find("--lifetime") != std::string::npos);
    CHECK(error({"--lifetime", "1", "--mode", "stream"}).find("--lifetime") != std::string::npos);
    CHECK(error({"--lifetime", "soon"}).find("--lifetime") != std::string::npos);
}
