// proc.hpp: reading process state from /proc, and bounded waiting for a condition on it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace test {

using namespace std::chrono_literals;
using Duration = std::chrono::steady_clock::duration;

// Every process /proc lists now.
std::vector<pid_t> all_pids();
std::vector<pid_t> children_of(pid_t parent);
// The signal a process sends its parent when it exits (field 38 of /proc/PID/stat: SIGCHLD for fork(), 0 for
// a clone() without one); std::nullopt once it is gone.
std::optional<int> exit_signal(pid_t pid);
// The state letter of /proc/PID/stat ('R', 'S', 'Z', 'T'…), or std::nullopt when the pid is gone.
std::optional<char> proc_state(pid_t pid);
std::optional<long> rss_kib(pid_t pid);
// /proc/PID/comm without its newline ("echo-hardened", "echo-metrics"), or std::nullopt when it is gone.
std::optional<std::string> comm(pid_t pid);
// utime + stime in seconds.
std::optional<double> cpu_seconds(pid_t pid);
bool alive(pid_t pid);  // exists and is not a zombie
// None of them is left in /proc at all: each exited and was reaped (a zombie still has its entry).
bool all_reaped(const std::vector<pid_t>& pids);
// Sums over processes, 0 for one that is gone: resident memory in KiB, utime + stime in seconds.
long total_rss_kib(const std::vector<pid_t>& pids);
double total_cpu_seconds(const std::vector<pid_t>& pids);

// Every open fd of a process and what its /proc/PID/fd link names: "socket:[123]", "anon_inode:[eventpoll]",
// "/dev/null"… Empty when the process is gone.
std::map<int, std::string> fd_targets(pid_t pid);
// The inode of a "socket:[123]" link target; std::nullopt for anything else.
std::optional<unsigned long> socket_inode(const std::string& target);
// The fds that epoll instance `epfd` of process `pid` watches (the "tfd:" lines of /proc/PID/fdinfo/EPFD).
std::set<int> epoll_watched_fds(pid_t pid, int epfd);
// Socket inodes of this network namespace by kind: TCP (IPv4 and IPv6) in LISTEN state, TCP in any other
// state, and AF_UNIX (/proc/net/tcp, tcp6, unix).
struct SocketInodes {
    std::set<unsigned long> tcp_listening;
    std::set<unsigned long> tcp_other;
    std::set<unsigned long> unix_domain;
};
SocketInodes socket_inodes();

// Polls `condition` every few milliseconds until it holds or `timeout` passes. For facts with no readiness
// signal of their own (a pid leaving /proc); never a substitute for one.
bool eventually(const std::function<bool()>& condition, Duration timeout);

}  // namespace test
