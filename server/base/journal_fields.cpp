// journal_fields.cpp: a log line's native journal fields.
#include "base/journal_fields.hpp"

#include <string.h>
#include <sys/wait.h>

#include <fmt/format.h>

namespace echo {

LogFields& add_exit(LogFields& fields, int status) {
    if (status < 0) return fields;  // unknown: the zombie demonstration saw the channel close, not the status
    if (WIFEXITED(status)) fields.exit_status = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) fields.signal = WTERMSIG(status);
    return fields;
}

std::string_view role_name(LogContext::Role role) {
    switch (role) {
        case LogContext::Role::Master:
            return "master";
        case LogContext::Role::Worker:
            return "worker";
        case LogContext::Role::Metrics:
            return "metrics";
    }
    return "master";
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

std::vector<std::string> journal_fields(const LogContext& context, const LogFields& fields, int priority,
                                        std::string_view text) {
    bool worker = context.role == LogContext::Role::Worker;
    std::vector<std::string> out;
    if (worker)
        out.push_back(fmt::format("MESSAGE=worker {}: {}", context.slot, text));
    else if (context.role == LogContext::Role::Metrics)
        out.push_back(fmt::format("MESSAGE=metrics: {}", text));
    else
        out.push_back(fmt::format("MESSAGE={}", text));
    out.push_back(fmt::format("PRIORITY={}", priority));
    out.push_back("SYSLOG_IDENTIFIER=echo-hardened");
    out.push_back(fmt::format("ECHO_ROLE={}", role_name(context.role)));
    // A worker speaks of itself; the master names the worker a record is about, if any.
    auto slot = worker ? std::optional(context.slot) : fields.worker_slot;
    pid_t pid = worker ? context.pid : fields.worker_pid;
    auto generation = worker ? std::optional(context.generation) : fields.worker_generation;
    if (slot) out.push_back(fmt::format("WORKER_SLOT={}", *slot));
    if (pid > 0) out.push_back(fmt::format("WORKER_PID={}", pid));
    if (generation) out.push_back(fmt::format("WORKER_GENERATION={}", *generation));
    if (fields.exit_status) out.push_back(fmt::format("EXIT_STATUS={}", *fields.exit_status));
    if (fields.signal) {
        out.push_back(fmt::format("SIGNAL={}", *fields.signal));
        if (const char* abbrev = sigabbrev_np(*fields.signal))
            out.push_back(fmt::format("SIGNAL_NAME=SIG{}", abbrev));
    }
    if (!fields.client_address.empty())
        out.push_back(fmt::format("CLIENT_ADDRESS={}", fields.client_address));
    if (!fields.proxy_address.empty()) out.push_back(fmt::format("PROXY_ADDRESS={}", fields.proxy_address));
    if (!fields.proxy_result.empty()) out.push_back(fmt::format("PROXY_RESULT={}", fields.proxy_result));
    if (auto id = message_id(fields.event); !id.empty()) out.push_back(fmt::format("MESSAGE_ID={}", id));
    return out;
}

}  // namespace echo
