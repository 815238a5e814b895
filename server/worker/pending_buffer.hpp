// pending_buffer.hpp: the bytes read from one client but not yet echoed, capped, allocated only while needed.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

namespace echo {

// An idle connection owns no storage: the memory cost of a held connection stays at its bookkeeping
// (RUNBOOK.md "Architecture").
// Storage appears when a write comes up short and goes when the backlog has been written out.
class PendingBuffer {
  public:
    explicit PendingBuffer(std::size_t capacity) : capacity_(capacity) {}

    std::size_t size() const { return end_ - begin_; }
    bool empty() const { return begin_ == end_; }
    std::size_t capacity() const { return capacity_; }
    std::size_t space() const { return capacity_ - size(); }
    bool allocated() const { return storage_ != nullptr; }

    std::span<const char> data() const { return {storage_.get() + begin_, size()}; }

    // Free room at the tail for a read(); moves the live bytes to the front first so the whole space() is
    // contiguous. Call commit() with what the read produced.
    std::span<char> free_tail() {
        ensure_storage();
        if (begin_ > 0) {
            std::memmove(storage_.get(), storage_.get() + begin_, size());
            end_ -= begin_;
            begin_ = 0;
        }
        return {storage_.get() + end_, capacity_ - end_};
    }
    void commit(std::size_t n) { end_ += n; }

    // Precondition: bytes.size() <= space().
    void append(std::span<const char> bytes) {
        auto tail = free_tail();
        std::memcpy(tail.data(), bytes.data(), bytes.size());
        commit(bytes.size());
    }

    void consume(std::size_t n) {
        begin_ += n;
        if (begin_ == end_) release();
    }

    void release() {
        storage_.reset();
        begin_ = end_ = 0;
    }

  private:
    void ensure_storage() {
        if (!storage_) storage_ = std::make_unique_for_overwrite<char[]>(capacity_);
    }

    std::unique_ptr<char[]> storage_;
    std::size_t capacity_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

}  // namespace echo
