// One client connection as an explicit state machine: connect, exchange verified echoes, rest, close.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/unique_fd.hpp"
#include "pattern.hpp"
#include "stats.hpp"
#include "thread_context.hpp"

namespace echoload {

using echo::UniqueFd;

class Connection {
  public:
    enum class State {
        Idle,        // no socket; may be (re)started
        Connecting,  // non-blocking connect() in progress
        Exchanging,  // bytes sent that are not yet echoed, or still to send
        Resting,     // connected with nothing in flight (hold between pings, or no operation admitted)
        Closed,      // failed or finished; never restarted
    };

    explicit Connection(std::uint32_t id) : id_(id) {}

    void start(ThreadContext& ctx);
    void on_events(ThreadContext& ctx, std::uint32_t events);
    void on_tick(ThreadContext& ctx);
    // End of the run: counts a held connection and closes it.
    void finish(ThreadContext& ctx);

    [[nodiscard]] State state() const { return state_; }
    [[nodiscard]] bool busy() const;
    [[nodiscard]] std::uint32_t generation() const { return generation_; }
    [[nodiscard]] static std::uint64_t tag(std::uint32_t id, std::uint32_t generation) {
        return (std::uint64_t{generation} << 32) | id;
    }

  private:
    void connected(ThreadContext& ctx);
    void begin_message(ThreadContext& ctx, Clock::time_point now);
    void message_complete(ThreadContext& ctx);
    void pump(ThreadContext& ctx, bool readable);
    bool receive(ThreadContext& ctx);
    bool send(ThreadContext& ctx);
    void admit_stream(ThreadContext& ctx);
    void settle(ThreadContext& ctx);
    void closed_by_server(ThreadContext& ctx);
    void fail(ThreadContext& ctx, ErrorKind kind, std::string_view what, int err = 0);
    void drop_socket();

    State state_ = State::Idle;
    UniqueFd fd_;
    std::uint32_t id_;
    std::uint32_t generation_ = 0;  // bumped per socket so stale epoll events are recognised and ignored
    Pattern pattern_;
    std::uint64_t tx_off_ = 0;  // stream positions on this socket: sent,
    std::uint64_t rx_off_ = 0;  // received and verified,
    std::uint64_t tx_end_ = 0;  // and admitted for sending (end of the message, or of the stream window)
    Clock::time_point op_start_{};
    Clock::time_point deadline_{};
    Clock::time_point next_ping_{};
    Clock::time_point born_{};  // when this socket connected, for --lifetime
    bool served_ = false;       // at least one echo verified on this socket
    bool settled_ = false;      // hold: counted in ctx.settled
    bool opened_ = false;       // counted in ctx.unproven until settled
    bool hangup_ = false;       // the peer closed or errored: read even when no echo is owed
    bool tx_blocked_ = false;   // the last send hit EAGAIN: wait for EPOLLOUT
};

}  // namespace echoload
