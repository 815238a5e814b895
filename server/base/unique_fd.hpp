// unique_fd.hpp: a move-only owner of a file descriptor, after Android libbase's unique_fd.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <utility>

namespace echo {

class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        reset(other.release());
        return *this;
    }
    ~UniqueFd() { reset(); }

    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    bool operator!() const = delete;  // `if (!fd)` reads as "fd == 0"; say valid() instead

    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

    // Keeps errno so a caller can reset() on an error path and still report the original error. close() is
    // never retried: on Linux the fd is released even when close() fails with EINTR.
    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) {
            int saved = errno;
            ::close(fd_);
            errno = saved;
        }
        fd_ = fd;
    }

  private:
    int fd_ = -1;
};

}  // namespace echo
