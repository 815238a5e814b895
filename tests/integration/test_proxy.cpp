// test_proxy.cpp: PROXY protocol v1 and v2 (R90) through real sockets: only the data is echoed, bad and slow
// headers close and are counted, plain listeners stay plain, the original client is logged; and HAProxy in
// front, when it is installed.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "fixture.hpp"

using namespace test;

namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

std::string v2_tcp4(const std::string& src, std::uint16_t sport, std::uint16_t dport, int command = 1) {
    std::string h = kSig;
    h += static_cast<char>(0x20 | command);
    h += '\x11';
    h += std::string("\x00\x0c", 2);
    unsigned a, b, c, d;
    REQUIRE(std::sscanf(src.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) == 4);
    for (unsigned x : {a, b, c, d, 127u, 0u, 0u, 1u})
        h += static_cast<char>(x);
    for (std::uint16_t port : {sport, dport}) {
        h += static_cast<char>(port >> 8);
        h += static_cast<char>(port & 0xff);
    }
    return h;
}

std::unique_ptr<ServerProcess> start_proxied(std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--proxy-protocol", "--metrics-listen", "127.0.0.1:0", "--log-level",
                                     "debug"};
    args.insert(args.end(), more.begin(), more.end());
    auto server = start_server(args);
    REQUIRE(server->metrics_port() != 0);
    REQUIRE(server->log().find("(expecting PROXY protocol headers)") != std::string::npos);
    return server;
}

double proxy_count(const ServerProcess& server, const std::string& result) {
    auto r = http_get(server.metrics_port(), "/metrics");
    REQUIRE(r.status == 200);
    auto v = metric_value(r.body, "echo_hardened_proxy_headers_total{result=\"" + result + "\"}");
    REQUIRE_MESSAGE(v, "no proxy_headers_total for " << result << ":\n" << r.body);
    return *v;
}

// The counter reaches `want`: a worker stores it when it settles the header, which may be just after the
// client saw its connection close.
void expect_count(const ServerProcess& server, const std::string& result, double want) {
    double got = -1;
    bool reached = eventually(
        [&] {
            got = proxy_count(server, result);
            return got >= want;
        },
        10s);
    CHECK_MESSAGE(reached, result << " is " << got << ", expected " << want);
    CHECK(got == want);
}

// What the server sends back to `bytes` (sent at once, then a half-close), until it closes.
std::string reply_to(std::uint16_t port, const std::string& bytes) {
    auto fd = connect_local(port);
    REQUIRE(fd.valid());
    auto got = exchange(fd.get(), bytes, 10s);
    REQUIRE_MESSAGE(got, "no EOF from the server");
    return *got;
}

// Whether something listens on 127.0.0.1:port (/proc/net/tcp, state 0A): readiness without a connection,
// which HAProxy would forward and the server count.
bool listening_on(std::uint16_t port) {
    std::ifstream tcp("/proc/net/tcp");
    char wanted[32];
    std::snprintf(wanted, sizeof wanted, "0100007F:%04X", port);
    std::string line;
    while (std::getline(tcp, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state;
        fields >> slot >> local >> remote >> state;
        if (local == wanted && state == "0A") return true;
    }
    return false;
}

}  // namespace

