// seccomp_filter.cpp: builds the master's and the workers' filters from the compiled policy and loads them.
#include "os/seccomp_filter.hpp"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "base/log.hpp"

namespace echo {
namespace {

// Which in-process filter a policy line feeds (seccomp/policy.txt explains the roles).
constexpr unsigned kRoleMaster = 1;
constexpr unsigned kRoleSetup = 2;
constexpr unsigned kRoleWorker = 4;
constexpr unsigned kRoleSanitizer = 8;
constexpr unsigned kRoleMetrics = 16;
constexpr unsigned kRoleConfine = 32;  // a worker's Landlock set-up, only after a drop from root (R99)

constexpr scmp_datum_t datum(long long value) {
    return static_cast<scmp_datum_t>(value);
}

struct PolicyRule {
    int syscall;
    const char* name;
    unsigned roles;
    int errno_value;  // 0: allow; otherwise the call fails with this errno without running
    unsigned count;   // comparisons, all of which must hold; 0: any arguments
    scmp_arg_cmp compare[3];
};

constexpr PolicyRule kPolicy[] = {
#include "seccomp_policy.inc"
};

#ifdef ECHO_SANITIZE_BUILD
// The sanitizer runtimes' own calls (LSan at exit, UBSan's probes): a documented superset, test builds only.
constexpr unsigned kSanitizerRoles = kRoleSanitizer;
#else
constexpr unsigned kSanitizerRoles = 0;
#endif
// The master's filter stays in force in every process it forks, so it admits what workers and the metrics
// process do too, a worker's Landlock calls included (they can only narrow what it may do).
constexpr unsigned kMasterRoles =
    kRoleMaster | kRoleSetup | kRoleConfine | kRoleWorker | kRoleMetrics | kSanitizerRoles;
constexpr unsigned kWorkerRoles = kRoleWorker | kSanitizerRoles;
constexpr unsigned kMetricsRoles = kRoleMetrics | kSanitizerRoles;

struct ContextDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

std::string error_text(const char* what, int r) {
    return fmt::format("{} failed: {}", what, errno_text(r));
}

// Adds every policy rule for `roles`; a syscall allowed without conditions by one line needs no other rule.
int add_rules(scmp_filter_ctx ctx, unsigned roles, std::string& failed, unsigned& syscalls) {
    for (std::size_t i = 0; i < std::size(kPolicy); ++i) {
        const PolicyRule& rule = kPolicy[i];
        if ((rule.roles & roles) == 0) continue;
        bool first = true, unconditional = false;
        for (std::size_t j = 0; j < std::size(kPolicy); ++j) {
            const PolicyRule& other = kPolicy[j];
            if (other.syscall != rule.syscall || (other.roles & roles) == 0) continue;
            if (j < i) first = false;
            if (other.count == 0 && other.errno_value == 0) unconditional = true;
        }
        if (first) ++syscalls;
        if (unconditional && !first) continue;  // added once, at its first line, without conditions
        std::uint32_t action = rule.errno_value != 0
                                   ? SCMP_ACT_ERRNO(static_cast<std::uint32_t>(rule.errno_value))
                                   : SCMP_ACT_ALLOW;
        int r =
            seccomp_rule_add_array(ctx, action, rule.syscall, unconditional ? 0 : rule.count, rule.compare);
        if (r < 0) {
            failed = rule.name;
            return r;
        }
    }
    return 0;
}

// Builds and loads one filter; returns an error message, empty on success.
std::string load(SeccompMode mode, unsigned roles, unsigned& syscalls) {
    std::uint32_t otherwise = mode == SeccompMode::Enforce ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_LOG;
    Context ctx(seccomp_init(otherwise));
    if (!ctx) return "seccomp_init() failed (out of memory, or libseccomp does not know this kernel)";
    // NO_NEW_PRIVS is set once, by the master, before its first load and inherited by its workers: a worker
    // asking again would need prctl() in the master's filter.
    if (int r = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0); r < 0)
        return error_text("seccomp_attr_set(NNP)", r);
    // An x32 or i386 system call is never the server's: treated as any call outside the policy.
    if (int r = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, otherwise); r < 0)
        return error_text("seccomp_attr_set(BADARCH)", r);
    // A binary tree rather than a linear scan: the echo path's calls pass in a few comparisons.
    (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    std::string failed;
    if (int r = add_rules(ctx.get(), roles, failed, syscalls); r < 0)
        return error_text(("seccomp_rule_add(" + failed + ")").c_str(), r);
    if (int r = seccomp_load(ctx.get()); r < 0) return error_text("seccomp_load()", r);
    return {};
}

const char* mode_name(SeccompMode mode) {
    return mode == SeccompMode::Enforce ? "enforce" : "log";
}

}  // namespace

bool install_master_filter(SeccompMode mode) {
    if (mode == SeccompMode::Off) {
        spdlog::warn("--seccomp=off: no in-process system call filter");
        return true;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        spdlog::critical("prctl(PR_SET_NO_NEW_PRIVS) failed: {}", errno_text(errno));
        return false;
    }
    unsigned syscalls = 0;
    if (auto why = load(mode, kMasterRoles, syscalls); !why.empty()) {
        spdlog::critical("cannot load the master's seccomp filter: {}", why);
        return false;
    }
    spdlog::info("seccomp filter loaded ({}): {} system calls for the master and its workers",
                 mode_name(mode), syscalls);
    return true;
}

namespace {

// A forked child's filter, stacked on the master's: `who` names it in the log lines.
bool install_child_filter(SeccompMode mode, unsigned roles, std::string_view who) {
    if (mode == SeccompMode::Off) return true;
    unsigned syscalls = 0;
    if (auto why = load(mode, roles, syscalls); !why.empty()) {
        spdlog::critical("cannot load the {}'s seccomp filter: {}", who, why);
        return false;
    }
    spdlog::debug("seccomp filter loaded ({}): {} system calls for this {}", mode_name(mode), syscalls, who);
    return true;
}

}  // namespace

bool install_worker_filter(SeccompMode mode) {
    return install_child_filter(mode, kWorkerRoles, "worker");
}

bool install_metrics_filter(SeccompMode mode) {
    return install_child_filter(mode, kMetricsRoles, "metrics process");
}

}  // namespace echo
