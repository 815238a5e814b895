// test_seccomp.cpp: the in-process seccomp filters (R34): loaded in every process, stacked in workers, and a
// call outside seccomp/policy.txt kills the worker that makes it, which is reaped and replaced.
#include <signal.h>

#include <fstream>
#include <regex>

#include "fixture.hpp"

using namespace test;

namespace {

std::string status_field(pid_t pid, const std::string& field) {
    std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                              : "/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field + ":", 0) == 0) {
            auto value = line.substr(field.size() + 1);
            return value.substr(value.find_first_not_of(" \t"));
        }
    return {};
}

int filters_of(pid_t pid) {
    return std::stoi(status_field(pid, "Seccomp_filters"));
}

// Preloads seccomp/forbidden_call_shim.cpp: its accept4() calls mount(2) first, once per server.
ServerOptions with_forbidden_call() {
    ServerOptions options;
    options.env = {{"LD_PRELOAD", preload_with_sanitizer(ECHO_FORBIDDEN_CALL_SHIM)}};
    return options;
}

}  // namespace

TEST_CASE("enforce by default: master and workers run under seccomp, each worker with one filter more") {
    auto server = start_server({});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    int own = filters_of(0);  // whatever confines the test runner itself is inherited by the server too
    CHECK(status_field(server->pid(), "Seccomp") == "2");
    CHECK(status_field(server->pid(), "NoNewPrivs") == "1");
    CHECK(filters_of(server->pid()) == own + 1);
    for (pid_t w : workers) {
        CHECK(status_field(w, "Seccomp") == "2");
        CHECK(filters_of(w) == own + 2);
    }
    CHECK(server->log().find("seccomp filter loaded (enforce)") != std::string::npos);
    CHECK(echo_once(server->port(), "filtered echo") == "filtered echo");
}

TEST_CASE(
    "a worker making a call outside the policy dies of SIGSYS, is reaped, replaced, and logged with a hint") {
    auto server = start_server({}, with_forbidden_call());
    auto before = wait_for_workers(*server, 2);
    REQUIRE(before.size() == 2);
    // The worker that takes this connection calls mount(2) in accept4() and dies; the connection stays queued
    // and the next worker to accept serves it.
    CHECK(echo_once(server->port(), "first connection") == "first connection");
    auto at = server->wait_for_log("killed by signal 31 (SIGSYS)", 10s);
    REQUIRE_MESSAGE(at >= 0, server->log());
    std::smatch m;
    auto log = server->log();
    REQUIRE(
        std::regex_search(log, m, std::regex(R"(worker \d+ \(pid (\d+)\) killed by signal 31 \(SIGSYS\))")));
    pid_t victim = std::stoi(m[1]);
    CHECK(std::find(before.begin(), before.end(), victim) != before.end());
    CHECK(eventually([&] { return !proc_state(victim); }, 5s));  // reaped: gone from /proc, not a zombie
    auto after = wait_for_workers(*server, 2);
    REQUIRE(after.size() == 2);
    CHECK(std::find(after.begin(), after.end(), victim) == after.end());
    CHECK(server->wait_for_log("made a system call outside seccomp/policy.txt", 5s) >= 0);
    CHECK(echo_once(server->port(), "after the kill") == "after the kill");
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(15s) == 0);
}

TEST_CASE("--seccomp=log loads the filters but only logs: the same forbidden call kills nobody") {
    auto server = start_server({"--seccomp=log"}, with_forbidden_call());
    auto before = wait_for_workers(*server, 2);
    REQUIRE(before.size() == 2);
    int own = filters_of(0);
    CHECK(filters_of(server->pid()) == own + 1);
    for (pid_t w : before)
        CHECK(filters_of(w) == own + 2);
    CHECK(echo_once(server->port(), "logged, not killed") == "logged, not killed");
    CHECK(echo_once(server->port(), "still serving") == "still serving");
    auto after = wait_for_workers(*server, 2);
    std::sort(before.begin(), before.end());
    std::sort(after.begin(), after.end());
    CHECK(after == before);
    CHECK(server->log().find("SIGSYS") == std::string::npos);
    CHECK(server->log().find("seccomp filter loaded (log)") != std::string::npos);
}

TEST_CASE("--seccomp=off and ECHO_SECCOMP=off load no filter, and say so") {
    int own = filters_of(0);
    for (bool from_env : {false, true}) {
        ServerOptions options = with_forbidden_call();
        std::vector<std::string> args;
        if (from_env)
            options.env.push_back({"ECHO_SECCOMP", "off"});
        else
            args.push_back("--seccomp=off");
        auto server = start_server(args, options);
        auto workers = wait_for_workers(*server, 2);
        REQUIRE(workers.size() == 2);
        CHECK(filters_of(server->pid()) == own);
        for (pid_t w : workers)
            CHECK(filters_of(w) == own);
        CHECK(echo_once(server->port(), "unfiltered") == "unfiltered");
        auto after = wait_for_workers(*server, 2);
        std::sort(workers.begin(), workers.end());
        std::sort(after.begin(), after.end());
        CHECK(after == workers);
        CHECK(server->log().find("--seccomp=off: no in-process system call filter") != std::string::npos);
    }
}

TEST_CASE("an invalid --seccomp or ECHO_SECCOMP exits 2 with one line") {
    for (auto& r : {run_to_exit({"--seccomp=bogus"}), run_to_exit({"--seccomp", "ENFORCE"}),
                    run_to_exit({}, {{"ECHO_SECCOMP", "strict"}})}) {
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("expected enforce, log or off") != std::string::npos);
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
}
