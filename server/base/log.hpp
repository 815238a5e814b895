// log.hpp: spdlog set up for a daemon: one write(2) per line on stderr, syslog priorities for the journal.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "base/log_level.hpp"

namespace echo {

// Installs the default logger named `name` ("master", "worker 3"). When stderr is the journal's stream
// (JOURNAL_STREAM matches fd 2) each line starts with "<N>", the syslog priority journald understands
// (sd-daemon.h); otherwise lines carry a timestamp.
void setup_logging(const std::string& name, LogLevel level);

// Changes the level of the default logger (a reload may change --log-level).
void set_log_level(LogLevel level);

// Renames the default logger, keeping its sink and level: a forked worker says who it is.
void rename_logger(const std::string& name);

// strerror of a positive or negative errno value, for "…: %s" messages.
std::string errno_text(int err);

}  // namespace echo
