// server_process.hpp: starts the real echo-hardened binary for a black-box test and watches it: its log (a
// file, so a chatty server can never block on a full pipe), its sd_notify messages (a socket the harness
// owns, drained by a thread), its exit status. The destructor SIGKILLs and reaps it if the test did not.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.hpp"
#include "config/address.hpp"
#include "proc.hpp"

namespace test {

using echo::UniqueFd;

struct ServerOptions {
    std::vector<std::string> args;                         // after the binary
    std::vector<std::pair<std::string, std::string>> env;  // added to a clean copy of the environment
    std::optional<rlim_t> nofile;                          // RLIMIT_NOFILE for the server
    int pass_listen_fd = -1;  // socket activation: becomes fd 3 with LISTEN_FDS=1 and LISTEN_PID=the child
    // Socket activation with names, as systemd passes its sockets and its file descriptor store: fds 3, 4,
    // ... in this order, LISTEN_FDNAMES= their names. Instead of pass_listen_fd.
    std::vector<std::pair<int, std::string>> pass_fds;
    std::string binary;                // default: the echo-hardened under test
    std::optional<uid_t> uid;          // run as this user (RLIMIT_NPROC does not bind root)
    std::optional<rlim_t> nproc;       // soft RLIMIT_NPROC
    std::optional<rlim_t> nproc_hard;  // hard limit; defaults to the soft one
    bool journal_stream = false;       // set JOURNAL_STREAM to the log file, as systemd does for the journal
    bool capture_stdout = false;       // stdout into the log too (a tool that reports there, like echo-load)
    bool no_notify_socket = false;  // no NOTIFY_SOCKET: as started outside systemd (readiness from the log)
};

struct RunResult {
    int exit_code = -1;  // 128+signal when killed, -1 on timeout (then it was SIGKILLed)
    std::string out;
    std::string err;
};

// Runs the binary to completion with a bounded wait, capturing stdout and stderr.
RunResult run_to_exit(const std::vector<std::string>& args,
                      const std::vector<std::pair<std::string, std::string>>& env = {},
                      Duration timeout = 10s);

class ServerProcess {
  public:
    explicit ServerProcess(ServerOptions options);
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;
    ~ServerProcess();

    pid_t pid() const { return pid_; }
    std::string log() const;  // everything logged so far
    // Waits until the log contains `needle` (after `from`, a byte offset); returns its offset or -1.
    long wait_for_log(const std::string& needle, Duration timeout, long from = 0) const;
    // The whole log line around byte `offset` (one wait_for_log returned), without its newline.
    std::string log_line_at(long offset) const;
    // Waits for an sd_notify message line ("READY=1"); returns false on timeout.
    bool wait_notify(const std::string& line, Duration timeout);
    std::vector<std::string> notifications();
    // The fds sent with FDSTORE=1 so far, with the FDNAME= of their message, as systemd would keep them.
    std::vector<std::pair<UniqueFd, std::string>> take_stored_fds();
    // READY=1 and the port of the first "listening on ADDR:PORT" line.
    bool wait_ready(Duration timeout = 20s);
    std::uint16_t port() const { return port_; }
    // Its exec helper (comm "echo-exec", R61), once it has named itself.
    std::optional<pid_t> exec_helper() const;
    // The master's children but its metrics process (comm "echo-metrics") and its exec helper: the workers.
    std::vector<pid_t> workers() const;
    // Its metrics process (--metrics-listen), once it has named itself.
    std::optional<pid_t> metrics_process() const;
    // The port of the "metrics at http://ADDR:PORT/metrics" line, 0 if none.
    std::uint16_t metrics_port() const;

    void signal(int signo) const;
    // The raw waitpid() status once it has exited, std::nullopt on timeout.
    std::optional<int> wait_exit(Duration timeout);
    // Convenience: exit code, or 128+signal, or -1 on timeout.
    int wait_exit_code(Duration timeout);

  private:
    void notify_loop();

    pid_t pid_ = -1;
    bool reaped_ = false;
    std::uint16_t port_ = 0;
    std::string dir_;
    std::string log_path_;
    int notify_fd_ = -1;
    std::atomic<bool> stop_{false};
    std::thread notify_thread_;
    mutable std::mutex mutex_;
    std::vector<std::string> notifications_;
    std::vector<std::pair<UniqueFd, std::string>> stored_fds_;
    bool notify_ = true;
};

std::string server_binary();

// The addresses of a server log's "listening on ADDR:PORT" lines, in order, read with the server's own
// parser.
std::vector<echo::SocketAddress> listening_addresses(const std::string& log);

// Seconds of the day of a server log line's time stamp ("2026-12-02T01:37:39.679 ..."); -1 for a line without
// one.
double log_stamp_seconds(const std::string& line);

}  // namespace test
