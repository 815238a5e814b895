// landlock.cpp: builds and enforces a read-only-beneath-paths Landlock ruleset with the raw system calls.
#include "os/landlock.hpp"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

#include "base/log.hpp"
#include "base/unique_fd.hpp"

// Rights newer than Debian 12's headers (Linux 6.1 knows ABI 1 and 2); the values are the kernel's ABI.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)  // ABI 3
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)  // ABI 5
#endif

namespace echo {
namespace {

// glibc 2.36 has no wrappers for these.
int create_ruleset(const landlock_ruleset_attr* attr, std::size_t size, std::uint32_t flags) {
    return static_cast<int>(syscall(SYS_landlock_create_ruleset, attr, size, flags));
}
int add_rule(int ruleset, landlock_rule_type type, const void* attr) {
    return static_cast<int>(syscall(SYS_landlock_add_rule, ruleset, type, attr, 0));
}
int restrict_self(int ruleset) {
    return static_cast<int>(syscall(SYS_landlock_restrict_self, ruleset, 0));
}

// Every file system right the kernel's ABI knows, so each one is denied unless a rule grants it. Rights
// of ABIs newer than 5 are left unhandled (allowed): a ruleset naming a right the kernel does not know is
// refused with EINVAL. The network rights of ABI 4 are not file system rights and stay unhandled.
std::uint64_t handled_rights(int abi) {
    std::uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1: execute .. make_sym
    if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5) rights |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return rights;
}

}  // namespace

int landlock_abi() {
    int abi = create_ruleset(nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi > 0 ? abi : 0;
}

LandlockOutcome confine_file_system(const std::vector<std::string>& readable_in) {
    LandlockOutcome out;
    int abi = create_ruleset(nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) {
        out.why = errno == ENOSYS       ? "not offered by this kernel (ENOSYS)"
                  : errno == EOPNOTSUPP ? "disabled at boot (EOPNOTSUPP: lsm= without landlock)"
                                        : "landlock_create_ruleset(VERSION) failed: " + errno_text(errno);
        return out;
    }
    out.abi = abi;
    std::vector<std::string> readable = readable_in;
#ifdef ECHO_SANITIZE_BUILD
    readable.push_back("/proc");  // LSan's leak check at exit reads /proc/self/maps and /proc/self/task
#endif
    landlock_ruleset_attr attr{};
    attr.handled_access_fs = handled_rights(abi);
    UniqueFd ruleset(create_ruleset(&attr, sizeof attr, 0));
    if (!ruleset.valid()) {
        out.why = "landlock_create_ruleset() failed: " + errno_text(errno);
        return out;
    }
    for (const auto& path : readable) {
        // O_PATH: the rule names the directory itself, opening it needs no read permission.
        UniqueFd dir(open(path.c_str(), O_PATH | O_CLOEXEC));
        if (!dir.valid()) {
            out.why = "open(" + path + ", O_PATH) failed: " + errno_text(errno);
            return out;
        }
        landlock_path_beneath_attr beneath{};
        beneath.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
        beneath.parent_fd = dir.get();
        if (add_rule(ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &beneath) < 0) {
            out.why = "landlock_add_rule(" + path + ") failed: " + errno_text(errno);
            return out;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        out.why = "prctl(PR_SET_NO_NEW_PRIVS) failed: " + errno_text(errno);
        return out;
    }
    if (restrict_self(ruleset.get()) < 0) {
        out.why = "landlock_restrict_self() failed: " + errno_text(errno);
        return out;
    }
    out.in_force = true;
    return out;
}

}  // namespace echo
