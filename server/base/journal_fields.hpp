// journal_fields.hpp: the fields of one native journal record, built from a log line without any I/O.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>

#include "base/log_event.hpp"

namespace echo {

// Who this process is, set at start (the master) and after fork() (a worker, the metrics process): every
// record it sends says so.
struct LogContext {
    enum class Role { Master, Worker, Metrics };
    Role role = Role::Master;
    pid_t pid = 0;
    unsigned slot = 0;        // a worker's
    unsigned generation = 0;  // a worker's: the configuration generation it was started with
};

std::string_view role_name(LogContext::Role role);

// The syslog priority (sd-daemon.h's "<N>", the journal's PRIORITY=) of a spdlog level.
int syslog_priority(spdlog::level::level_enum level);

// The record as "KEY=value" strings for sd_journal_sendv(): MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, ECHO_ROLE,
// the WORKER_* fields of the worker it is about (the process itself, for a worker's own records),
// EXIT_STATUS= or SIGNAL= (with SIGNAL_NAME=) and MESSAGE_ID= where they apply. MESSAGE= carries no pid
// (journald records _PID= itself); a worker's starts "worker N: ", so a record read alone says who spoke.
std::vector<std::string> journal_fields(const LogContext& context, const LogFields& fields, int priority,
                                        std::string_view text);

}  // namespace echo
