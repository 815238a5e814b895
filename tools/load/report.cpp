// Formats the merged statistics of a run for people (text) and for scripts (JSON).
#include "report.hpp"

#include <fmt/format.h>

#include <string>

#include "modes.hpp"

namespace echoload {

namespace {

std::string target(const Options& opt) {
    return opt.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", opt.host, opt.port)
                                                   : fmt::format("{}:{}", opt.host, opt.port);
}

double per_second(std::uint64_t n, double seconds) {
    return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}
double us(std::uint64_t ns) {
    return static_cast<double>(ns) / 1000.0;
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

struct Quantile {
    const char* label;
    const char* key;
    double q;
};
constexpr Quantile kQuantiles[] = {
    {"p50", "p50", 0.50}, {"p90", "p90", 0.90}, {"p99", "p99", 0.99}, {"p99.9", "p999", 0.999}};

}  // namespace

void print_human(std::FILE* out, const Options& opt, const Stats& s) {
    std::string shape = fmt::format("{} connections x {} B", opt.connections, opt.size);
    if (opt.mode == Mode::Stream) shape += fmt::format(" writes, window {} B", opt.window);
    fmt::print(out, "echo-load {} against {}: {}, {} thread{}, {:.2f} s measured", mode_name(opt.mode),
               target(opt), shape, opt.threads, opt.threads == 1 ? "" : "s", s.elapsed);
    if (opt.warmup > 0) fmt::print(out, " after {:.2f} s warm-up", opt.warmup);
    fmt::print(out, "\n");
    fmt::print(out, "  {:<16}{} ({:.1f}/s)\n", operation_name(opt.mode), s.ops, per_second(s.ops, s.elapsed));
    fmt::print(out, "  {:<16}{} ({:.2f} MB/s)\n", "echoed bytes", s.bytes,
               per_second(s.bytes, s.elapsed) / 1e6);
    if (const char* what = latency_name(opt.mode); what && s.latency.count() > 0) {
        fmt::print(out, "  {:<16}", fmt::format("{} us", what));
        for (const auto& q : kQuantiles)
            fmt::print(out, "{} {:.1f}  ", q.label, us(s.latency.percentile(q.q)));
        fmt::print(out, "max {:.1f}  mean {:.1f}\n", us(s.latency.max()), s.latency.mean() / 1000.0);
    }
    fmt::print(out, "  {:<16}{} established", "connections", s.established);
    if (opt.mode == Mode::Hold) {
        fmt::print(out, ", {} of {} held to the end (all in place after {:.2f} s)", s.held, opt.connections,
                   s.establish_seconds);
    }
    if (opt.closed_ok) fmt::print(out, "\n  {:<16}{} with nothing owed", "closed clean", s.closed_clean);
    if (opt.lifetime > 0)
        fmt::print(out, "\n  {:<16}{} closed at --lifetime and reopened", "recycled", s.recycled);
    if (opt.reconnect) {
        fmt::print(out, "\n  {:<16}{} reopened", "dropped", s.dropped);
        if (s.dropped > 0) fmt::print(out, " (first: {})", s.first_drop);
    }
    fmt::print(out, "\n  {:<16}{}", "errors", s.error_total());
    if (s.error_total() > 0) {
        const char* sep = " (";
        for (std::size_t i = 0; i < kErrorKinds; ++i) {
            if (s.errors[i] == 0) continue;
            fmt::print(out, "{}{} {}", sep, error_name(static_cast<ErrorKind>(i)), s.errors[i]);
            sep = ", ";
        }
        fmt::print(out, ")\n  {:<16}{}", "first error", s.first_error);
    }
    fmt::print(out, "\n");
}

void print_json(std::FILE* out, const Options& opt, const Stats& s) {
    std::string j = "{";
    j += fmt::format(
        "\"mode\":\"{}\",\"target\":{},\"connections\":{},\"size\":{},\"window\":{},\"threads\":{},",
        mode_name(opt.mode), json_string(target(opt)), opt.connections, opt.size, opt.window, opt.threads);
    j += fmt::format("\"elapsed_s\":{:.6f},\"warmup_s\":{:.3f},\"ops\":{},\"ops_per_s\":{:.3f},", s.elapsed,
                     opt.warmup, s.ops, per_second(s.ops, s.elapsed));
    j += fmt::format("\"bytes\":{},\"mb_per_s\":{:.3f},\"total_ops\":{},\"total_bytes\":{},", s.bytes,
                     per_second(s.bytes, s.elapsed) / 1e6, s.total_ops, s.total_bytes);
    const char* what = latency_name(opt.mode);
    j += fmt::format("\"latency\":{},\"latency_count\":{},", json_string(what ? what : "none"),
                     s.latency.count());
    j += fmt::format("\"latency_min_us\":{:.3f},", us(s.latency.min()));
    for (const auto& q : kQuantiles)
        j += fmt::format("\"latency_{}_us\":{:.3f},", q.key, us(s.latency.percentile(q.q)));
    j += fmt::format("\"latency_max_us\":{:.3f},\"latency_mean_us\":{:.3f},", us(s.latency.max()),
                     s.latency.mean() / 1000.0);
    j += fmt::format("\"established\":{},\"held\":{},\"establish_s\":{:.3f},", s.established, s.held,
                     s.establish_seconds);
    j += fmt::format("\"dropped\":{},\"first_drop\":{},", s.dropped, json_string(s.first_drop));
    j += fmt::format("\"closed_clean\":{},\"recycled\":{},", s.closed_clean, s.recycled);
    j += fmt::format("\"errors\":{}", s.error_total());
    for (std::size_t i = 0; i < kErrorKinds; ++i) {
        j += fmt::format(",\"errors_{}\":{}", error_name(static_cast<ErrorKind>(i)), s.errors[i]);
    }
    j += fmt::format(",\"first_error\":{}}}\n", json_string(s.first_error));
    std::fputs(j.c_str(), out);
}

}  // namespace echoload
