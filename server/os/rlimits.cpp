// limits.cpp: RLIMIT_NOFILE and RLIMIT_NPROC.
#include "os/rlimits.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/log.hpp"

namespace echo {
namespace {

constexpr int kCapSysAdmin = 21;
constexpr int kCapSysResource = 24;

bool exempt_from_nproc() {
    if (getuid() == 0) return true;
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("CapEff:", 0) != 0) continue;
        unsigned long long caps = std::stoull(line.substr(7), nullptr, 16);
        return (caps >> kCapSysAdmin & 1) || (caps >> kCapSysResource & 1);
    }
    return false;
}

// Tasks (threads included) whose real uid is ours: what the kernel compares with RLIMIT_NPROC.
unsigned long tasks_of_uid(uid_t uid) {
    unsigned long count = 0;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return 0;
    while (dirent* entry = readdir(proc)) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        std::ifstream status(std::string("/proc/") + entry->d_name + "/status");
        std::string line;
        bool mine = false;
        while (std::getline(status, line)) {
            if (line.rfind("Uid:", 0) == 0) mine = std::stoul(line.substr(4)) == uid;
            if (line.rfind("Threads:", 0) == 0 && mine) count += std::stoul(line.substr(8));
        }
    }
    closedir(proc);
    return count;
}

}  // namespace

unsigned long raise_nofile_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0) return 0;
    if (lim.rlim_cur < lim.rlim_max) {
        rlimit raised = lim;
        raised.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return raised.rlim_cur;
        spdlog::warn("setrlimit(RLIMIT_NOFILE, {}) failed: {}, ignoring", lim.rlim_max, errno_text(errno));
    }
    return lim.rlim_cur;
}

std::string check_nproc_fits(unsigned workers) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NPROC, &lim) < 0 || lim.rlim_cur == RLIM_INFINITY || exempt_from_nproc()) return {};
    auto used = tasks_of_uid(getuid());
    // The exec helper (R61) is one more task of this user, forked before the workers.
    auto room = lim.rlim_cur > used + 1 ? lim.rlim_cur - used - 1 : 0;
    if (workers <= room) return {};
    return "--workers " + std::to_string(workers) + " does not fit RLIMIT_NPROC: the limit is " +
           std::to_string(lim.rlim_cur) + " and uid " + std::to_string(getuid()) + " already runs " +
           std::to_string(used) + " task(s), leaving room for " + std::to_string(room) +
           " worker(s) beside the exec helper; raise LimitNPROC= (ulimit -u) or lower --workers";
}

}  // namespace echo
