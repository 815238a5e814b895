// client.hpp: blocking-with-deadline client helpers and a concurrent echo driver for the tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "proc.hpp"

namespace test {

using echo::UniqueFd;

// Connects to host:port (an IPv4 or IPv6 literal, as the server's grammar reads one); an invalid fd on
// failure or timeout.
UniqueFd connect_to(const std::string& host, std::uint16_t port, Duration timeout = 5s);
inline UniqueFd connect_local(std::uint16_t port, Duration timeout = 5s) {
    return connect_to("127.0.0.1", port, timeout);
}

// A listening TCP socket on 127.0.0.1 with a kernel-chosen port, which it stores in `port`.
UniqueFd listen_loopback(std::uint16_t& port);

bool send_all(int fd, const std::string& data, Duration timeout = 10s);
// Exactly n bytes, or what arrived before EOF/error/timeout (shorter).
std::string recv_exact(int fd, std::size_t n, Duration timeout = 10s);
// Everything until EOF; `eof` says whether EOF (not a timeout or an error) ended it.
std::string recv_to_eof(int fd, Duration timeout, bool* eof = nullptr);
// True when the peer closed (EOF or reset) within `timeout` without sending anything.
bool closed_by_peer(int fd, Duration timeout);

std::string random_bytes(std::size_t n, std::uint64_t seed);

// One HTTP/1.1 request with "Connection: close" to 127.0.0.1:port; the status code (0 when no response
// arrived) and the body after the blank line.
struct HttpResponse {
    int status = 0;
    std::string body;
};
HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& path,
                          Duration timeout = 10s);
inline HttpResponse http_get(std::uint16_t port, const std::string& path, Duration timeout = 10s) {
    return http_request(port, "GET", path, timeout);
}
// The value of an unlabelled sample ("name 123") of a metrics page, or std::nullopt when it has none.
std::optional<double> metric_value(const std::string& page, const std::string& name);

// Sends every payload on its own connection, reading the echo at the same time (a client that sent
// megabytes before reading would stall on the server's back-pressure), then half-closes. Returns, per
// connection, what came back before the server closed, or std::nullopt on timeout.
// The same over connections the caller opened: sends payloads[i] on fds[i] while reading, half-closes, and
// returns what came back until EOF.
std::vector<std::optional<std::string>> exchange_all(const std::vector<int>& fds,
                                                     const std::vector<std::string>& payloads,
                                                     Duration timeout);
std::optional<std::string> exchange(int fd, const std::string& payload, Duration timeout);

std::vector<std::optional<std::string>> echo_concurrently(std::uint16_t port,
                                                          const std::vector<std::string>& payloads,
                                                          Duration timeout);

}  // namespace test
