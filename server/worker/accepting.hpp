// accepting.hpp: registering the listening sockets with the worker's epoll, all of them or none.
#pragma once

#include <cstddef>
#include <span>

namespace echo {

struct RegisterFailure {
    int error = 0;  // -errno of the add that failed; 0 when every add succeeded
    int fd = -1;    // the fd it failed on
};

// Adds each of `fds` with `add(fd)` (0 or -errno). If one fails, removes the ones already added with
// `remove(fd)`, in reverse order, so the caller's "accepting or not" stays true to what epoll holds: a
// half-registered set would make the next attempt fail with EEXIST on the ones left behind. A failed remove
// is not reported: the fd was just added, so only an EBADF or ENOENT could make it fail, and either means it
// is not registered anyway. A function of its two calls, so the rollback can be tested without an epoll.
template <typename Add, typename Remove>
RegisterFailure add_all_or_none(std::span<const int> fds, Add&& add, Remove&& remove) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (int r = add(fds[i]); r < 0) {
            RegisterFailure failure{r, fds[i]};
            while (i-- > 0)
                (void)remove(fds[i]);
            return failure;
        }
    }
    return {};
}

}  // namespace echo
