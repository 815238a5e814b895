// metrics_process.cpp: the metrics process's set-up after fork() and its loop around libmicrohttpd.
#include "metrics/metrics_process.hpp"

#include <microhttpd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "metrics/metrics_page.hpp"
#include "metrics/ready_page.hpp"
#include "os/epoll.hpp"
#include "os/event_tag.hpp"
#include "os/fd_util.hpp"
#include "os/seccomp_filter.hpp"
#include "os/signals.hpp"

namespace echo {
namespace {

// The limits that bound what a hostile client can cost (RUNBOOK.md "Metrics"): a scraper needs one
// connection, a handful of headers and a second; anything more is closed, not served.
constexpr unsigned kConnectionLimit = 32;             // beyond it MHD accepts and closes at once
constexpr unsigned kConnectionTimeoutSeconds = 5;     // an unterminated request is dropped after this
constexpr std::size_t kConnectionMemory = 16 * 1024;  // request line and headers; past it: 431/413, closed
constexpr MHD_UNSIGNED_LONG_LONG kMaxWaitMs = 500;
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

struct DaemonDeleter {
    void operator()(MHD_Daemon* d) const { MHD_stop_daemon(d); }
};
using Daemon = std::unique_ptr<MHD_Daemon, DaemonDeleter>;

struct Context {
    const LoadBoard* board;
    pid_t self;
};

MHD_Result respond(MHD_Connection* connection, unsigned status, const std::string& body, const char* type) {
    MHD_Response* response =
        MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (response == nullptr) return MHD_NO;  // out of memory: MHD closes the connection
    (void)MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) (void)MHD_add_response_header(response, "Allow", "GET, HEAD");
    MHD_Result r = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);  // MHD keeps its own reference until the response is sent
    return r;
}

// Answers on the first call, before any body is read: a request with a body gets its answer and the
// connection is closed rather than its upload read (nothing here takes one).
MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method, const char*,
                      const char*, std::size_t*, void**) {
    const auto* ctx = static_cast<const Context*>(cls);
    if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0)
        return respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n", "text/plain");
    if (std::strcmp(url, "/ready") == 0) {
        // One relaxed load of the board, no /proc read: a health check every second costs nearly nothing.
        ReadyAnswer answer = ready_answer(ctx->board->readiness());
        return respond(connection, answer.status, std::string(answer.body), "text/plain");
    }
    if (std::strcmp(url, "/metrics") != 0)
        return respond(connection, MHD_HTTP_NOT_FOUND, "the metrics are at /metrics, readiness at /ready\n",
                       "text/plain");
    std::string page = render_metrics_page(ctx->board->snapshot(), ctx->self, read_process_stats);
    return respond(connection, MHD_HTTP_OK, page, kContentType);
}

// MHD's own complaints (a malformed request, the connection limit) are the clients' doing: debug only, so a
// hostile client cannot fill the journal.
void on_mhd_log(void*, const char* format, va_list args) {
    char line[256];
    (void)std::vsnprintf(line, sizeof line, format, args);
    auto n = std::strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    spdlog::debug("libmicrohttpd: {}", line);
}

Daemon start_daemon(int listen_fd, Context& ctx) {
    // External polling (no thread of its own) with its internal epoll: one fd for this loop to watch.
    // The logger first, so that no message about the later options goes to stderr its own way.
    return Daemon(MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &on_request, &ctx,
                                   MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_log, nullptr, MHD_OPTION_LISTEN_SOCKET,
                                   listen_fd, MHD_OPTION_CONNECTION_LIMIT, kConnectionLimit,
                                   MHD_OPTION_CONNECTION_TIMEOUT, kConnectionTimeoutSeconds,
                                   MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory,
                                   MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END));
}

int serve(MHD_Daemon* daemon, Epoll& epoll, int channel) {
    const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == nullptr) return spdlog::error("libmicrohttpd has no epoll fd"), 1;
    int r = epoll.add(info->epoll_fd, EPOLLIN, {Source::Listener});
    // No events requested: epoll reports the hang-up when the master's end closes (it died).
    if (r == 0) r = epoll.add(channel, 0, {Source::Channel});
    if (r < 0) return spdlog::error("epoll_ctl() failed in the metrics process: {}", errno_text(r)), 1;
    std::array<epoll_event, 4> events;
    for (;;) {
        // At most kMaxWait, whatever MHD says: with no connection timing out it answers "no timeout", yet
        // after refusing connections at its limit it puts the listening socket back only in MHD_run().
        MHD_UNSIGNED_LONG_LONG wait_ms = kMaxWaitMs;
        if (MHD_get_timeout(daemon, &wait_ms) != MHD_YES || wait_ms > kMaxWaitMs) wait_ms = kMaxWaitMs;
        const int timeout = static_cast<int>(wait_ms);
        int n = epoll.wait(events, timeout);
        if (n < 0) return spdlog::error("epoll_wait() failed in the metrics process: {}", errno_text(n)), 1;
        for (int i = 0; i < n; ++i)
            if (tag_of(events[static_cast<std::size_t>(i)]).source == Source::Channel) {
                spdlog::debug("the master is gone; exiting");
                return 0;
            }
        (void)MHD_run(daemon);  // MHD_NO only for a daemon started in another mode
    }
}

}  // namespace

int run_metrics(MetricsStart start) {
    // It serves no signal: the master stops it with SIGKILL, and a stop or ^C aimed at the whole process
    // group must not end it before the master (which would restart it). They stay blocked while the
    // dispositions go back to default, so none can kill it in between, and are ignored from then on.
    reset_signals_in_child(
        make_sigset({SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU}));
    for (int s : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGPIPE})
        (void)signal(s, SIG_IGN);  // fails only for an invalid signal number or SIGKILL/SIGSTOP
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != start.master_pid) return 1;
    // "echo-metrics" in ps and /proc/PID/comm: an operator (and a test) tells it from the workers.
    (void)prctl(PR_SET_NAME, "echo-metrics");  // cannot fail for a valid pointer
    enter_metrics_logging();

    // The journal socket libsystemd opened in the master stays, as in a worker (RUNBOOK.md "Journal
    // records"): closed, its number would soon be an HTTP client's, and a record would be sent to that
    // client.
    std::array<int, 3> keep = {start.listen_fd, start.channel.get(), journal_socket_fd()};
    if (int r = close_inherited_fds(keep); r < 0)
        return spdlog::error("close_range() failed in the metrics process: {}", errno_text(r)), 1;
    if (int r = start.board->make_read_only(); r < 0)
        return spdlog::error("mprotect() of the board failed: {}", errno_text(r)), 1;
    auto epoll = Epoll::open();
    if (!epoll.ok()) return spdlog::error("epoll_create1() failed: {}", errno_text(epoll.error())), 1;
    Context ctx{start.board, getpid()};
    Daemon daemon = start_daemon(start.listen_fd, ctx);
    if (!daemon) return spdlog::error("libmicrohttpd could not start on the metrics socket"), 1;
    if (!install_metrics_filter(start.seccomp)) return kWorkerExitFatal;
    spdlog::debug("serving metrics");
    return serve(daemon.get(), epoll.value(), start.channel.get());
}

}  // namespace echo
