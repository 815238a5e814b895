// proxy_intake.cpp: the worker's side of PROXY protocol headers (R90): the wait, its deadline, counting,
// logs.
#include <algorithm>

#include "base/log.hpp"
#include "config/options.hpp"
#include "worker/worker_loop.hpp"

namespace echo {
namespace {

// A sender's bytes (a UNIX path from the balancer) must not split a log line in two.
std::string shown(const SocketAddress& address) {
    return printable(format_address(address));
}

}  // namespace

bool WorkerLoop::is_proxy_listener(int fd) const {
    const auto& fds = start_.proxy_listen_fds;
    return std::find(fds.begin(), fds.end(), fd) != fds.end();
}

void WorkerLoop::start_header_wait(Connection& c, const SocketAddress& peer, TimePoint now) {
    auto wait = std::make_unique<HeaderWait>(c.fd(), now + settings_.proxy_timeout, peer);
    // --proxy-timeout 0: no deadline of its own; --idle-timeout still closes a connection that sends nothing.
    if (settings_.proxy_timeout > Duration::zero()) awaiting_.touch(*wait);
    c.await_header(std::move(wait));
}

// The header is settled: counted, logged with the original client's address, and the wait ends. A bad one
// closes the connection (the caller, from step.close); nothing of it was echoed.
void WorkerLoop::on_header_step(Connection& c, const HeaderStep& step, TimePoint now) {
    HeaderWait& wait = *c.header_wait();
    awaiting_.remove(wait);
    const ProxyResult result = *step.result;
    count_proxy(result);
    if (result != ProxyResult::Proxy && result != ProxyResult::Local) {
        warn_bad_header(now, result, step.detail, &wait.peer);
        return;
    }
    if (spdlog::should_log(spdlog::level::debug)) {
        const std::string balancer = shown(wait.peer);
        const std::string client = step.header.source ? shown(*step.header.source) : balancer;
        const auto name = proxy_result_name(result);
        LogFields fields{.client_address = client, .proxy_address = balancer, .proxy_result = name};
        if (result == ProxyResult::Proxy)
            log_event(
                spdlog::level::debug, fields,
                fmt::format("connection from {} via {} (PROXY v{})", client, balancer, step.header.version));
        else
            log_event(
                spdlog::level::debug, fields,
                fmt::format("connection from {} (PROXY v{} without a client address: {})", balancer,
                            step.header.version, step.header.version == 2 ? "LOCAL or UNSPEC" : "UNKNOWN"));
    }
    c.end_header_wait();
}

void WorkerLoop::on_stray_header(TimePoint now) {
    count_proxy(ProxyResult::Unexpected);
    warn_bad_header(now, ProxyResult::Unexpected, "a PROXY header on a listener that expects none", nullptr);
}

// Connections awaiting their header in order of accept, so of deadline: the first not due ends the sweep.
void WorkerLoop::expire_headers(TimePoint now) {
    while (!awaiting_.empty() && awaiting_.oldest()->deadline <= now) {
        HeaderWait& wait = *awaiting_.oldest();
        Connection& c = *by_fd_[static_cast<std::size_t>(wait.fd)];
        count_proxy(ProxyResult::Timeout);
        warn_bad_header(now, ProxyResult::Timeout, "no complete header within --proxy-timeout", &wait.peer);
        close_connection(c);  // takes the wait off the list
    }
}

void WorkerLoop::count_proxy(ProxyResult result) {
    auto& count = proxy_counts_[static_cast<std::size_t>(result)];
    ++count;
    if (start_.board != nullptr && start_.load_entry)
        start_.board->publish_proxy(*start_.load_entry, result, count);
}

void WorkerLoop::warn_bad_header(TimePoint now, ProxyResult result, std::string_view detail,
                                 const SocketAddress* peer) {
    auto swallowed = proxy_warning_.admit(now);
    if (!swallowed) return;
    const std::string balancer = peer != nullptr ? shown(*peer) : std::string();
    std::string text = fmt::format("closed a connection{}{}: bad PROXY header ({}: {})", peer ? " from " : "",
                                   balancer, proxy_result_name(result), detail);
    if (*swallowed > 0) text += fmt::format(" ({} more since the last report)", *swallowed);
    log_event(spdlog::level::warn, {.proxy_address = balancer, .proxy_result = proxy_result_name(result)},
              text);
}

}  // namespace echo
