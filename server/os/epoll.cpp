// epoll.cpp: epoll_ctl/epoll_wait with errors returned as values.
#include "os/epoll.hpp"

#include <cerrno>

namespace echo {

std::optional<Epoll> Epoll::open() {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return std::nullopt;
    return Epoll(UniqueFd(fd));
}

int Epoll::add(int fd, std::uint32_t events, std::uint64_t token) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(fd_.get(), EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int Epoll::modify(int fd, std::uint32_t events, std::uint64_t token) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(fd_.get(), EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int Epoll::remove(int fd) {
    return epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr) < 0 ? -errno : 0;
}

int Epoll::wait(std::span<epoll_event> events) {
    int n = epoll_wait(fd_.get(), events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    return n;
}

}  // namespace echo