TEST_CASE(
    "PROXY v1 and v2 headers then data: only the data is echoed, the original client logged and counted") {
    auto server = start_proxied();
    const std::string v1 = "PROXY TCP4 203.0.113.9 127.0.0.1 4444 7007\r\n";
    CHECK(reply_to(server->port(), v1 + "hello v1") == "hello v1");
    CHECK(server->wait_for_log("connection from 203.0.113.9:4444 via 127.0.0.1:", 10s) >= 0);

    const std::string v6 = "PROXY TCP6 2001:db8::7 ::1 5555 7007\r\n";
    CHECK(reply_to(server->port(), v6 + "hello v6") == "hello v6");
    CHECK(server->wait_for_log("connection from [2001:db8::7]:5555 via 127.0.0.1:", 10s) >= 0);

    auto payload = random_bytes(300000, 7);  // beyond one read, through the pending buffer
    CHECK(reply_to(server->port(), v2_tcp4("198.51.100.3", 6666, 7007) + payload) == payload);
    long at = server->wait_for_log("connection from 198.51.100.3:6666 via 127.0.0.1:", 10s);
    REQUIRE(at >= 0);
    CHECK(server->log_line_at(at).find("(PROXY v2)") != std::string::npos);

    // The header split over several segments: nothing echoed until it is whole.
    auto fd = connect_local(server->port());
    REQUIRE(fd.valid());
    auto header = v2_tcp4("192.0.2.50", 7777, 7007);
    REQUIRE(send_all(fd.get(), header.substr(0, 5)));
    CHECK(!closed_by_peer(fd.get(), 100ms));  // waits, and sends nothing
    REQUIRE(send_all(fd.get(), header.substr(5, 9)));
    CHECK(!closed_by_peer(fd.get(), 100ms));
    auto rest = exchange(fd.get(), header.substr(14) + "split", 10s);
    REQUIRE(rest);
    CHECK(*rest == "split");
    CHECK(server->wait_for_log("connection from 192.0.2.50:7777 via", 10s) >= 0);

    // LOCAL (HAProxy's health checks) and v1 UNKNOWN: served, with the socket's own peer.
    CHECK(reply_to(server->port(), v2_tcp4("192.0.2.1", 1, 2, 0) + "local") == "local");
    CHECK(reply_to(server->port(), "PROXY UNKNOWN\r\nunknown") == "unknown");
    CHECK(server->wait_for_log("(PROXY v2 without a client address: LOCAL or UNSPEC)", 10s) >= 0);

    expect_count(*server, "proxy", 4);
    expect_count(*server, "local", 2);
    for (const char* bad : {"malformed", "too_long", "unknown_version", "unknown_command", "truncated",
                            "timeout", "unexpected"})
        CHECK(proxy_count(*server, bad) == 0);
}

