// spawn.cpp: fork() and the child's hand-over to run_worker().
#include "os/spawn.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <exception>

#include "worker/worker.hpp"

namespace echo {

SpawnedWorker spawn_worker(unsigned slot, const Config& config, const std::vector<int>& listen_fds) {
    SpawnedWorker out;
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0) {
        out.error = errno;
        return out;
    }
    UniqueFd master_end(pair[0]);
    UniqueFd worker_end(pair[1]);
    pid_t master_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        out.error = errno;
        return out;
    }
    if (pid == 0) {
        master_end.reset();
        int code = 1;
        try {
            code = run_worker({slot, config, listen_fds, std::move(worker_end), master_pid});
        } catch (const std::exception&) {
            code = 1;  // e.g. bad_alloc: must not unwind into the master's frames in the child
        }
        _exit(code);
    }
    out.pid = pid;
    out.channel = std::move(master_end);
    return out;
}

}  // namespace echo
