// exec_helper.hpp: the process that can still execve() a new binary for the master, which cannot (R61).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "base/sys_result.hpp"
#include "base/unique_fd.hpp"

namespace echo {

// The environment variable that tells a new master which inherited fd is its channel to the master it
// replaces (RUNBOOK.md "Connections across reload, upgrade and restart", docs/UPGRADE.md).
inline constexpr const char* kUpgradeFdVariable = "ECHO_UPGRADE_FD";

// What the binary was when the master started: a package upgrade writes a new file over the path (a new
// inode, or at least a new mtime), which is how SIGHUP tells an upgrade from a reload.
struct BinaryIdentity {
    dev_t dev = 0;
    ino_t ino = 0;
    timespec mtime{};
};

class ExecHelper {
  public:
    ExecHelper() = default;
    // Forked by main() after the uid drop and before Landlock and the master's seccomp filter, both of which
    // its children inherit and neither of which admits execve(): records the binary's path (/proc/self/exe,
    // read now: once the file is replaced it says "(deleted)"), argv and the environment, then waits for a
    // request. It dies with the master (PR_SET_PDEATHSIG). Failing to start it is not fatal: the master
    // serves, only without upgrades (logged once here).
    static ExecHelper start(int argc, char** argv);

    bool running() const { return channel_.valid(); }
    pid_t pid() const { return pid_; }
    const std::string& path() const { return path_; }
    // The file at path() is no longer the one this master was started from. Never true if it cannot be
    // stat()ed (mid-replacement, or removed): that is not a binary to run.
    bool binary_changed() const;
    // Asks for a new master: the helper starts it (a double fork: the service manager adopts it) with
    // `upgrade` as its ECHO_UPGRADE_FD and the listeners as systemd passes them (fds 3, 4, ...,
    // LISTEN_FDNAMES= their names), then says on `upgrade` the new master's pid
    // (MessageKind::SuccessorStarted; 0: it could not start one). -errno if the request could not be sent.
    int request_exec(int upgrade, const std::vector<std::pair<int, std::string>>& listeners) const;

  private:
    pid_t pid_ = -1;
    UniqueFd channel_;
    std::string path_;
    BinaryIdentity started_from_;
};

}  // namespace echo
