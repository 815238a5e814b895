// spawn.hpp: forking one child with a report channel to it; what the child runs is the caller's parameter.
#pragma once

#include <sys/types.h>

#include <functional>

#include "base/sys_result.hpp"
#include "base/unique_fd.hpp"
#include "os/oom_score.hpp"

namespace echo {

struct SpawnedChild {
    pid_t pid = -1;
    UniqueFd channel;  // the parent's end; readable when the child reports, HUP when it is gone
};

// The child's whole life: given its end of the channel, returns its exit status. As nginx's
// ngx_spawn_process(cycle, proc, data, ...) takes the child's body, spawning knows nothing of workers.
using ChildBody = std::function<int(UniqueFd channel)>;

// socketpair() + fork(). The child runs `body` and _exit()s with what it returns (no atexit handlers, no
// stdio flush, no destructors of the parent's objects run twice); an exception escaping the body ends the
// child with status 1 instead of unwinding into the parent's frames. -errno of socketpair() or fork() on
// failure (EAGAIN: RLIMIT_NPROC or pids.max). With `oom`, the child starts with the children's higher
// oom_score_adj (R96).
SysResult<SpawnedChild> spawn_child(const ChildBody& body, const OomScore* oom = nullptr);

}  // namespace echo
