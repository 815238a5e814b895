// The epoll loop of one load thread: connect admission, event dispatch, timeouts, and the stop/drain
// sequence.
#include "load_thread.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "connection.hpp"

namespace echoload {

namespace {

// Connections in flight per thread: opening 10,000 at once would overflow the server's SYN and accept queues
// and turn the hold test into a measurement of SYN retransmission timers. A handshake the kernel completed is
// not yet accepted: only the first echo proves that, so a connection counts until then. Counting handshakes
// alone let a starved server's accept queue overflow; the kernel then dropped the final ACKs, pruned the
// half-open requests and answered the first ping with a reset.
constexpr unsigned kConnectBurst = 256;
// Timeouts and hold pings are checked at this granularity, so a 10,000-connection scan costs little.
constexpr auto kTick = std::chrono::milliseconds(20);
constexpr int kMaxEvents = 1024;

Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

void open_window(ThreadContext& ctx, Clock::time_point from) {
    ctx.measure_begin = from + seconds(ctx.opt.warmup);
    ctx.measure_end =
        ctx.opt.duration > 0 ? ctx.measure_begin + seconds(ctx.opt.duration) : Clock::time_point::max();
}

void announce_settled(const ThreadContext& ctx, RunShared& shared) {
    shared.established += ctx.stats.established;
    if (shared.settled_threads.fetch_add(1) + 1 != shared.threads) return;
    // The bench waits for this line before sampling the server's memory with every connection open.
    const double took = std::chrono::duration<double>(Clock::now() - shared.start).count();
    std::fprintf(stderr,
                 "echo-load: hold: %llu of %u connections established in %.2f s, holding for %.1f s\n",
                 static_cast<unsigned long long>(shared.established.load()), ctx.opt.connections, took,
                 ctx.opt.warmup + ctx.opt.duration);
}

int wait_ms(Clock::time_point now, Clock::time_point until) {
    if (until <= now) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    return static_cast<int>(std::min<long long>(ms, 1000));
}

}  // namespace

Stats run_load_thread(const Options& opt, const ThreadShare& share, RunShared& shared) {
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    ThreadContext ctx(opt, epoll.get(), share.quota, std::uint64_t{share.index} << 40);
    if (!epoll.valid()) {
        ctx.stats.add_error(ErrorKind::Io, std::string("epoll_create1(): ") + std::strerror(errno));
        ++shared.finished_threads;
        return ctx.stats;
    }
    std::vector<Connection> conns;
    conns.reserve(share.connections);
    for (std::uint32_t i = 0; i < share.connections; ++i) {
        conns.emplace_back(i);
        ctx.to_connect.push_back(i);
    }

    const auto begin = Clock::now();
    const bool hold = opt.mode == Mode::Hold;
    bool window_open = !hold;  // hold measures from the moment every connection is in place
    if (window_open) open_window(ctx, begin);
    Clock::time_point stopped_at = Clock::time_point::max();
    auto next_tick = begin;
    std::vector<epoll_event> events(kMaxEvents);

    for (;;) {
        ctx.now = Clock::now();
        if (!window_open && ctx.settled == conns.size()) {
            window_open = true;
            open_window(ctx, ctx.now);
            ctx.stats.establish_seconds = std::chrono::duration<double>(ctx.now - begin).count();
            announce_settled(ctx, shared);
        }
        if (!ctx.stopping &&
            (ctx.now >= ctx.measure_end || shared.stop_requested.load(std::memory_order_relaxed))) {
            ctx.stopping = true;
            stopped_at = ctx.now;
        }
        while (!ctx.stopping && ctx.connecting < kConnectBurst && ctx.unproven < kConnectBurst &&
               !ctx.to_connect.empty()) {
            const auto id = ctx.to_connect.front();
            ctx.to_connect.pop_front();
            conns[id].start(ctx);
        }
        if (ctx.now >= next_tick) {
            bool alive = false, busy = false;
            for (auto& c : conns) {
                c.on_tick(ctx);
                alive = alive || c.state() != Connection::State::Closed;
                busy = busy || c.busy();
            }
            const bool nothing_to_do = !alive || (ctx.quota_spent() && !busy);
            if (!ctx.stopping && nothing_to_do) {
                ctx.stopping = true;
                stopped_at = ctx.last_done > ctx.measure_begin ? ctx.last_done : ctx.now;
            }
            if (ctx.stopping && !busy) break;
            next_tick = ctx.now + kTick;
        }
        const auto wake = ctx.stopping ? next_tick : std::min(next_tick, ctx.measure_end);
        const int n = ::epoll_wait(ctx.epoll_fd, events.data(), kMaxEvents, wait_ms(Clock::now(), wake));
        if (n < 0 && errno != EINTR) {
            ctx.stats.add_error(ErrorKind::Io, std::string("epoll_wait(): ") + std::strerror(errno));
            break;
        }
        ctx.now = Clock::now();
        for (int i = 0; i < n; ++i) {
            const auto id = static_cast<std::uint32_t>(events[i].data.u64 & 0xffffffffU);
            const auto generation = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
            if (conns[id].generation() == generation) conns[id].on_events(ctx, events[i].events);
        }
    }

    for (auto& c : conns)
        c.finish(ctx);
    if (!window_open) announce_settled(ctx, shared);
    if (ctx.measure_begin != Clock::time_point::max()) {
        const auto end = std::min({stopped_at, ctx.measure_end, Clock::now()});
        ctx.stats.elapsed = std::max(0.0, std::chrono::duration<double>(end - ctx.measure_begin).count());
    }
    ++shared.finished_threads;
    return ctx.stats;
}

}  // namespace echoload
