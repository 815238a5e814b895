// landlock.hpp: the in-process counterpart of the unit's private root: a Landlock ruleset over the file
// system.
#pragma once

#include <string>
#include <vector>

namespace echo {

struct LandlockOutcome {
    int abi = 0;  // the kernel's Landlock ABI version; 0: not offered
    bool in_force = false;
    std::string why;  // not in force: why (not offered, or the call that failed)
};

// Restricts the calling process, and every process it forks later, to reading (files and directory listings)
// beneath `readable`, and nothing else of the file system: no open for writing, no execute, no create,
// remove, rename, link or truncate, anywhere. Descriptors already open keep working. Sets PR_SET_NO_NEW_PRIVS
// (Landlock needs it without CAP_SYS_ADMIN). Rulesets stack: a child's call can only narrow its parent's.
// In a sanitizer build /proc stays readable too: the runtimes read /proc/self at exit (LSan). Logs nothing.
LandlockOutcome confine_file_system(const std::vector<std::string>& readable);

// The Landlock ABI version this kernel offers; 0 when it offers none (ENOSYS, or EOPNOTSUPP: built in but
// disabled at boot).
int landlock_abi();

}  // namespace echo
