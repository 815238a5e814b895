// config.cpp: one table of options drives the command line, the ECHO_* environment and the config file alike.
#include "config/config.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <system_error>

#include "base/unique_fd.hpp"
#include "config/bounds.hpp"
#include "config/grammar.hpp"

namespace echo {
namespace {

// Sets one option from its text; returns the reason when the text is not acceptable.
using Apply = std::function<std::optional<std::string>(Config&, std::string_view)>;

struct Option {
    const char* name;  // long flag without the dashes; also the config file key
    const char* env;
    const char* metavar;  // nullptr for a boolean switch
    const char* help;
    Apply apply;
    // Set for a list given by repeating the flag (a comma list in the environment and the file): the list,
    // which a later layer replaces rather than extends.
    std::vector<SocketAddress> Config::*repeatable_list = nullptr;
    // Names the config file: read before the other layers, and so not a key in the file itself.
    bool names_config_file = false;
};

// Values in error messages are shown at most this long: a megabyte pasted into a variable must not become a
// megabyte-long log line (the journal splits lines past its LineMax, 48K by default).
constexpr std::size_t kShownBytes = 64;

// A value as an error message shows it: quoted, and abbreviated past kShownBytes (on a UTF-8 boundary).
std::string quoted(std::string_view value) {
    if (value.size() <= kShownBytes) return "'" + std::string(value) + "'";
    std::size_t cut = kShownBytes;
    while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80)
        --cut;
    return "'" + std::string(value.substr(0, cut)) + "...' (" + std::to_string(value.size()) + " bytes)";
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

// The help text and the messages spell these bounds out in words; a change to one must change the other.
static_assert(bounds::kMaxWorkers == 1024 && bounds::kMinBufferSize == 1024 &&
              bounds::kMaxBufferSize == 16 * 1024 * 1024 && bounds::kMaxConfigFileBytes == 16 * 1024 * 1024);

const std::vector<Option>& options() {
    static const std::vector<Option> table = {
        {"listen", "ECHO_LISTEN", "ADDR:PORT",
         "listen on ADDR:PORT; repeatable; IPv6 as [ADDR]:PORT; port 0 picks a free port\n"
         "    (default 127.0.0.1:7007; ignored when systemd passes sockets; the variable takes a comma list)",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             // The environment and the config file give a comma-separated list; the command line repeats.
             std::size_t start = 0;
             while (start <= text.size()) {
                 auto comma = text.find(',', start);
                 auto item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
                 std::string why;
                 auto addr = parse_listen_address(item, why);
                 // The reason quotes the host; one too long to be an address would make the line as long.
                 if (!addr)
                     return item.size() > kShownBytes ? "expected ADDR:PORT (IPv6 as [ADDR]:PORT)" : why;
                 c.listen.push_back(*addr);
                 if (comma == std::string_view::npos) break;
                 start = comma + 1;
             }
             return std::nullopt;
         },
         &Config::listen},
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

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r");
    return std::string(s.substr(b, e - b + 1));
}

// Applies one layer; a later layer's repeatable list replaces an earlier layer's rather than adding to it.
struct Layer {
    Config& config;
    std::vector<const Option*> lists_replaced{};

