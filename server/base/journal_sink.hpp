// journal_sink.hpp: the spdlog sink that sends each line to the journal as a native record, with fields.
#pragma once

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>

#include <memory>

#include "base/journal_fields.hpp"

namespace echo {

// Why not spdlog's systemd_sink: it sends MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER= and the CODE_* fields only
// (spdlog/sinks/systemd_sink.h builds a fixed sd_journal_send() call), so neither MESSAGE_ID= nor a worker's
// fields can reach the journal through it; and it throws on a failed send where this one falls back.
class JournalSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
  public:
    // `fallback` writes the line when the record cannot be sent, so nothing is lost.
    JournalSink(const LogContext& context, const LogFields* const& pending,
                std::shared_ptr<spdlog::sinks::sink> fallback)
        : context_(context), pending_(pending), fallback_(std::move(fallback)) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override {}

  private:
    const LogContext& context_;
    const LogFields* const& pending_;  // the fields log_event() attaches to the line being logged, or null
    std::shared_ptr<spdlog::sinks::sink> fallback_;
};

// Whether the journal's native socket exists (sd_journal_sendv() silently drops records when it does not).
bool journal_socket_present();

// The descriptor number of libsystemd's journal socket, if this process opened it (-1 otherwise). libsystemd
// keeps it in a private static and shares it with children; a worker, which closes every descriptor it does
// not know, must know this one (RUNBOOK.md "Journal records").
int opened_journal_fd();
// The master's first send opened a descriptor, but not the one foreseen: its number is unknown, so a worker
// (which closes what it does not know, and would leave libsystemd sending on a reused number) logs to stderr.
bool journal_fd_unknown();

}  // namespace echo
