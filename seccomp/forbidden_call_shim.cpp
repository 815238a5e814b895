// forbidden_call_shim.cpp: test-only LD_PRELOAD library: the first accept4() anywhere in the server's process
// tree first makes one call the policy forbids, so a test watches the filter kill a worker that is serving.
//
// Never installed and never linked into the server: the hook lives outside the binary, so no build of
// echo-hardened carries a way to make it misbehave on purpose (RUNBOOK.md "Seccomp", "The test hook").
#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <atomic>
#include <new>

namespace {

using Accept4 = int (*)(int, sockaddr*, socklen_t*, int);
Accept4 real_accept4 = nullptr;
// In a MAP_SHARED page mapped by the master before it forks: every worker sees the same flag, so exactly one
// worker, once, makes the call, however many are respawned.
std::atomic<int>* fired = nullptr;

// Runs in the master at exec time, before any filter: dlsym() and mmap() may do what they like here.
__attribute__((constructor)) void set_up() {
    real_accept4 = reinterpret_cast<Accept4>(dlsym(RTLD_NEXT, "accept4"));
    void* page =
        mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page != MAP_FAILED) fired = new (page) std::atomic<int>(0);
}

}  // namespace

extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
    if (fired != nullptr && fired->exchange(1) == 0) {
        // mount(2) is in no role of seccomp/policy.txt and in systemd's denied @mount. Unfiltered
        // (--seccomp=off) it fails harmlessly: no source, no target.
        (void)mount(nullptr, nullptr, nullptr, 0, nullptr);
    }
    return real_accept4(fd, addr, len, flags);
}
