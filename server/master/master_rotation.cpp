// master_rotation.cpp: the master's side of leaving a balancer's rotation before a stop (R91, docs/FLEET.md).
#include <signal.h>

#include "base/log.hpp"
#include "master/master_loop.hpp"

namespace echo {

// A SIGTERM to a server in a balancer's rotation first takes it out (docs/FLEET.md "Leaving the rotation");
// the supervisor gets it when the leave is over, from on_timer().
void MasterLoop::on_signal(int signo, TimePoint now) {
    switch (rotation_.on_signal(signo, supervisor_.state(), now)) {
        case Rotation::Verdict::Pass:
            return execute(supervisor_.on_signal(signo, now), now);
        case Rotation::Verdict::AlreadyLeaving:
            spdlog::info("SIGTERM: already leaving the rotation, the graceful stop begins in {:.1f}s",
                         to_seconds(*rotation_.deadline() - now));
            return;
        case Rotation::Verdict::Hold:
            // Not yet the stop's record (LogEvent::StopBegun): the supervisor logs that one when it begins.
            spdlog::info(
                "SIGTERM: leaving the rotation (/ready answers 503), still accepting for {:.1f}s "
                "before the graceful stop",
                to_seconds(rotation_.delay()));
            // systemd's stop timeout covers the leave and the drain that follows it (begin_stop extends it
            // again when the drain starts).
            notifier_.stopping(rotation_.delay() + config_.drain_timeout + seconds(3));
            publish_status(now, true);
            return;
    }
}

// The leave is over: the supervisor gets the SIGTERM that began it.
void MasterLoop::check_leave_due(TimePoint now) {
    if (!rotation_.take_due(now)) return;
    spdlog::info("left the rotation; beginning the graceful stop");
    execute(supervisor_.on_signal(SIGTERM, now), now);
}

}  // namespace echo
