// memory_return.hpp: hands the heap back to the kernel once a crowd of connections has gone (RUNBOOK.md
// "Reliability"). glibc keeps freed small blocks for reuse and only gives back the top of the heap, so a
// worker that once held 10,000 connections would otherwise keep their memory for the rest of its life.
#pragma once

#include <malloc.h>

#include <algorithm>
#include <cstdint>

namespace echo {

// When to trim: once a crowd of kCrowd or more has gathered, each time the count of open connections has
// halved since the last trim, and a last time when it reaches zero. A crowd leaving costs a handful of trims;
// everyday churn below kCrowd costs none.
class MemoryReturn {
  public:
    static constexpr std::uint32_t kCrowd = 1024;

    void opened(std::uint32_t open) {
        peak_ = std::max(peak_, open);
        crowd_ = crowd_ || peak_ >= kCrowd;
    }

    // After a close, with `open` connections left: is it time to trim?
    [[nodiscard]] bool due_after_close(std::uint32_t open) {
        if (!crowd_ || open > peak_ / 2) return false;
        peak_ = open;
        crowd_ = open > 0;
        return true;
    }

  private:
    std::uint32_t peak_ = 0;  // most connections open since the last trim
    bool crowd_ = false;      // a crowd gathered and has not wholly gone
};

// Gives the heap's free pages back to the kernel; returns whether any went.
inline bool trim_heap() {
#if defined(__SANITIZE_ADDRESS__)
    // ASan's allocator holds the memory and returns it on its own; glibc's heap is empty, and initialising it
    // now would make calls (getrandom) that the worker's seccomp filter forbids.
    return false;
#else
    // malloc_trim(0) also releases free pages inside the heap (madvise MADV_DONTNEED), not only its top: the
    // freed connections lie scattered among live allocations.
    return malloc_trim(0) != 0;
#endif
}

}  // namespace echo
