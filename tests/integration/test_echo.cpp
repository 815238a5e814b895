// test_echo.cpp: the echo itself (R1), back-pressure (R4), connection limits (R5) and idle timeouts (R6).
#include <sys/socket.h>

#include <thread>

#include "fixture.hpp"

using namespace test;

TEST_CASE("hello is echoed, and the connection ends after a half-close") {
    auto server = start_server({});
    auto fd = connect_local(server->port());
    REQUIRE(fd.valid());
    REQUIRE(send_all(fd.get(), "hello\n"));
    shutdown(fd.get(), SHUT_WR);
    bool eof = false;
    CHECK(recv_to_eof(fd.get(), 5s, &eof) == "hello\n");
    CHECK(eof);
}

TEST_CASE("binary payloads from 1 byte to 16 MiB come back byte for byte over concurrent connections") {
    auto server = start_server({});
    std::vector<std::size_t> sizes = {1, 2, 255, 4096, 65535, 65536, 65537, 1 << 20, 4 << 20, 16 << 20};
    std::vector<std::string> payloads;
    for (std::size_t i = 0; i < sizes.size(); ++i)
        payloads.push_back(random_bytes(sizes[i], i + 1));
    payloads.push_back(std::string(100000, '\0'));  // NUL bytes are data too
    auto results = echo_concurrently(server->port(), payloads, 60s);
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        REQUIRE_MESSAGE(results[i], "connection " << i << " timed out");
        CHECK_MESSAGE(results[i]->size() == payloads[i].size(), "connection " << i);
        CHECK_MESSAGE(*results[i] == payloads[i], "connection " << i << " differs");
    }
}

TEST_CASE("two hundred concurrent connections are each echoed exactly") {
    auto server = start_server({});
    std::vector<std::string> payloads;
    for (std::size_t i = 0; i < 200; ++i)
        payloads.push_back(random_bytes(1000 + i * 37, 1000 + i));
    auto results = echo_concurrently(server->port(), payloads, 30s);
    std::size_t good = 0;
    for (std::size_t i = 0; i < payloads.size(); ++i)
        good += results[i] && *results[i] == payloads[i];
    CHECK(good == payloads.size());
}

TEST_CASE("a client that sends but never reads is paused, not buffered without bound, and loses nothing") {
    auto server = start_server({"--workers", "1", "--buffer-size", "64K"});
    auto workers = wait_for_workers(*server, 1);
    REQUIRE(workers.size() == 1);
    long rss_before = rss_kib(workers[0]).value_or(0);

    auto fd = connect_local(server->port());
    REQUIRE(fd.valid());
    std::string sent;
    const std::string chunk = random_bytes(1 << 16, 42);
    auto stalled_since = std::chrono::steady_clock::now();
    auto give_up = stalled_since + 30s;
    // Push until the server has stopped reading: every buffer between us is full for a whole second.
    while (std::chrono::steady_clock::now() - stalled_since < 1s &&
           std::chrono::steady_clock::now() < give_up) {
        ssize_t n = send(fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent.append(chunk.data(), static_cast<std::size_t>(n));
            stalled_since = std::chrono::steady_clock::now();
        } else {
            std::this_thread::sleep_for(10ms);  // pacing a probe of a full socket; not synchronisation
        }
    }
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < give_up, "the server never stopped reading");
    long rss_during = rss_kib(workers[0]).value_or(0);
    MESSAGE("client pushed " << sent.size() / 1024 << " KiB before the server paused; worker RSS "
                             << rss_before << " -> " << rss_during << " KiB");
    CHECK(sent.size() < 64u << 20);         // kernel socket buffers plus the 64 KiB cap, not unbounded
    CHECK(rss_during - rss_before < 4096);  // the worker holds at most its cap for this connection

    // A second client on the same (only) worker is served meanwhile.
    CHECK(echo_once(server->port(), "still here") == "still here");

    // Reading now releases the pause; every byte comes back in order.
    shutdown(fd.get(), SHUT_WR);
    bool eof = false;
    auto back = recv_to_eof(fd.get(), 30s, &eof);
    CHECK(eof);
    CHECK(back.size() == sent.size());
    CHECK(back == sent);
}

TEST_CASE("--max-connections: the next connection waits in the backlog until one closes") {
    auto server = start_server({"--workers", "1", "--max-connections", "2"});
    auto a = connect_local(server->port());
    auto b = connect_local(server->port());
    REQUIRE(send_all(a.get(), "a"));
    REQUIRE(send_all(b.get(), "b"));
    CHECK(recv_exact(a.get(), 1) == "a");
    CHECK(recv_exact(b.get(), 1) == "b");
    auto c = connect_local(server->port());  // the kernel completes the handshake: it is queued, not refused
    REQUIRE(c.valid());
    REQUIRE(send_all(c.get(), "c"));
    CHECK(recv_exact(c.get(), 1, 500ms).empty());  // not served while the worker is full
    CHECK(server->wait_for_log("at --max-connections 2", 5s) >= 0);
    a.reset();
    CHECK(recv_exact(c.get(), 1, 10s) == "c");  // served as soon as a place frees up
}

TEST_CASE("--idle-timeout closes silent connections and spares active ones") {
    auto server = start_server({"--idle-timeout", "600ms"});
    auto silent = connect_local(server->port());
    auto chatty = connect_local(server->port());
    REQUIRE(silent.valid());
    REQUIRE(chatty.valid());
    auto start = std::chrono::steady_clock::now();
    // The chatty client talks every 100 ms for 1.5 s, well past the timeout, and must stay open.
    while (std::chrono::steady_clock::now() - start < 1500ms) {
        REQUIRE(send_all(chatty.get(), "x"));
        REQUIRE(recv_exact(chatty.get(), 1, 2s) == "x");
        std::this_thread::sleep_for(100ms);  // the client's own pacing
    }
    CHECK(closed_by_peer(silent.get(), 2s));
    CHECK(echo_once(server->port(), "new") == "new");
    REQUIRE(send_all(chatty.get(), "y"));
    CHECK(recv_exact(chatty.get(), 1, 2s) == "y");
}
