// process_stats.hpp: one process's figures for the standard process_* series, read from /proc/PID.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace echo {

// What Prometheus' process collector exports for a process (prometheus.io "Writing client libraries",
// "Process metrics"), for another process than the caller's own.
struct ProcessStats {
    double cpu_seconds = 0;  // utime + stime
    std::uint64_t resident_bytes = 0;
    std::uint64_t virtual_bytes = 0;
    double start_time_seconds = 0;          // since the Unix epoch
    std::optional<std::uint64_t> open_fds;  // unreadable without ptrace access to it
    std::optional<std::uint64_t> max_fds;   // its soft RLIMIT_NOFILE
};

// std::nullopt when the process is gone (or was never visible to this one).
std::optional<ProcessStats> read_process_stats(pid_t pid);

// The fields of a /proc/PID/stat line that the series need, or std::nullopt if it does not parse. The
// command name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
struct StatFields {
    std::uint64_t utime_ticks = 0, stime_ticks = 0, start_ticks = 0, vsize = 0, rss_pages = 0;
};
std::optional<StatFields> parse_stat_line(std::string_view line);
// The soft "Max open files" of a /proc/PID/limits text; std::nullopt for "unlimited" or no such line.
std::optional<std::uint64_t> parse_max_open_files(std::string_view limits);

}  // namespace echo
