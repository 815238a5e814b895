// test_channel.cpp: the master-worker channel: parcels (a socket, its unechoed bytes, its half-close) arrive
// whole, in order and exactly once; the master's copies wait for Adopted; a broken datagram is refused.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "os/channel.hpp"
#include "worker/connection.hpp"

using namespace echo;

namespace {

struct Pair {
    UniqueFd a, b;
};
Pair seqpacket_pair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}
Pair stream_pair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}
std::vector<char> pattern(std::size_t n, unsigned seed) {
    std::vector<char> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = static_cast<char>((i * 131 + seed * 7) & 0xff);
    return v;
}
// Reads every message there is now; parcels are appended to `got`.
int read_all(ChannelReader& reader, int fd, std::vector<Parcel>& got,
             std::vector<MessageKind>* kinds = nullptr) {
    std::vector<char> buffer(kChannelDatagram);
    ChannelMessage m;
    int r;
    while ((r = reader.next(fd, buffer, m)) != 0) {
        if (r < 0) return r;
        if (kinds) kinds->push_back(m.kind);
        if (m.kind == MessageKind::ParcelHead) got.push_back(std::move(m.parcel));
    }
    return 0;
}
// The socket really travelled: what one end of the stream pair writes, the passed other end reads.
bool same_socket(const Parcel& p, int peer) {
    char c = 'x';
    if (write(peer, &c, 1) != 1) return false;
    char got = 0;
    return read(p.fd.get(), &got, 1) == 1 && got == 'x';
}

}  // namespace

TEST_CASE("a parcel larger than a datagram arrives whole, with its socket and its half-close") {
    auto ch = seqpacket_pair();
    auto client = stream_pair();
    auto bytes = pattern(5 * kChannelDatagram + 123, 1);
    ChannelWriter w(false);
    w.push(Parcel{std::move(client.a), bytes, true});
    w.push(MessageKind::HandedOver, 1);
    REQUIRE(w.flush(ch.a.get()) == 0);
    CHECK(w.empty());
    ChannelReader r;
    std::vector<Parcel> got;
    std::vector<MessageKind> kinds;
    REQUIRE(read_all(r, ch.b.get(), got, &kinds) == 0);
    REQUIRE(got.size() == 1);
    CHECK(got[0].bytes == bytes);
    CHECK(got[0].peer_closed);
    CHECK(same_socket(got[0], client.b.get()));
    CHECK(kinds == std::vector<MessageKind>{MessageKind::ParcelHead, MessageKind::HandedOver});
}

TEST_CASE("a full channel blocks the writer, which resumes where it stopped: order and bytes kept") {
    auto ch = seqpacket_pair();
    ChannelWriter w(false);
    std::vector<Pair> clients;
    constexpr unsigned kParcels = 300;
    for (unsigned i = 0; i < kParcels; ++i) {
        clients.push_back(stream_pair());
        w.push(Parcel{std::move(clients.back().a), pattern(i * 97 % 40000, i), false});
    }
    ChannelReader r;
    std::vector<Parcel> got;
    int blocked = 0;
    for (int turn = 0; turn < 10000 && got.size() < kParcels; ++turn) {
        int f = w.flush(ch.a.get());
        if (f == -EAGAIN) ++blocked;
        REQUIRE((f == 0 || f == -EAGAIN));
        REQUIRE(read_all(r, ch.b.get(), got) == 0);
    }
    CHECK(blocked > 0);  // the test filled the socket at least once
    REQUIRE(got.size() == kParcels);
    for (unsigned i = 0; i < kParcels; ++i) {
        CHECK(got[i].bytes == pattern(i * 97 % 40000, i));
        CHECK(same_socket(got[i], clients[i].b.get()));
    }
}