    std::optional<std::string> set(const Option& o, std::string_view value) {
        if (o.repeatable_list != nullptr &&
            std::find(lists_replaced.begin(), lists_replaced.end(), &o) == lists_replaced.end()) {
            (config.*o.repeatable_list).clear();
            lists_replaced.push_back(&o);
        }
        return o.apply(config, value);
    }
};

std::string cannot_read(int error) {
    return "cannot read it: " + std::generic_category().message(error);
}

// Reads the whole file into `text`; returns why it could not. The reason's errno is the failing call's own:
// open(2) for a missing file, read(2) for a directory (EISDIR: a directory opens fine).
std::optional<std::string> read_config_file(const std::string& path, std::string& text) {
    constexpr std::size_t kChunk = 64 * 1024;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return cannot_read(errno);
    for (;;) {
        auto used = text.size();
        text.resize(used + kChunk);
        ssize_t n = ::read(fd.get(), text.data() + used, kChunk);
        int read_error = errno;
        text.resize(used + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        if (n < 0 && read_error == EINTR) continue;
        if (n < 0) return cannot_read(read_error);
        if (n == 0) return std::nullopt;
        if (text.size() > bounds::kMaxConfigFileBytes) return "the file is larger than 16 MiB";
    }
}

// `source` is where the file's name came from: --config or ECHO_CONFIG.
std::string apply_file(Config& config, const std::string& path, const std::string& source) {
    std::string text;
    if (auto why = read_config_file(path, text))
        return "invalid value " + quoted(path) + " for " + source + ": " + *why;
    Layer layer{config};
    std::istringstream in(text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        auto content = trim(line.substr(0, line.find('#')));
        if (content.empty()) continue;
        auto eq = content.find('=');
        auto where = "config file " + path + " line " + std::to_string(number) + ": ";
        if (eq == std::string::npos) return where + "expected 'name = value', not " + quoted(content);
        auto name = trim(std::string_view(content).substr(0, eq));
        auto value = trim(std::string_view(content).substr(eq + 1));
        const Option* o = find_option(name);
        if (o == nullptr || o->names_config_file) return where + "unknown setting " + quoted(name);
        if (auto why = layer.set(*o, value))
            return where + "invalid value " + quoted(value) + " for " + name + ": " + *why;
    }
    return {};
}

std::string apply_environment(Config& config, const EnvLookup& env) {
    Layer layer{config};
    for (const auto& o : options()) {
        if (o.names_config_file) continue;  // read first, by parse_layers
        auto value = env(o.env);
        if (!value) continue;
        if (auto why = layer.set(o, *value))
            return "invalid value " + quoted(*value) + " for " + o.env + ": " + *why;
    }
    return {};
}

}  // namespace

std::string_view log_level_name(LogLevel level) {
    switch (level) {
        case LogLevel::Trace:
            return "trace";
        case LogLevel::Debug:
            return "debug";
        case LogLevel::Info:
            return "info";
        case LogLevel::Warning:
            return "warning";
        case LogLevel::Error:
            return "error";
        case LogLevel::Critical:
            return "critical";
        case LogLevel::Off:
            return "off";
    }
    return "info";
}

EnvLookup process_environment() {
    return [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        if (v == nullptr) return std::nullopt;
        return std::string(v);
    };
}

namespace {

ParsedConfig parse_layers(const std::vector<std::string>& args, const EnvLookup& env,
                          unsigned default_workers) {
    ParsedConfig out;
    // Pass 1: split the command line into (option, value) pairs, so that --config is known before any layer.
    std::vector<std::pair<const Option*, std::string>> cli;
    const Option* bare_switch = nullptr;  // the previous argument, when it was a switch without "="
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "--help" || arg == "-h") {
            out.action = CliAction::Help;
            return out;
        }
        if (arg == "--version" || arg == "-V") {
            out.action = CliAction::Version;
            return out;
        }
        if (!arg.starts_with("--")) {
            out.error = "unexpected argument " + quoted(arg) + " (see --help)";
            // `--zombie-mode no` is the switch and then a stray "no": say how a switch takes a value.
            if (bare_switch != nullptr)
                out.error = "unexpected argument " + quoted(arg) + ": --" + bare_switch->name +
                            " is a switch and takes a value only as --" + bare_switch->name + "=VALUE";
            return out;
        }
        auto eq = arg.find('=');
        auto name = arg.substr(2, eq == std::string_view::npos ? arg.npos : eq - 2);
        const Option* o = find_option(name);
        if (o == nullptr) {
            out.error = "unknown option " + quoted("--" + std::string(name)) + " (see --help)";
            return out;
        }
        std::string value;
        if (eq != std::string_view::npos) {
            value = std::string(arg.substr(eq + 1));
        } else if (o->metavar == nullptr) {
            value = "1";
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            out.error = "option '--" + std::string(name) + "' needs a value " + o->metavar;
            return out;
        }
        bare_switch = eq == std::string_view::npos && o->metavar == nullptr ? o : nullptr;
        cli.emplace_back(o, std::move(value));
    }

    Config& config = out.config;
    // The config file named last wins; the command line beats the environment.
    const Option& config_file = config_file_option();
    std::optional<std::string> file = env(config_file.env);
    std::string file_source = config_file.env;
    for (auto& [o, value] : cli) {
        if (!o->names_config_file) continue;
        file = value;
        file_source = std::string("--") + o->name;
    }
    if (file) {
        if (auto why = config_file.apply(config, *file)) {
            out.error = "invalid value " + quoted(*file) + " for " + file_source + ": " + *why;
            return out;
        }
        if (auto error = apply_file(config, *file, file_source); !error.empty()) {
            out.error = error;
            return out;
        }
    }
    if (auto error = apply_environment(config, env); !error.empty()) {
        out.error = error;
        return out;
    }
    Layer layer{config};
    for (auto& [o, value] : cli) {
        if (auto why = layer.set(*o, value)) {
            out.error = "invalid value " + quoted(value) + " for --" + o->name + ": " + *why;
            return out;
        }
    }
    if (config.workers == 0) config.workers = std::clamp(default_workers, 1u, bounds::kMaxWorkers);
    if (config.listen.empty()) {
        std::string unused;
        config.listen.push_back(*parse_listen_address("127.0.0.1:7007", unused));
    }
    return out;
}

}  // namespace

ParsedConfig parse_config(const std::vector<std::string>& args, const EnvLookup& env,
                          unsigned default_workers) {
    ParsedConfig out = parse_layers(args, env, default_workers);
    // Values come from users, and some reasons quote them: whatever they hold, the message stays one line.
    out.error = printable(out.error);
    return out;
}

std::string usage_text() {
    std::string text =
        "Usage: echo-hardened [OPTION]...\n"
        "A pre-forking TCP echo server: a master supervises worker processes that echo every byte back.\n\n"
        "Options (each also read from the environment variable shown):\n";
    for (const auto& o : options()) {
        std::string flag = std::string("  --") + o.name + (o.metavar ? std::string(" ") + o.metavar : "");
        text += flag + "  [" + o.env + "]\n    " + o.help + "\n";
    }
    text +=
        "  --help, --version\n\n"
        "Signals to the master: TERM/INT graceful stop, QUIT fast stop, HUP rolling reload, TTIN/TTOU one\n"
        "worker more/fewer, USR1 status to the log, USR2 reap zombies now. Exit codes: 0 ok, 1 failure,\n"
        "2 usage, 3 workers killed after the drain deadline, 4 limits too low. See RUNBOOK.md.\n";
    return text;
}

}  // namespace echo
