// test_limits.cpp: running out of file descriptors (R5) and of processes (R32).
#include <sys/socket.h>

#include "fixture.hpp"

using namespace test;

TEST_CASE("EMFILE on accept: no busy loop, and service resumes when descriptors free up") {
    // 64 descriptors in all: the worker runs out after some 55 connections while more wait in the backlog.
    ServerOptions options;
    options.nofile = 64;
    auto server = start_server({"--workers", "1"}, options);
    auto workers = wait_for_workers(*server, 1);
    REQUIRE(workers.size() == 1);

    std::vector<UniqueFd> clients;
    for (int i = 0; i < 100; ++i)
        clients.push_back(connect_local(server->port()));
    CHECK(server->wait_for_log("accept4() failed: Too many open files", 5s) >= 0);

    double cpu_before = cpu_seconds(workers[0]).value_or(0);
    auto window = std::chrono::steady_clock::now() + 1500ms;
    eventually([&] { return std::chrono::steady_clock::now() >= window; },
               2s);  // observe an interval of time
    double cpu_used = cpu_seconds(workers[0]).value_or(0) - cpu_before;
    MESSAGE("worker CPU over 1.5 s at EMFILE: " << cpu_used << " s");
    CHECK(cpu_used < 0.3);  // a spinning accept loop would burn the whole 1.5 s

    clients.clear();  // the server sees EOF on its connections and frees their descriptors
    CHECK(eventually([&] { return echo_once(server->port(), "back") == "back"; }, 10s));
}

TEST_CASE("--workers that cannot fit RLIMIT_NPROC is refused at start with an explanation") {
    ServerOptions options;
    options.uid = kUidNprocCheck;
    options.nproc = 3;
    options.args = {"--listen", "127.0.0.1:0", "--workers", "8"};
    ServerProcess server(options);
    CHECK(server.wait_exit_code(10s) == 4);
    CHECK(server.log().find("--workers 8 does not fit RLIMIT_NPROC") != std::string::npos);
}
