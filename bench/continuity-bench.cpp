// continuity-bench.cpp: how long connections take to cross a scale-down, a reload and a restart (R60, R62),
// for 1,000 and 10,000 idle connections, with this process in systemd's place for the restart (it keeps what
// FDSTORE=1 sends and passes it to the next instance, as tests/fault/test_restart.cpp does). Prints a table;
// the figures are not pass marks, but a connection that stops echoing makes the exit status 1. Usage:
// continuity-bench [COUNT...]   (default: 1000 10000)
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "client.hpp"
#include "server_process.hpp"

namespace {

using test::UniqueFd;
using namespace std::chrono_literals;

// Milliseconds between the first line containing `from` and the last containing `to`, in the server's own
// time stamps (after byte `offset` of its log).
double span_ms(const std::string& log, const std::string& from, const std::string& to,
               std::size_t offset = 0) {
    double first = -1, last = -1;
    std::istringstream in(log.substr(std::min(offset, log.size())));
    for (std::string line; std::getline(in, line);) {
        if (first < 0 && line.find(from) != std::string::npos) first = test::log_stamp_seconds(line);
        if (first >= 0 && line.find(to) != std::string::npos) last = test::log_stamp_seconds(line);
    }
    return first < 0 || last < 0 ? -1 : (last - first) * 1000.0;
}

std::vector<UniqueFd> open_idle(std::uint16_t port, std::size_t n) {
    std::vector<UniqueFd> fds;
    for (std::size_t i = 0; i < n; ++i) {
        auto fd = test::connect_local(port);
        if (!fd.valid() || !test::send_all(fd.get(), "hello", 5s) ||
            test::recv_exact(fd.get(), 5, 5s) != "hello")
            break;
        fds.push_back(std::move(fd));
    }
    return fds;
}

std::size_t still_echoing(const std::vector<UniqueFd>& fds) {
    std::size_t ok = 0;
    for (const auto& fd : fds)
        ok += test::send_all(fd.get(), "again", 5s) && test::recv_exact(fd.get(), 5, 5s) == "again";
    return ok;
}

// The clients live in a process of their own: with this one's copies of the stored connections, one process
// would need twice the fds, more than an unprivileged hard limit allows for 10,000. One byte in the pipe asks
// it to open them, the next to check every one; it answers each with a count. Forked before any server is
// started: the test harness runs a thread per server, and a fork beside a thread may copy a held lock.
class Clients {
  public:
    Clients(std::uint16_t port, std::size_t n) {
        int to_child[2], from_child[2];
        if (pipe2(to_child, O_CLOEXEC) < 0 || pipe2(from_child, O_CLOEXEC) < 0) return;
        pid_ = fork();
        if (pid_ == 0) {
            char go;
            if (read(to_child[0], &go, 1) != 1) _exit(1);
            auto fds = open_idle(port, n);
            std::size_t opened = fds.size();
            (void)!write(from_child[1], &opened, sizeof opened);
            if (read(to_child[0], &go, 1) != 1) _exit(1);
            std::size_t kept = still_echoing(fds);
            (void)!write(from_child[1], &kept, sizeof kept);
            _exit(0);
        }
        to_child_.reset(to_child[1]);
        from_child_.reset(from_child[0]);
        close(to_child[0]);
        close(from_child[1]);
    }
    ~Clients() {
        to_child_.reset();  // EOF: a child still waiting for a request exits
        if (pid_ > 0) waitpid(pid_, nullptr, 0);
    }
    std::size_t open() { return ask(); }
    std::size_t check() { return ask(); }

