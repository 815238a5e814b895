// sockets.cpp: /proc/net/tcp and /proc/PID/fd parsing, and the probe connections.
#include "sockets.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace fault {

using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

struct TcpEntry {
    std::uint16_t local_port = 0;
    std::uint16_t remote_port = 0;
    unsigned state = 0;  // 1: ESTABLISHED
    std::string inode;
};

std::uint16_t port_of(const std::string& address) {  // "0100007F:1B5F"
    auto colon = address.find(':');
    return colon == std::string::npos
               ? 0
               : static_cast<std::uint16_t>(std::stoul(address.substr(colon + 1), nullptr, 16));
}

template <typename Visit>
void for_each_tcp(Visit&& visit) {
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
        TcpEntry e;
        if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
              timeout >> e.inode))
            continue;
        e.local_port = port_of(local);
        e.remote_port = port_of(remote);
        e.state = static_cast<unsigned>(std::stoul(state, nullptr, 16));
        if (visit(e)) return;
    }
}

std::uint16_t socket_port(int fd, bool peer) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
                 : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return r == 0 ? ntohs(a.sin_port) : 0;
}

bool holds(pid_t pid, const std::string& link) {
    std::error_code ec;
    for (auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code rl;
        if (std::filesystem::read_symlink(entry.path(), rl).string() == link) return true;
    }
    return false;
}

}  // namespace

std::size_t established_on(std::uint16_t port) {
    std::size_t n = 0;
    for_each_tcp([&](const TcpEntry& e) {
        n += e.local_port == port && e.state == 1;
        return false;
    });
    return n;
}

std::optional<pid_t> server_end_owner(int client_fd, const std::vector<pid_t>& pids) {
    const auto client_port = socket_port(client_fd, false);
    const auto server_port = socket_port(client_fd, true);
    std::string inode;
    for_each_tcp([&](const TcpEntry& e) {
        if (e.local_port != server_port || e.remote_port != client_port) return false;
        inode = e.inode;
        return true;
    });
    if (inode.empty() || inode == "0") return std::nullopt;
    for (pid_t pid : pids)
        if (holds(pid, "socket:[" + inode + "]")) return pid;
    return std::nullopt;
}

std::size_t open_fds(pid_t pid) {
    std::error_code ec;
    std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec);
    return ec ? 0 : static_cast<std::size_t>(std::distance(it, std::filesystem::directory_iterator{}));
}

std::size_t total_open_fds(const std::vector<pid_t>& pids) {
    std::size_t sum = 0;
    for (pid_t p : pids)
        sum += open_fds(p);
    return sum;
}

int thread_count(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    return 0;
}

void raise_nofile() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE,
                  &lim);  // best effort: a scenario that needs more says so by failing to connect
    }
}

std::optional<Probe> open_probe(std::uint16_t port, const std::vector<pid_t>& workers, std::uint64_t seed) {
    Probe p;
    p.fd = test::connect_local(port);
    std::uint64_t ignored = 0;
    if (!p.fd.valid() || !ping(p, seed, ignored)) return std::nullopt;
    // The echo proves a worker accepted it, so its fd exists now; /proc is read without a lock, so a
    // connection accepted a moment ago may need a second look.
    std::optional<pid_t> owner;
    test::eventually([&] { return (owner = server_end_owner(p.fd.get(), workers)).has_value(); }, 2s);
    if (!owner) return std::nullopt;
    p.owner = *owner;
    return p;
}

bool ping(const Probe& probe, std::uint64_t seed, std::uint64_t& verified) {
    const auto message = test::random_bytes(4096, seed);
    if (!test::send_all(probe.fd.get(), message, 5s)) return false;
    if (test::recv_exact(probe.fd.get(), message.size(), 5s) != message) return false;
    verified += message.size();
    return true;
}

std::vector<UniqueFd> open_idle(std::uint16_t port, std::size_t n, std::uint64_t& verified) {
    std::vector<UniqueFd> fds;
    fds.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto fd = test::connect_local(port);
        const auto hello = test::random_bytes(16, i);
        if (!fd.valid() || !test::send_all(fd.get(), hello, 5s) ||
            test::recv_exact(fd.get(), hello.size(), 5s) != hello)
            break;
        verified += hello.size();
        fds.push_back(std::move(fd));
    }
    return fds;
}

std::size_t still_echoing(const std::vector<UniqueFd>& fds, std::uint64_t seed, std::uint64_t& verified) {
    std::size_t ok = 0;
    for (std::size_t i = 0; i < fds.size(); ++i) {
        const auto message = test::random_bytes(16, seed + i);
        if (!test::send_all(fds[i].get(), message, 5s)) continue;
        if (test::recv_exact(fds[i].get(), message.size(), 5s) != message) continue;
        verified += message.size();
        ++ok;
    }
    return ok;
}

std::size_t closed_within(const std::vector<int>& fds, Duration timeout) {
    std::vector<pollfd> open;
    for (int fd : fds)
        open.push_back({fd, POLLIN | POLLRDHUP, 0});
    std::size_t closed = 0;
    const auto deadline = Clock::now() + timeout;
    while (!open.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        int r = poll(open.data(), open.size(), static_cast<int>(left));
        if (r < 0 && errno != EINTR) break;
        std::erase_if(open, [&](const pollfd& p) {
            if (p.revents == 0) return false;
            char c;
            ssize_t n = recv(p.fd, &c, 1, MSG_DONTWAIT);
            bool gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
            closed += gone;
            return gone || n > 0;  // bytes nobody asked for: not closed, and no longer watched
        });
    }
    return closed;
}

std::vector<int> raw(const std::vector<UniqueFd>& fds) {
    std::vector<int> out;
    for (const auto& f : fds)
        out.push_back(f.get());
    return out;
}

}  // namespace fault
