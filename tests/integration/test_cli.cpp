// test_cli.cpp: the command line and the environment, as a user meets them (R9). Bad values and addresses
// that cannot be bound: test_bad_input.cpp.

#include <sstream>

#include "fixture.hpp"

using namespace test;

TEST_CASE("--help and --version exit 0 and print to stdout") {
    auto help = run_to_exit({"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("Usage: echo-hardened") != std::string::npos);
    CHECK(help.out.find("ECHO_IDLE_TIMEOUT") != std::string::npos);
    auto version = run_to_exit({"--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out.rfind("echo-hardened ", 0) == 0);
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
