// test_config.cpp: the option table across command line, environment and config file.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "config/config.hpp"

using namespace echo;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

ParsedConfig parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    return parse_config(args, env_of(std::move(env)), 4);
}

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& content) {
        char tmpl[] = "/tmp/echo-config-XXXXXX";
        int fd = mkstemp(tmpl);
        close(fd);
        path = tmpl;
        std::ofstream(path) << content;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("defaults") {
    auto p = parse({});
    REQUIRE(p.error.empty());
    CHECK(p.action == CliAction::Run);
    CHECK(p.config.workers == 4);
    REQUIRE(p.config.listen.size() == 1);
    CHECK(format_address(p.config.listen[0]) == "127.0.0.1:7007");
    CHECK(p.config.idle_timeout == seconds(300));
    CHECK(p.config.drain_timeout == seconds(10));
    CHECK(p.config.buffer_size == 64 * 1024);
    CHECK(!p.config.zombie_mode);
}

TEST_CASE("flags in both spellings, repeated --listen, switches") {
    auto p = parse({"--workers", "3", "--listen=127.0.0.1:1", "--listen", "[::1]:2", "--idle-timeout=1.5",
                    "--drain-timeout", "250ms", "--buffer-size", "1M", "--log-level", "debug",
                    "--zombie-mode", "--max-connections", "7"});
    REQUIRE(p.error.empty());
    CHECK(p.config.workers == 3);
    REQUIRE(p.config.listen.size() == 2);
    CHECK(format_address(p.config.listen[1]) == "[::1]:2");
    CHECK(p.config.idle_timeout == milliseconds(1500));
    CHECK(p.config.drain_timeout == milliseconds(250));
    CHECK(p.config.buffer_size == 1024 * 1024);
    CHECK(p.config.log_level == LogLevel::Debug);
    CHECK(p.config.zombie_mode);
    CHECK(p.config.max_connections == 7);
}

TEST_CASE("help and version win over everything else") {
    CHECK(parse({"--workers", "x", "--help"}).action ==
          CliAction::Help);  // asking for help is never an error
    CHECK(parse({"--help"}).action == CliAction::Help);
    CHECK(parse({"--version"}).action == CliAction::Version);
    CHECK(usage_text().find("--drain-timeout") != std::string::npos);
    CHECK(usage_text().find("ECHO_WORKERS") != std::string::npos);
}

TEST_CASE("precedence: command line over environment over config file over defaults") {
    TempFile file(
        "# comment\nworkers = 5\nidle-timeout = 7  # trailing\nlisten = 127.0.0.1:9,127.0.0.1:10\n");
    auto from_file = parse({"--config", file.path});
    REQUIRE(from_file.error.empty());
    CHECK(from_file.config.workers == 5);
    CHECK(from_file.config.idle_timeout == seconds(7));
    CHECK(from_file.config.listen.size() == 2);

    auto env_wins = parse({"--config", file.path}, {{"ECHO_WORKERS", "6"}, {"ECHO_LISTEN", "127.0.0.1:11"}});
    REQUIRE(env_wins.error.empty());
    CHECK(env_wins.config.workers == 6);
    CHECK(env_wins.config.listen.size() == 1);  // a later layer's list replaces, not extends

    auto cli_wins = parse({"--config", file.path, "--workers", "2"}, {{"ECHO_WORKERS", "6"}});
    CHECK(cli_wins.config.workers == 2);
    CHECK(cli_wins.config.idle_timeout == seconds(7));

    auto env_config = parse({}, {{"ECHO_CONFIG", file.path}});
    CHECK(env_config.config.workers == 5);
}

TEST_CASE("every invalid value is one line naming the option and the value") {
    struct Case {
        std::vector<std::string> args;
        std::map<std::string, std::string> env;
        const char* mentions;
    };
    std::vector<Case> cases = {
        {{"--workers", "0"}, {}, "--workers"},
        {{"--workers", "1025"}, {}, "--workers"},
        {{"--workers", "-1"}, {}, "--workers"},
        {{"--workers", ""}, {}, "--workers"},
        {{"--workers", "99999999999999999999999"}, {}, "--workers"},
        {{"--workers"}, {}, "--workers"},
        {{"--idle-timeout", "abc"}, {}, "--idle-timeout"},
        {{"--idle-timeout", "-1"}, {}, "--idle-timeout"},
        {{"--drain-timeout", "1e300"}, {}, "--drain-timeout"},
        {{"--drain-timeout", "nan"}, {}, "--drain-timeout"},
        {{"--buffer-size", "10"}, {}, "--buffer-size"},
        {{"--buffer-size", "1T"}, {}, "--buffer-size"},
        {{"--log-level", "loud"}, {}, "--log-level"},
        {{"--listen", "nowhere"}, {}, "--listen"},
        {{"--max-connections", "0"}, {}, "--max-connections"},
        {{"--zombie-mode=maybe"}, {}, "--zombie-mode"},
        {{"--frobnicate"}, {}, "--frobnicate"},
        {{"stray"}, {}, "stray"},
        {{}, {{"ECHO_WORKERS", "many"}}, "ECHO_WORKERS"},
        {{}, {{"ECHO_LISTEN", "127.0.0.1:1,bad"}}, "ECHO_LISTEN"},
        {{"--config", "/nonexistent/echo.conf"}, {}, "/nonexistent/echo.conf"},
    };
    for (auto& c : cases) {
        auto p = parse(c.args, c.env);
        CHECK_MESSAGE(!p.error.empty(), c.mentions);
        CHECK_MESSAGE(p.error.find(c.mentions) != std::string::npos, p.error);
        CHECK_MESSAGE(p.error.find('\n') == std::string::npos, p.error);
    }
}

TEST_CASE("config file errors name the file and line") {
    TempFile unknown("workers = 2\nspeed = 11\n");
    auto p = parse({"--config", unknown.path});
    CHECK(p.error.find(unknown.path + " line 2") != std::string::npos);
    CHECK(p.error.find("speed") != std::string::npos);
    TempFile no_equals("workers 2\n");
    CHECK(parse({"--config", no_equals.path}).error.find("line 1") != std::string::npos);
}

TEST_CASE("a config file that cannot be read says why, with the failing call's own reason") {
    CHECK(parse({"--config", "/nonexistent/echo.conf"}).error ==
          "invalid value '/nonexistent/echo.conf' for --config: cannot read it: No such file or directory");
    CHECK(parse({"--config", "/"}).error == "invalid value '/' for --config: cannot read it: Is a directory");
    CHECK(parse({}, {{"ECHO_CONFIG", "/dev/zero"}}).error ==
          "invalid value '/dev/zero' for ECHO_CONFIG: the file is larger than 16 MiB");
    CHECK(parse({"--config", ""}).error == "invalid value '' for --config: expected a file name");
    TempFile names_itself("config = /etc/other.conf\n");
    CHECK(parse({"--config", names_itself.path}).error.find("unknown setting 'config'") != std::string::npos);
}

TEST_CASE("the worker count is clamped to the bounds when it comes from the CPU count") {
    CHECK(parse_config({}, env_of({}), 0).config.workers == 1);
    CHECK(parse_config({}, env_of({}), 5000).config.workers == bounds::kMaxWorkers);
}

TEST_CASE("PROXY protocol settings: the switch, the timeout, their defaults and bounds, the file") {
    auto d = parse({});
    CHECK(!d.config.proxy_protocol);
    CHECK(d.config.proxy_timeout == seconds(3));
    auto p = parse({"--proxy-protocol", "--proxy-timeout", "500ms"});
    REQUIRE(p.error.empty());
    CHECK(p.config.proxy_protocol);
    CHECK(p.config.proxy_timeout == milliseconds(500));
    auto e = parse({}, {{"ECHO_PROXY_PROTOCOL", "yes"}, {"ECHO_PROXY_TIMEOUT", "0"}});
    REQUIRE(e.error.empty());
    CHECK(e.config.proxy_protocol);
    CHECK(e.config.proxy_timeout == Duration::zero());
    TempFile file("proxy-protocol = on\nproxy-timeout = 2s\n");
    auto f = parse({"--config", file.path});
    REQUIRE(f.error.empty());
    CHECK(f.config.proxy_protocol);
    CHECK(f.config.proxy_timeout == seconds(2));
    CHECK(parse({"--proxy-timeout", "2h"}).error.find("--proxy-timeout") != std::string::npos);
    CHECK(parse({"--proxy-protocol=maybe"}).error.find("--proxy-protocol") != std::string::npos);
}
