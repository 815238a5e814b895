// log.hpp: spdlog set up for a daemon: native journal records under systemd, one write(2) per line elsewhere.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

#include "base/journal_fields.hpp"
#include "base/log_event.hpp"
#include "base/log_level.hpp"

namespace echo {

// Installs the master's default logger. When stderr is the journal's stream (JOURNAL_STREAM matches fd 2) and
// the journal's native socket is there, records go to it with fields (RUNBOOK.md "Journal records"); when
// only the stream is there, each stderr line starts with "<N>", the syslog priority journald understands
// (sd-daemon.h); otherwise lines carry a timestamp.
void setup_logging(LogLevel level);

// Changes the level of the default logger (a reload may change --log-level).
void set_log_level(LogLevel level);

// Right after fork(): the logger says "worker N", and journal records carry the worker's slot, pid and
// generation.
void enter_worker_logging(unsigned slot, unsigned generation);

// Right after fork(), in the metrics process: the logger says "metrics", and so do its journal records.
void enter_metrics_logging();

// Logs `text` with the event's MESSAGE_ID= and the fields of the worker it is about (in the journal; on
// stderr, the line is the same as spdlog::log's).
void log_event(spdlog::level::level_enum level, const LogFields& fields, std::string_view text);

// The journal socket this process inherited from the master, which a worker must keep open when it closes the
// master's descriptors; -1 when there is none.
int journal_socket_fd();

// strerror of a positive or negative errno value, for "…: %s" messages.
std::string errno_text(int err);

}  // namespace echo
