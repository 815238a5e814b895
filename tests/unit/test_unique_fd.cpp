// test_unique_fd.cpp: ownership of file descriptors.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "base/unique_fd.hpp"

using namespace echo;

namespace {
bool is_open(int fd) {
    return fcntl(fd, F_GETFD) != -1;
}
}  // namespace

TEST_CASE("UniqueFd closes on destruction, moves ownership, releases on request") {
    int raw = -1;
    {
        UniqueFd fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
        raw = fd.get();
        REQUIRE(fd.valid());
        UniqueFd moved(std::move(fd));
        CHECK(!fd.valid());
        CHECK(moved.get() == raw);
        CHECK(is_open(raw));
    }
    CHECK(!is_open(raw));

    UniqueFd keep(open("/dev/null", O_RDONLY | O_CLOEXEC));
    int released = keep.release();
    CHECK(!keep.valid());
    CHECK(is_open(released));
    close(released);
}

TEST_CASE("reset keeps errno for the caller's error report") {
    UniqueFd fd(open("/dev/null", O_RDONLY | O_CLOEXEC));
    errno = EADDRINUSE;
    fd.reset();
    CHECK(errno == EADDRINUSE);
}
