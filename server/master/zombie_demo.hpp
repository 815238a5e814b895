// zombie_demo.hpp: the zombie demonstration (--zombie-mode): which exited workers are kept <defunct>, on
// purpose.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <string>
#include <vector>

#include "base/clock.hpp"

namespace echo {

// Everything the demonstration changes in the master lives here, so the supervisor asks one object instead
// of testing the mode in every handler (RUNBOOK.md "Zombies"). A worker's death is learnt from its channel
// hanging up; its exit status is left unread, so the kernel keeps it <defunct> and it counts against
// RLIMIT_NPROC until SIGUSR2 or a stop reaps it.
class ZombieDemo {
  public:
    ZombieDemo(bool enabled, Duration lifetime) : enabled_(enabled), lifetime_(lifetime) {}

    bool enabled() const { return enabled_; }
    // Is reaping held back now? Never while stopping: the master reaps everything before it exits.
    bool holds_exits(bool stopping) const { return enabled_ && !stopping; }

    void keep(pid_t pid) { pids_.push_back(pid); }
    // When a reaped pid was a kept zombie: forgets it and returns true.
    bool forget(pid_t pid) {
        auto it = std::find(pids_.begin(), pids_.end(), pid);
        if (it == pids_.end()) return false;
        pids_.erase(it);
        return true;
    }
    const std::vector<pid_t>& pids() const { return pids_; }
    std::size_t count() const { return pids_.size(); }

    // A worker that lived out its --zombie-worker-lifetime exited as planned: not a crash loop.
    bool planned_exit(Duration lived) const {
        return enabled_ && lifetime_ > Duration::zero() && lived + milliseconds(100) >= lifetime_;
    }
    // Added to a fork failure's message: the likely cause is the demonstration itself.
    std::string fork_failure_note() const {
        if (pids_.empty()) return {};
        return " (" + std::to_string(pids_.size()) +
               " unreaped zombie(s) count against RLIMIT_NPROC; SIGUSR2 reaps them)";
    }
    // A reload may switch the demonstration on or off; zombies already kept stay kept until reaped.
    void reconfigure(bool enabled, Duration lifetime) {
        enabled_ = enabled;
        lifetime_ = lifetime;
    }

  private:
    bool enabled_;
    Duration lifetime_;
    std::vector<pid_t> pids_;
};

}  // namespace echo
