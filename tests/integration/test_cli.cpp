// test_cli.cpp: the command line and the environment, as a user meets them (R9), and start-up failures.

#include <sstream>

#include "fixture.hpp"

using namespace test;

namespace {
std::size_t count_lines(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}
}  // namespace

TEST_CASE("--help and --version exit 0 and print to stdout") {
    auto help = run_to_exit({"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("Usage: echo-hardened") != std::string::npos);
    CHECK(help.out.find("ECHO_IDLE_TIMEOUT") != std::string::npos);
    auto version = run_to_exit({"--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out.rfind("echo-hardened ", 0) == 0);
}

TEST_CASE("invalid flags and variables: exit 2 with exactly one line on stderr") {
    struct Case {
        std::vector<std::string> args;
        std::vector<std::pair<std::string, std::string>> env;
    };
    std::vector<Case> cases = {
        {{"--workers", "0"}, {}},
        {{"--workers", "abc"}, {}},
        {{"--workers", std::string(10000, '9')}, {}},
        {{"--workers="}, {}},
        {{"--workers"}, {}},
        {{"--listen", "localhost:80"}, {}},
        {{"--listen", "127.0.0.1:99999"}, {}},
        {{"--listen", "[::1"}, {}},
        {{"--idle-timeout", "forever"}, {}},
        {{"--drain-timeout", "-5"}, {}},
        {{"--buffer-size", "0"}, {}},
        {{"--log-level", "chatty"}, {}},
        {{"--max-connections", "-1"}, {}},
        {{"--unknown-flag"}, {}},
        {{"positional"}, {}},
        {{"--config", "/nonexistent/echo.conf"}, {}},
        {{}, {{"ECHO_WORKERS", "0"}}},
        {{}, {{"ECHO_LISTEN", ""}}},
        {{}, {{"ECHO_IDLE_TIMEOUT", "1x"}}},
        {{}, {{"ECHO_ZOMBIE_MODE", "perhaps"}}},
    };
    for (auto& c : cases) {
        auto r = run_to_exit(c.args, c.env);
        std::string what = c.args.empty() ? c.env[0].first + "=" + c.env[0].second : c.args[0];
        CHECK_MESSAGE(r.exit_code == 2, what << " -> " << r.exit_code << ": " << r.err);
        CHECK_MESSAGE(count_lines(r.err) == 1, what << ": " << r.err);
        CHECK_MESSAGE(r.err.rfind("echo-hardened: ", 0) == 0, what << ": " << r.err);
        CHECK(r.out.empty());
    }
}

TEST_CASE("a port in use: a clear message, exit 1, no worker started") {
    std::uint16_t held_port = 0;
    UniqueFd holder = listen_loopback(held_port);
    REQUIRE(holder.valid());
    auto port = std::to_string(held_port);

    ServerOptions options;
    options.args = {"--listen", "127.0.0.1:" + port, "--workers", "2"};
    ServerProcess server(options);
    CHECK(server.wait_exit_code(10s) == 1);
    CHECK(server.log().find("cannot bind 127.0.0.1:" + port + ": Address already in use") !=
          std::string::npos);
    CHECK(server.log().find("started worker") == std::string::npos);
}

TEST_CASE("an address this host does not have: a clear message, exit 1") {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to this machine, so bind() fails; nothing is sent anywhere.
    ServerOptions options;
    options.args = {"--listen", "192.0.2.1:7007"};
    ServerProcess server(options);
    CHECK(server.wait_exit_code(10s) == 1);
    CHECK(server.log().find("cannot bind 192.0.2.1:7007: Cannot assign requested address") !=
          std::string::npos);
}

TEST_CASE("every flag can come from its environment variable") {
    ServerOptions options;
    options.env = {{"ECHO_WORKERS", "3"}, {"ECHO_LOG_LEVEL", "debug"}, {"ECHO_LISTEN", "127.0.0.1:0"}};
    ServerProcess server(options);
    REQUIRE(server.wait_ready());
    CHECK(wait_for_workers(server, 3).size() == 3);
    CHECK(server.log().find("debug:") != std::string::npos);
}

TEST_CASE("logs carry syslog priorities when stderr is the journal's stream, timestamps otherwise") {
    ServerOptions options;
    options.journal_stream = true;
    auto journal = start_server({}, options);
    journal->signal(SIGTERM);
    REQUIRE(journal->wait_exit_code(10s) == 0);
    auto text = journal->log();
    CHECK(text.find("<6>master[" + std::to_string(journal->pid()) + "]: ready: 2 workers accepting on") !=
          std::string::npos);
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        CHECK_MESSAGE(line.rfind('<', 0) == 0, line);

    auto plain = start_server({});
    CHECK(plain->log().find("<6>") == std::string::npos);
    CHECK(plain->log().find(" master[" + std::to_string(plain->pid()) + "] info: ready:") !=
          std::string::npos);
}
