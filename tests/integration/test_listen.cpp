// test_listen.cpp: where the server listens (R3): several addresses, IPv6, sockets passed by systemd.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fixture.hpp"

using namespace test;

namespace {

bool ipv6_loopback_available() {
    UniqueFd fd(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    return fd.valid() && bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

}  // namespace

TEST_CASE("several --listen addresses, IPv4 and IPv6, all echo") {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"};
    bool v6 = ipv6_loopback_available();
    if (v6) args.insert(args.end(), {"--listen", "[::1]:0"});
    auto server = start_server(args);
    auto ports = listening_ports(server->log());
    REQUIRE(ports.size() == (v6 ? 3u : 2u));
    CHECK(echo_once(ports[0], "first") == "first");
    CHECK(echo_once(ports[1], "second") == "second");
    if (v6) {
        auto fd = connect_to("::1", ports[2]);
        REQUIRE(fd.valid());
        REQUIRE(send_all(fd.get(), "six"));
        CHECK(recv_exact(fd.get(), 3) == "six");
    } else {
        MESSAGE("no IPv6 loopback here: the [::1] case was not run");
    }
}

TEST_CASE("a socket passed by systemd (LISTEN_FDS) is used instead of --listen") {
    auto activated = start_activated({"--listen", "127.0.0.1:1"});  // would fail to bind as non-root
    CHECK(activated.server->log().find("listening on 127.0.0.1:" + std::to_string(activated.port) +
                                       " (passed by systemd)") != std::string::npos);
    CHECK(echo_once(activated.port, "activated") == "activated");
}

TEST_CASE("a passed fd that is not a listening socket is refused with a clear message") {
    UniqueFd not_listening(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ServerOptions options;
    options.pass_listen_fd = not_listening.get();
    options.args = {"--workers", "1"};
    ServerProcess server(options);
    CHECK(server.wait_exit_code(10s) == 1);
    CHECK(server.log().find("is not a listening stream socket") != std::string::npos);
}
