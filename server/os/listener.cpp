// listener.cpp: socket activation and binding.
#include "os/listener.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <systemd/sd-daemon.h>

#include <cerrno>

#include "base/log.hpp"

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

Listeners from_systemd(int count) {
    Listeners out;
    out.from_systemd = true;
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + count; ++fd) {
        UniqueFd owned(fd);
        int r = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1);
        if (r <= 0) {
            out.error = "passed fd " + std::to_string(fd) +
                        " is not a listening stream socket (check ListenStream= in the .socket unit)";
            return out;
        }
        // systemd passes blocking sockets; a blocking accept() in an epoll loop would stall the worker that
        // loses the race for a connection another worker took.
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            out.error = "fcntl() failed on passed fd " + std::to_string(fd) + ": " + errno_text(errno);
            return out;
        }
        out.sockets.push_back({std::move(owned), bound_name(fd)});
    }
    return out;
}

Listeners bind_all(const Config& config) {
    Listeners out;
    for (const auto& addr : config.listen) {
        auto name = format_address(addr);
        UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd.valid()) {
            out.error = "socket() failed for " + name + ": " + errno_text(errno);
            return out;
        }
        int one = 1;
        // SO_REUSEADDR lets a restarted master bind at once while old connections sit in TIME_WAIT.
        if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
            out.error = "setsockopt(SO_REUSEADDR) failed for " + name + ": " + errno_text(errno);
            return out;
        }
        // [::]:7007 means IPv6 only here; IPv4 is listed on its own, as systemd's BindIPv6Only=ipv6-only
        // does.
        if (addr.family() == AF_INET6 &&
            setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
            out.error = "setsockopt(IPV6_V6ONLY) failed for " + name + ": " + errno_text(errno);
            return out;
        }
        if (bind(fd.get(), addr.get(), addr.length) < 0) {
            out.error = "cannot bind " + name + ": " + errno_text(errno);
            return out;
        }
        if (listen(fd.get(), kBacklog) < 0) {
            out.error = "listen() failed on " + name + ": " + errno_text(errno);
            return out;
        }
        auto real_name = bound_name(fd.get());
        out.sockets.push_back({std::move(fd), real_name});
    }
    return out;
}

}  // namespace

Listeners open_listeners(const Config& config) {
    int passed = sd_listen_fds(1);
    if (passed < 0) {
        Listeners out;
        out.error = "sd_listen_fds() failed: " + errno_text(passed);
        return out;
    }
    if (passed > 0) return from_systemd(passed);
    return bind_all(config);
}

std::string describe(const std::vector<Listener>& listeners) {
    std::string text;
    for (const auto& l : listeners)
        text += (text.empty() ? "" : ", ") + l.name;
    return text;
}

}  // namespace echo
