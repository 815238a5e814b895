// scenario.cpp: the checks and the report every fault scenario ends with.
#include "scenario.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "sockets.hpp"

namespace fault {

Aftermath settle(const test::ServerProcess& server, std::size_t target, Duration timeout) {
    Aftermath a;
    const bool counted = test::eventually(
        [&] {
            a.workers = server.workers();
            return a.workers.size() == target && std::all_of(a.workers.begin(), a.workers.end(), test::alive);
        },
        timeout);
    CHECK_MESSAGE(counted, "workers: " << a.workers.size() << ", expected " << target);
    // A worker that just died is a zombie for the instant before SIGCHLD reaches the master; once the count
    // is back and nothing is dying, any Z child is one the master failed to reap.
    for (pid_t child : a.workers)
        a.zombies += test::proc_state(child) == 'Z';
    CHECK(a.zombies == 0);
    a.single_threaded = thread_count(server.pid()) == 1;
    for (pid_t w : a.workers)
        a.single_threaded = a.single_threaded && thread_count(w) == 1;
    CHECK(a.single_threaded);
    return a;
}

void check_no_worker_died(const test::ServerProcess& server, std::vector<pid_t> before,
                          std::vector<pid_t> after) {
    std::sort(before.begin(), before.end());
    std::sort(after.begin(), after.end());
    CHECK(before == after);
    const auto log = server.log();
    const auto died = log.find("unexpectedly");
    CHECK_MESSAGE(died == std::string::npos, "a worker died: " << log.substr(log.rfind('\n', died) + 1, 200));
}

void check_load(const LoadSummary& load, bool drops_allowed) {
    INFO("echo-load output:\n" << load.output);
    REQUIRE_FALSE(load.json.empty());
    CHECK(load.exit_code == 0);
    CHECK(load.count("errors") == 0);
    CHECK(load.count("total_bytes") > 0);
    if (!drops_allowed) CHECK(load.count("dropped") == 0);
}

void report(const Row& row) {
    const auto line = fmt::format("| {} | {} | {} | {} | {} | {} | {} |", row.scenario, row.load, row.faults,
                                  row.bytes_verified, row.errors, row.zombies, row.recovery);
    MESSAGE(line);
    const char* path = std::getenv("ECHO_FAULT_REPORT");
    std::ofstream(path != nullptr ? path : "fault-report.md", std::ios::app) << line << '\n';
}

double ms_since(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

std::string spread_ms(std::vector<double> samples) {
    if (samples.empty()) return "no samples";
    std::sort(samples.begin(), samples.end());
    return fmt::format("p50 {:.1f} ms, max {:.1f} ms ({} samples)", samples[samples.size() / 2],
                       samples.back(), samples.size());
}

}  // namespace fault
