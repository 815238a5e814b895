// process_stats.cpp: reading /proc/PID/stat, /proc/PID/limits and /proc/PID/fd without stdio or iostreams.
#include "metrics/process_stats.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

#include "base/unique_fd.hpp"

namespace echo {
namespace {

// A /proc file into `out`, up to its size (these are small: a stat line is under 1 KiB, limits 1.5 KiB).
bool read_file(const char* path, std::string& out) {
    UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return false;
    out.clear();
    char buffer[4096];
    for (;;) {
        ssize_t n = read(fd.get(), buffer, sizeof buffer);
        if (n < 0) return false;
        if (n == 0) return true;
        out.append(buffer, static_cast<std::size_t>(n));
        if (out.size() > 64 * 1024) return false;  // not a file of the kind expected
    }
}

std::optional<std::uint64_t> number(std::string_view text) {
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

double clock_seconds(clockid_t clock) {
    timespec ts{};
    (void)clock_gettime(clock, &ts);  // CLOCK_REALTIME and CLOCK_BOOTTIME always exist
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::optional<std::uint64_t> count_open_fds(pid_t pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/fd", static_cast<int>(pid));
    DIR* dir = opendir(path);
    if (dir == nullptr) return std::nullopt;
    std::uint64_t n = 0;
    while (dirent* e = readdir(dir))
        if (e->d_name[0] != '.') ++n;
    (void)closedir(dir);  // fails only for an invalid stream
    return n;
}

}  // namespace

std::optional<StatFields> parse_stat_line(std::string_view line) {
    auto paren = line.rfind(')');
    if (paren == std::string_view::npos) return std::nullopt;
    // Fields from 3 (state) on, split on single spaces.
    std::string_view rest = line.substr(paren + 1);
    std::string_view fields[64];
    std::size_t count = 0;
    while (!rest.empty() && count < std::size(fields)) {
        while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\n'))
            rest.remove_prefix(1);
        if (rest.empty()) break;
        auto end = rest.find_first_of(" \n");
        fields[count++] = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    }
    auto field = [&](std::size_t n) { return n - 3 < count ? number(fields[n - 3]) : std::nullopt; };
    auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
    if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
    return StatFields{*utime, *stime, *start, *vsize, *rss};
}

std::optional<std::uint64_t> parse_max_open_files(std::string_view limits) {
    constexpr std::string_view kName = "Max open files";
    auto at = limits.find(kName);
    if (at == std::string_view::npos) return std::nullopt;
    std::string_view rest = limits.substr(at + kName.size());
    while (!rest.empty() && rest.front() == ' ')
        rest.remove_prefix(1);
    return number(rest.substr(0, rest.find(' ')));  // "unlimited" does not parse: no figure
}

std::optional<ProcessStats> read_process_stats(pid_t pid) {
    static const long ticks = sysconf(_SC_CLK_TCK);
    static const long page = sysconf(_SC_PAGESIZE);
    char path[64];
    std::string text;
    std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
    if (!read_file(path, text)) return std::nullopt;
    auto f = parse_stat_line(text);
    if (!f || ticks <= 0) return std::nullopt;
    ProcessStats s;
    const auto hz = static_cast<double>(ticks);
    s.cpu_seconds = static_cast<double>(f->utime_ticks + f->stime_ticks) / hz;
    s.resident_bytes = f->rss_pages * static_cast<std::uint64_t>(page);
    s.virtual_bytes = f->vsize;
    // Its start is in ticks since boot; the boot's wall-clock time follows from two clocks read now, so
    // /proc/stat's btime (hidden under ProcSubset=pid) is not needed.
    const double boot = clock_seconds(CLOCK_REALTIME) - clock_seconds(CLOCK_BOOTTIME);
    // Rounded to whole ticks, so the figure does not wobble by the microseconds between the two readings.
    s.start_time_seconds = std::round((boot + static_cast<double>(f->start_ticks) / hz) * hz) / hz;
    s.open_fds = count_open_fds(pid);
    std::snprintf(path, sizeof path, "/proc/%d/limits", static_cast<int>(pid));
    if (read_file(path, text)) s.max_fds = parse_max_open_files(text);
    return s;
}

}  // namespace echo
