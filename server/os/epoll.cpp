// epoll.cpp: epoll_ctl/epoll_wait with errors returned as values.
#include "os/epoll.hpp"

#include <cerrno>

namespace echo {
namespace {

int control(int epfd, int op, int fd, std::uint32_t events, EventTag tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag.pack();
    return epoll_ctl(epfd, op, fd, &ev) < 0 ? -errno : 0;
}

}  // namespace

SysResult<Epoll> Epoll::open() {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return SysResult<Epoll>::from_errno();
    return Epoll(UniqueFd(fd));
}

int Epoll::add(int fd, std::uint32_t events, EventTag tag) {
    return control(fd_.get(), EPOLL_CTL_ADD, fd, events, tag);
}

int Epoll::modify(int fd, std::uint32_t events, EventTag tag) {
    return control(fd_.get(), EPOLL_CTL_MOD, fd, events, tag);
}

int Epoll::remove(int fd) {
    return epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr) < 0 ? -errno : 0;
}

int Epoll::wait(std::span<epoll_event> events, int timeout_ms) {
    int n = epoll_wait(fd_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    return n;
}

}  // namespace echo
