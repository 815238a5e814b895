// exit_codes.hpp: the exit statuses of the master and of workers, an interface documented in RUNBOOK.md.
#pragma once

namespace echo {

// Master exit statuses (RUNBOOK.md "Exit codes").
inline constexpr int kExitOk = 0;  // stopped cleanly: every worker exited on its own
// Runtime failure: a listener could not be opened, the event loop or the seccomp filter could not be set
// up, or every worker failed with kWorkerExitFatal. A failed fork() is not one: the master retries it.
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;             // invalid flag, environment variable or config file value
inline constexpr int kExitStragglersKilled = 3;  // stopped, but workers outlived the drain and were SIGKILLed
inline constexpr int kExitLimits = 4;  // the process limits cannot fit the configuration (RLIMIT_NPROC)

// Worker exit statuses. nginx's NGX_FATAL idea: a worker that fails in a way a retry cannot fix says so, and
// the master does not respawn it (a crash loop of a misconfigured worker is pointless churn).
inline constexpr int kWorkerExitOk = 0;
inline constexpr int kWorkerExitFatal = 78;  // EX_CONFIG from sysexits.h: start-up failure, do not respawn

}  // namespace echo
