// scenario.hpp: what every fault scenario checks at its end and how it reports: the worker count restored, no
// child left in state Z, every server process single-threaded; one row of the suite's summary table.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "load_run.hpp"
#include "server_process.hpp"

namespace fault {

// Rounds of the repeated-fault scenarios: 50, or --rounds N on the command line for a longer soak.
unsigned rounds();
// --soak DURATION (test_soak.cpp; unset: the soak is skipped) and its --seed (random when not given).
std::optional<Duration> soak_duration();
std::uint64_t soak_seed();

struct Aftermath {
    std::vector<pid_t> workers;   // the children at the last look: the live workers, once the count is back
    std::size_t zombies = 0;      // children in state Z at that moment
    bool single_threaded = true;  // the master and every worker run one thread (RUNBOOK.md "Reliability")
};

// Waits (bounded) until exactly `target` workers are alive, then looks for zombies and threads, with CHECKs.
Aftermath settle(const test::ServerProcess& server, std::size_t target, Duration timeout = 20s);

// CHECKs that a scenario that was not about killing workers killed none: the same pids, no unexpected exit.
void check_no_worker_died(const test::ServerProcess& server, std::vector<pid_t> before,
                          std::vector<pid_t> after);

// CHECKs a load run's verdict: it finished, printed its summary, counted no error. `drops_allowed`: whether
// connections closed by a fault (echo-load --reconnect counts them apart) are expected.
void check_load(const LoadSummary& load, bool drops_allowed);

struct Row {
    std::string scenario;
    std::string load;
    std::string faults;
    std::uint64_t bytes_verified = 0;
    std::uint64_t errors = 0;
    std::size_t zombies = 0;
    std::string recovery;
};
// Logs the row and appends it to the summary table: $ECHO_FAULT_REPORT, or fault-report.md here.
void report(const Row& row);

// Milliseconds from `since` until now: the recovery times the scenarios report.
double ms_since(std::chrono::steady_clock::time_point since);

// "p50 1.2 ms, max 3.4 ms" of samples in milliseconds.
std::string spread_ms(std::vector<double> samples);

}  // namespace fault
