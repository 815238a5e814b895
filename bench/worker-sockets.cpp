// worker-sockets: how many of a server's client connections each of its worker processes holds, for
// bench/balance-bench.sh.
//
// A worker's connections are the ESTABLISHED TCP sockets with the server's local port that one of its file
// descriptors names: the socket inodes under /proc/PID/fd matched against the kernel's socket table, as
// tests/fault/sockets.cpp does with /proc/net/tcp. The table is read through sock_diag netlink (what ss(8)
// uses) instead: after a churn workload the client's TIME_WAIT sockets run to tens of thousands, and the
// kernel would format every one of them into /proc/net/tcp, while sock_diag leaves them out in the kernel
// (the state mask below). A connection still in the accept queue belongs to no process yet and is not
// counted.
//
//   worker-sockets --port PORT PID...     prints "PID COUNT" per PID, in the order given; exit status 1 if
//                                         the table could not be read, 2 on bad arguments
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace {

[[noreturn]] void usage(const std::string& message) {
    std::fprintf(stderr, "worker-sockets: %s (usage: worker-sockets --port PORT PID...)\n", message.c_str());
    std::exit(2);
}

[[noreturn]] void die(const char* what, int error) {
    std::fprintf(stderr, "worker-sockets: %s: %s\n", what, std::strerror(error));
    std::exit(1);
}

unsigned parse_number(std::string_view text, unsigned max, const char* what) {
    unsigned v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v == 0 || v > max)
        usage(std::string("bad ") + what + " '" + std::string(text) + "'");
    return v;
}

// Adds the inodes of the ESTABLISHED TCP sockets of FAMILY whose local port is PORT to OUT.
void established_inodes(int family, std::uint16_t port, std::unordered_set<std::uint32_t>& out) {
    const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) die("socket(NETLINK_SOCK_DIAG)", errno);
    struct {
        nlmsghdr header;
        inet_diag_req_v2 request;
    } req{};
    req.header.nlmsg_len = sizeof req;
    req.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.request.sdiag_family = static_cast<std::uint8_t>(family);
    req.request.sdiag_protocol = IPPROTO_TCP;
    req.request.idiag_states = 1U << TCP_ESTABLISHED;
    if (::send(fd, &req, sizeof req, 0) != static_cast<ssize_t>(sizeof req)) die("send(sock_diag)", errno);
    alignas(nlmsghdr) static char buf[64 * 1024];
    for (bool done = false; !done;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("recv(sock_diag)", n == 0 ? EPROTO : errno);
        // NLMSG_OK, NLMSG_NEXT and NLMSG_DATA spelled out: the macros are C casts.
        const auto size = static_cast<std::size_t>(n);
        for (std::size_t at = 0; !done && at + sizeof(nlmsghdr) <= size;) {
            const auto* h = reinterpret_cast<const nlmsghdr*>(buf + at);
            if (h->nlmsg_len < sizeof(nlmsghdr) || at + h->nlmsg_len > size) break;
            if (h->nlmsg_type == NLMSG_ERROR) {
                die("sock_diag dump", -reinterpret_cast<const nlmsgerr*>(buf + at + NLMSG_HDRLEN)->error);
            }
            done = h->nlmsg_type == NLMSG_DONE;
            const auto* msg = reinterpret_cast<const inet_diag_msg*>(buf + at + NLMSG_HDRLEN);
            if (!done && ntohs(msg->id.idiag_sport) == port && msg->idiag_inode != 0)
                out.insert(msg->idiag_inode);
            at += NLMSG_ALIGN(h->nlmsg_len);
        }
    }
    ::close(fd);
}

// How many of PID's descriptors name a socket in INODES. A process that has exited holds none.
unsigned held_by(pid_t pid, const std::unordered_set<std::uint32_t>& inodes) {
    constexpr std::string_view prefix = "socket:[";
    unsigned n = 0;
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code rl;
        const std::string link = std::filesystem::read_symlink(entry.path(), rl).string();
        if (rl || !link.starts_with(prefix)) continue;
        std::uint32_t inode = 0;
        std::from_chars(link.data() + prefix.size(), link.data() + link.size(), inode);
        n += inodes.contains(inode);
    }
    return n;
}

}  // namespace

int main(int argc, char** argv) {
    unsigned port = 0;
    std::vector<pid_t> pids;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) {
            port = parse_number(argv[++i], 65535, "port");
        } else if (arg.starts_with('-')) {
            usage("unknown option '" + std::string(arg) + "'");
        } else {
            pids.push_back(static_cast<pid_t>(parse_number(arg, 1U << 22, "pid")));
        }
    }
    if (port == 0 || pids.empty()) usage("--port and at least one PID are required");

    std::unordered_set<std::uint32_t> inodes;
    established_inodes(AF_INET, static_cast<std::uint16_t>(port), inodes);
    established_inodes(AF_INET6, static_cast<std::uint16_t>(port), inodes);
    for (const pid_t pid : pids)
        std::printf("%d %u\n", static_cast<int>(pid), held_by(pid, inodes));
    return 0;
}
