// test_signals.cpp: masks restore, the signalfd reads blocked signals, names print.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include "os/signals.hpp"

using namespace echo;

namespace {
bool blocked(int signo) {
    sigset_t current;
    sigprocmask(SIG_BLOCK, nullptr, &current);
    return sigismember(&current, signo) == 1;
}
}  // namespace

TEST_CASE("ScopedSignalBlock blocks for its lifetime and restores the previous mask") {
    REQUIRE(!blocked(SIGUSR2));
    {
        ScopedSignalBlock block(make_sigset({SIGUSR2}));
        CHECK(blocked(SIGUSR2));
        auto fd = SignalFd::open(make_sigset({SIGUSR2}));
        REQUIRE(fd.ok());
        CHECK(fd->read_one() == 0);  // nothing pending
        kill(getpid(), SIGUSR2);
        kill(getpid(), SIGUSR2);  // coalesces with the first
        CHECK(fd->read_one() == SIGUSR2);
        CHECK(fd->read_one() == 0);
    }
    CHECK(!blocked(SIGUSR2));
}

TEST_CASE("signal names") {
    CHECK(signal_name(SIGTERM) == "SIGTERM");
    CHECK(signal_name(SIGKILL) == "SIGKILL");
    CHECK(signal_name(0).find("signal") == 0);
}
