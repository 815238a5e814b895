// proc.hpp: reading process state from /proc, and bounded waiting for a condition on it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

namespace test {

using namespace std::chrono_literals;
using Duration = std::chrono::steady_clock::duration;

std::vector<pid_t> children_of(pid_t parent);
// The state letter of /proc/PID/stat ('R', 'S', 'Z', 'T'…), or std::nullopt when the pid is gone.
std::optional<char> proc_state(pid_t pid);
std::optional<long> rss_kib(pid_t pid);
// utime + stime in seconds.
std::optional<double> cpu_seconds(pid_t pid);
bool alive(pid_t pid);  // exists and is not a zombie

// Polls `condition` every few milliseconds until it holds or `timeout` passes. For facts with no readiness
// signal of their own (a pid leaving /proc); never a substitute for one.
bool eventually(const std::function<bool()>& condition, Duration timeout);

}  // namespace test
