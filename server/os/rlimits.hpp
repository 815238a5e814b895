// limits.hpp: the process resource limits the server depends on, checked and raised at start-up (R5, R32).
#pragma once

#include <string>

namespace echo {

// Raises the soft RLIMIT_NOFILE to the hard limit: every connection is an fd, and the soft default of 1024
// is a relic of select(). Returns the new soft limit.
unsigned long raise_nofile_limit();

// R32: can this user fork `workers` more processes under RLIMIT_NPROC (which counts every task of the real
// uid, zombies included)? Returns an explanation when it cannot, empty when it can or the limit does not
// apply (uid 0 and CAP_SYS_RESOURCE/CAP_SYS_ADMIN holders are exempt in the kernel).
std::string check_nproc_fits(unsigned workers);

}  // namespace echo
