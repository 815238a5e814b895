// privileges.cpp: resolving --user/--group and dropping root's ids and capabilities with libcap-ng (R99).
#include "os/privileges.hpp"

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "base/exit_codes.hpp"
#include "base/log.hpp"
#include "config/options.hpp"  // printable()
#include "os/landlock.hpp"

namespace echo {
namespace {

// getpwnam_r/getgrnam_r with a buffer that grows on ERANGE; false when the name does not exist (`error` 0) or
// the lookup failed (`error` set: an NSS source that cannot be read).
template <typename Entry, typename Lookup>
bool lookup(const std::string& name, Entry& entry, std::vector<char>& buffer, Lookup call, int& error) {
    buffer.resize(1024);
    for (;;) {
        Entry* result = nullptr;
        error = call(name.c_str(), &entry, buffer.data(), buffer.size(), &result);
        if (error == ERANGE && buffer.size() < (1u << 20)) {
            buffer.resize(buffer.size() * 4);
            continue;
        }
        return error == 0 && result != nullptr;
    }
}

// What capng_change_id()'s negative results mean (its man page).
const char* change_id_step(int r) {
    switch (r) {
        case -1:
            return "libcap-ng was not initialised";
        case -2:
            return "PR_SET_KEEPCAPS failed";
        case -3:
            return "applying the intermediate capabilities failed";
        case -4:
            return "setting the group failed";
        case -5:
            return "dropping the supplementary groups failed";
        case -6:
            return "setting the user failed";
        case -7:
            return "clearing PR_SET_KEEPCAPS failed";
        case -8:
            return "clearing the bounding set failed";
        case -9:
            return "dropping CAP_SETPCAP or the ambient set failed";
        default:
            return "failed";
    }
}

// The name of a group, for the log line; its number when it has none.
std::string group_of(gid_t gid) {
    group gr{};
    std::vector<char> buffer(1024);
    group* result = nullptr;
    while (getgrgid_r(gid, &gr, buffer.data(), buffer.size(), &result) == ERANGE &&
           buffer.size() < (1u << 20))
        buffer.resize(buffer.size() * 4);
    return result != nullptr ? std::string(gr.gr_name) : std::to_string(gid);
}

// A name as an error message shows it: quoted, abbreviated, control characters escaped (R9).
std::string printable_name(const std::string& name) {
    return quoted(printable(name));
}

}  // namespace

std::optional<Identity> resolve_identity(const std::string& user, const std::string& group_name,
                                         std::string& why) {
    std::vector<char> buffer;
    passwd pw{};
    int error = 0;
    bool found = !user.empty() ? lookup(user, pw, buffer, getpwnam_r, error)
                               : lookup(kDefaultUser, pw, buffer, getpwnam_r, error) ||
                                     lookup(kFallbackUser, pw, buffer, getpwnam_r, error);
    auto reason = [&] { return error != 0 ? " (" + errno_text(-error) + ")" : std::string(); };
    if (!found) {
        why = user.empty() ? fmt::format("no user to run as: neither '{}' nor '{}' exists{}; give --user",
                                         kDefaultUser, kFallbackUser, reason())
                           : "--user: no user " + printable_name(user) + reason();
        return std::nullopt;
    }
    Identity id{pw.pw_uid, pw.pw_gid, pw.pw_name, {}};
    if (id.uid == 0) {
        why = "--user: '" + id.user + "' is root; name an unprivileged user";
        return std::nullopt;
    }
    group gr{};
    std::vector<char> group_buffer;
    if (!group_name.empty()) {
        if (!lookup(group_name, gr, group_buffer, getgrnam_r, error)) {
            why = "--group: no group " + printable_name(group_name) + reason();
            return std::nullopt;
        }
        id.gid = gr.gr_gid;
    }
    if (id.gid == 0) {
        why = group_name.empty() ? "--user: the primary group of '" + id.user + "' is root's; give --group"
                                 : "--group: '" + group_name + "' is root's group; name an unprivileged one";
        return std::nullopt;
    }
    id.group = !group_name.empty() ? std::string(gr.gr_name) : group_of(id.gid);
    return id;
}

std::string drop_privileges(const Identity& to) {
    // Every set empty; capng_change_id() orders the calls (setgroups, setresgid, setresuid under
    // PR_SET_KEEPCAPS, then the empty sets applied) and clears the bounding and ambient sets before the uid
    // change, while CAP_SETPCAP is still there.
    capng_clear(CAPNG_SELECT_ALL);
    int r = capng_change_id(
        static_cast<int>(to.uid), static_cast<int>(to.gid),
        static_cast<capng_flags_t>(CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING | CAPNG_CLEAR_AMBIENT));
    if (r < 0) return fmt::format("capng_change_id() failed: {} ({})", change_id_step(r), errno_text(errno));
    // Trust, but verify (OpenSSH's permanently_set_uid): every id changed, and root cannot be had back.
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return fmt::format("getresuid() failed: {}", errno_text(errno));
    if (ru != to.uid || eu != to.uid || su != to.uid || rg != to.gid || eg != to.gid || sg != to.gid)
        return "the ids did not all change";
    if (setuid(0) == 0) return "setuid(0) succeeded after the drop";
    if (capng_get_caps_process() < 0 || capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
        return "capabilities remain after the drop";
    return {};
}

DropPlan plan_drop(const Config& config) {
    DropPlan out;
    if (geteuid() != 0) {
        // Under systemd's DynamicUser= (or any unprivileged start) there is nothing to drop: the unit's
        // sandbox does that job (RUNBOOK.md "Hardening").
        if (!config.user.empty() || !config.group.empty())
            spdlog::warn("--user/--group ignored: not started as root (uid {}), nothing to drop", geteuid());
        else
            spdlog::debug("not started as root (uid {}): no privileges to drop", geteuid());
        return out;
    }
    std::string why;
    out.to = resolve_identity(config.user, config.group, why);
    if (!out.to) {
        spdlog::critical("{}", why);
        out.exit_code = kExitUsage;
    }
    return out;
}

namespace {

std::string directory_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// What the master still reads once it is confined: docs/PRIVILEGES.md "The master".
std::vector<std::string> master_readable(const Config& config, bool metrics) {
    std::vector<std::string> readable;
    if (!config.config_file.empty()) {
        // The directory, not the file: an editor that saves by rename() puts a new inode there, which a rule
        // on the old file would not cover. A symbolic link's target directory too, as it is now; realpath()
        // fails only if the file went away since start-up read it, and then the named directory is all there
        // is.
        readable.push_back(directory_of(config.config_file));
        if (char* real = realpath(config.config_file.c_str(), nullptr); real != nullptr) {
            std::string target = directory_of(real);
            std::free(real);
            if (target != readable.front()) readable.push_back(target);
        }
    }
    if (metrics) readable.push_back("/proc");
    return readable;
}

}  // namespace

Unprivileged become_unprivileged(const Identity& to, const Config& config, bool metrics,
                                 const std::function<void()>& before_confine) {
    Unprivileged out;
    if (auto failed = drop_privileges(to); !failed.empty()) {
        spdlog::critical("cannot drop root's privileges to {}:{}: {}", to.user, to.group, failed);
        out.exit_code = kExitFailure;
        return out;
    }
    spdlog::info("running as user {} ({}) and group {} ({}): no supplementary groups, no capabilities",
                 to.user, to.uid, to.group, to.gid);

    before_confine();
    auto readable = master_readable(config, metrics);
    auto landlock = confine_file_system(readable);
    if (!landlock.in_force && landlock.abi > 0) {
        // Offered but refused: a confinement the server asked for and did not get is not silently skipped.
        spdlog::critical("cannot confine the file system with Landlock: {}", landlock.why);
        out.exit_code = kExitFailure;
        return out;
    }
    if (!landlock.in_force) {
        spdlog::info("Landlock not in force: {}; the file system stays open to user {}", landlock.why,
                     to.user);
        return out;
    }
    std::string shown;
    for (const auto& path : readable)
        shown += (shown.empty() ? "" : ", ") + path;
    if (shown.empty())
        spdlog::info("Landlock in force (ABI {}): neither the master nor the workers may open a file",
                     landlock.abi);
    else
        spdlog::info("Landlock in force (ABI {}): the master may only read beneath {}; the workers nothing",
                     landlock.abi, shown);
    out.confine_children = true;
    return out;
}

}  // namespace echo
