// privileges.hpp: who the server runs as once started as root outside systemd, and the drop to them (R99).
#pragma once

#include <functional>

#include <sys/types.h>

#include <optional>
#include <string>

#include "config/config.hpp"

namespace echo {

// The unprivileged identity to drop to: docs/PRIVILEGES.md "Which user".
struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;  // the names, for the log line
    std::string group;
};

// The user and group asked for (empty: the defaults, kDefaultUser or else kFallbackUser, and the user's
// primary group). std::nullopt with `why` set when a name does not exist or names root: a usage error.
inline constexpr const char* kDefaultUser = "echo-hardened";
inline constexpr const char* kFallbackUser = "nobody";
std::optional<Identity> resolve_identity(const std::string& user, const std::string& group, std::string& why);

// As root: no supplementary groups, then the group, then the user (real, effective and saved), with empty
// capability sets (effective, permitted, inheritable, ambient) and bounding set, through libcap-ng; then
// checks that root cannot be regained. Returns an error message, empty on success; on failure the process is
// in an unknown state between the two identities and must exit.
std::string drop_privileges(const Identity& to);

// Who to become, decided in main() before the listeners are opened, so a missing user ends the start before
// anything is bound. Not root: `to` is empty (nothing to drop; --user/--group ignored with a warning). Root:
// the identity, or exit_code 2 when it does not resolve (logged, one line).
struct DropPlan {
    std::optional<Identity> to;
    int exit_code = -1;  // >= 0: start-up must end with this status
};
DropPlan plan_drop(const Config& config);

// What become_unprivileged() did.
struct Unprivileged {
    int exit_code = -1;             // >= 0: start-up must end with this status (it logged why)
    bool confine_children = false;  // Landlock is in force: each worker narrows it to nothing
};

// In main(), once the listeners are open and before the master's seccomp filter (which therefore need not
// admit setuid and its kin): drops to `to` (a failure: exit 1), then confines the master's file system with
// Landlock to what it still reads: the config file's directory (SIGHUP) and, with `metrics`, /proc (the
// metrics process keeps the master's ruleset). docs/PRIVILEGES.md explains each choice.
// `before_confine` runs between the two, as the new user and not yet confined: main() forks the exec helper
// there (R61), which must be able to execute the binary.
Unprivileged become_unprivileged(const Identity& to, const Config& config, bool metrics,
                                 const std::function<void()>& before_confine);

}  // namespace echo