  private:
    std::size_t ask() {
        char go = 'g';
        if (write(to_child_.get(), &go, 1) != 1) return 0;
        std::size_t n = 0;
        return read(from_child_.get(), &n, sizeof n) == static_cast<ssize_t>(sizeof n) ? n : 0;
    }
    pid_t pid_ = -1;
    UniqueFd to_child_, from_child_;
};

std::unique_ptr<test::ServerProcess> start(int listener,
                                           std::vector<std::pair<UniqueFd, std::string>>& stored) {
    test::ServerOptions options;
    options.args = {"--workers", "2", "--fd-store", "100000", "--drain-timeout", "2s"};
    options.pass_fds.emplace_back(listener, "echo");
    for (auto& [fd, name] : stored)
        options.pass_fds.emplace_back(fd.get(), name);
    auto server = std::make_unique<test::ServerProcess>(options);
    if (!server->wait_ready(30s)) return nullptr;
    return server;
}

struct Row {
    std::size_t connections = 0;
    double scale_down_ms = -1, reload_ms = -1, stop_ms = -1, revive_ms = -1;
    std::size_t kept = 0;
};

bool run(std::size_t n, Row& row) {
    row.connections = n;
    std::uint16_t port = 0;
    auto listener = test::listen_loopback(port);
    Clients idle(port, n);
    std::vector<std::pair<UniqueFd, std::string>> none;
    auto server = start(listener.get(), none);
    if (!server) return false;
    if (std::size_t opened = idle.open(); opened != n)
        return std::fprintf(stderr, "only %zu of %zu connections opened\n", opened, n), false;

    std::fprintf(stderr, "continuity-bench: %zu connections open; SIGTTOU\n", n);
    long at = static_cast<long>(server->log().size());
    server->signal(SIGTTOU);  // one of two workers retires: about half the connections move
    if (server->wait_for_log("handed over", 30s, at) < 0 ||
        server->wait_for_log("exited with status 0", 30s, at) < 0)
        return false;
    row.scale_down_ms =
        span_ms(server->log(), "retiring worker", "exited with status 0", static_cast<std::size_t>(at));
    server->signal(SIGTTIN);
    if (server->wait_for_log("SIGTTIN", 10s, at) < 0) return false;
    test::eventually([&] { return server->workers().size() == 2; }, 10s);

    at = static_cast<long>(server->log().size());
    server->signal(SIGHUP);  // both workers replaced: every connection moves, some twice
    if (server->wait_for_log("reload complete", 30s, at) < 0) return false;
    test::eventually([&] { return server->workers().size() == 2; }, 30s);
    row.reload_ms =
        span_ms(server->log(), "SIGHUP: reloading", "exited with status 0", static_cast<std::size_t>(at));

    std::fprintf(stderr, "continuity-bench: SIGTERM (restart through the store)\n");
    const auto stop_at = std::chrono::steady_clock::now();
    server->signal(SIGTERM);
    if (server->wait_exit_code(30s) != 0) return false;
    row.stop_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - stop_at).count();
    std::vector<std::pair<UniqueFd, std::string>> stored;
    test::eventually(
        [&] {
            for (auto& s : server->take_stored_fds())
                stored.push_back(std::move(s));
            return stored.size() >= n;
        },
        10s);
    std::fprintf(stderr, "continuity-bench: %zu stored; starting the next instance\n", stored.size());
    const auto start_at = std::chrono::steady_clock::now();
    auto next = start(listener.get(), stored);
    if (!next || next->wait_for_log("kept in systemd's file descriptor store by the last instance", 30s) < 0)
        return false;
    row.revive_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_at).count();
    stored.clear();
    row.kept = idle.check();
    next->signal(SIGTERM);
    next->wait_exit_code(30s);
    return row.kept == n;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::size_t> counts;
    for (int i = 1; i < argc; ++i)
        counts.push_back(std::stoul(argv[i]));
    if (counts.empty()) counts = {1000, 10000};
    // Twice COUNT and then some: the clients' ends, and the copies this process keeps in systemd's place.
    // Raising the hard limit needs root (CAP_SYS_RESOURCE); otherwise the soft one goes up to it, and a count
    // beyond that fails to open, and says so.
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        rlimit want{std::max<rlim_t>(lim.rlim_max, 65536), std::max<rlim_t>(lim.rlim_max, 65536)};
        if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
            lim.rlim_cur = lim.rlim_max;
            setrlimit(RLIMIT_NOFILE, &lim);
        }
    }
    std::printf(
        "| idle connections | SIGTTOU: retire to exit | SIGHUP: signal to old workers gone | "
        "restart: SIGTERM to exit | next instance: exec to serving them | still echoing |\n");
    std::printf("|---|---|---|---|---|---|\n");
    int status = 0;
    for (auto n : counts) {
        Row row;
        bool ok = run(n, row);
        std::printf("| %zu | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %zu of %zu |\n", row.connections,
                    row.scale_down_ms, row.reload_ms, row.stop_ms, row.revive_ms, row.kept, n);
        std::fflush(stdout);
        if (!ok) status = 1;
    }
    return status;
}
