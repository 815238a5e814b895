// log.cpp: the sinks (native journal records, or one stderr write per line) and the logger set-up.
#include "base/log.hpp"

#include <spdlog/details/os.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>

#include "base/journal_sink.hpp"

namespace echo {
namespace {

LogContext g_context;
const LogFields* g_pending = nullptr;  // set by log_event() for the one line it logs
std::shared_ptr<spdlog::sinks::sink>
    g_stream_sink;  // the stderr sink, for a worker that must not use the journal

bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    unsigned long long dev = 0, ino = 0;
    if (sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) < 0) return false;
    return st.st_dev == dev && st.st_ino == ino;
}

// Master and workers share stderr: one write(2) per line keeps lines whole (pipes guarantee it up to
// PIPE_BUF); stdio buffering, as spdlog's stderr sinks use, could split a line across two writes.
// Processes are single-threaded, so no mutex.
class StderrSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
  public:
    explicit StderrSink(bool journal) : journal_(journal) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t line;
        if (journal_) fmt::format_to(std::back_inserter(line), "<{}>", syslog_priority(msg.level));
        formatter_->format(msg, line);
        const char* p = line.data();
        std::size_t left = line.size();
        while (left > 0) {
            ssize_t n = ::write(STDERR_FILENO, p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;  // nowhere left to report a logging failure: drop the line
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    void flush_() override {}

  private:
    bool journal_;
};

spdlog::level::level_enum to_spdlog(LogLevel level) {
    switch (level) {
        case LogLevel::Trace:
            return spdlog::level::trace;
        case LogLevel::Debug:
            return spdlog::level::debug;
        case LogLevel::Info:
            return spdlog::level::info;
        case LogLevel::Warning:
            return spdlog::level::warn;
        case LogLevel::Error:
            return spdlog::level::err;
        case LogLevel::Critical:
            return spdlog::level::critical;
        case LogLevel::Off:
            return spdlog::level::off;
    }
    return spdlog::level::info;
}

void install(const std::string& name, std::shared_ptr<spdlog::sinks::sink> sink,
             spdlog::level::level_enum at) {
    auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
    logger->set_level(at);
    spdlog::set_default_logger(logger);
}

}  // namespace

void setup_logging(LogLevel level) {
    g_context = {LogContext::Role::Master, getpid()};
    // spdlog asks gettid() once, at a thread's first line, and caches it; the first time stamp makes glibc
    // read /etc/localtime (openat). Both now, before any filter and any fork: otherwise the first line after
    // the filters load makes those calls, and a worker whose first line is a warning long after start
    // (--log-level warning) dies of SIGSYS instead of logging it.
    (void)spdlog::details::os::thread_id();
    tzset();
    bool journal = stderr_is_journal();
    auto stream = std::make_shared<StderrSink>(journal);
    // The journal stamps time and the main PID itself; the pid in the line tells master from workers. This is
    // also the line a native record falls back to.
    stream->set_pattern(journal ? "%n[%P]: %v" : "%Y-%m-%dT%H:%M:%S.%e %n[%P] %l: %v");
    g_stream_sink = stream;
    std::shared_ptr<spdlog::sinks::sink> sink = stream;
    // The stream alone carries no fields; the native socket is missing in a chroot or a container without
    // journald, and sd_journal_sendv() would then drop records without an error.
    if (journal && journal_socket_present())
        sink = std::make_shared<JournalSink>(g_context, g_pending, stream);
    install("master", std::move(sink), to_spdlog(level));
}

void set_log_level(LogLevel level) {
    spdlog::default_logger()->set_level(to_spdlog(level));
}

namespace {

// A forked child's logger: its own name and journal context, the master's sinks.
void enter_child_logging(LogContext context, const std::string& name) {
    g_context = context;
    auto old = spdlog::default_logger();
    if (journal_fd_unknown() && g_stream_sink) return install(name, g_stream_sink, old->level());
    spdlog::set_default_logger(old->clone(name));
}

}  // namespace

void enter_worker_logging(unsigned slot, unsigned generation) {
    enter_child_logging({LogContext::Role::Worker, getpid(), slot, generation},
                        fmt::format("worker {}", slot));
}

void enter_metrics_logging() {
    enter_child_logging({LogContext::Role::Metrics, getpid()}, "metrics");
}

void log_event(spdlog::level::level_enum level, const LogFields& fields, std::string_view text) {
    g_pending = &fields;
    spdlog::log(level, "{}", text);
    g_pending = nullptr;
}

int journal_socket_fd() {
    return opened_journal_fd();
}

std::string errno_text(int err) {
    if (err < 0) err = -err;
    return strerrordesc_np(err) ? strerrordesc_np(err) : "errno " + std::to_string(err);
}

}  // namespace echo
