// fixture.hpp: starting a server that is ready to serve, for the black-box tests.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <string>

#include "client.hpp"
#include "server_process.hpp"

namespace test {

inline bool has_flag(const std::vector<std::string>& args, const std::string& flag) {
    return std::any_of(args.begin(), args.end(),
                       [&](auto& a) { return a == flag || a.rfind(flag + "=", 0) == 0; });
}

// Defaults a test does not care about: a kernel-chosen port and two workers (unless a config file, which
// the command line would override, is to set them).
inline std::unique_ptr<ServerProcess> start_server(std::vector<std::string> args,
                                                   ServerOptions options = {}) {
    if (!has_flag(args, "--listen") && options.pass_listen_fd < 0)
        args.insert(args.begin(), {"--listen", "127.0.0.1:0"});
    if (!has_flag(args, "--workers") && !has_flag(args, "--config"))
        args.insert(args.begin(), {"--workers", "2"});
    options.args = std::move(args);
    auto server = std::make_unique<ServerProcess>(std::move(options));
    REQUIRE_MESSAGE(server->wait_ready(), "server not ready; log:\n" << server->log());
    return server;
}

// A server started the way systemd's socket activation starts one: the test binds a loopback socket and
// passes it as LISTEN_FDS (the server then ignores --listen). The socket stays open as long as this does.
struct ActivatedServer {
    UniqueFd socket;
    std::uint16_t port = 0;
    std::unique_ptr<ServerProcess> server;
};
inline ActivatedServer start_activated(std::vector<std::string> args) {
    ActivatedServer out;
    out.socket = listen_loopback(out.port);
    REQUIRE(out.socket.valid());
    ServerOptions options;
    options.pass_listen_fd = out.socket.get();
    out.server = start_server(std::move(args), options);
    return out;
}

// The ports of every "listening on 127.0.0.1:PORT" / "[::1]:PORT" line of a server's log, in order.
inline std::vector<std::uint16_t> listening_ports(const std::string& log) {
    std::vector<std::uint16_t> ports;
    for (const auto& address : listening_addresses(log))
        ports.push_back(address.port());
    return ports;
}

inline std::string echo_once(std::uint16_t port, const std::string& message) {
    auto fd = connect_local(port);
    if (!fd.valid() || !send_all(fd.get(), message)) return {};
    return recv_exact(fd.get(), message.size());
}

// RLIMIT_NPROC counts per user, so each test that runs the server under it uses a uid of its own: tests
// running in parallel must not spend each other's budget. Root ignores the limit, hence not root.
inline constexpr uid_t kUidNprocCheck = 64001;
inline constexpr uid_t kUidForkFailure = 64002;
inline constexpr uid_t kUidZombieCost = 64003;

// The worker pids, once there are exactly `n` of them, all alive and not zombies.
inline std::vector<pid_t> wait_for_workers(const ServerProcess& server, std::size_t n,
                                           Duration timeout = 10s) {
    std::vector<pid_t> workers;
    eventually(
        [&] {
            workers = server.workers();
            return workers.size() == n && std::all_of(workers.begin(), workers.end(), alive);
        },
        timeout);
    return workers;
}

}  // namespace test

namespace test {

// The LD_PRELOAD value for a test-only shim library. In a sanitizer build the ASan runtime must come first in
// the preload list (its own check), so it is preloaded ahead of the shim: the path this test binary, built
// the same way, has mapped.
inline std::string preload_with_sanitizer(const std::string& shim) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        auto slash = line.find('/');
        if (slash != std::string::npos && line.find("/libasan.so", slash) != std::string::npos)
            return line.substr(slash) + ":" + shim;
    }
    return shim;
}

}  // namespace test
