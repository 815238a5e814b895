// proc.cpp: /proc parsing for the tests.
#include "proc.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace test {
namespace {

// Fields of /proc/PID/stat after the command name, which may itself contain spaces and parentheses.
std::optional<std::vector<std::string>> stat_fields(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(in, text)) return std::nullopt;
    auto close = text.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(text.substr(close + 2));
    std::vector<std::string> fields;
    for (std::string f; rest >> f;)
        fields.push_back(f);
    return fields;  // [0] state, [1] ppid, … [11] utime, [12] stime
}

}  // namespace

std::vector<pid_t> all_pids() {
    std::vector<pid_t> out;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return out;
    while (dirent* e = readdir(proc))
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
            out.push_back(static_cast<pid_t>(std::stol(e->d_name)));
    closedir(proc);
    return out;
}

std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    for (pid_t pid : all_pids()) {
        auto f = stat_fields(pid);
        if (f && f->size() > 1 && std::stol((*f)[1]) == parent) out.push_back(pid);
    }
    return out;
}

std::optional<int> exit_signal(pid_t pid) {
    auto f = stat_fields(pid);  // [0] is field 3
    if (!f || f->size() < 36) return std::nullopt;
    return std::stoi((*f)[35]);
}

std::optional<char> proc_state(pid_t pid) {
    auto f = stat_fields(pid);
    if (!f || f->empty()) return std::nullopt;
    return (*f)[0][0];
}

std::optional<std::string> comm(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (!std::getline(in, name)) return std::nullopt;
    return name;
}

std::optional<long> rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return std::nullopt;
}

std::optional<double> cpu_seconds(pid_t pid) {
    auto f = stat_fields(pid);
    if (!f || f->size() < 13) return std::nullopt;
    double ticks = std::stod((*f)[11]) + std::stod((*f)[12]);
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

bool alive(pid_t pid) {
    auto s = proc_state(pid);
    return s && *s != 'Z' && *s != 'X';
}

bool all_reaped(const std::vector<pid_t>& pids) {
    return std::none_of(pids.begin(), pids.end(), [](pid_t p) { return proc_state(p).has_value(); });
}

long total_rss_kib(const std::vector<pid_t>& pids) {
    long sum = 0;
    for (pid_t p : pids)
        sum += rss_kib(p).value_or(0);
    return sum;
}

double total_cpu_seconds(const std::vector<pid_t>& pids) {
    double sum = 0;
    for (pid_t p : pids)
        sum += cpu_seconds(p).value_or(0);
    return sum;
}

std::map<int, std::string> fd_targets(pid_t pid) {
    std::map<int, std::string> targets;
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return targets;
    while (dirent* entry = readdir(d)) {
        if (entry->d_name[0] == '.') continue;
        char link[256];
        ssize_t n = readlink((dir + "/" + entry->d_name).c_str(), link, sizeof link - 1);
        if (n < 0) continue;  // closed since the directory was read
        targets[std::stoi(entry->d_name)] = std::string(link, static_cast<std::size_t>(n));
    }
    closedir(d);
    return targets;
}

std::optional<unsigned long> socket_inode(const std::string& target) {
    const std::string prefix = "socket:[";
    if (target.rfind(prefix, 0) != 0 || target.back() != ']') return std::nullopt;
    return std::stoul(target.substr(prefix.size(), target.size() - prefix.size() - 1));
}

std::set<int> epoll_watched_fds(pid_t pid, int epfd) {
    std::set<int> fds;
    std::ifstream in("/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(epfd));
    for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string key;
        int fd = -1;
        if (words >> key >> fd && key == "tfd:") fds.insert(fd);
    }
    return fds;
}

SocketInodes socket_inodes() {
    SocketInodes inodes;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // the header
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        while (std::getline(in, line)) {
            std::istringstream words(line);
            std::string sl, local, remote, state, queues, timer, retransmits;
            unsigned long uid = 0, timeout = 0, inode = 0;
            if (!(words >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
                  timeout >> inode))
                continue;
            (state == "0A" ? inodes.tcp_listening : inodes.tcp_other).insert(inode);
        }
    }
    std::ifstream unix_table("/proc/net/unix");
    std::string line;
    std::getline(unix_table, line);
    // Num RefCount Protocol Flags Type St Inode [Path]
    while (std::getline(unix_table, line)) {
        std::istringstream words(line);
        std::string num, refs, protocol, flags, type, st;
        unsigned long inode = 0;
        if (words >> num >> refs >> protocol >> flags >> type >> st >> inode)
            inodes.unix_domain.insert(inode);
    }
    return inodes;
}

bool eventually(const std::function<bool()>& condition, Duration timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
}

}  // namespace test
