// shared_mapping.cpp: mmap(MAP_SHARED | MAP_ANONYMOUS) and its munmap.
#include "os/shared_mapping.hpp"

#include <sys/mman.h>

#include <utility>

namespace echo {

SysResult<SharedMapping> SharedMapping::create(std::size_t bytes) {
    // Zero-filled by the kernel: every counter in it starts at 0 without a write.
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return SysResult<SharedMapping>::from_errno();
    return SharedMapping(p, bytes);
}

SharedMapping::SharedMapping(SharedMapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SharedMapping& SharedMapping::operator=(SharedMapping&& other) noexcept {
    if (this != &other) {
        this->~SharedMapping();
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

SharedMapping::~SharedMapping() {
    // munmap fails only for an invalid range, which this is not.
    if (data_ != nullptr) (void)munmap(data_, size_);
}

}  // namespace echo
