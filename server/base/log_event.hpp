// log_event.hpp: the events an operator acts on, each with its journal MESSAGE_ID=, and the fields a log
// record may carry (RUNBOOK.md "Journal records").
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace echo {

// One entry per event; the catalog (units/echo-hardened.catalog) explains each id, and the unit test
// "every MESSAGE_ID is in the catalog" keeps the two lists the same. An id never changes once released:
// operators filter on it (journalctl MESSAGE_ID=...).
enum class LogEvent {
    None,              // an ordinary line: no MESSAGE_ID=
    Ready,             // every slot serves: READY=1
    WorkerDied,        // a worker exited or was killed without the master asking it to
    CrashLoop,         // a slot's workers keep dying soon after start: its restarts back off
    HungKilled,        // no heartbeat for --worker-timeout: the master sends SIGKILL
    ForkFailed,        // fork() failed: the slot stays empty for its back-off
    ReloadDone,        // a rolling reload replaced every worker
    ReloadFailed,      // SIGHUP's configuration was rejected: the old one stays
    StopBegun,         // SIGTERM/SIGINT/SIGQUIT: a graceful or fast stop started
    StragglersKilled,  // a worker outlived the stop deadline: SIGKILL
    SeccompKill,       // a worker died of SIGSYS: a system call outside seccomp/policy.txt
    OomKill,           // a worker died of SIGKILL that its memory cgroup counted as an OOM kill (R96)
    UpgradeDone,       // a new binary's master took every connection over and is the main process (R61)
    UpgradeFailed,     // a new binary's master did not start or get ready: the running one keeps serving
};

struct LogEventInfo {
    LogEvent event;
    std::string_view name;        // for docs and tests
    std::string_view message_id;  // 32 lowercase hex digits, as journalctl prints MESSAGE_ID=
};

inline constexpr std::array<LogEventInfo, 13> kLogEvents = {{
    {LogEvent::Ready, "ready", "ccc5806e42144d05b2232dc44768a435"},
    {LogEvent::WorkerDied, "worker died unexpectedly", "9f8f32079a3947cdb006f0110d7b2346"},
    {LogEvent::CrashLoop, "crash loop", "c7298428864c4f8798dded453cdea649"},
    {LogEvent::HungKilled, "hung worker killed", "40fad5ce7c6842b481819c9d56f97f5b"},
    {LogEvent::ForkFailed, "fork failed", "b7108347e78a487381c78488bf6eb6a6"},
    {LogEvent::ReloadDone, "reload done", "e2ac2703aeb9430f941330ae88e445e2"},
    {LogEvent::ReloadFailed, "reload failed", "1dcadad8aaba47d48b0611cc69e24422"},
    {LogEvent::StopBegun, "stop begun", "375af27391134849bbad4760bbe4158f"},
    {LogEvent::StragglersKilled, "stragglers killed", "9eb3675a23464dccafcdb16d7cf487f0"},
    {LogEvent::SeccompKill, "seccomp kill", "daa9eafa13a8416892a563d5f1169870"},
    {LogEvent::OomKill, "OOM kill", "2ad1df7cf435403a80221fd4ea476cf9"},
    {LogEvent::UpgradeDone, "upgrade done", "cfc7fe12f22a49c3af563fb4e9909f18"},
    {LogEvent::UpgradeFailed, "upgrade failed", "4d0510e4af5344f59fc37522dec59831"},
}};

// The MESSAGE_ID= of `event`, empty for LogEvent::None.
constexpr std::string_view message_id(LogEvent event) {
    for (const auto& e : kLogEvents)
        if (e.event == event) return e.message_id;
    return {};
}

// What a call site knows beyond its text: the event, and the worker the record is about with how it ended.
// A worker's own records need none of this: its slot, pid and generation come from its LogContext.
struct LogFields {
    LogEvent event = LogEvent::None;
    std::optional<unsigned> worker_slot = std::nullopt;
    pid_t worker_pid = 0;  // 0: none
    std::optional<unsigned> worker_generation = std::nullopt;
    std::optional<int> exit_status = std::nullopt;  // exited with this status
    std::optional<int> signal = std::nullopt;       // killed by this signal
    // A worker's record about one client connection (R90, docs/PROXY.md "Logs"): the original client's
    // address, as a PROXY header gave it or the socket's own peer; the balancer's; what became of the header.
    // Empty: no such field. They point into the caller's strings, which outlive the call.
    std::string_view client_address = {};
    std::string_view proxy_address = {};
    std::string_view proxy_result = {};
};

// A wait(2) status as EXIT_STATUS= or SIGNAL= (a status of -1, unknown, sets neither).
LogFields& add_exit(LogFields& fields, int status);

}  // namespace echo
