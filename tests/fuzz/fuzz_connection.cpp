// fuzz_connection.cpp: a connection's echo driven through the socket_io seam with fuzzer-chosen results.
//
// The input is a script: the buffer cap, then for each step the epoll events the worker loop would deliver
// and the result of every read(2), send(2) and FIONREAD the step makes (a short count, EAGAIN, EINTR,
// ECONNRESET, EPIPE, EOF). The peer's bytes are a fixed sequence, so each byte echoed can be checked
// against its place in the stream. The invariant (docs/FUZZING.md "What each target checks"): what is sent
// is exactly what was read, in order, never more; bytes held never exceed the cap, not even during a read;
// after EOF nothing is read again; a close has a reason and after a clean EOF loses nothing.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "worker/connection.hpp"
#include "worker/socket_io.hpp"

namespace {

// The peer's byte at `position`: a mixed 64-bit counter, so a byte repeated, dropped or moved is caught.
char peer_byte(std::uint64_t position) {
    std::uint64_t z = position + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return static_cast<char>(z ^ (z >> 31));
}

[[noreturn]] void violated(const char* what) {
    std::fprintf(stderr, "fuzz-connection: invariant violated: %s\n", what);
    std::abort();
}

void require(bool ok, const char* what) {
    if (!ok) violated(what);
}

// What the fake socket has done so far in this input.
struct Socket {
    FuzzedDataProvider* script = nullptr;
    std::size_t cap = 0;
    std::uint64_t read_total = 0;  // bytes handed to the connection
    std::uint64_t sent_total = 0;  // bytes it echoed
    bool eof_given = false;
    bool hard_error = false;  // a read or send failed for good in this step
};

Socket g_socket;

}  // namespace

namespace echo {

ssize_t socket_read(int, char* data, std::size_t n) {
    Socket& s = g_socket;
    require(!s.eof_given, "read again after EOF");
    require(n > 0, "a read of 0 bytes");
    require(s.read_total - s.sent_total + n <= s.cap, "a read could hold more than the cap");
    switch (s.script->ConsumeIntegralInRange<int>(0, 7)) {
        case 0:  // also what an exhausted script gives: the loop ends
            errno = EAGAIN;
            return -1;
        case 1:
            errno = EINTR;
            return -1;
        case 2:
            errno = s.script->ConsumeBool() ? ECONNRESET : ETIMEDOUT;
            s.hard_error = true;
            return -1;
        case 3:
            s.eof_given = true;
            return 0;
        default: {
            std::size_t got = n;
            if (s.script->ConsumeBool()) got = s.script->ConsumeIntegralInRange<std::size_t>(1, n);
            for (std::size_t i = 0; i < got; ++i)
                data[i] = peer_byte(s.read_total + i);
            s.read_total += got;
            return static_cast<ssize_t>(got);
        }
    }
}

ssize_t socket_send(int, const char* data, std::size_t n) {
    Socket& s = g_socket;
    require(n > 0, "a send of 0 bytes");
    require(s.sent_total + n <= s.read_total, "a send of more than was read");
    switch (s.script->ConsumeIntegralInRange<int>(0, 7)) {
        case 0:
            errno = EAGAIN;
            return -1;
        case 1:
            errno = EINTR;
            return -1;
        case 2:
            errno = s.script->ConsumeBool() ? EPIPE : ECONNRESET;
            s.hard_error = true;
            return -1;
        default: {
            std::size_t took = n;
            if (s.script->ConsumeBool()) took = s.script->ConsumeIntegralInRange<std::size_t>(1, n);
            for (std::size_t i = 0; i < took; ++i)
                require(data[i] == peer_byte(s.sent_total + i), "a byte echoed out of order or changed");
            s.sent_total += took;
            return static_cast<ssize_t>(took);
        }
    }
}

int socket_unread(int, int& unread) {
    Socket& s = g_socket;
    switch (s.script->ConsumeIntegralInRange<int>(0, 2)) {
        case 0:
            unread = 0;
            return 0;
        case 1:
            errno = ENOTCONN;
            return -1;
        default:
            unread = s.script->ConsumeIntegralInRange<int>(1, 1 << 20);
            return 0;
    }
}

}  // namespace echo

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace echo;
    FuzzedDataProvider script(data, size);
    g_socket = Socket{};
    g_socket.script = &script;
    // Small caps reach "buffer full" in a few steps; the server's own minimum (1 KiB) changes nothing here.
    g_socket.cap = script.ConsumeIntegralInRange<std::size_t>(1, 4096);
    std::vector<char> scratch(g_socket.cap + script.ConsumeIntegralInRange<std::size_t>(0, 64));

    // No real descriptor: every call on it goes through the seam above, and -1 is one UniqueFd never closes.
    Connection c(UniqueFd(-1), g_socket.cap, TimePoint{});
    c.set_armed(c.wanted_events());
    EchoCounters counters;
    TimePoint now{};

    for (int step = 0; step < 10000 && script.remaining_bytes() > 0; ++step) {
        now += std::chrono::milliseconds(1);
        const auto choice = script.ConsumeIntegral<std::uint8_t>();
        if (choice & 0x80) {
            // A drain asks whether closing now could lose a byte (RUNBOOK.md "Graceful stop").
            if (c.quiescent()) require(c.pending_bytes() == 0, "quiescent with bytes pending");
            continue;
        }
        // The worker loop's dispatch (worker_loop.cpp on_client), with events the fuzzer chose.
        std::uint32_t events = (choice & 1 ? EPOLLIN : 0) | (choice & 2 ? EPOLLOUT : 0);
        if (choice & 4) events |= EPOLLIN | EPOLLOUT;  // EPOLLERR or EPOLLHUP
        g_socket.hard_error = false;
        const bool eof_before = g_socket.eof_given;
        IoOutcome outcome;
        if ((events & EPOLLOUT) && (c.armed_events() & EPOLLOUT)) outcome = c.on_writable(counters, now);
        if (!outcome.close && (events & EPOLLIN))
            outcome = outcome.then(c.on_readable(scratch, counters, now));

        require(counters.bytes_written == g_socket.sent_total, "bytes_written differs from the bytes sent");
        require(c.pending_bytes() <= g_socket.cap, "more pending than the cap");
        if (outcome.close) {
            const bool eof_clean = g_socket.eof_given && c.pending_bytes() == 0;
            require(g_socket.hard_error || eof_clean, "closed without a reason");
            if (!g_socket.hard_error)
                require(g_socket.read_total == g_socket.sent_total, "closed with bytes lost");
            return 0;
        }
        require(!g_socket.hard_error, "a failed read or send did not close the connection");
        require(c.pending_bytes() == g_socket.read_total - g_socket.sent_total,
                "a byte read is neither echoed nor pending");
        if (!eof_before && g_socket.eof_given && c.pending_bytes() == 0)
            violated("EOF with nothing pending kept open");
        const std::uint32_t wanted = c.wanted_events();
        if (wanted == 0) return 0;  // the worker loop closes it (update_interest)
        c.set_armed(wanted);
    }
    return 0;
}
