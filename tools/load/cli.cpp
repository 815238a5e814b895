// Parses echo-load's command line strictly: every value is checked, nothing falls back to a silent default.
#include "cli.hpp"

#include <getopt.h>
#include <netdb.h>

#include <cstring>
#include <optional>
#include <string_view>

#include "config/address.hpp"
#include "config/grammar.hpp"
#include "modes.hpp"

namespace echoload {

const char* usage_text() {
    return R"(Usage: echo-load [OPTIONS]
Load generator for TCP echo servers: every echoed byte is verified; any error makes the exit status 1.

Target:
  --target HOST:PORT     server address; IPv6 as [ADDR]:PORT (default 127.0.0.1:7007)
  --host HOST            server host (default 127.0.0.1)
  --port PORT            server port (default 7007)
Workload:
  --mode MODE            pingpong | stream | connrate | hold (default pingpong)
  -c, --connections N    concurrent connections (default 1)
  -s, --size BYTES       message size, or write size in stream mode; K/M/G suffixes (default 64)
  --window BYTES         stream: bytes in flight per connection (default 4 x size)
  --interval SEC         hold: seconds between one connection's trickle ping-pongs (default 2)
  --lifetime SEC         pingpong, hold: a connection this old closes after its next verified echo, with
                         nothing owed, and a fresh one replaces it (a fleet's rolling restart: connections
                         that end on their own before a host's drain; default 0, never)
Bounds:
  -d, --duration SEC     measured seconds (default 5; 0 with --count: until the count is done)
  -n, --count N          stop after N operations (round trips, chunks, connections, ping-pongs)
  --warmup SEC           seconds run first and excluded from the figures (default 0)
  --timeout SEC          a connect or an awaited echo making no progress this long is an error (default 5)
Running:
  -t, --threads N        threads, each with its own epoll loop (default 1)
  --seed N               seed of the byte patterns (default 1)
  --reconnect            a connection the server closes or resets is counted as dropped and reopened,
                         not as an error (fault tests: the bytes echoed before the drop are still verified)
  --closed-ok            a connection the server closes after echoing all it was sent ends quietly, not as
                         an error (a draining server closes quiet clients); an EOF with bytes owed still is
  --json                 print the summary as one JSON object instead of text
  -h, --help             show this help
Exit status: 0 no errors, 1 errors counted (or the run could not start), 2 usage error.
)";
}

namespace {

enum OptionId : int {
    kTarget = 1000,
    kHost,
    kPort,
    kMode,
    kWindow,
    kInterval,
    kLifetime,
    kWarmup,
    kTimeout,
    kSeed,
    kJson,
    kReconnect,
    kClosedOk,
};

const option kLongOptions[] = {
    {"target", required_argument, nullptr, kTarget},
    {"host", required_argument, nullptr, kHost},
    {"port", required_argument, nullptr, kPort},
    {"mode", required_argument, nullptr, kMode},
    {"connections", required_argument, nullptr, 'c'},
    {"size", required_argument, nullptr, 's'},
    {"window", required_argument, nullptr, kWindow},
    {"interval", required_argument, nullptr, kInterval},
    {"lifetime", required_argument, nullptr, kLifetime},
    {"duration", required_argument, nullptr, 'd'},
    {"count", required_argument, nullptr, 'n'},
    {"warmup", required_argument, nullptr, kWarmup},
    {"timeout", required_argument, nullptr, kTimeout},
    {"threads", required_argument, nullptr, 't'},
    {"seed", required_argument, nullptr, kSeed},
    {"json", no_argument, nullptr, kJson},
    {"reconnect", no_argument, nullptr, kReconnect},
    {"closed-ok", no_argument, nullptr, kClosedOk},
    {"help", no_argument, nullptr, 'h'},
    {nullptr, 0, nullptr, 0},
};

using echo::parse_size;
using echo::parse_unsigned;

constexpr std::uint64_t kMaxConnections = 1'000'000;
constexpr std::uint64_t kMaxBytes = 1ULL << 40;  // --size and --window: "1T"
constexpr std::uint64_t kMaxThreads = 256;
constexpr double kMaxSeconds = 86400;

// The server's duration grammar ("2.5", "2.5s", "500ms", "2m"), as seconds, at most kMaxSeconds.
std::optional<double> parse_seconds(std::string_view text) {
    const auto d = echo::parse_duration(text);
    if (!d || echo::to_seconds(*d) > kMaxSeconds) return std::nullopt;
    return echo::to_seconds(*d);
}

// A numeric host is parsed as the server parses one; only a name goes to the resolver.
std::optional<std::string> resolve(Options& opt) {
    if (const auto numeric = echo::numeric_address(opt.host, opt.port)) {
        opt.addr = numeric->storage;
        opt.addr_len = numeric->length;
        return std::nullopt;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* result = nullptr;
    const std::string port = std::to_string(opt.port);
    const int rc = getaddrinfo(opt.host.c_str(), port.c_str(), &hints, &result);
    if (rc != 0) return "cannot resolve host '" + opt.host + "': " + gai_strerror(rc);
    std::memcpy(&opt.addr, result->ai_addr, result->ai_addrlen);
    opt.addr_len = result->ai_addrlen;
    freeaddrinfo(result);
    return std::nullopt;
}

struct Seen {
    bool duration = false;
    bool window = false;
    bool lifetime = false;
};

// Applies one option; returns an error message or nothing.
std::optional<std::string> apply(Options& opt, Seen& seen, int id, std::string_view arg) {
    const auto bad = [&](const char* option, const char* want) {
        return std::string("invalid ") + option + " '" + std::string(arg) + "' (want " + want + ")";
    };
    switch (id) {
        case kTarget: {
            std::string unused;
            const auto parts = echo::split_host_port(arg, unused);
            if (!parts || parts->host.empty() || parts->port.empty())
                return bad("--target", "HOST:PORT or [ADDR]:PORT");
            opt.host = parts->host;
            return apply(opt, seen, kPort, parts->port);
        }
        case kHost:
            if (arg.empty()) return bad("--host", "a host name or address");
            opt.host = arg;
            return std::nullopt;
        case kPort: {
            const auto v = parse_unsigned(arg, 1, 65535);
            if (!v) return bad("--port", "1-65535");
            opt.port = static_cast<std::uint16_t>(*v);
            return std::nullopt;
        }
        case kMode: {
            const auto m = parse_mode(arg);
            if (!m) return bad("--mode", "pingpong, stream, connrate or hold");
            opt.mode = *m;
            return std::nullopt;
        }
        case 'c': {
            const auto v = parse_unsigned(arg, 1, kMaxConnections);
            if (!v) return bad("--connections", "1-1000000");
            opt.connections = static_cast<unsigned>(*v);
            return std::nullopt;
        }
        case 's': {
            const auto v = parse_size(arg);
            if (!v || *v == 0 || *v > kMaxBytes) return bad("--size", "1 byte to 1T");
            opt.size = static_cast<std::size_t>(*v);
            return std::nullopt;
        }
        case kWindow: {
            const auto v = parse_size(arg);
            if (!v || *v == 0 || *v > kMaxBytes) return bad("--window", "1 byte to 1T");
            opt.window = static_cast<std::size_t>(*v);
            seen.window = true;
            return std::nullopt;
        }
        case 'n': {
            const auto v = parse_unsigned(arg, 1);
            if (!v) return bad("--count", "a positive integer");
            opt.count = *v;
            return std::nullopt;
        }
        case 't': {
            const auto v = parse_unsigned(arg, 1, kMaxThreads);
            if (!v) return bad("--threads", "1-256");
            opt.threads = static_cast<unsigned>(*v);
            return std::nullopt;
        }
        case kSeed: {
            const auto v = parse_unsigned(arg);
            if (!v) return bad("--seed", "an unsigned integer");
            opt.seed = *v;
            return std::nullopt;
        }
        case 'd':
        case kWarmup:
        case kTimeout:
        case kInterval:
        case kLifetime: {
            const char* name = id == 'd'         ? "--duration"
                               : id == kWarmup   ? "--warmup"
                               : id == kTimeout  ? "--timeout"
                               : id == kLifetime ? "--lifetime"
                                                 : "--interval";
            const auto v = parse_seconds(arg);
            if (!v) return bad(name, "seconds, 0-86400");
            const bool positive = id == kTimeout || id == kInterval;
            if (positive && *v <= 0) return bad(name, "more than 0 seconds");
            if (id == 'd') {
                opt.duration = *v;
                seen.duration = true;
            } else if (id == kWarmup) {
                opt.warmup = *v;
            } else if (id == kTimeout) {
                opt.timeout = *v;
            } else if (id == kLifetime) {
                opt.lifetime = *v;
                seen.lifetime = true;
            } else {
                opt.interval = *v;
            }
            return std::nullopt;
        }
        case kJson:
            opt.json = true;
            return std::nullopt;
        case kReconnect:
            opt.reconnect = true;
            return std::nullopt;
        case kClosedOk:
            opt.closed_ok = true;
            return std::nullopt;
        default:
            return "internal error: unhandled option";
    }
}

std::optional<std::string> validate(Options& opt, const Seen& seen) {
    if (opt.count > 0 && !seen.duration) opt.duration = 0;  // a count alone bounds the run
    if (opt.count == 0 && opt.duration <= 0) return "--duration 0 needs --count: the run must be bounded";
    if (opt.threads > opt.connections) {
        return "--threads " + std::to_string(opt.threads) + " exceeds --connections " +
               std::to_string(opt.connections);
    }
    if (seen.window && opt.mode != Mode::Stream) return "--window applies to --mode stream only";
    if (seen.lifetime && opt.mode != Mode::PingPong && opt.mode != Mode::Hold)
        return "--lifetime applies to --mode pingpong and hold only";
    if (opt.mode == Mode::Hold && opt.count > 0)
        return "--count does not apply to --mode hold (it runs --duration)";
    if (opt.mode == Mode::Stream && opt.window != 0 && opt.window < opt.size)
        return "--window must be at least --size";
    if (opt.mode == Mode::Stream && opt.window == 0) opt.window = 4 * opt.size;
    return resolve(opt);
}

}  // namespace

ParseResult parse_command_line(int argc, char** argv) {
    Options opt;
    Seen seen;
    opterr = 0;  // our own one-line messages instead of getopt's
    optind = 1;
    for (;;) {
        int index = 0;
        const int id = getopt_long(argc, argv, ":c:s:d:n:t:h", kLongOptions, &index);
        if (id == -1) break;
        if (id == 'h') return HelpRequested{};
        if (id == '?') {
            const std::string name = optopt ? std::string("-") + static_cast<char>(optopt) : argv[optind - 1];
            return UsageError{"unknown option '" + name + "' (try --help)"};
        }
        if (id == ':') return UsageError{"option '" + std::string(argv[optind - 1]) + "' needs a value"};
        if (auto error = apply(opt, seen, id, optarg ? optarg : "")) return UsageError{*error};
    }
    if (optind < argc) return UsageError{"unexpected argument '" + std::string(argv[optind]) + "'"};
    if (auto error = validate(opt, seen)) return UsageError{*error};
    return opt;
}

}  // namespace echoload
