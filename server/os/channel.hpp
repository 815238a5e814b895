// channel.hpp: what a master and its workers say over their SOCK_SEQPACKET pair, connections in transit
// included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "base/unique_fd.hpp"

namespace echo {

// Every datagram starts with its kind. 1 and 2 are a worker's reports (worker/worker_report.hpp, whose layout
// is older than the rest); the others carry the hand-over of connections (RUNBOOK.md "Connections across
// reload, upgrade and restart").
enum class MessageKind : std::uint32_t {
    Ready = 1,        // worker -> master: WorkerReport
    Heartbeat = 2,    // worker -> master: WorkerReport
    ParcelHead = 3,   // either way: a connection (its socket by SCM_RIGHTS), its state, its first bytes
    ParcelBytes = 4,  // either way: more of the bytes it read and has not echoed
    HandOver = 5,     // master -> worker: hand every connection over, then wait for Released
    HandedOver = 6,   // worker -> master: every connection has been sent
    Released = 7,     // master -> worker: each one has a new home (or came back to you): you may exit
    Adopted = 8,      // worker -> master: `count` more connections taken on, not yet touched
    // On the upgrade channel between a master and the new master replacing it (R61); parcels and Adopted
    // travel on it as between a master and a worker, the new master in the worker's place.
    SuccessorStarted = 9,  // exec helper -> old master: the new master's pid in `count` (0: none started)
    SuccessorReady = 10,   // new master -> old master: every worker serves: send the connections
};

// A connection on its way from one worker to another: what the receiver needs to carry on exactly where the
// sender stopped. The socket's unread bytes travel inside the socket itself.
struct Parcel {
    UniqueFd fd;
    std::vector<char> bytes;   // read from the client and not yet echoed: the receiver writes them first
    bool peer_closed = false;  // the client half-closed: once `bytes` are echoed, the connection closes
};

// The largest datagram either side sends or reads: a parcel's bytes go in chunks of this size, well inside a
// Unix socket's default send buffer (a SEQPACKET datagram larger than the buffer fails with EMSGSIZE).
inline constexpr std::size_t kChannelDatagram = 32 * 1024;

// What one side has to send, in order, sent as far as the socket takes it. Parcels are sent whole and in
// order, so the receiver reassembles each from its datagrams alone.
class ChannelWriter {
  public:
    // `keep_until_adopted`: the master keeps its copy of each socket it forwarded until the receiver says
    // Adopted, so a receiver that dies first loses nothing (take_back()). A worker lets go once sent.
    explicit ChannelWriter(bool keep_until_adopted) : keep_(keep_until_adopted) {}

    void push(Parcel parcel);
    void push(MessageKind control, std::uint64_t count = 0);

    // Sends what the socket takes: 0 once everything queued is sent, -EAGAIN when the socket is full (wait
    // for EPOLLOUT), another -errno when the peer is gone (the queue is kept for take_back()).
    int flush(int fd);
    bool empty() const { return queue_.empty(); }

    // The receiver adopted `n` more parcels: the oldest n it was sent.
    void adopted(std::uint64_t n);
    // The receiver is gone: every parcel it may not have taken (unsent, or sent and not adopted), oldest
    // first. Adopted ones it took with it; a parcel is adopted before any of its bytes are touched, so these
    // can go to another worker as they are.
    std::vector<Parcel> take_back();
    // Parcels not yet sent, and sent in all: with what the receiver says it adopted, the master knows how
    // many are on their way to it and not yet in its count of connections.
    std::size_t parcels_queued() const { return parcels_queued_; }
    std::uint64_t parcels_sent() const { return parcels_sent_; }
    std::size_t parcels_unadopted() const { return awaiting_.size(); }

  private:
    struct Item {
        MessageKind kind;
        std::uint64_t count = 0;
        Parcel parcel{};
        bool head_sent = false;
        std::size_t bytes_sent = 0;
    };
    int send_item(int fd, Item& item);

    bool keep_;
    std::deque<Item> queue_;
    std::deque<Parcel> awaiting_;  // sent, with keep_: until adopted
    std::size_t parcels_queued_ = 0;
    std::uint64_t parcels_sent_ = 0;
};

// One message as read: a report's bytes, a control word, or a whole parcel.
struct ChannelMessage {
    MessageKind kind = MessageKind::Heartbeat;
    std::span<const char> report;  // Ready/Heartbeat: the datagram, valid until the next read
    std::uint64_t count = 0;       // Adopted
    Parcel parcel{};               // ParcelHead, once its last chunk has arrived
};

class ChannelReader {
  public:
    // Reads until one whole message is in `out`: 1 when it is; 0 when nothing more is there now; -EPROTO for
    // a datagram that breaks the protocol (dropped, with any socket it carried closed); another -errno when
    // the channel failed. `buffer` holds at least kChannelDatagram bytes and is the caller's, so one serves
    // every channel of the master.
    int next(int fd, std::span<char> buffer, ChannelMessage& out);

  private:
    std::optional<Parcel> partial_;  // a parcel whose bytes are still arriving
    std::size_t expected_ = 0;       // its size in all
};

}  // namespace echo
