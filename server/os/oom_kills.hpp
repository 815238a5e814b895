// oom_kills.hpp: the kernel's count of OOM kills in the master's memory cgroup, to tell an OOM kill from
// any other SIGKILL (R96).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.hpp"

namespace echo {

// The files that may hold the count for the cgroups /proc/self/cgroup lists, most likely first: cgroup v2's
// memory.events (on the unified or the hybrid mount), cgroup v1's memory.oom_control.
std::vector<std::string> oom_kill_count_files(std::string_view proc_self_cgroup);

// The value of the "oom_kill N" line of either file; nullopt when it has none (a kernel before 4.13).
std::optional<std::uint64_t> parse_oom_kill_count(std::string_view text);

// Opened before the master's seccomp filter and re-read at each unexplained SIGKILL. The workers are
// in the master's cgroup: a count that rose since the last look means the kernel OOM-killed one of them.
// Without the file (no memory controller, a root without /sys such as the unit's RootDirectory=), the master
// says only what it knows: killed by SIGKILL, not by itself.
class OomKillCounter {
  public:
    static OomKillCounter open();  // logs once, at debug level, which file it reads or that there is none
    OomKillCounter() = default;

    bool available() const { return fd_.valid(); }
    const std::string& path() const { return path_; }
    // How many OOM kills happened since the previous call (or open()); nullopt when it cannot tell.
    std::optional<std::uint64_t> new_kills();

  private:
    std::optional<std::uint64_t> read_count() const;
    UniqueFd fd_;
    std::string path_;
    std::uint64_t last_ = 0;
};

}  // namespace echo
