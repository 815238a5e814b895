// config.hpp: the server's settings, parsed from defaults < config file < environment < command line.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/log_level.hpp"
#include "config/address.hpp"
#include "config/bounds.hpp"  // the ranges of these settings, for whoever changes one at run time

namespace echo {

enum class SeccompMode { Enforce, Log, Off };

struct Config {
    std::vector<SocketAddress> listen;  // empty, and proxy_listen too: the default, 127.0.0.1:7007
    // Listeners of its own whose connections start with a PROXY protocol header (R90, docs/PROXY.md), beside
    // the plain ones of `listen`: nginx's "listen ... proxy_protocol". Fixed at start, with the listeners.
    std::vector<SocketAddress> proxy_listen;
    // Every echo listener expects a PROXY protocol header; without it only `proxy_listen` and the sockets
    // systemd passes named "proxy" or "*-proxy" do. Fixed at start, with the listeners.
    bool proxy_protocol = false;
    Duration proxy_timeout = seconds(3);  // for the whole header to arrive; 0: no limit but --idle-timeout
    unsigned workers = 0;                 // 0 until resolved: the number of CPUs this process may run on
    unsigned max_connections = 10000;     // per worker
    Duration idle_timeout = seconds(300);
    Duration drain_timeout = seconds(10);
    Duration leave_delay{};  // SIGTERM: not ready, still accepting, this long before the drain (R91); 0: none
    Duration worker_timeout = seconds(30);  // 0 disables the heartbeat check
    std::size_t buffer_size = 64 * 1024;    // per-connection cap on bytes read but not yet echoed
    LogLevel log_level = LogLevel::Info;
    bool zombie_mode = false;
    Duration zombie_worker_lifetime{};           // 0: workers live until killed
    SeccompMode seccomp = SeccompMode::Enforce;  // fixed at start: a loaded filter cannot be removed
    std::optional<SocketAddress>
        metrics_listen;     // the metrics page (R81); unset: none, unless systemd passes one
    unsigned fd_store = 0;  // connections kept in systemd's file descriptor store at a stop (R62); 0: none
    // Started as root: the identity to drop to (R99); empty: the defaults (docs/PRIVILEGES.md). Fixed at
    // start.
    std::string user;
    std::string group;
    std::string config_file;  // the --config file read (re-read on SIGHUP); empty: none
};

enum class CliAction { Run, Help, Version };

struct ParsedConfig {
    Config config;
    CliAction action = CliAction::Run;
    std::string error;  // one line; non-empty means exit with kExitUsage
};

// Looks an environment variable up; std::nullopt when unset. Injected so tests need not touch the real one.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;
EnvLookup process_environment();

// `args` excludes argv[0]. `default_workers` is used when no layer sets --workers.
ParsedConfig parse_config(const std::vector<std::string>& args, const EnvLookup& env,
                          unsigned default_workers);

std::string usage_text();
std::string_view log_level_name(LogLevel level);

}  // namespace echo
