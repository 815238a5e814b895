// notifier.hpp: the master's messages to the service manager (sd_notify), a no-op without NOTIFY_SOCKET.
#pragma once

#include <optional>
#include <string>

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
    // Half of WATCHDOG_USEC when systemd asks for keep-alives (sd_watchdog_enabled), else std::nullopt.
    std::optional<Duration> watchdog_interval() const { return watchdog_interval_; }

  private:
    void send(const std::string& message);
    std::optional<Duration> watchdog_interval_;
    std::string last_status_;
};

}  // namespace echo
