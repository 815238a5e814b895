// fatal_start_shim.cpp: test-only LD_PRELOAD library. seccomp_load() succeeds once (the master's filter) and
// fails for every later call, which a forked worker inherits: each worker then fails at start-up the way a
// restart cannot fix, and exits with kWorkerExitFatal. Never linked into the server.
#include <cerrno>

namespace {
int calls = 0;  // copied into every fork, so a worker's own first call is the lineage's second
}

extern "C" int seccomp_load(const void* /*ctx*/) {
    if (++calls == 1)
        return 0;  // the master: pretend it loaded (this library replaces libseccomp's function)
    return -EPERM;
}
