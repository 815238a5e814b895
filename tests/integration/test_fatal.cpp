// test_fatal.cpp: a worker that fails at start-up in a way a restart cannot fix (exit 78) is not respawned,
// and a master whose every worker failed so exits 1 instead of forking forever (R12).
#include "fixture.hpp"

using namespace test;

TEST_CASE("workers exiting with the fatal status are not respawned, and the master gives up with exit 1") {
    ServerOptions options;
    options.args = {"--listen", "127.0.0.1:0", "--workers", "2"};
    options.env = {{"LD_PRELOAD", preload_with_sanitizer(ECHO_FATAL_START_SHIM)}};
    ServerProcess server(options);
    CHECK(server.wait_exit_code(15s) == 1);
    auto log = server.log();
    CHECK(log.find("exited with status 78 unexpectedly") != std::string::npos);
    CHECK(log.find(
              "worker 0 failed at start-up in a way a restart cannot fix (status 78); not restarting it") !=
          std::string::npos);
    CHECK(log.find(
              "worker 1 failed at start-up in a way a restart cannot fix (status 78); not restarting it") !=
          std::string::npos);
    CHECK(log.find("every worker failed with a fatal start-up error; exiting") != std::string::npos);
    // Two starts, one per slot: no retry of a failure that cannot heal.
    std::size_t starts = 0;
    for (auto at = log.find("started worker"); at != std::string::npos;
         at = log.find("started worker", at + 1))
        ++starts;
    CHECK(starts == 2);
    auto notes = server.notifications();
    CHECK(std::find(notes.begin(), notes.end(), "READY=1") == notes.end());  // never claimed to be ready
}
