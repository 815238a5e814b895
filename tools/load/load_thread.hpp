// One thread of load: its own epoll loop over its share of the connections, run until the bounds are met.
#pragma once

#include <atomic>
#include <cstdint>

#include "options.hpp"
#include "stats.hpp"
#include "thread_context.hpp"

namespace echoload {

// What the threads of one run share: the "all connections established" notice, and the stop request.
struct RunShared {
    Clock::time_point start = Clock::now();
    unsigned threads = 1;
    std::atomic<unsigned> settled_threads{0};
    std::atomic<std::uint64_t> established{0};
    std::atomic<bool> stop_requested{false};  // SIGINT/SIGTERM: end the run early, with a summary
    std::atomic<unsigned> finished_threads{0};
};

struct ThreadShare {
    unsigned index = 0;
    unsigned connections = 0;
    std::uint64_t quota = UINT64_MAX;  // operations this thread may start
};

[[nodiscard]] Stats run_load_thread(const Options& opt, const ThreadShare& share, RunShared& shared);

}  // namespace echoload
