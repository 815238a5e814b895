// options.cpp: the option table and the value checks each option applies.
#include "config/options.hpp"

#include <algorithm>
#include <cctype>

#include "config/bounds.hpp"
#include "config/grammar.hpp"

namespace echo {
namespace {

// Values in error messages are shown at most this long: a megabyte pasted into a variable must not become a
// megabyte-long log line (the journal splits lines past its LineMax, 48K by default).
constexpr std::size_t kShownBytes = 64;

}  // namespace

// A value as an error message shows it: quoted, and abbreviated past kShownBytes (on a UTF-8 boundary).
// Appended in order, not as `"'" + std::string(value) + ...`: that inserts at the front of a temporary, which
// GCC 12 at -O3 reports as an overlapping memcpy (a false -Wrestrict, GCC bug 105651).
std::string quoted(std::string_view value) {
    std::string out(1, '\'');
    if (value.size() <= kShownBytes) {
        out += value;
        out += '\'';
        return out;
    }
    std::size_t cut = kShownBytes;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80)
        --cut;
    out += value.substr(0, cut);
    out += "...' (";
    out += std::to_string(value.size());
    out += " bytes)";
    return out;
}

// Control characters escaped as \xNN: a newline in a variable would split the one-line message in two, a NUL
// would cut it short (R9).
std::string printable(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c != 0x7f) {
            out += ch;
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    return out;
}

