// metrics_keeper.cpp: forking the metrics process, collecting its exit, stopping it.
#include "master/metrics_keeper.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>

#include "base/log.hpp"
#include "os/event_tag.hpp"
#include "os/spawn.hpp"

namespace echo {
namespace {

// After the hang-up the process is still inside exit(); its status is looked for again this soon.
constexpr Duration kCollectRetry = milliseconds(20);

}  // namespace

void MetricsKeeper::tick(TimePoint now) {
    if (collect_at_ && now >= *collect_at_) collect(now);
    if (!policy_.due(now)) return;
    auto child = spawn_child(body_, oom_);
    if (!child.ok()) {
        Duration delay = policy_.fork_failed(now);
        spdlog::error("fork() failed while starting the metrics process: {}; retrying in {:.1f}s",
                      errno_text(child.error()), to_seconds(delay));
        return;
    }
    // No events requested: epoll reports the hang-up when its end closes, that is, when it has exited.
    if (int r = epoll_.add(child->channel.get(), 0, {Source::Metrics}); r < 0)
        spdlog::warn(
            "epoll_ctl() failed for the metrics process's channel: {}; its exit is noticed by SIGCHLD "
            "only",
            errno_text(r));
    channel_ = std::move(child->channel);
    hung_up_ = false;
    policy_.started(child->pid, now);
    spdlog::info("started the metrics process (pid {})", child->pid);
}

std::optional<TimePoint> MetricsKeeper::next_deadline() const {
    if (collect_at_) return collect_at_;
    return policy_.next_deadline();
}

void MetricsKeeper::take_exit(std::vector<ChildExit>& exits, TimePoint now) {
    if (!policy_.pid()) return;
    auto it = std::find_if(exits.begin(), exits.end(), [&](auto& e) { return e.pid == *policy_.pid(); });
    if (it == exits.end()) return;
    int status = it->status;
    exits.erase(it);
    exited(status, now);
}

void MetricsKeeper::on_hangup(TimePoint now) {
    if (channel_.valid()) (void)epoll_.remove(channel_.get());  // registered, so it cannot fail
    channel_.reset();
    hung_up_ = true;
    collect(now);
}

void MetricsKeeper::collect(TimePoint now) {
    collect_at_.reset();
    if (!policy_.pid() || !hung_up_) return;
    int status = 0;
    pid_t r = waitpid(*policy_.pid(), &status, WNOHANG);
    if (r == *policy_.pid()) return exited(status, now);
    // 0: not yet a zombie. ECHILD: reaped already by a waitpid(-1), whose exit take_exit() was given.
    if (r == 0) collect_at_ = now + kCollectRetry;
}

void MetricsKeeper::exited(int status, TimePoint now) {
    pid_t pid = *policy_.pid();
    if (channel_.valid()) (void)epoll_.remove(channel_.get());
    channel_.reset();
    hung_up_ = false;
    collect_at_.reset();
    Duration delay = policy_.exited(now);
    spdlog::warn("the metrics process (pid {}) {} unexpectedly; restarting it in {:.1f}s", pid,
                 describe_exit(status), to_seconds(delay));
}

void MetricsKeeper::stop() {
    policy_.stop();
    if (!policy_.pid()) return;
    pid_t pid = *policy_.pid();
    (void)kill(pid, SIGKILL);  // ESRCH: it is a zombie already; collected below all the same
    int status = 0;
    // SIGKILL cannot be caught or blocked, so this wait is short. EINTR is retried; ECHILD: already reaped.
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    channel_.reset();
    spdlog::info("stopped the metrics process (pid {})", pid);
}

}  // namespace echo
