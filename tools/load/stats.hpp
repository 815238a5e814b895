// What one load thread counted: operations and bytes in the measured window, latencies, connections, errors.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "histogram.hpp"

namespace echoload {

enum class ErrorKind {
    Mismatch,        // an echoed byte differs from what was sent, or bytes arrived that were never sent
    Eof,             // the server closed while an echo was still owed (short read)
    Reset,           // ECONNRESET / EPIPE
    Refused,         // connect() refused
    ConnectFailed,   // any other connect() or socket() failure
    ConnectTimeout,  // the handshake did not complete within --timeout
    Timeout,         // an awaited echo made no progress within --timeout
    Io,              // any other read/write error
};
inline constexpr std::size_t kErrorKinds = 8;

[[nodiscard]] const char* error_name(ErrorKind kind);

struct Stats {
    std::uint64_t ops = 0;    // operations completed inside the measured window
    std::uint64_t bytes = 0;  // echoed bytes verified inside the measured window
    std::uint64_t total_ops = 0;
    std::uint64_t total_bytes = 0;
    std::uint64_t established = 0;   // handshakes completed over the whole run
    std::uint64_t held = 0;          // hold: connections open, served and error-free at the end
    std::uint64_t closed_clean = 0;  // --closed-ok: closed by the server with every byte echoed
    std::uint64_t dropped = 0;       // --reconnect: connections the server closed or reset, then reopened
    std::uint64_t recycled = 0;      // --lifetime: connections that reached it, closed by us and reopened
    double establish_seconds = 0;    // hold: from start until every connection was served or had failed
    double elapsed = 0;              // length of the measured window actually run
    std::array<std::uint64_t, kErrorKinds> errors{};
    std::string first_error;  // the first error's details, for diagnosis
    std::string first_drop;   // --reconnect: the first drop's details
    Histogram latency;        // nanoseconds

    void add_error(ErrorKind kind, std::string detail);
    [[nodiscard]] std::uint64_t error_total() const;
    void merge(const Stats& other);
};

}  // namespace echoload
