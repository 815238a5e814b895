// log.cpp: the stderr sink and logger set-up.
#include "base/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace echo {
namespace {

bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    unsigned long long dev = 0, ino = 0;
    if (sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) < 0) return false;
    return st.st_dev == dev && st.st_ino == ino;
}

int syslog_priority(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace:
        case spdlog::level::debug:
            return 7;  // LOG_DEBUG
        case spdlog::level::info:
            return 6;  // LOG_INFO
        case spdlog::level::warn:
            return 4;  // LOG_WARNING
        case spdlog::level::err:
            return 3;  // LOG_ERR
        case spdlog::level::critical:
            return 2;  // LOG_CRIT
        default:
            return 6;
    }
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

}  // namespace

void setup_logging(const std::string& name, LogLevel level) {
    bool journal = stderr_is_journal();
    auto sink = std::make_shared<StderrSink>(journal);
    // The journal stamps time and the main PID itself; the pid in the line tells master from workers.
    sink->set_pattern(journal ? "%n[%P]: %v" : "%Y-%m-%dT%H:%M:%S.%e %n[%P] %l: %v");
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(to_spdlog(level));
    spdlog::set_default_logger(logger);
}

void set_log_level(LogLevel level) {
    spdlog::default_logger()->set_level(to_spdlog(level));
}

void rename_logger(const std::string& name) {
    auto old = spdlog::default_logger();
    auto logger = old->clone(name);
    spdlog::set_default_logger(logger);
}

std::string errno_text(int err) {
    if (err < 0) err = -err;
    return strerrordesc_np(err) ? strerrordesc_np(err) : "errno " + std::to_string(err);
}

}  // namespace echo
