// fuzz_config.cpp: the command line, environment and config file parser (parse_config) on fuzzer input.
//
// The input is NUL-separated fields: the first is the config file's text, each later one an environment
// entry when it reads "ECHO_NAME=value", a command-line argument otherwise. The file's path is the
// harness's own: --config and ECHO_CONFIG are pointed at it, so the fuzzer varies what the file says, not
// which file of this machine is read. The invariant (docs/FUZZING.md "What each target checks"): either
// a configuration within the documented bounds or one printable error line, never both, never a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/bounds.hpp"
#include "config/config.hpp"

namespace {

[[noreturn]] void violated(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz-config: invariant violated: %s: %s\n", what, detail.c_str());
    std::abort();
}

// One file for the whole run, rewritten for each input: a memfd, so no disk is touched (a truncated ext4
// file is flushed at close, which made the first version of this target wait on the disk) and nothing is left
// behind. parse_config opens it by its /proc/self/fd path.
int config_fd() {
    static const int fd = [] {
        int made = ::memfd_create("fuzz-config", MFD_CLOEXEC);
        if (made < 0) violated("memfd_create", std::strerror(errno));
        return made;
    }();
    return fd;
}

const std::string& config_path() {
    static const std::string path = "/proc/self/fd/" + std::to_string(config_fd());
    return path;
}

void write_file(std::string_view text) {
    if (::ftruncate(config_fd(), 0) < 0) violated("ftruncate", std::strerror(errno));
    if (::pwrite(config_fd(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
        violated("short write", config_path());
}

void check_config(const echo::Config& c) {
    namespace b = echo::bounds;
    if (c.listen.empty()) violated("no listen address", "");
    if (c.workers < 1 || c.workers > b::kMaxWorkers)
        violated("workers out of bounds", std::to_string(c.workers));
    if (c.max_connections < 1 || c.max_connections > b::kMaxConnections)
        violated("max-connections out of bounds", std::to_string(c.max_connections));
    if (c.buffer_size < b::kMinBufferSize || c.buffer_size > b::kMaxBufferSize)
        violated("buffer-size out of bounds", std::to_string(c.buffer_size));
    if (c.idle_timeout.count() < 0 || c.idle_timeout > b::kMaxIdleTimeout) violated("idle-timeout", "");
    if (c.drain_timeout.count() < 0 || c.drain_timeout > b::kMaxDrainTimeout) violated("drain-timeout", "");
    if (c.worker_timeout.count() < 0 || c.worker_timeout > b::kMaxWorkerTimeout)
        violated("worker-timeout", "");
    if (c.zombie_worker_lifetime.count() < 0 || c.zombie_worker_lifetime > b::kMaxZombieWorkerLifetime)
        violated("zombie-worker-lifetime", "");
    if (c.proxy_timeout.count() < 0 || c.proxy_timeout > b::kMaxProxyTimeout) violated("proxy-timeout", "");
    for (const auto& a : c.listen)
        if (a.length == 0) violated("an empty listen address", "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> fields;
    for (std::size_t at = 0;;) {
        auto nul = input.find('\0', at);
        fields.push_back(input.substr(at, nul == std::string_view::npos ? input.npos : nul - at));
        if (nul == std::string_view::npos) break;
        at = nul + 1;
    }
    write_file(fields[0]);

    std::map<std::string, std::string, std::less<>> environment;
    std::vector<std::string> args;
    for (std::size_t i = 1; i < fields.size(); ++i) {
        std::string_view f = fields[i];
        auto eq = f.find('=');
        if (f.starts_with("ECHO_") && eq != std::string_view::npos) {
            std::string name(f.substr(0, eq));
            environment[name] = name == "ECHO_CONFIG" ? config_path() : std::string(f.substr(eq + 1));
        } else if (f.starts_with("--config")) {
            args.push_back("--config=" + config_path());
        } else {
            args.emplace_back(f);
        }
    }
    auto env = [&](const char* name) -> std::optional<std::string> {
        auto it = environment.find(std::string_view(name));
        if (it == environment.end()) return std::nullopt;
        return it->second;
    };

    const auto parsed = echo::parse_config(args, env, 4);
    if (!parsed.error.empty()) {
        if (parsed.action != echo::CliAction::Run)
            violated("an error with --help or --version", parsed.error);
        for (unsigned char ch : parsed.error)
            if (ch < 0x20 || ch == 0x7f) violated("the error is not one printable line", parsed.error);
        return 0;
    }
    if (parsed.action == echo::CliAction::Run) check_config(parsed.config);
    return 0;
}
