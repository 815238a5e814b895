// sys_result.hpp: the one error convention of the thin system-call owners: a value, or a negative errno.
#pragma once

#include <cassert>
#include <cerrno>
#include <optional>
#include <utility>

namespace echo {

// After systemd's convention (docs/CODING_STYLE.md): an error is a negative errno value, returned, never
// left in the global errno for the caller to read later. Calls with nothing to return give a plain `int`:
// 0 or -errno. Calls that create something give a SysResult<T>: the object, or -errno. Neither logs: the
// caller knows what the call was for and says so once (docs/ARCHITECTURE.md "Errors").
template <typename T>
class [[nodiscard]] SysResult {
  public:
    SysResult(T value) : value_(std::move(value)) {}  // NOLINT: implicit, so `return Epoll(fd);` reads well
    static SysResult failure(int negative_errno) {
        assert(negative_errno < 0);
        return SysResult(negative_errno);
    }
    // -errno of the call that failed, right after it failed: never a stale errno.
    static SysResult from_errno() { return SysResult(errno > 0 ? -errno : -EIO); }

    bool ok() const { return value_.has_value(); }
    int error() const { return error_; }  // negative errno; 0 when ok()
    T& value() & { return *value_; }
    T&& value() && { return std::move(*value_); }
    T* operator->() { return &*value_; }

  private:
    explicit SysResult(int negative_errno) : error_(negative_errno) {}
    std::optional<T> value_;
    int error_ = 0;
};

}  // namespace echo
