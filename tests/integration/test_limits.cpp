// test_limits.cpp: too many workers for RLIMIT_NPROC (R32). Running out of descriptors and of processes under
// load: tests/fault/test_exhaustion.cpp.
#include "fixture.hpp"

using namespace test;

TEST_CASE("--workers that cannot fit RLIMIT_NPROC is refused at start with an explanation") {
    ServerOptions options;
    options.uid = kUidNprocCheck;
    options.nproc = 3;
    options.args = {"--listen", "127.0.0.1:0", "--workers", "8"};
    ServerProcess server(options);
    CHECK(server.wait_exit_code(10s) == 4);
    CHECK(server.log().find("--workers 8 does not fit RLIMIT_NPROC") != std::string::npos);
}
