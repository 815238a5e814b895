// memory_return.hpp: hands the heap back to the kernel once a crowd of connections has gone (RUNBOOK.md
// "Reliability"). glibc keeps freed small blocks for reuse and only gives back the top of the heap, so a
// worker that once held 10,000 connections would otherwise keep their memory for the rest of its life.
#pragma once

#include <malloc.h>

#include <algorithm>
#include <cstdint>

namespace echo {

class MemoryReturn {
  public:
    void opened(std::uint32_t open) { peak_ = std::max(peak_, open); }

    // After a close: trims when at least half of a crowd of kCrowd or more has gone since the last trim, so
    // a crowd leaving costs a handful of trims, and everyday churn below kCrowd costs none.
    // Returns whether memory went back to the kernel.
    bool closed(std::uint32_t open) {
        if (peak_ < kCrowd || open > peak_ / 2) return false;
        peak_ = open;
#if defined(__SANITIZE_ADDRESS__)
        // ASan's allocator holds the memory and returns it on its own; glibc's heap is empty, and
        // initialising it now would make calls (getrandom) that the worker's seccomp filter forbids.
        return false;
#else
        // malloc_trim(0) also releases free pages inside the heap (madvise MADV_DONTNEED), not only its top:
        // the freed connections lie scattered among live allocations.
        return malloc_trim(0) != 0;
#endif
    }

  private:
    static constexpr std::uint32_t kCrowd = 1024;
    std::uint32_t peak_ = 0;
};

}  // namespace echo
