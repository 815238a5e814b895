// shared_mapping.hpp: an anonymous MAP_SHARED mapping, made before fork() so the master and its workers share
// it.
#pragma once

#include <cstddef>

#include "base/sys_result.hpp"

namespace echo {

// Memory every process forked after it sees the same way: what one writes the others read. Move-only;
// unmapped when the owner goes (in a worker, process exit unmaps its inherited copy).
class SharedMapping {
  public:
    static SysResult<SharedMapping> create(std::size_t bytes);
    SharedMapping(SharedMapping&& other) noexcept;
    SharedMapping& operator=(SharedMapping&& other) noexcept;
    SharedMapping(const SharedMapping&) = delete;
    SharedMapping& operator=(const SharedMapping&) = delete;
    ~SharedMapping();

    void* data() const { return data_; }
    std::size_t size() const { return size_; }

  private:
    SharedMapping(void* data, std::size_t size) : data_(data), size_(size) {}
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace echo
