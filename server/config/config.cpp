// config.cpp: one table of options drives the command line, the ECHO_* environment and the config file alike.
#include "config/config.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

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

std::optional<unsigned long long> parse_unsigned(std::string_view text) {
    unsigned long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

Apply unsigned_in(unsigned Config::*field, unsigned low, unsigned high) {
    return [=](Config& c, std::string_view text) -> std::optional<std::string> {
        auto v = parse_unsigned(text);
        if (!v || *v < low || *v > high)
            return "expected a whole number from " + std::to_string(low) + " to " + std::to_string(high);
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
         }},
        {"workers", "ECHO_WORKERS", "N", "number of worker processes, 1-1024 (default: the number of CPUs)",
         unsigned_in(&Config::workers, 1, 1024)},
        {"max-connections", "ECHO_MAX_CONNECTIONS", "N",
         "connections one worker serves at once; more wait in the backlog (default 10000)",
         unsigned_in(&Config::max_connections, 1, 1'000'000)},
        {"idle-timeout", "ECHO_IDLE_TIMEOUT", "DURATION",
         "close connections without traffic for this long; 0 disables (default 300s)",
         duration_in(&Config::idle_timeout, seconds(7 * 24 * 3600))},
        {"drain-timeout", "ECHO_DRAIN_TIMEOUT", "DURATION",
         "on SIGTERM, serve busy connections at most this long before closing them (default 10s)",
         duration_in(&Config::drain_timeout, seconds(3600))},
        {"worker-timeout", "ECHO_WORKER_TIMEOUT", "DURATION",
         "kill and replace a worker whose heartbeat stops for this long; 0 disables (default 30s)",
         duration_in(&Config::worker_timeout, seconds(3600))},
        {"buffer-size", "ECHO_BUFFER_SIZE", "BYTES",
         "cap on bytes read from a client but not yet echoed, 1K-16M (default 64K)",
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             auto v = parse_size(text);
             if (!v || *v < 1024 || *v > 16 * 1024 * 1024)
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
         [](Config& c, std::string_view text) -> std::optional<std::string> {
             if (text.empty()) return "expected a file name";
             c.config_file = std::string(text);
             return std::nullopt;
         }},
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
         duration_in(&Config::zombie_worker_lifetime, seconds(24 * 3600))},
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

std::string trim(std::string_view s) {
    auto b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return {};
    auto e = s.find_last_not_of(" \t\r");
    return std::string(s.substr(b, e - b + 1));
}

// Applies one layer; a later layer's --listen replaces an earlier layer's list rather than adding to it.
struct Layer {
    Config& config;
    bool listen_seen = false;

    std::optional<std::string> set(const Option& o, std::string_view value) {
        if (std::string_view(o.name) == "listen" && !listen_seen) {
            config.listen.clear();
            listen_seen = true;
        }
        return o.apply(config, value);
    }
};

// Far more than any real configuration; the bound makes --config /dev/zero an error rather than a hang.
constexpr std::size_t kMaxConfigBytes = 16 * 1024 * 1024;

// Reads the whole file into `text`; returns why it could not.
std::optional<std::string> read_config_file(const std::string& path, std::string& text) {
    constexpr std::size_t kChunk = 64 * 1024;
    std::ifstream in(path, std::ios::binary);
    while (in && text.size() <= kMaxConfigBytes) {
        auto used = text.size();
        text.resize(used + kChunk);
        in.read(text.data() + used, kChunk);
        text.resize(used + static_cast<std::size_t>(in.gcount()));
    }
    if (text.size() > kMaxConfigBytes) return "the file is larger than 16 MiB";
    // A failed open, or a failed read (EISDIR: a directory opens fine), stops before the end of the file.
    if (!in.eof()) return "cannot read it: " + std::generic_category().message(errno);
    return std::nullopt;
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
        if (o == nullptr || name == "config") return where + "unknown setting " + quoted(name);
        if (auto why = layer.set(*o, value))
            return where + "invalid value " + quoted(value) + " for " + name + ": " + *why;
    }
    return {};
}

std::string apply_environment(Config& config, const EnvLookup& env) {
    Layer layer{config};
    for (const auto& o : options()) {
        if (std::string_view(o.name) == "config") continue;  // read first, by parse_config
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

std::optional<Duration> parse_duration(std::string_view text) {
    double scale = 1.0;
    if (text.ends_with("ms")) {
        scale = 1e-3;
        text.remove_suffix(2);
    } else if (text.ends_with("s")) {
        text.remove_suffix(1);
    } else if (text.ends_with("m")) {
        scale = 60.0;
        text.remove_suffix(1);
    }
    double value = 0;
    // Fixed notation only: "1e3" is not a duration anyone writes on purpose. signbit also refuses "-0".
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, std::chars_format::fixed);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
        std::signbit(value) || value * scale > 1e9)
        return std::nullopt;
    return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(value * scale));
}

std::optional<std::size_t> parse_size(std::string_view text) {
    std::size_t scale = 1;
    bool binary = text.ends_with("iB");  // "64KiB", but never a bare "65536iB"
    if (binary) text.remove_suffix(2);
    if (!text.empty()) {
        switch (text.back()) {
            case 'K':
            case 'k':
                scale = 1024;
                break;
            case 'M':
            case 'm':
                scale = 1024 * 1024;
                break;
            case 'G':
            case 'g':
                scale = 1024 * 1024 * 1024;
                break;
            default:
                break;
        }
        if (scale != 1) text.remove_suffix(1);
    }
    if (binary && scale == 1) return std::nullopt;
    auto v = parse_unsigned(text);
    if (!v || *v > std::numeric_limits<std::size_t>::max() / scale) return std::nullopt;
    return static_cast<std::size_t>(*v) * scale;
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
    std::optional<std::string> file = env("ECHO_CONFIG");
    std::string file_source = "ECHO_CONFIG";
    for (auto& [o, value] : cli) {
        if (std::string_view(o->name) != "config") continue;
        file = value;
        file_source = "--config";
    }
    if (file) {
        if (auto why = find_option("config")->apply(config, *file)) {
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
    if (config.workers == 0) config.workers = std::clamp(default_workers, 1u, 1024u);
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
