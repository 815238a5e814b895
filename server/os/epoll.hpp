// epoll.hpp: a thin epoll owner; sources are tagged with a 64-bit token chosen by the loop that owns them.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <optional>
#include <span>

#include "base/unique_fd.hpp"

namespace echo {

class Epoll {
  public:
    static std::optional<Epoll> open();  // std::nullopt with errno set on failure
    int fd() const { return fd_.get(); }
    // Each returns 0 or -errno.
    int add(int fd, std::uint32_t events, std::uint64_t token);
    int modify(int fd, std::uint32_t events, std::uint64_t token);
    int remove(int fd);
    // Blocks until at least one event: the loops keep time with a timerfd, not with epoll's timeout. Returns
    // the number of events, 0 on EINTR, -errno on failure.
    int wait(std::span<epoll_event> events);

  private:
    explicit Epoll(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

}  // namespace echo
