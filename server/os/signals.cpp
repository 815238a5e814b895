// signals.cpp: signal masks, signalfd, and the child-side signal reset.
#include "os/signals.hpp"

#include <string.h>
#include <sys/signalfd.h>

#include <cerrno>

namespace echo {

sigset_t make_sigset(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : signals)
        sigaddset(&set, s);
    return set;
}

ScopedSignalBlock::ScopedSignalBlock(const sigset_t& set) {
    // sigprocmask only fails for an invalid `how`, which this is not.
    sigprocmask(SIG_BLOCK, &set, &previous_);
}

ScopedSignalBlock::~ScopedSignalBlock() {
    sigprocmask(SIG_SETMASK, &previous_, nullptr);
}

SysResult<SignalFd> SignalFd::open(const sigset_t& set) {
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return SysResult<SignalFd>::from_errno();
    return SignalFd(UniqueFd(fd));
}

int SignalFd::read_one() {
    signalfd_siginfo info;
    for (;;) {
        ssize_t n = ::read(fd_.get(), &info, sizeof info);
        if (n == static_cast<ssize_t>(sizeof info)) return static_cast<int>(info.ssi_signo);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0;
        return n < 0 ? -errno : -EIO;  // a short read from a signalfd would be a kernel bug
    }
}

void reset_signals_in_child(const sigset_t& mask) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int s = 1; s < NSIG; ++s) {
        // SIGKILL, SIGSTOP and the glibc-reserved real-time signals refuse a new action: EINVAL, ignored.
        sigaction(s, &dfl, nullptr);
    }
    sigprocmask(SIG_SETMASK, &mask, nullptr);
}

std::string signal_name(int signo) {
    const char* abbrev = sigabbrev_np(signo);
    if (abbrev != nullptr) return std::string("SIG") + abbrev;
    return "signal " + std::to_string(signo);
}

}  // namespace echo
