// signals.hpp: RAII for signal masks and signalfd, and the child-side reset of inherited dispositions.
#pragma once

#include <signal.h>

#include <initializer_list>
#include <string>

#include "base/sys_result.hpp"
#include "base/unique_fd.hpp"

namespace echo {

sigset_t make_sigset(std::initializer_list<int> signals);

// Blocks a set of signals for the life of the object and restores the previous mask after. The master blocks
// every signal it handles before its first fork() so none can arrive between fork and the child's own setup
// (docs/ARCHITECTURE.md "Signals across fork").
class ScopedSignalBlock {
  public:
    explicit ScopedSignalBlock(const sigset_t& set);
    ScopedSignalBlock(const ScopedSignalBlock&) = delete;
    ScopedSignalBlock& operator=(const ScopedSignalBlock&) = delete;
    ~ScopedSignalBlock();

  private:
    sigset_t previous_{};
};

// A non-blocking, close-on-exec signalfd for a set of (already blocked) signals.
class SignalFd {
  public:
    static SysResult<SignalFd> open(const sigset_t& set);
    int fd() const { return fd_.get(); }
    // The next pending signal, or 0 when none is pending (EAGAIN). Returns -errno on other failures.
    int read_one();

  private:
    explicit SignalFd(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// In a freshly forked child: every disposition back to SIG_DFL (what the master ignored, such as SIGPIPE,
// would otherwise stay ignored) and the mask set to `mask` in one step, never passing through an empty mask,
// so a signal sent in between cannot kill the child with its default action before it is ready to read it.
void reset_signals_in_child(const sigset_t& mask);

// "SIGTERM" for 15, "signal 77" for anything without a name.
std::string signal_name(int signo);

}  // namespace echo
