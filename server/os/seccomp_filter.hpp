// seccomp_filter.hpp: the in-process system call filters compiled from seccomp/policy.txt (R34).
#pragma once

#include "config/config.hpp"

namespace echo {

// In main(), once the listeners are open and before the first fork: sets PR_SET_NO_NEW_PRIVS and loads the
// master's filter (every later master call, and everything a worker may do, since workers inherit it).
// Logs; returns false when the filter could not be loaded (the master must then exit).
bool install_master_filter(SeccompMode mode);

// In a worker after its set-up, before it serves: stacks the narrower worker filter. `mode` must be the one
// the master's filter was loaded in: a filter cannot be removed, so the mode is fixed at start and a SIGHUP
// cannot change it (main() binds it into the worker's settings). Logs; returns false when the filter could
// not be loaded (exit with kWorkerExitFatal: a retry cannot help).
bool install_worker_filter(SeccompMode mode);

// In the metrics process after its set-up (libmicrohttpd started), before it serves: stacks the metrics
// filter, as install_worker_filter does for a worker.
bool install_metrics_filter(SeccompMode mode);

}  // namespace echo