TEST_CASE(
    "each bad PROXY header closes its connection, echoes nothing, is counted, and leaves others alone") {
    auto server = start_proxied({"--proxy-timeout", "400ms"});
    // A client through the balancer, open across all of it.
    auto steady = connect_local(server->port());
    REQUIRE(steady.valid());
    REQUIRE(send_all(steady.get(), "PROXY TCP4 192.0.2.77 127.0.0.1 1000 7007\r\nbefore"));
    CHECK(recv_exact(steady.get(), 6) == "before");

    auto v2_with = [](int version_command, int family) {
        std::string h = kSig;
        h += static_cast<char>(version_command);
        h += static_cast<char>(family);
        h += std::string("\x00\x0c", 2) + std::string(12, '\x01');
        return h;
    };
    struct Case {
        const char* result;
        std::string bytes;
    };
    const Case cases[] = {
        {"malformed", "GET / HTTP/1.0\r\n\r\n"},
        {"malformed", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"},
        {"malformed", v2_with(0x21, 0x51)},
        {"too_long", "PROXY TCP4 " + std::string(200, '1') + "\r\n"},
        {"unknown_version", v2_with(0x11, 0x11)},
        {"unknown_command", v2_with(0x22, 0x11)},
    };
    std::map<std::string, double> want;
    for (const auto& c : cases) {
        CAPTURE(c.result);
        CHECK(reply_to(server->port(), c.bytes + "data").empty());
        expect_count(*server, c.result, ++want[c.result]);
    }
    // Truncated: EOF in the middle of the header.
    CHECK(reply_to(server->port(), "PROXY TCP4 1.2.").empty());
    expect_count(*server, "truncated", 1);
    // A connection that sends nothing and closes is a plain TCP check: closed, not counted.
    CHECK(reply_to(server->port(), "").empty());

    // Timeout: a header that stops half-way is closed after --proxy-timeout, not before.
    auto slow = connect_local(server->port());
    REQUIRE(slow.valid());
    auto started = std::chrono::steady_clock::now();
    REQUIRE(send_all(slow.get(), "PROXY TCP4 "));
    CHECK(closed_by_peer(slow.get(), 5s));
    auto waited = std::chrono::steady_clock::now() - started;
    CHECK(waited >= 350ms);
    CHECK(waited < 3s);
    expect_count(*server, "timeout", 1);
    CHECK(server->wait_for_log("bad PROXY header (", 5s) >= 0);

    CHECK(proxy_count(*server, "truncated") == 1);
    CHECK(proxy_count(*server, "proxy") == 1);
    REQUIRE(send_all(steady.get(), "after"));
    CHECK(recv_exact(steady.get(), 5) == "after");
}

TEST_CASE("a plain listener: a connection opening with a PROXY header is closed as unexpected, others echo") {
    auto server = start_server({"--metrics-listen", "127.0.0.1:0"});
    CHECK(reply_to(server->port(), "PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nhello").empty());
    CHECK(reply_to(server->port(), v2_tcp4("192.0.2.1", 1, 2) + "hello").empty());
    expect_count(*server, "unexpected", 2);
    CHECK(server->wait_for_log("a PROXY header on a listener that expects none", 5s) >= 0);
    // Too short to tell, and later in a connection: echoed like any bytes.
    CHECK(reply_to(server->port(), "PROXY") == "PROXY");
    auto fd = connect_local(server->port());
    REQUIRE(fd.valid());
    REQUIRE(send_all(fd.get(), "x"));
    REQUIRE(recv_exact(fd.get(), 1) == "x");
    auto rest = exchange(fd.get(), "PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n", 10s);
    REQUIRE(rest);
    CHECK(*rest == "PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n");
    CHECK(proxy_count(*server, "unexpected") == 2);
}

TEST_CASE("--listen and --proxy-listen: plain clients on one, a balancer's headers on the other") {
    auto server =
        start_server({"--listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--log-level", "debug"});
    auto addresses = listening_addresses(server->log());
    REQUIRE(addresses.size() == 2);
    const std::uint16_t plain = addresses[0].port(), proxied = addresses[1].port();
    CHECK(server->log().find("127.0.0.1:" + std::to_string(proxied) +
                             " (expecting PROXY protocol headers)") != std::string::npos);
    CHECK(reply_to(proxied, "PROXY TCP4 192.0.2.8 127.0.0.1 8 8\r\nbalanced") == "balanced");
    CHECK(server->wait_for_log("connection from 192.0.2.8:8", 5s) >= 0);
    CHECK(reply_to(proxied, "no header").empty());
    CHECK(reply_to(plain, "plain") == "plain");
    CHECK(reply_to(plain, "PROXY TCP4 192.0.2.8 127.0.0.1 8 8\r\n").empty());  // unexpected on a plain one
}

TEST_CASE("socket activation: a socket named *-proxy expects the header, one named otherwise does not") {
    std::uint16_t plain_port = 0, proxy_port = 0;
    auto plain = listen_loopback(plain_port);
    auto proxied = listen_loopback(proxy_port);
    REQUIRE(plain.valid());
    REQUIRE(proxied.valid());
    ServerOptions options;
    options.pass_fds = {{plain.get(), "echo"}, {proxied.get(), "edge-proxy"}};
    auto server = start_server({"--log-level", "debug"}, options);
    auto line = server->log_line_at(server->wait_for_log("127.0.0.1:" + std::to_string(proxy_port), 5s));
    CHECK(line.find("(passed by systemd) (expecting PROXY protocol headers)") != std::string::npos);
    CHECK(reply_to(plain_port, "plain") == "plain");
    CHECK(reply_to(proxy_port, "PROXY TCP4 192.0.2.9 127.0.0.1 9 9\r\nvia") == "via");
    CHECK(server->wait_for_log("connection from 192.0.2.9:9 via", 5s) >= 0);
    CHECK(reply_to(proxy_port, "no header").empty());
}

TEST_CASE("HAProxy with send-proxy-v2 and send-proxy in front: echo, and the client's own address logged") {
    const std::string haproxy = "/usr/sbin/haproxy";
    if (access(haproxy.c_str(), X_OK) != 0) {
        MESSAGE("SKIPPED: haproxy is not installed (tools/install-deps.sh installs it)");
        return;
    }
    auto server = start_proxied();
    std::uint16_t v2_port = 0, v1_port = 0;
    {  // Ports the kernel picks, freed just before HAProxy binds them.
        auto a = listen_loopback(v2_port);
        auto b = listen_loopback(v1_port);
    }
    auto dir = std::filesystem::temp_directory_path() / ("echo-proxy-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto config = (dir / "haproxy.cfg").string();
    std::ofstream(config) << "global\n  maxconn 100\n"
                          << "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n"
                          << "  timeout server 30s\n"
                          << "listen v2\n  bind 127.0.0.1:" << v2_port
                          << "\n  server echo 127.0.0.1:" << server->port() << " send-proxy-v2\n"
                          << "listen v1\n  bind 127.0.0.1:" << v1_port
                          << "\n  server echo 127.0.0.1:" << server->port() << " send-proxy\n";
    ServerOptions options;
    options.binary = haproxy;
    options.args = {"-db", "-f", config};
    options.no_notify_socket = true;
    ServerProcess balancer(options);
    REQUIRE_MESSAGE(eventually([&] { return listening_on(v1_port) && listening_on(v2_port); }, 10s),
                    "haproxy is not listening; its log:\n"
                        << balancer.log());
    for (std::uint16_t port : {v2_port, v1_port}) {
        CAPTURE(port);
        auto fd = connect_local(port);
        REQUIRE(fd.valid());
        sockaddr_in self{};
        socklen_t len = sizeof self;
        REQUIRE(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&self), &len) == 0);
        auto payload = random_bytes(100000, port);
        auto got = exchange(fd.get(), payload, 10s);
        REQUIRE(got);
        CHECK(*got == payload);
        // HAProxy saw this client at 127.0.0.1:<its port>: the server logs that, not HAProxy's own socket.
        auto client = "connection from 127.0.0.1:" + std::to_string(ntohs(self.sin_port)) + " via 127.0.0.1:";
        CHECK(server->wait_for_log(client, 10s) >= 0);
    }
    expect_count(*server, "proxy", 2);
    balancer.signal(SIGTERM);
    balancer.wait_exit(10s);
    std::filesystem::remove_all(dir);
}

