// test_processes.cpp: process discipline: reaping and replacing workers (R11), no orphans (R18), and what a
// worker inherits across fork (R10). Kills round after round and of the master under load: tests/fault/.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "fixture.hpp"

using namespace test;

namespace {

std::map<std::string, int> fd_kinds(pid_t pid) {
    std::map<std::string, int> kinds;
    for (auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
        auto target = std::filesystem::read_symlink(entry.path()).string();
        auto kind = target.rfind("socket:", 0) == 0 ? "socket" : target;
        ++kinds[kind];
    }
    return kinds;
}

std::string status_field(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
    return {};
}

unsigned long long mask_of(std::initializer_list<int> signals) {
    unsigned long long m = 0;
    for (int s : signals)
        m |= 1ULL << (s - 1);
    return m;
}

// What a worker's descriptor table holds, sorted by kind (tested below).
struct WorkerFds {
    std::set<int> all;
    std::vector<int> eventpoll, signalfd, timerfd, listeners, channels, clients, other;
};

WorkerFds classify_fds(pid_t pid, const std::set<unsigned long>& listener_inodes,
                       const SocketInodes& sockets) {
    WorkerFds fds;
    for (const auto& [fd, target] : fd_targets(pid)) {
        fds.all.insert(fd);
        if (fd <= 2) continue;  // stdin, stdout, stderr: whatever the harness gave the server
        auto inode = socket_inode(target);
        if (target == "anon_inode:[eventpoll]")
            fds.eventpoll.push_back(fd);
        else if (target == "anon_inode:[signalfd]")
            fds.signalfd.push_back(fd);
        else if (target == "anon_inode:[timerfd]")
            fds.timerfd.push_back(fd);
        else if (inode && listener_inodes.count(*inode))
            fds.listeners.push_back(fd);
        else if (inode && sockets.unix_domain.count(*inode))
            fds.channels.push_back(fd);
        else if (inode && sockets.tcp_other.count(*inode))
            fds.clients.push_back(fd);
        else
            fds.other.push_back(fd);
    }
    return fds;
}

}  // namespace

TEST_CASE("a worker killed with SIGKILL is reaped, never left a zombie, and replaced") {
    auto server = start_server({});
    auto before = wait_for_workers(*server, 2);
    REQUIRE(before.size() == 2);
    pid_t victim = before[0];
    REQUIRE(kill(victim, SIGKILL) == 0);
    // Reaped: the pid leaves /proc entirely; a zombie would stay as state Z.
    CHECK(eventually([&] { return !proc_state(victim); }, 5s));
    auto after = wait_for_workers(*server, 2);
    REQUIRE(after.size() == 2);
    CHECK(std::find(after.begin(), after.end(), victim) == after.end());
    CHECK(server->wait_for_log(
              "(pid " + std::to_string(victim) + ") killed by signal 9 (SIGKILL) unexpectedly", 5s) >= 0);
    CHECK(echo_once(server->port(), "after the kill") == "after the kill");
}

TEST_CASE("a crash loop backs off and is logged, never a fork storm") {
    auto server = start_server({"--workers", "1"});
    // Kill every worker the moment it appears, for four seconds: each dies well within a second of its start.
    auto end = std::chrono::steady_clock::now() + 4s;
    std::vector<pid_t> killed;
    eventually(
        [&] {
            for (pid_t w : server->workers())
                if (alive(w) && std::find(killed.begin(), killed.end(), w) == killed.end()) {
                    kill(w, SIGKILL);
                    killed.push_back(w);
                }
            return std::chrono::steady_clock::now() >= end;
        },
        5s);
    MESSAGE(killed.size() << " worker starts in 4 s of a crash loop");
    // Back-off 0, 0.2, 0.4, 0.8, 1.6 s…: at most 6 starts in 4 s; without it, thousands.
    CHECK(killed.size() <= 7);
    CHECK(killed.size() >= 3);
    CHECK(server->log().find("worker 0 is crash-looping: 3 exits in a row") != std::string::npos);
    CHECK(wait_for_workers(*server, 1, 40s).size() == 1);  // the back-off ends; the slot is filled again
    CHECK(echo_once(server->port(), "recovered") == "recovered");
}

