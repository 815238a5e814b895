// client.cpp: socket helpers for the tests.
#include "client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "config/address.hpp"

namespace test {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

bool wait_for(int fd, short events, Clock::time_point deadline) {
    pollfd p{fd, events, 0};
    for (;;) {
        int r = poll(&p, 1, ms_left(deadline));
        if (r > 0) return true;
        if (r == 0) return false;
        if (errno != EINTR) return false;
    }
}

}  // namespace

UniqueFd connect_to(const std::string& host, std::uint16_t port, Duration timeout) {
    auto address = echo::numeric_address(host, port);
    if (!address) return {};
    UniqueFd fd(socket(address->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return {};
    if (connect(fd.get(), address->get(), address->length) < 0) {
        if (errno != EINPROGRESS) return {};
        if (!wait_for(fd.get(), POLLOUT, Clock::now() + timeout)) return {};
        int err = 0;
        socklen_t elen = sizeof err;
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err != 0) return {};
    }
    return fd;
}

UniqueFd listen_loopback(std::uint16_t& port) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (!fd.valid() || bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
        listen(fd.get(), 16) < 0 || getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) < 0)
        return {};
    port = ntohs(a.sin_port);
    return fd;
}

bool send_all(int fd, const std::string& data, Duration timeout) {
    auto deadline = Clock::now() + timeout;
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            off += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLOUT, deadline)) return false;
            continue;
        }
        return false;
    }
    return true;
}

std::string recv_exact(int fd, std::size_t n, Duration timeout) {
    auto deadline = Clock::now() + timeout;
    std::string out;
    char buf[65536];
    while (out.size() < n) {
        ssize_t r = recv(fd, buf, std::min(sizeof buf, n - out.size()), MSG_DONTWAIT);
        if (r > 0) {
            out.append(buf, static_cast<std::size_t>(r));
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLIN, deadline)) break;
            continue;
        }
        break;
    }
    return out;
}

std::string recv_to_eof(int fd, Duration timeout, bool* eof) {
    auto deadline = Clock::now() + timeout;
    std::string out;
    char buf[65536];
    if (eof) *eof = false;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) {
            out.append(buf, static_cast<std::size_t>(r));
            continue;
        }
        if (r == 0) {
            if (eof) *eof = true;
            return out;
        }
        if (errno == EAGAIN || errno == EINTR) {
            if (!wait_for(fd, POLLIN, deadline)) return out;
            continue;
        }
        return out;  // reset: not a clean EOF
    }
}

HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& path,
                          Duration timeout) {
    HttpResponse out;
    auto fd = connect_local(port, timeout);
    if (!fd.valid()) return out;
    std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (!send_all(fd.get(), request, timeout)) return out;
    std::string response = recv_to_eof(fd.get(), timeout);
    // "HTTP/1.1 200 OK\r\n..."
    if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return out;
    out.status = std::atoi(response.c_str() + 9);
    auto body = response.find("\r\n\r\n");
    if (body != std::string::npos) out.body = response.substr(body + 4);
    return out;
}

std::optional<double> metric_value(const std::string& page, const std::string& name) {
    const std::string needle = "\n" + name + " ";
    auto at = ("\n" + page).find(needle);
    if (at == std::string::npos) return std::nullopt;
    return std::strtod(page.c_str() + at + needle.size() - 1, nullptr);
}

bool closed_by_peer(int fd, Duration timeout) {
    auto deadline = Clock::now() + timeout;
    char c;
    for (;;) {
        ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
        if (r == 0) return true;
        if (r > 0) return false;
        if (errno == ECONNRESET) return true;
        if (errno != EAGAIN && errno != EINTR) return false;
        if (!wait_for(fd, POLLIN, deadline)) return false;
    }
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string out(n, '\0');
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        auto v = rng();
        std::memcpy(out.data() + i, &v, 8);
    }
    for (auto v = rng(); i < n; ++i, v >>= 8)
        out[i] = static_cast<char>(v & 0xff);
    return out;
}

std::vector<std::optional<std::string>> exchange_all(const std::vector<int>& fds_in,
                                                     const std::vector<std::string>& payloads,
                                                     Duration timeout) {
    struct Conn {
        int fd = -1;
        std::size_t sent = 0;
        bool half_closed = false;
        bool done = false;
        std::string got;
    };
    auto deadline = Clock::now() + timeout;
    std::vector<Conn> conns(payloads.size());
    for (std::size_t i = 0; i < payloads.size(); ++i)
        conns[i].fd = fds_in[i];
    std::vector<std::optional<std::string>> results(payloads.size());
    char buf[65536];
    for (;;) {
        std::vector<pollfd> fds;
        std::vector<std::size_t> index;
        for (std::size_t i = 0; i < conns.size(); ++i) {
            auto& c = conns[i];
            if (c.done || c.fd < 0) continue;
            short ev = POLLIN;
            if (!c.half_closed) ev |= POLLOUT;
            fds.push_back({c.fd, ev, 0});
            index.push_back(i);
        }
        if (fds.empty()) break;
        int r = poll(fds.data(), fds.size(), ms_left(deadline));
        if (r <= 0) break;  // timeout: unfinished connections stay std::nullopt
        for (std::size_t k = 0; k < fds.size(); ++k) {
            auto& c = conns[index[k]];
            const auto& payload = payloads[index[k]];
            if ((fds[k].revents & POLLOUT) && !c.half_closed) {
                if (c.sent < payload.size()) {
                    ssize_t n = send(c.fd, payload.data() + c.sent,
                                     std::min<std::size_t>(payload.size() - c.sent, 1 << 18),
                                     MSG_NOSIGNAL | MSG_DONTWAIT);
                    if (n > 0) c.sent += static_cast<std::size_t>(n);
                }
                if (c.sent == payload.size()) {
                    shutdown(c.fd, SHUT_WR);
                    c.half_closed = true;
                }
            }
            if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) {
                    c.got.append(buf, static_cast<std::size_t>(n));
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    c.done = true;
                    if (n == 0) results[index[k]] = std::move(c.got);  // a reset is a failure, not a result
                }
            }
        }
    }
    return results;
}

std::optional<std::string> exchange(int fd, const std::string& payload, Duration timeout) {
    return exchange_all({fd}, {payload}, timeout)[0];
}

std::vector<std::optional<std::string>> echo_concurrently(std::uint16_t port,
                                                          const std::vector<std::string>& payloads,
                                                          Duration timeout) {
    std::vector<UniqueFd> owned;
    std::vector<int> fds;
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        owned.push_back(connect_local(port));
        fds.push_back(owned.back().get());
    }
    return exchange_all(fds, payloads, timeout);
}

}  // namespace test
