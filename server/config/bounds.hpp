// bounds.hpp: the limits on the server's settings, named once for the option table, the master and the tests.
#pragma once

#include <cstddef>

#include "base/clock.hpp"

namespace echo::bounds {

// Far beyond any machine's CPUs; also where SIGTTIN stops adding workers.
inline constexpr unsigned kMaxWorkers = 1024;
inline constexpr unsigned kMaxConnections = 1'000'000;  // per worker
inline constexpr std::size_t kMinBufferSize = 1024;
inline constexpr std::size_t kMaxBufferSize = 16 * 1024 * 1024;
// Connections kept in systemd's file descriptor store: every worker of the largest --workers at its largest
// --max-connections would be more than any kernel's fd limit; this is well past what one host holds.
inline constexpr unsigned kMaxFdStore = 16 * 1024 * 1024;

inline constexpr Duration kMaxIdleTimeout = seconds(7 * 24 * 3600);
inline constexpr Duration kMaxDrainTimeout = seconds(3600);
// A balancer notices a failing health check within seconds; ten minutes is past any sane inter x fall.
inline constexpr Duration kMaxLeaveDelay = seconds(600);
inline constexpr Duration kMaxWorkerTimeout = seconds(3600);
inline constexpr Duration kMaxProxyTimeout = seconds(3600);
inline constexpr Duration kMaxZombieWorkerLifetime = seconds(24 * 3600);

// Far more than any real configuration; the bound makes --config /dev/zero an error rather than a hang.
inline constexpr std::size_t kMaxConfigFileBytes = 16 * 1024 * 1024;

// The grammar's ceiling for any duration: well inside the ~292 years a Duration (int64 nanoseconds) holds.
inline constexpr double kMaxDurationSeconds = 1e9;

}  // namespace echo::bounds