TEST_CASE("the master keeps what it sent until Adopted, and takes back the rest when the receiver dies") {
    auto ch = seqpacket_pair();
    ChannelWriter w(true);
    std::vector<Pair> clients;
    for (unsigned i = 0; i < 4; ++i) {
        clients.push_back(stream_pair());
        w.push(Parcel{std::move(clients.back().a), pattern(10, i), false});
    }
    REQUIRE(w.flush(ch.a.get()) == 0);
    CHECK(w.parcels_sent() == 4);
    CHECK(w.parcels_unadopted() == 4);
    w.adopted(1);
    CHECK(w.parcels_unadopted() == 3);
    clients.push_back(stream_pair());
    w.push(Parcel{std::move(clients.back().a), pattern(10, 4), false});  // queued, never sent
    CHECK(w.parcels_queued() == 1);
    auto back = w.take_back();
    REQUIRE(back.size() == 4);  // parcels 1, 2, 3 (sent, unadopted), then 4 (unsent)
    for (unsigned i = 0; i < 4; ++i) {
        CHECK(back[i].bytes == pattern(10, i + 1));
        CHECK(same_socket(back[i], clients[i + 1].b.get()));
    }
    CHECK(w.empty());
}

TEST_CASE("datagrams that break the protocol are refused and the channel reads on") {
    auto ch = seqpacket_pair();
    std::vector<char> buffer(kChannelDatagram);
    ChannelReader r;
    ChannelMessage m;
    // Bytes of a parcel with no head before them.
    struct {
        MessageKind kind = MessageKind::ParcelBytes;
        std::uint32_t unused = 0;
        char data[4] = {1, 2, 3, 4};
    } orphan;
    REQUIRE(send(ch.a.get(), &orphan, sizeof orphan, 0) == sizeof orphan);
    CHECK(r.next(ch.b.get(), buffer, m) == -EPROTO);
    // A head without its socket.
    struct {
        MessageKind kind = MessageKind::ParcelHead;
        std::uint32_t flags = 0;
        std::uint64_t total = 0;
    } headless;
    REQUIRE(send(ch.a.get(), &headless, sizeof headless, 0) == sizeof headless);
    CHECK(r.next(ch.b.get(), buffer, m) == -EPROTO);
    // An unknown kind, and a control word of the wrong size.
    std::uint32_t unknown = 99;
    REQUIRE(send(ch.a.get(), &unknown, sizeof unknown, 0) == sizeof unknown);
    CHECK(r.next(ch.b.get(), buffer, m) == -EPROTO);
    std::uint32_t short_control = static_cast<std::uint32_t>(MessageKind::Adopted);
    REQUIRE(send(ch.a.get(), &short_control, sizeof short_control, 0) == sizeof short_control);
    CHECK(r.next(ch.b.get(), buffer, m) == -EPROTO);
    // Then a good one still reads.
    ChannelWriter w(false);
    w.push(MessageKind::Adopted, 7);
    REQUIRE(w.flush(ch.a.get()) == 0);
    REQUIRE(r.next(ch.b.get(), buffer, m) == 1);
    CHECK(m.kind == MessageKind::Adopted);
    CHECK(m.count == 7);
    CHECK(r.next(ch.b.get(), buffer, m) == 0);
}

TEST_CASE("a connection handed over resumes exactly: its bytes first, its half-close kept") {
    auto client = stream_pair();
    auto bytes = pattern(3000, 9);
    Connection c(Parcel{std::move(client.a), bytes, true}, 1024, TimePoint{});  // more than the cap: kept
    CHECK(c.adopted());
    CHECK(c.pending_bytes() == bytes.size());
    CHECK(c.wanted_events() == EPOLLOUT);  // half-closed: nothing more to read
    EchoCounters counters;
    IoOutcome out = c.on_writable(counters, TimePoint{});
    CHECK(out.close);  // everything echoed after the client's EOF: done
    std::vector<char> echoed(bytes.size());
    REQUIRE(read(client.b.get(), echoed.data(), echoed.size()) == static_cast<ssize_t>(echoed.size()));
    CHECK(echoed == bytes);
    CHECK(counters.bytes_written == bytes.size());
}

TEST_CASE("to_parcel() gives up the socket and what is pending") {
    auto client = stream_pair();
    Connection c(Parcel{std::move(client.a), pattern(5, 1), false}, 1024, TimePoint{});
    int fd = c.fd();
    Parcel p = c.to_parcel();
    CHECK(p.fd.get() == fd);
    CHECK(p.bytes == pattern(5, 1));
    CHECK(!p.peer_closed);
    CHECK(c.fd() == -1);
    CHECK(c.pending_bytes() == 0);
}
