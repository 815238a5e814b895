// epoll.hpp: a thin epoll owner; sources are tagged with an EventTag chosen by the loop that owns them.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <span>

#include "base/sys_result.hpp"
#include "base/unique_fd.hpp"
#include "os/event_tag.hpp"

namespace echo {

class Epoll {
  public:
    static SysResult<Epoll> open();
    // Each returns 0 or -errno.
    int add(int fd, std::uint32_t events, EventTag tag);
    int modify(int fd, std::uint32_t events, EventTag tag);
    int remove(int fd);
    // Blocks until at least one event: the master's and the workers' loops keep time with a timerfd, not with
    // epoll's timeout; the metrics process passes libmicrohttpd's (`timeout_ms`, -1: none). Returns the
    // number of events, 0 on EINTR or timeout, -errno on failure.
    int wait(std::span<epoll_event> events, int timeout_ms = -1);

  private:
    explicit Epoll(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

}  // namespace echo
