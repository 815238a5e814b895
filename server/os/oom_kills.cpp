// oom_kills.cpp: finding, and reading, the oom_kill count of the master's own memory cgroup.
#include "os/oom_kills.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <charconv>

#include "base/log.hpp"

namespace echo {

namespace {

// "/" stays "", so no file name starts with "//".
std::string relative(std::string_view path) {
    while (!path.empty() && path.back() == '/')
        path.remove_suffix(1);
    return std::string(path);
}

bool lists_memory(std::string_view controllers) {
    while (!controllers.empty()) {
        auto comma = controllers.find(',');
        if (controllers.substr(0, comma) == "memory") return true;
        if (comma == std::string_view::npos) break;
        controllers.remove_prefix(comma + 1);
    }
    return false;
}

}  // namespace

std::vector<std::string> oom_kill_count_files(std::string_view proc_self_cgroup) {
    std::vector<std::string> v2;
    std::vector<std::string> v1;
    while (!proc_self_cgroup.empty()) {
        auto end = proc_self_cgroup.find('\n');
        std::string_view line = proc_self_cgroup.substr(0, end);
        proc_self_cgroup.remove_prefix(end == std::string_view::npos ? proc_self_cgroup.size() : end + 1);
        // hierarchy-ID:controller-list:cgroup-path (cgroups(7)); the path may itself hold ':'.
        auto first = line.find(':');
        auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
        if (second == std::string_view::npos) continue;
        std::string_view id = line.substr(0, first);
        std::string_view controllers = line.substr(first + 1, second - first - 1);
        std::string path = relative(line.substr(second + 1));
        if (id == "0" && controllers.empty()) {
            v2.push_back("/sys/fs/cgroup" + path + "/memory.events");
            v2.push_back("/sys/fs/cgroup/unified" + path + "/memory.events");
        } else if (lists_memory(controllers)) {
            v1.push_back("/sys/fs/cgroup/memory" + path + "/memory.oom_control");
        }
    }
    v2.insert(v2.end(), v1.begin(), v1.end());
    return v2;
}

std::optional<std::uint64_t> parse_oom_kill_count(std::string_view text) {
    constexpr std::string_view key = "oom_kill ";
    for (std::size_t at = 0; at < text.size();) {
        auto end = text.find('\n', at);
        std::string_view line = text.substr(at, end == std::string_view::npos ? end : end - at);
        at = end == std::string_view::npos ? text.size() : end + 1;
        if (line.substr(0, key.size()) != key)
            continue;  // also skips "oom_kill_disable" and "oom_group_kill"
        std::uint64_t n = 0;
        auto digits = line.substr(key.size());
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec == std::errc{} && p == digits.data() + digits.size()) return n;
    }
    return std::nullopt;
}

OomKillCounter OomKillCounter::open() {
    OomKillCounter c;
    std::string cgroups;
    if (UniqueFd self(::open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC)); self.valid()) {
        std::array<char, 4096> buf;
        ssize_t n = 0;
        // EINTR cannot happen (every signal is blocked); a read error leaves what was read, and no file
        // found.
        while ((n = ::read(self.get(), buf.data(), buf.size())) > 0)
            cgroups.append(buf.data(), std::size_t(n));
    }
    for (const auto& file : oom_kill_count_files(cgroups)) {
        UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd.valid()) continue;  // ENOENT: not this mount, or no memory controller there
        c.fd_ = std::move(fd);
        if (auto count = c.read_count()) {
            c.path_ = file;
            c.last_ = *count;
            spdlog::debug("OOM kills counted from {} (now {})", file, *count);
            return c;
        }
        c.fd_.reset();  // no oom_kill line: keep looking
    }
    spdlog::debug(
        "no memory cgroup file with an oom_kill count: a SIGKILLed worker cannot be told an OOM kill");
    return c;
}

std::optional<std::uint64_t> OomKillCounter::read_count() const {
    std::array<char, 1024> buf;
    // lseek() + read(), not pread(): the master's filter has both, and pread64 only before it (policy.txt).
    if (lseek(fd_.get(), 0, SEEK_SET) < 0) return std::nullopt;
    ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n <= 0) return std::nullopt;  // EIO/ENODEV: the cgroup is gone, and with it any count to tell
    return parse_oom_kill_count(std::string_view(buf.data(), std::size_t(n)));
}

std::optional<std::uint64_t> OomKillCounter::new_kills() {
    if (!fd_.valid()) return std::nullopt;
    auto count = read_count();
    if (!count) return std::nullopt;
    std::uint64_t fresh = *count >= last_ ? *count - last_ : 0;
    last_ = *count;
    return fresh;
}

}  // namespace echo