namespace {

Apply unsigned_in(unsigned Config::*field, unsigned low, unsigned high) {
    return [=](Config& c, std::string_view text) -> std::optional<std::string> {
        auto v = parse_unsigned(text, low, high);
        if (!v) return "expected a whole number from " + std::to_string(low) + " to " + std::to_string(high);
        c.*field = static_cast<unsigned>(*v);
        return std::nullopt;
    };
}

Apply duration_in(Duration Config::*field, Duration high) {
    return [=](Config& c, std::string_view text) -> std::optional<std::string> {
        auto d = parse_duration(text);
        if (!d || *d > high)
            return "expected a duration such as 10, 2.5s or 500ms, at most " +
                   std::to_string(std::chrono::duration_cast<seconds>(high).count()) + "s";
        c.*field = *d;
        return std::nullopt;
    };
}

std::optional<bool> parse_bool(std::string_view text) {
    if (text == "1" || text == "yes" || text == "true" || text == "on") return true;
    if (text == "0" || text == "no" || text == "false" || text == "off") return false;
    return std::nullopt;
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
    for (auto level : {LogLevel::Trace, LogLevel::Debug, LogLevel::Info, LogLevel::Warning, LogLevel::Error,
                       LogLevel::Critical, LogLevel::Off})
        if (text == log_level_name(level)) return level;
    if (text == "warn") return LogLevel::Warning;
    return std::nullopt;
}

// A user or group name, in the portable shape (Debian's adduser and systemd refuse others): a letter or '_',
// then letters, digits, '_', '.' or '-', at most 32 bytes; never all digits, which would read as a uid. Only
// the shape is checked here: the name is looked up when the server drops root's privileges (main()).
std::optional<std::string> name_into(std::string& field, std::string_view text) {
    auto portable = [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-';
    };
    if (text.empty() || text.size() > 32 ||
        !(std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_') ||
        !std::all_of(text.begin(), text.end(), portable))
        return "expected a name of letters, digits, '_', '.' or '-', starting with a letter or '_', at most "
               "32";
    field = text;
    return std::nullopt;
}

// The help text and the messages spell these bounds out in words; a change to one must change the other.
static_assert(bounds::kMaxWorkers == 1024 && bounds::kMinBufferSize == 1024 &&
              bounds::kMaxBufferSize == 16 * 1024 * 1024 && bounds::kMaxConfigFileBytes == 16 * 1024 * 1024);

// A list of addresses: the command line repeats the flag, the environment and the file give a comma list.
Apply address_list(std::vector<SocketAddress> Config::*list) {
    return [list](Config& c, std::string_view text) -> std::optional<std::string> {
        std::size_t start = 0;
        while (start <= text.size()) {
            auto comma = text.find(',', start);
            auto item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
            std::string why;
            auto addr = parse_listen_address(item, why);
            // The reason quotes the host; one too long to be an address would make the line as long.
            if (!addr) return item.size() > kShownBytes ? "expected ADDR:PORT (IPv6 as [ADDR]:PORT)" : why;
            (c.*list).push_back(*addr);
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
        return std::nullopt;
    };
}

}  // namespace

const std::vector<Option>& options() {
    static const std::vector<Option> table = {
        {"listen", "ECHO_LISTEN", "ADDR:PORT",
         "listen on ADDR:PORT; repeatable; IPv6 as [ADDR]:PORT; port 0 picks a free port\n"
         "    (default 127.0.0.1:7007; ignored when systemd passes sockets; the variable takes a comma list)",
         address_list(&Config::listen), &Config::listen},
        {"proxy-listen", "ECHO_PROXY_LISTEN", "ADDR:PORT",
         "also listen on ADDR:PORT for a load balancer: each connection starts with a PROXY protocol\n"
         "    header (docs/PROXY.md); repeatable, as --listen; fixed at start",
         address_list(&Config::proxy_listen), &Config::proxy_listen},
        {"proxy-protocol", "ECHO_PROXY_PROTOCOL", nullptr,
         "every echo listener expects a PROXY protocol v1 or v2 header (a load balancer's) first; without\n"
         "    it, only --proxy-listen ones and sockets systemd passes named \"proxy\" or \"*-proxy\" (fixed "
         "at start)",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             auto b = parse_bool(text);
             if (!b) return "expected 1/0, yes/no, true/false or on/off";
             c.proxy_protocol = *b;
             return std::nullopt;
         }},
        {"proxy-timeout", "ECHO_PROXY_TIMEOUT", "DURATION",
         "close a connection whose PROXY header is not complete this long after its accept; 0 disables\n"
         "    (default 3s)",
         duration_in(&Config::proxy_timeout, bounds::kMaxProxyTimeout)},
        {"workers", "ECHO_WORKERS", "N", "number of worker processes, 1-1024 (default: the number of CPUs)",
         unsigned_in(&Config::workers, 1, bounds::kMaxWorkers)},
        {"max-connections", "ECHO_MAX_CONNECTIONS", "N",
         "connections one worker serves at once; more wait in the backlog (default 10000)",
         unsigned_in(&Config::max_connections, 1, bounds::kMaxConnections)},
        {"idle-timeout", "ECHO_IDLE_TIMEOUT", "DURATION",
         "close connections without traffic for this long; 0 disables (default 300s)",
         duration_in(&Config::idle_timeout, bounds::kMaxIdleTimeout)},
        {"drain-timeout", "ECHO_DRAIN_TIMEOUT", "DURATION",
         "on SIGTERM, serve busy connections at most this long before closing them (default 10s)",
         duration_in(&Config::drain_timeout, bounds::kMaxDrainTimeout)},
        {"leave-delay", "ECHO_LEAVE_DELAY", "DURATION",
         "on SIGTERM, answer /ready 503 but keep accepting this long before the drain, so a load\n"
         "    balancer takes the server out of rotation first (docs/FLEET.md); 0 disables (default 0)",
         duration_in(&Config::leave_delay, bounds::kMaxLeaveDelay)},
        {"worker-timeout", "ECHO_WORKER_TIMEOUT", "DURATION",
         "kill and replace a worker whose heartbeat stops for this long; 0 disables (default 30s)",
         duration_in(&Config::worker_timeout, bounds::kMaxWorkerTimeout)},
        {"buffer-size", "ECHO_BUFFER_SIZE", "BYTES",
         "cap on bytes read from a client but not yet echoed, 1K-16M (default 64K)",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             auto v = parse_size(text);
             if (!v || *v < bounds::kMinBufferSize || *v > bounds::kMaxBufferSize)
                 return "expected a size from 1K to 16M, such as 65536, 64K or 1M";
             c.buffer_size = *v;
             return std::nullopt;
         }},
        {"log-level", "ECHO_LOG_LEVEL", "LEVEL",
         "trace, debug, info, warning, error, critical or off (default info)",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             auto level = parse_log_level(text);
             if (!level) return "expected trace, debug, info, warning, error, critical or off";
             c.log_level = *level;
             return std::nullopt;
         }},
        {"config", "ECHO_CONFIG", "FILE",
         "read settings from FILE (lines of 'name = value', names as the long flags); re-read on SIGHUP",
         // parse_layers reads the file; applying the name in its layer only checks it.
         [](Config&, std::string_view text) -> std::optional<std::string> {
             if (text.empty()) return "expected a file name";
             return std::nullopt;
         },
         nullptr, true},
        {"zombie-mode", "ECHO_ZOMBIE_MODE", nullptr,
         "demonstration: never reap exited workers, so they stay <defunct> (see RUNBOOK.md \"Zombies\")",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             auto b = parse_bool(text);
             if (!b) return "expected 1/0, yes/no, true/false or on/off";
             c.zombie_mode = *b;
             return std::nullopt;
         }},
        {"zombie-worker-lifetime", "ECHO_ZOMBIE_WORKER_LIFETIME", "DURATION",
         "with --zombie-mode, each worker exits after this long; 0: only when killed (default 0)",
         duration_in(&Config::zombie_worker_lifetime, bounds::kMaxZombieWorkerLifetime)},
        {"metrics-listen", "ECHO_METRICS_LISTEN", "ADDR:PORT",
         "serve Prometheus metrics at http://ADDR:PORT/metrics, and readiness for a load balancer at\n"
         "    /ready, from a process of their own (default: off, unless systemd passes a socket named\n"
         "    \"metrics\"; fixed at start)",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             std::string why;
             auto addr = parse_listen_address(text, why);
             if (!addr) return text.size() > kShownBytes ? "expected ADDR:PORT (IPv6 as [ADDR]:PORT)" : why;
             c.metrics_listen = *addr;
             return std::nullopt;
         }},
        {"fd-store", "ECHO_FD_STORE", "N",
         "under systemd, a stop keeps up to N connections in the unit's file descriptor store\n"
         "    (FileDescriptorStoreMax=, at least N), so the next start serves them again (default 0: off)",
         unsigned_in(&Config::fd_store, 0, bounds::kMaxFdStore)},
        {"seccomp", "ECHO_SECCOMP", "MODE",
         "system call filter of seccomp/policy.txt: enforce (a call outside it kills the process),\n"
         "    log (only logged) or off; fixed at start, a SIGHUP does not change it (default enforce)",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             if (text == "enforce")
                 c.seccomp = SeccompMode::Enforce;
             else if (text == "log")
                 c.seccomp = SeccompMode::Log;
             else if (text == "off")
                 c.seccomp = SeccompMode::Off;
             else
                 return "expected enforce, log or off";
             return std::nullopt;
         }},
        {"user", "ECHO_USER", "NAME",
         "started as root: run as this user once the sockets are open (default echo-hardened if it exists,\n"
         "    else nobody); ignored with a warning when not root; fixed at start",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             return name_into(c.user, text);
         }},
        {"group", "ECHO_GROUP", "NAME",
         "started as root: run as this group (default: the user's primary group); fixed at start",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             return name_into(c.group, text);
         }},
    };
    return table;
}

const Option* find_option(std::string_view name) {
    for (const auto& o : options())
        if (name == o.name) return &o;
    return nullptr;
}

const Option& config_file_option() {
    auto& table = options();
    return *std::find_if(table.begin(), table.end(), [](const Option& o) { return o.names_config_file; });
}

}  // namespace echo
