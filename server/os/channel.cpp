// channel.cpp: the channel's datagrams: parcels split into chunks with their socket in the first, controls.
#include "os/channel.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "config/bounds.hpp"

namespace echo {
namespace {

struct ParcelHeadWire {
    MessageKind kind;
    std::uint32_t flags;
    std::uint64_t total_bytes;
};
struct ParcelBytesWire {
    MessageKind kind;
    std::uint32_t unused;
};
struct ControlWire {
    MessageKind kind;
    std::uint32_t unused;
    std::uint64_t count;
};
constexpr std::uint32_t kPeerClosed = 1;

// A well-behaved peer sends one socket per head; room for a few more, so a misbehaving one is noticed
// (MSG_CTRUNC would otherwise drop sockets we never see, leaving nothing to close).
constexpr std::size_t kMaxFdsRead = 4;

// MSG_NOSIGNAL: a channel whose peer died costs an EPIPE, not a SIGPIPE.
int send_datagram(int fd, std::span<const iovec> parts, int pass_fd) {
    msghdr msg{};
    msg.msg_iov = const_cast<iovec*>(parts.data());
    msg.msg_iovlen = parts.size();
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
    if (pass_fd >= 0) {
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    for (;;) {
        if (::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

iovec part(const void* data, std::size_t n) {
    return {const_cast<void*>(data), n};
}

}  // namespace

// ---- writing -------------------------------------------------------------------------------------------

void ChannelWriter::push(Parcel parcel) {
    queue_.push_back({.kind = MessageKind::ParcelHead, .parcel = std::move(parcel)});
    ++parcels_queued_;
}

void ChannelWriter::push(MessageKind control, std::uint64_t count) {
    queue_.push_back({.kind = control, .count = count});
}

int ChannelWriter::flush(int fd) {
    while (!queue_.empty()) {
        Item& item = queue_.front();
        if (int r = send_item(fd, item); r < 0) return r;
        if (item.kind == MessageKind::ParcelHead) {
            --parcels_queued_;
            ++parcels_sent_;
            if (keep_) awaiting_.push_back(std::move(item.parcel));
            // Otherwise the parcel, our copy of the socket with it, goes here: the peer holds its own now.
        }
        queue_.pop_front();
    }
    return 0;
}

int ChannelWriter::send_item(int fd, Item& item) {
    if (item.kind != MessageKind::ParcelHead) {
        ControlWire wire{item.kind, 0, item.count};
        iovec parts[] = {part(&wire, sizeof wire)};
        return send_datagram(fd, parts, -1);
    }
    const auto& bytes = item.parcel.bytes;
    if (!item.head_sent) {
        ParcelHeadWire head{MessageKind::ParcelHead, item.parcel.peer_closed ? kPeerClosed : 0u,
                            bytes.size()};
        std::size_t n = std::min(bytes.size(), kChannelDatagram - sizeof head);
        iovec parts[] = {part(&head, sizeof head), part(bytes.data(), n)};
        if (int r = send_datagram(fd, parts, item.parcel.fd.get()); r < 0) return r;
        item.head_sent = true;
        item.bytes_sent = n;
    }
    while (item.bytes_sent < bytes.size()) {
        ParcelBytesWire chunk{MessageKind::ParcelBytes, 0};
        std::size_t n = std::min(bytes.size() - item.bytes_sent, kChannelDatagram - sizeof chunk);
        iovec parts[] = {part(&chunk, sizeof chunk), part(bytes.data() + item.bytes_sent, n)};
        if (int r = send_datagram(fd, parts, -1); r < 0) return r;
        item.bytes_sent += n;
    }
    return 0;
}

void ChannelWriter::adopted(std::uint64_t n) {
    for (; n > 0 && !awaiting_.empty(); --n)
        awaiting_.pop_front();  // the receiver holds its own copy: ours goes
}

std::vector<Parcel> ChannelWriter::take_back() {
    std::vector<Parcel> back;
    for (auto& p : awaiting_)
        back.push_back(std::move(p));
    awaiting_.clear();
    for (auto& item : queue_)
        if (item.kind == MessageKind::ParcelHead) back.push_back(std::move(item.parcel));
    queue_.clear();
    parcels_queued_ = 0;
    return back;
}

// ---- reading -------------------------------------------------------------------------------------------

int ChannelReader::next(int fd, std::span<char> buffer, ChannelMessage& out) {
    for (;;) {
        msghdr msg{};
        iovec into = part(buffer.data(), std::min(buffer.size(), kChannelDatagram));
        msg.msg_iov = &into;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) std::array<char, CMSG_SPACE(kMaxFdsRead * sizeof(int))> control{};
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno == EAGAIN ? 0 : -errno;
        if (n == 0) return -EPIPE;  // the peer closed its end; its HUP follows

        std::vector<UniqueFd> fds;  // owned at once: whatever happens next, none leaks
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < count; ++i) {
                int received;
                std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                fds.emplace_back(received);
            }
        }
        auto size = static_cast<std::size_t>(n);
        if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || size < sizeof(MessageKind)) return -EPROTO;
        MessageKind kind;
        std::memcpy(&kind, buffer.data(), sizeof kind);
        out.kind = kind;
        switch (kind) {
            case MessageKind::Ready:
            case MessageKind::Heartbeat:
                if (!fds.empty()) return -EPROTO;
                out.report = buffer.first(size);
                return 1;
            case MessageKind::ParcelHead: {
                ParcelHeadWire head;
                if (size < sizeof head || fds.size() != 1) return -EPROTO;
                std::memcpy(&head, buffer.data(), sizeof head);
                std::size_t first = size - sizeof head;
                if (head.total_bytes > bounds::kMaxBufferSize || first > head.total_bytes) return -EPROTO;
                // A head while another parcel is unfinished: that one's sender broke off (it never does);
                // the unfinished one is dropped, its socket closed, rather than completed with wrong bytes.
                partial_.emplace();
                partial_->fd = std::move(fds.front());
                partial_->peer_closed = (head.flags & kPeerClosed) != 0;
                partial_->bytes.reserve(head.total_bytes);
                partial_->bytes.assign(buffer.data() + sizeof head, buffer.data() + size);
                expected_ = head.total_bytes;
                break;
            }
            case MessageKind::ParcelBytes: {
                std::size_t header = sizeof(ParcelBytesWire);
                if (!partial_ || !fds.empty() || size < header ||
                    partial_->bytes.size() + (size - header) > expected_) {
                    partial_.reset();
                    return -EPROTO;
                }
                partial_->bytes.insert(partial_->bytes.end(), buffer.data() + header, buffer.data() + size);
                break;
            }
            case MessageKind::HandOver:
            case MessageKind::HandedOver:
            case MessageKind::Released:
            case MessageKind::Adopted:
            case MessageKind::SuccessorStarted:
            case MessageKind::SuccessorReady: {
                ControlWire wire;
                if (size != sizeof wire || !fds.empty()) return -EPROTO;
                std::memcpy(&wire, buffer.data(), sizeof wire);
                out.count = wire.count;
                return 1;
            }
            default:
                return -EPROTO;
        }
        if (partial_ && partial_->bytes.size() == expected_) {
            out.kind = MessageKind::ParcelHead;
            out.parcel = std::move(*partial_);
            partial_.reset();
            return 1;
        }
    }
}

}  // namespace echo
