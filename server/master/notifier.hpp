// notifier.hpp: the master's messages to the service manager (sd_notify), a no-op without NOTIFY_SOCKET.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/clock.hpp"

namespace echo {

class Notifier {
  public:
    Notifier();
    void ready();
    void reloading();  // RELOADING=1 with MONOTONIC_USEC, as systemd's Type=notify-reload expects
    void stopping(Duration may_take);  // STOPPING=1, and EXTEND_TIMEOUT_USEC so a long drain is not cut short
    void status(const std::string& line);
    void watchdog();
    // FDSTORE=1 with FDNAME=`name`: systemd keeps a copy of each fd for the next start (R62). At most 253 at
    // once (SCM_MAX_FD). Returns false when the message could not be sent.
    bool store(const std::vector<int>& fds, const char* name);
    // FDSTOREREMOVE=1: systemd drops every fd stored under `name`.
    void remove_stored(const char* name);
    bool enabled() const { return enabled_; }
    // A new master of an upgrade says nothing until it is the main process: systemd (NotifyAccess=main)
    // would refuse and log every message (R61). STATUS= is still recorded, for the READY=1 after.
    void hold(bool held) { held_ = held; }
    // The old master's last word in an upgrade: `pid` is the main process now, and the service is ready.
    void hand_over_main(pid_t pid);
    // Half of WATCHDOG_USEC when systemd asks for keep-alives (sd_watchdog_enabled), else std::nullopt.
    std::optional<Duration> watchdog_interval() const { return watchdog_interval_; }

  private:
    void send(const std::string& message);
    std::optional<Duration> watchdog_interval_;
    std::string last_status_;
    bool enabled_ = false;  // NOTIFY_SOCKET is set: a service manager listens
    bool held_ = false;
};

}  // namespace echo
