// oom_score.hpp: the master's OOM score below its workers', so the OOM killer picks a worker (R96).
#pragma once

#include <optional>

#include "base/unique_fd.hpp"

namespace echo {

// How far above the master a child's oom_score_adj goes: in a memory cgroup, +500 counts as half the limit of
// extra resident memory, far more than the master will ever hold against a worker (docs/MEMORY.md).
inline constexpr int kChildOomScoreBoost = 500;

// The master's /proc/self/oom_score_adj, opened read-write before its seccomp filter (which allows only
// read-only opens). A process may raise its own value without privilege and lower it again down to the floor
// a privileged writer set (systemd's OOMScoreAdjust=), and a child inherits the value at fork(): so the
// master raises its own value just for the fork() of each child and lowers it right after (docs/MEMORY.md
// "Why the master writes its own value").
class OomScore {
  public:
    // Opens and reads the master's value; on failure logs once why the workers will not be preferred.
    static OomScore open();
    OomScore() = default;

    std::optional<int> master_value() const { return master_; }
    std::optional<int> child_value() const { return child_; }

    // Raised for the life of the guard; lowered back when it ends, fork() or not. A child forked inside
    // inherits the raised value (and the fd, which it closes with the master's other descriptors). With
    // nothing to give (no /proc, or already at the maximum) it does nothing.
    class ForkScope {
      public:
        explicit ForkScope(const OomScore& score);
        ~ForkScope();
        void forget() { raised_ = false; }  // in the child: the value stays, and is not the master's to lower
        ForkScope(const ForkScope&) = delete;
        ForkScope& operator=(const ForkScope&) = delete;

      private:
        const OomScore& score_;
        bool raised_ = false;
    };

  private:
    int write_value(int value) const;  // 0 or -errno
    UniqueFd fd_;
    std::optional<int> master_;
    std::optional<int> child_;  // unset: nothing higher to give the children (or no /proc)
};

}  // namespace echo
