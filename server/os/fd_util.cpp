// fd_util.cpp: closing inherited descriptors with close_range().
#include "os/fd_util.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace echo {

int close_inherited_fds(std::span<const int> keep) {
    std::vector<unsigned> kept = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    for (int fd : keep)
        if (fd >= 0) kept.push_back(static_cast<unsigned>(fd));
    std::sort(kept.begin(), kept.end());
    int first_error = 0;
    auto close_span = [&](unsigned from, unsigned to) {
        if (close_range(from, to, 0) < 0 && first_error == 0) first_error = -errno;
    };
    unsigned from = 0;  // the lowest descriptor not yet dealt with
    for (unsigned fd : kept) {
        if (fd > from) close_span(from, fd - 1);
        from = std::max(from, fd + 1);
    }
    close_span(from, ~0U);
    return first_error;
}

}  // namespace echo
