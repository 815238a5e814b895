// notifier.cpp: sd_notify from libsystemd.
#include "master/notifier.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>

#include "base/log.hpp"

namespace echo {

Notifier::Notifier() : enabled_(std::getenv("NOTIFY_SOCKET") != nullptr) {
    std::uint64_t usec = 0;
    // unset_environment=0: the variables stay, but only the master (MAINPID) ever talks to systemd.
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
        watchdog_interval_ = std::chrono::duration_cast<Duration>(std::chrono::microseconds(usec / 2));
}

void Notifier::send(const std::string& message) {
    if (held_) return;
    int r = sd_notify(0, message.c_str());
    // A failed notification must not stop the service; systemd's own timeouts will tell the operator.
    if (r < 0)
        spdlog::warn("sd_notify(\"{}\") failed: {}, ignoring", message.substr(0, message.find('\n')),
                     errno_text(r));
}

void Notifier::hand_over_main(pid_t pid) {
    held_ = false;
    // One message, MAINPID= first: systemd 252 reads MAINPID= before READY=1, so the new pid is main when
    // the reload ends.
    send("MAINPID=" + std::to_string(pid) + "\nREADY=1\nSTATUS=" + last_status_);
}

void Notifier::ready() {
    send("READY=1\nSTATUS=" + last_status_);
}

void Notifier::reloading() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1'000'000ULL +
                static_cast<unsigned long long>(ts.tv_nsec) / 1000;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Notifier::stopping(Duration may_take) {
    auto usec = std::chrono::duration_cast<std::chrono::microseconds>(may_take).count();
    send("STOPPING=1\nEXTEND_TIMEOUT_USEC=" + std::to_string(usec));
}

void Notifier::status(const std::string& line) {
    if (line == last_status_) return;
    last_status_ = line;
    send("STATUS=" + line);
}

void Notifier::watchdog() {
    send("WATCHDOG=1");
}

bool Notifier::store(const std::vector<int>& fds, const char* name) {
    std::string message = std::string("FDSTORE=1\nFDNAME=") + name;
    int r = sd_pid_notify_with_fds(0, 0, message.c_str(), fds.data(), static_cast<unsigned>(fds.size()));
    if (r <= 0) spdlog::error("sd_notify(\"FDSTORE=1\") of {} fd(s) failed: {}", fds.size(), errno_text(r));
    return r > 0;
}

void Notifier::remove_stored(const char* name) {
    send(std::string("FDSTOREREMOVE=1\nFDNAME=") + name);
}

}  // namespace echo
