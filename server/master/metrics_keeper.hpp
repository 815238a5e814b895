// metrics_keeper.hpp: the master's side of its metrics process: forks it, collects its exit, stops it.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "base/clock.hpp"
#include "base/unique_fd.hpp"
#include "master/metrics_child.hpp"
#include "os/epoll.hpp"
#include "os/oom_score.hpp"
#include "os/reaper.hpp"

namespace echo {

// The metrics process's whole life, as main() binds it (its listener, the board, the seccomp mode), given
// its end of the channel, which it keeps open until it exits: a hang-up there means it is gone.
using MetricsBody = std::function<int(UniqueFd channel)>;

// I/O only; when to start one is MetricsChildPolicy's. The supervisor never sees this process: the loop
// hands it the exits that are its own before the supervisor accounts for the rest.
class MetricsKeeper {
  public:
    // An empty body: metrics are off, and every call does nothing.
    MetricsKeeper(MetricsBody body, Epoll& epoll, const OomScore* oom = nullptr)
        : body_(std::move(body)), policy_(bool(body_)), epoll_(epoll), oom_(oom) {}

    // Collects an exit it is waiting for, and starts one when it is due.
    void tick(TimePoint now);
    std::optional<TimePoint> next_deadline() const;
    // Takes its own exit, if one of `exits` is, out of the list.
    void take_exit(std::vector<ChildExit>& exits, TimePoint now);
    // Its channel hung up: it has exited. Collected by its pid, since in zombie mode SIGCHLD reaps nothing.
    void on_hangup(TimePoint now);
    // The master is exiting: SIGKILL (it holds nothing worth a drain, and a SIGSTOPped one would ignore
    // SIGTERM) and collect it.
    void stop();

  private:
    void collect(TimePoint now);
    void exited(int status, TimePoint now);

    MetricsBody body_;
    MetricsChildPolicy policy_;
    Epoll& epoll_;
    const OomScore* oom_;
    UniqueFd channel_;
    bool hung_up_ = false;  // its channel closed; its exit status is not collected yet
    std::optional<TimePoint> collect_at_;
};

}  // namespace echo
