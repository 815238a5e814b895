// rotation.hpp: whether the master is in a load balancer's rotation, and the leave a SIGTERM begins with
// (R91).
#pragma once

#include <signal.h>

#include <optional>

#include "base/clock.hpp"
#include "master/supervisor_types.hpp"
#include "worker/figures.hpp"

namespace echo {

// A balancer learns that a host is going away only from its health check, `inter` x `fall` after the host
// starts failing it. So a SIGTERM first makes the metrics process answer /ready with 503 and keeps every
// worker accepting for --leave-delay; only then does the supervisor get the SIGTERM and begin today's
// graceful stop (docs/FLEET.md "Leaving the rotation"). Pure, with the time passed in, and outside the
// supervisor's table like MetricsChildPolicy: while leaving the supervisor is simply still running (it
// replaces a dead worker, reloads on SIGHUP), and what it decides never depends on the leave. With a delay of
// 0 nothing is held and the stop is today's.
class Rotation {
  public:
    enum class Verdict {
        Pass,            // hand the signal to the supervisor now
        Hold,            // a SIGTERM that begins the leave: the supervisor gets it at deadline()
        AlreadyLeaving,  // a SIGTERM while leaving: logged, nothing else
    };

    explicit Rotation(Duration leave_delay) : delay_(leave_delay) {}

    // A SIGHUP's new --leave-delay; a leave already begun keeps its deadline.
    void set_delay(Duration leave_delay) { delay_ = leave_delay; }
    Duration delay() const { return delay_; }

    // The master announced READY=1: from now on it is in the rotation, unless stopping.
    void announced_ready() { announced_ = true; }

    // Each signal the master reads, before the supervisor sees it. Only a SIGTERM to a server in the rotation
    // (it announced READY=1, and no stop has begun) is held. A SIGINT or SIGQUIT while leaving ends the leave
    // early: the operator at the terminal wants the stop now, and the supervisor takes it as usual.
    Verdict on_signal(int signo, MasterState state, TimePoint now) {
        if (leave_until_) {
            if (signo == SIGTERM) return Verdict::AlreadyLeaving;
            if (signo == SIGINT || signo == SIGQUIT) leave_until_.reset();
            return Verdict::Pass;
        }
        bool in_rotation = announced_ && (state == MasterState::Running || state == MasterState::Reloading);
        if (signo != SIGTERM || delay_ <= Duration::zero() || !in_rotation) return Verdict::Pass;
        leave_until_ = now + delay_;
        return Verdict::Hold;
    }

    // When the held SIGTERM is due, for the master's timer; std::nullopt: not leaving.
    std::optional<TimePoint> deadline() const { return leave_until_; }
    bool leaving() const { return leave_until_.has_value(); }

    // Whether the leave is over at `now`; if so it ends here, and the caller hands the supervisor SIGTERM.
    bool take_due(TimePoint now) {
        if (!leave_until_ || now < *leave_until_) return false;
        leave_until_.reset();
        return true;
    }

    // What /ready says (docs/FLEET.md): in the rotation only while serving after READY=1 and not leaving.
    Readiness readiness(MasterState state) const {
        if (state == MasterState::Draining || state == MasterState::Stopping) return Readiness::Stopping;
        if (leave_until_) return Readiness::Leaving;
        return announced_ ? Readiness::Serving : Readiness::Starting;
    }

  private:
    Duration delay_;
    bool announced_ = false;
    std::optional<TimePoint> leave_until_;
};

}  // namespace echo
