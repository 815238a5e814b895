// spawn.cpp: fork() and the child's hand-over to its body.
#include "os/spawn.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

namespace echo {

SysResult<SpawnedChild> spawn_child(const ChildBody& body, const OomScore* oom) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) < 0)
        return SysResult<SpawnedChild>::from_errno();
    UniqueFd parent_end(pair[0]);
    UniqueFd child_end(pair[1]);
    pid_t pid = 0;
    int fork_error = 0;
    {
        std::optional<OomScore::ForkScope> raised;
        if (oom != nullptr) raised.emplace(*oom);
        pid = fork();
        if (pid < 0) fork_error = errno;  // before the scope's write() back can change errno
        // The child keeps the raised value; its copy of the fd still names the master's file, not its own.
        if (pid == 0 && raised) raised->forget();
    }
    if (pid < 0) return SysResult<SpawnedChild>::failure(-fork_error);
    if (pid == 0) {
        parent_end.reset();
        int code = 1;
        try {
            code = body(std::move(child_end));
        } catch (...) {
            code = 1;  // bad_alloc or anything else: never unwind into the parent's frames in the child
        }
        _exit(code);
    }
    return SpawnedChild{pid, std::move(parent_end)};
}

}  // namespace echo
