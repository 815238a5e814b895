// reaper.hpp: collecting child exit statuses, kept apart from deciding what to do about them (nginx, tini).
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <string>
#include <vector>

namespace echo {

struct ChildExit {
    pid_t pid = 0;
    int status = 0;  // as waitpid() reports it
};

// waitpid(-1, WNOHANG) until nothing more is ready: SIGCHLD coalesces, so one signal may stand for many
// exits (R11). Returns every exit collected, in order.
std::vector<ChildExit> reap_exited_children();

inline bool killed_by_sigkill(int status) {
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// "exited with status 0", "killed by signal 9 (SIGKILL)", "killed by signal 11 (SIGSEGV), core dumped".
std::string describe_exit(int status);

}  // namespace echo
