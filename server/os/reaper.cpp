// reaper.cpp: the waitpid loop.
#include "os/reaper.hpp"

#include <sys/wait.h>

#include <cerrno>

#include "base/log.hpp"
#include "os/signals.hpp"

namespace echo {

std::vector<ChildExit> reap_exited_children() {
    std::vector<ChildExit> exits;
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            exits.push_back({pid, status});
            continue;
        }
        if (pid < 0 && errno == EINTR) continue;
        // 0: children remain but none has exited; ECHILD: no children at all. Either way, done.
        if (pid < 0 && errno != ECHILD) spdlog::error("waitpid() failed: {}", errno_text(errno));
        return exits;
    }
}

std::string describe_exit(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        return "killed by signal " + std::to_string(sig) + " (" + signal_name(sig) + ")" +
               (WCOREDUMP(status) ? ", core dumped" : "");
    }
    return "changed state (status " + std::to_string(status) + ")";
}

}  // namespace echo
