// oom_score.cpp: reading and toggling the master's own oom_score_adj around each fork().
#include "os/oom_score.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string>

#include "base/log.hpp"

namespace echo {

namespace {
constexpr int kOomScoreMax = 1000;  // OOM_SCORE_ADJ_MAX
}

OomScore OomScore::open() {
    OomScore s;
    s.fd_ = UniqueFd(::open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC));
    if (!s.fd_.valid()) {
        spdlog::warn(
            "cannot open /proc/self/oom_score_adj: {}; the OOM killer may pick the master before a "
            "worker (docs/MEMORY.md)",
            errno_text(-errno));
        return s;
    }
    char text[16] = {};
    ssize_t n = pread(s.fd_.get(), text, sizeof text - 1, 0);
    int value = 0;
    if (n <= 0 || std::from_chars(text, text + n, value).ec != std::errc{}) {
        spdlog::warn(
            "cannot read /proc/self/oom_score_adj ({}); the OOM killer may pick the master before a "
            "worker (docs/MEMORY.md)",
            n < 0 ? errno_text(-errno) : std::string("no number"));
        s.fd_.reset();
        return s;
    }
    s.master_ = value;
    if (value >= kOomScoreMax) {
        spdlog::warn(
            "the master's oom_score_adj is already {}: its workers cannot be scored above it "
            "(docs/MEMORY.md)",
            value);
        s.fd_.reset();
        return s;
    }
    s.child_ = std::min(value + kChildOomScoreBoost, kOomScoreMax);
    return s;
}

int OomScore::write_value(int value) const {
    if (!fd_.valid()) return -EBADF;
    std::string text = std::to_string(value);
    // The file takes the whole number in one write() and ignores the file offset.
    if (::write(fd_.get(), text.data(), text.size()) < 0) return -errno;
    return 0;
}

OomScore::ForkScope::ForkScope(const OomScore& score) : score_(score) {
    if (!score_.child_) return;
    int r = score_.write_value(*score_.child_);
    raised_ = r == 0;
    // Raising one's own value needs no privilege: a failure here is unexpected, and costs only the ordering.
    if (r < 0) spdlog::warn("cannot raise oom_score_adj for a fork: {}", errno_text(r));
}

OomScore::ForkScope::~ForkScope() {
    if (!raised_) return;
    // Down to the value the master started with, which is at or above the floor of whoever set it: the kernel
    // refuses only lower values (EACCES without CAP_SYS_RESOURCE).
    if (int r = score_.write_value(*score_.master_); r < 0)
        spdlog::error("cannot lower the master's oom_score_adj back to {}: {}; it stays at {}",
                      *score_.master_, errno_text(r), *score_.child_);
}

}  // namespace echo