TEST_CASE("a worker starts with its own clean signal mask and none of the master's other fds") {
    auto server = start_server({"--workers", "2"});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    for (pid_t w : workers) {
        auto kinds = fd_kinds(w);
        // Its own epoll, signalfd and timerfd; the master's were closed after fork.
        CHECK(kinds["anon_inode:[eventpoll]"] == 1);
        CHECK(kinds["anon_inode:[signalfd]"] == 1);
        CHECK(kinds["anon_inode:[timerfd]"] == 1);
        // The listening socket and its own channel to the master: not the other worker's channel.
        CHECK(kinds["socket"] == 2);
        auto blocked = std::stoull(status_field(w, "SigBlk"), nullptr, 16);
        CHECK(blocked == mask_of({SIGTERM, SIGINT, SIGQUIT}));
        auto ignored = std::stoull(status_field(w, "SigIgn"), nullptr, 16);
        CHECK((ignored & mask_of({SIGHUP, SIGPIPE, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2})) ==
              mask_of({SIGHUP, SIGPIPE, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2}));
    }
    auto master_blocked = std::stoull(status_field(server->pid(), "SigBlk"), nullptr, 16);
    CHECK(master_blocked ==
          mask_of({SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU}));
}

TEST_CASE(
    "a worker holds exactly its own descriptors: stdio, listeners, its channel, its event sources, its "
    "clients") {
    auto server = start_server({"--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--workers", "2"});
    auto ports = listening_ports(server->log());
    REQUIRE(ports.size() == 2);
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);

    // Three clients over both listeners, each echoed once: accepted and registered by some worker.
    std::vector<UniqueFd> clients;
    for (std::size_t i = 0; i < 3; ++i) {
        clients.push_back(connect_local(ports[i % 2]));
        REQUIRE(clients.back().valid());
        REQUIRE(send_all(clients.back().get(), "hold"));
        REQUIRE(recv_exact(clients.back().get(), 4) == "hold");
    }

    // The listeners are the master's listening sockets: the TCP sockets in LISTEN state it holds.
    auto sockets = socket_inodes();
    std::set<unsigned long> listener_inodes;
    std::set<unsigned long> master_sockets;
    for (const auto& [fd, target] : fd_targets(server->pid())) {
        auto inode = socket_inode(target);
        if (!inode) continue;
        master_sockets.insert(*inode);
        if (sockets.tcp_listening.count(*inode)) listener_inodes.insert(*inode);
    }
    REQUIRE(listener_inodes.size() == 2);

    std::size_t client_fds = 0;
    std::set<std::string> channels;
    for (pid_t w : workers) {
        CAPTURE(w);
        auto fds = classify_fds(w, listener_inodes, sockets);
        for (int std_fd : {0, 1, 2})
            CHECK(fds.all.count(std_fd) == 1);
        CHECK(fds.eventpoll.size() == 1);
        CHECK(fds.signalfd.size() == 1);
        CHECK(fds.timerfd.size() == 1);
        CHECK(fds.listeners.size() == 2);
        REQUIRE(fds.channels.size() == 1);
        CHECK(fds.other.empty());
        CHECK(fds.all.size() == 3 + 1 + 1 + 1 + 2 + 1 + fds.clients.size());
        client_fds += fds.clients.size();

        // Its own end of its own channel: not an end the master holds (which is where another worker's end
        // would have come from), and not the other worker's.
        auto channel = fd_targets(w)[fds.channels[0]];
        CHECK(master_sockets.count(*socket_inode(channel)) == 0);
        CHECK(channels.insert(channel).second);

        // Its epoll is its own, not the master's: it watches exactly this worker's other descriptors, the
        // listeners included while it accepts. A worker that holds more connections than the other leaves
        // the listeners to it (RUNBOOK.md "Even load across workers"): then both are out, never one.
        if (fds.eventpoll.size() == 1) {
            std::set<int> expected(fds.all.upper_bound(2), fds.all.end());
            expected.erase(fds.eventpoll[0]);
            std::set<int> without_listeners = expected;
            for (int l : fds.listeners)
                without_listeners.erase(l);
            auto watched = epoll_watched_fds(w, fds.eventpoll[0]);
            CHECK((watched == expected || watched == without_listeners));
        }
    }
    CHECK(client_fds == clients.size());
}

TEST_CASE("SIGUSR1 logs the status line and the worker table") {
    auto server = start_server({});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    CHECK(echo_once(server->port(), "count me") == "count me");
    server->signal(SIGUSR1);
    CHECK(server->wait_for_log("status: running: 2/2 workers serving", 5s) >= 0);
    for (pid_t w : workers)
        CHECK(server->wait_for_log("pid " + std::to_string(w) + " gen 0 serving", 5s) >= 0);
}

TEST_CASE("the default worker count is the number of usable CPUs") {
    ServerOptions options;
    options.args = {"--listen", "127.0.0.1:0"};
    ServerProcess server(options);
    REQUIRE(server.wait_ready());
    cpu_set_t set;
    sched_getaffinity(0, sizeof set, &set);
    CHECK(wait_for_workers(server, static_cast<std::size_t>(CPU_COUNT(&set))).size() ==
          static_cast<std::size_t>(CPU_COUNT(&set)));
}
