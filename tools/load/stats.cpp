// Error names, error recording and the merge of per-thread statistics.
#include "stats.hpp"

#include <algorithm>

namespace echoload {

const char* error_name(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::Mismatch:
            return "mismatch";
        case ErrorKind::Eof:
            return "eof";
        case ErrorKind::Reset:
            return "reset";
        case ErrorKind::Refused:
            return "refused";
        case ErrorKind::ConnectFailed:
            return "connect_failed";
        case ErrorKind::ConnectTimeout:
            return "connect_timeout";
        case ErrorKind::Timeout:
            return "timeout";
        case ErrorKind::Io:
            return "io";
    }
    return "?";
}

void Stats::add_error(ErrorKind kind, std::string detail) {
    ++errors[static_cast<std::size_t>(kind)];
    if (first_error.empty()) first_error = std::move(detail);
}

std::uint64_t Stats::error_total() const {
    std::uint64_t total = 0;
    for (auto n : errors)
        total += n;
    return total;
}

void Stats::merge(const Stats& other) {
    ops += other.ops;
    bytes += other.bytes;
    total_ops += other.total_ops;
    total_bytes += other.total_bytes;
    established += other.established;
    held += other.held;
    dropped += other.dropped;
    closed_clean += other.closed_clean;
    recycled += other.recycled;
    establish_seconds = std::max(establish_seconds, other.establish_seconds);
    elapsed = std::max(elapsed, other.elapsed);
    for (std::size_t i = 0; i < kErrorKinds; ++i)
        errors[i] += other.errors[i];
    if (first_error.empty()) first_error = other.first_error;
    if (first_drop.empty()) first_drop = other.first_drop;
    latency.merge(other.latency);
}

}  // namespace echoload
