// idle_list.hpp: items in order of their last activity, least recent first; an intrusive list, O(1) per
// event.
#pragma once

#include <cstddef>

namespace echo {

template <typename T>
class IdleHook;

// The worker's idle timeouts expire from the oldest end and every event that moves bytes moves its
// connection to the newest end, so a timeout check costs nothing per connection that is not due. The list
// does not own its items: each carries an IdleHook<T> member (`Hook`), and must be removed before it is
// destroyed.
template <typename T, IdleHook<T> T::*Hook>
class IdleList {
  public:
    IdleList() = default;
    IdleList(const IdleList&) = delete;
    IdleList& operator=(const IdleList&) = delete;

    bool empty() const { return oldest_ == nullptr; }
    std::size_t size() const { return size_; }
    T* oldest() const { return oldest_; }
    T* newest() const { return newest_; }
    bool contains(const T& item) const { return hook(item).linked_; }

    // Moves `item` to the newest end, adding it if it is not in the list.
    void touch(T& item) {
        if (newest_ == &item) return;
        remove(item);
        auto& h = hook(item);
        h.older_ = newest_;
        h.newer_ = nullptr;
        h.linked_ = true;
        if (newest_ != nullptr) hook(*newest_).newer_ = &item;
        newest_ = &item;
        if (oldest_ == nullptr) oldest_ = &item;
        ++size_;
    }

    // Takes `item` out of the list; nothing happens if it is not in it.
    void remove(T& item) {
        auto& h = hook(item);
        if (!h.linked_) return;
        if (h.older_ != nullptr) hook(*h.older_).newer_ = h.newer_;
        if (h.newer_ != nullptr) hook(*h.newer_).older_ = h.older_;
        if (oldest_ == &item) oldest_ = h.newer_;
        if (newest_ == &item) newest_ = h.older_;
        h = IdleHook<T>{};
        --size_;
    }

    // Oldest to newest. The next item is read before the current one is handed out, so the loop body may
    // remove (and destroy) the current item; it must not remove any other.
    class iterator {
      public:
        explicit iterator(T* at) : at_(at), next_(at != nullptr ? hook(*at).newer_ : nullptr) {}
        T& operator*() const { return *at_; }
        iterator& operator++() {
            at_ = next_;
            next_ = at_ != nullptr ? hook(*at_).newer_ : nullptr;
            return *this;
        }
        bool operator==(const iterator& other) const { return at_ == other.at_; }

      private:
        T* at_;
        T* next_;
    };
    iterator begin() const { return iterator(oldest_); }
    iterator end() const { return iterator(nullptr); }

  private:
    static IdleHook<T>& hook(T& item) { return item.*Hook; }
    static const IdleHook<T>& hook(const T& item) { return item.*Hook; }

    T* oldest_ = nullptr;
    T* newest_ = nullptr;
    std::size_t size_ = 0;
};

// The links an item of an IdleList carries; only the list reads or changes them.
template <typename T>
class IdleHook {
  private:
    template <typename U, IdleHook<U> U::*>
    friend class IdleList;

    T* older_ = nullptr;
    T* newer_ = nullptr;
    bool linked_ = false;
};

}  // namespace echo
