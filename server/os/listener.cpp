// listener.cpp: socket activation and binding.
#include "os/listener.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "base/log.hpp"
#include "config/address.hpp"

namespace echo {
namespace {

// Larger than the kernel default of 4096 is clamped by net.core.somaxconn; a burst of connects beyond
// --max-connections waits here instead of being refused (R5).
constexpr int kBacklog = 4096;

std::string bound_name(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "fd " + std::to_string(fd);
    return format_address(reinterpret_cast<sockaddr*>(&ss), len);
}

// Logs a failed call as one critical line, "<what> <object>: <reason>", and returns -errno. errno is read
// first: the message is built after it, so no allocation can overwrite it.
int fail_errno(const char* what, const std::string& object) {
    int err = errno;
    spdlog::critical("{} {}: {}", what, object, errno_text(err));
    return -err;
}

constexpr const char* kMetricsName = "metrics";  // FileDescriptorName= of echo-hardened-metrics.socket

int take_from_systemd(int count, char** names, Listeners& out) {
    out.from_systemd = true;
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + count; ++fd) {
        UniqueFd owned(fd);
        const char* name = names != nullptr ? names[fd - SD_LISTEN_FDS_START] : nullptr;
        const bool metrics = name != nullptr && std::string_view(name) == kMetricsName;
        auto fd_name = std::to_string(fd);
        if (name != nullptr && std::string_view(name) == kStoredConnectionName) {
            // A connection, not a listener: anything else under this name is not ours to serve (closed).
            if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 0) <= 0) {
                spdlog::warn("passed fd {} named \"{}\" is not a connected stream socket; closing it", fd,
                             kStoredConnectionName);
                continue;
            }
            int flags = fcntl(fd, F_GETFL);
            if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
                fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                spdlog::warn("fcntl() failed on stored connection fd {}: {}; closing it", fd,
                             errno_text(errno));
                continue;
            }
            out.stored.push_back(std::move(owned));
            continue;
        }
        if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
            spdlog::critical(
                "passed fd {} is not a listening stream socket (check ListenStream= in the .socket unit)",
                fd);
            return -ENOTSOCK;
        }
        // systemd passes blocking sockets; a blocking accept() in an epoll loop would stall the worker that
        // loses the race for a connection another worker took.
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
            return fail_errno("fcntl() failed on passed fd", fd_name);
        if (metrics && out.metrics)
            return spdlog::critical("systemd passed two sockets named \"{}\"; expected one", kMetricsName),
                   -EINVAL;
        if (metrics)
            out.metrics = Listener{std::move(owned), bound_name(fd)};
        else
            out.sockets.push_back(
                {std::move(owned), bound_name(fd), name != nullptr && is_proxy_socket_name(name)});
    }
    if (out.sockets.empty())
        return spdlog::critical("systemd passed only the metrics socket; the echo socket is missing"),
               -EINVAL;
    return 0;
}

int bind_one(const SocketAddress& addr, std::vector<Listener>& out) {
    auto name = format_address(addr);
    UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return fail_errno("socket() failed for", name);
    int one = 1;
    // SO_REUSEADDR lets a restarted master bind at once while old connections sit in TIME_WAIT.
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        return fail_errno("setsockopt(SO_REUSEADDR) failed for", name);
    // [::]:7007 means IPv6 only here; IPv4 is listed on its own, as systemd's BindIPv6Only=ipv6-only does.
    if (addr.family() == AF_INET6 && setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        return fail_errno("setsockopt(IPV6_V6ONLY) failed for", name);
    if (bind(fd.get(), addr.get(), addr.length) < 0) return fail_errno("cannot bind", name);
    if (listen(fd.get(), kBacklog) < 0) return fail_errno("listen() failed on", name);
    auto real_name = bound_name(fd.get());
    out.push_back({std::move(fd), real_name});
    return 0;
}

}  // namespace

bool is_proxy_socket_name(std::string_view name) {
    return name == "proxy" || name.ends_with("-proxy");
}

SysResult<Listeners> open_listeners(const std::vector<SocketAddress>& addresses,
                                    const std::vector<SocketAddress>& proxy_addresses,
                                    const std::optional<SocketAddress>& metrics_address,
                                    bool proxy_protocol) {
    Listeners out;
    char** names = nullptr;
    int passed = sd_listen_fds_with_names(1, &names);
    if (passed < 0) {
        spdlog::critical("sd_listen_fds_with_names() failed: {}", errno_text(passed));
        return SysResult<Listeners>::failure(passed);
    }
    int r = 0;
    if (passed > 0) r = take_from_systemd(passed, names, out);
    if (names != nullptr) {
        for (int i = 0; i < passed; ++i)
            free(names[i]);
        free(names);
    }
    if (r < 0) return SysResult<Listeners>::failure(r);
    if (passed == 0) {
        for (const auto& addr : addresses)
            if (int b = bind_one(addr, out.sockets); b < 0) return SysResult<Listeners>::failure(b);
        for (const auto& addr : proxy_addresses) {
            if (int b = bind_one(addr, out.sockets); b < 0) return SysResult<Listeners>::failure(b);
            out.sockets.back().proxy = true;
        }
    }
    if (proxy_protocol)
        for (auto& l : out.sockets)
            l.proxy = true;
    if (metrics_address && !out.metrics) {
        std::vector<Listener> one;
        if (int b = bind_one(*metrics_address, one); b < 0) return SysResult<Listeners>::failure(b);
        out.metrics = std::move(one.front());
    }
    return out;
}

std::string describe(const std::vector<Listener>& listeners) {
    std::string text;
    for (const auto& l : listeners)
        text += (text.empty() ? "" : ", ") + l.name;
    return text;
}

}  // namespace echo