TEST_CASE(
    "a reload: a connection past its header is handed over, one still awaiting it stays and is served") {
    auto server = start_proxied({"--workers", "1"});
    auto old = wait_for_workers(*server, 1);
    auto done = connect_local(server->port());
    REQUIRE(done.valid());
    REQUIRE(send_all(done.get(), "PROXY TCP4 192.0.2.7 127.0.0.1 7 7007\r\nbefore"));
    REQUIRE(recv_exact(done.get(), 6) == "before");
    auto waiting = connect_local(server->port());
    REQUIRE(waiting.valid());
    REQUIRE(send_all(waiting.get(), "PROXY TCP4 192.0.2.8"));
    // Both accepted before the reload: one still in the backlog would go to the new worker.
    REQUIRE(eventually(
        [&] {
            auto r = http_get(server->metrics_port(), "/metrics");
            return metric_value(r.body, "echo_hardened_connections_open") == 2.0;
        },
        10s));

    server->signal(SIGHUP);
    REQUIRE(server->wait_for_log("handing over 1 connection(s) with 0 byte(s) not yet echoed, keeping 1 "
                                 "awaiting a PROXY header",
                                 10s) >= 0);
    REQUIRE(server->wait_for_log("reload complete", 20s) >= 0);
    REQUIRE(send_all(done.get(), "after"));
    CHECK(recv_exact(done.get(), 5) == "after");
    // Longer than a drain's quiet period (200 ms): a connection awaiting its header is not idle.
    std::this_thread::sleep_for(300ms);
    auto rest = exchange(waiting.get(), " 127.0.0.1 8 7007\r\nstayed", 10s);
    REQUIRE(rest);
    CHECK(*rest == "stayed");
    long at = server->wait_for_log("connection from 192.0.2.8:8 via", 10s);
    REQUIRE(at >= 0);
    // fmt, not "[" + std::string: GCC 12 at -O3 reports a false overlap there (-Wrestrict, a known GCC 12
    // bug).
    CHECK(server->log_line_at(at).find(fmt::format("[{}]", old.front())) != std::string::npos);
    CHECK(eventually([&] { return all_reaped(old); }, 10s));
    REQUIRE(send_all(done.get(), "again"));
    CHECK(recv_exact(done.get(), 5) == "again");
}

TEST_CASE("SIGHUP: --proxy-timeout is taken, a change of --proxy-protocol is refused with a warning") {
    auto dir = std::filesystem::temp_directory_path() / ("echo-proxy-reload-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto file = (dir / "echo.conf").string();
    std::ofstream(file) << "proxy-protocol = yes\nproxy-timeout = 10s\nworkers = 1\n";
    auto server = start_server({"--config", file, "--metrics-listen", "127.0.0.1:0"});
    std::ofstream(file) << "proxy-protocol = no\nproxy-timeout = 300ms\nworkers = 1\n";
    server->signal(SIGHUP);
    CHECK(server->wait_for_log("SIGHUP: a change of --proxy-protocol needs a restart, ignoring it", 10s) >=
          0);
    REQUIRE(server->wait_for_log("reload complete", 20s) >= 0);
    // Still a proxy listener, now with the shorter timeout.
    CHECK(reply_to(server->port(), "PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nstill") == "still");
    auto slow = connect_local(server->port());
    REQUIRE(slow.valid());
    auto started = std::chrono::steady_clock::now();
    REQUIRE(send_all(slow.get(), "PROXY "));
    CHECK(closed_by_peer(slow.get(), 5s));
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    expect_count(*server, "timeout", 1);
    std::filesystem::remove_all(dir);
}
