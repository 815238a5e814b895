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
#include "config/options.hpp"

namespace echo {
namespace {

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
        config.config_file = *file;
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
    if (config.listen.empty() && config.proxy_listen.empty()) {
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
