// load_run.hpp: echo-load, the project's verifying load generator, run as a child process for the length of a
// fault scenario, and the JSON summary it prints at the end.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server_process.hpp"

namespace fault {

using test::Duration;
using namespace std::chrono_literals;

struct LoadSummary {
    int exit_code = -1;  // echo-load's: 0 no error, 1 errors counted; 128+signal or -1 when it did not finish
    std::string json;    // the one-line summary, empty if none was printed
    std::string output;  // everything it wrote, for failure messages

    [[nodiscard]] bool has(const std::string& key) const;
    [[nodiscard]] std::uint64_t count(const std::string& key) const;  // 0 when absent
    [[nodiscard]] double real(const std::string& key) const;
    [[nodiscard]] std::string text(const std::string& key) const;
};

class LoadRun {
  public:
    // echo-load --target 127.0.0.1:PORT --json ARGS...; a run with no --duration/--count of its own runs
    // until stop().
    LoadRun(std::uint16_t port, std::vector<std::string> args);

    // Its first SIGTERM: it stops starting operations, still verifies every echo in flight, then reports.
    LoadSummary stop(Duration timeout = 30s);
    // For a run bounded by its own --duration or --count.
    LoadSummary wait(Duration timeout);
    // Waits for a line of its stderr (hold mode announces "N of C connections established").
    bool wait_for_output(const std::string& needle, Duration timeout) const;
    [[nodiscard]] pid_t pid() const { return process_->pid(); }

  private:
    LoadSummary summary(int exit_code) const;

    std::unique_ptr<test::ServerProcess> process_;
};

std::string load_binary();

}  // namespace fault
