// timer_fd.cpp: timerfd arming in absolute monotonic time.
#include "os/timer_fd.hpp"

#include <sys/timerfd.h>

#include <cerrno>
#include <cstdint>

namespace echo {

SysResult<TimerFd> TimerFd::open() {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return SysResult<TimerFd>::from_errno();
    return TimerFd(UniqueFd(fd));
}

int TimerFd::arm(std::optional<TimePoint> when) {
    itimerspec spec{};
    if (when) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when->time_since_epoch()).count();
        // An all-zero it_value would disarm: a deadline at the epoch (or before it) means "now", so 1 ns.
        if (ns <= 0) ns = 1;
        spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    }
    if (timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) < 0) return -errno;
    return 0;
}

void TimerFd::acknowledge() {
    std::uint64_t expirations;
    // EAGAIN (already consumed, or disarmed before we read) is the only expected error and means the same.
    ssize_t n = ::read(fd_.get(), &expirations, sizeof expirations);
    (void)n;
}

}  // namespace echo
