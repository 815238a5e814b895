// event_tag.hpp: what an epoll event is about, a source kind and an id, packed into epoll's 64-bit data.
#pragma once

#include <sys/epoll.h>

#include <cstdint>

namespace echo {

// Both event loops tag their sources with this one type (after redis ae's table of file events): the master
// watches a signalfd, a timerfd and one channel per worker; a worker watches the same three kinds (its one
// channel goes to the master) plus listeners and clients; the master also watches its metrics process's
// channel. `id` is the fd for the kinds that have many.
enum class Source : std::uint32_t { Signal = 1, Timer, Channel, Listener, Client, Metrics };

struct EventTag {
    Source source = Source::Signal;
    std::uint32_t id = 0;

    static EventTag of(int fd, Source source) { return {source, static_cast<std::uint32_t>(fd)}; }
    static EventTag unpack(std::uint64_t data) {
        return {static_cast<Source>(data >> 32), static_cast<std::uint32_t>(data)};
    }
    std::uint64_t pack() const { return (std::uint64_t(source) << 32) | id; }
    int fd() const { return static_cast<int>(id); }
};

inline EventTag tag_of(const epoll_event& event) {
    return EventTag::unpack(event.data.u64);
}

}  // namespace echo
