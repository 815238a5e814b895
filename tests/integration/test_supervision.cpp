// test_supervision.cpp: reload (R15), scaling (R16), hung workers (R19), fork failures (R12).
// Signal storms under load: tests/fault/test_signal_storms.cpp.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "fixture.hpp"

using namespace test;

namespace {

// A steady stream of short connections from a background thread, each verified; counts failures.
class ConnectionLoad {
  public:
    explicit ConnectionLoad(std::uint16_t port)
        : thread_([this, port] {
              for (std::uint64_t i = 0; !stop_; ++i) {
                  auto msg = random_bytes(64, i);
                  (echo_once(port, msg) == msg ? ok_ : failed_)++;
              }
          }) {}
    ~ConnectionLoad() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::uint64_t ok() const { return ok_; }
    std::uint64_t failed() const { return failed_; }

  private:
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> ok_{0}, failed_{0};
    std::thread thread_;
};

std::size_t count(const std::vector<std::string>& lines, const std::string& line) {
    return static_cast<std::size_t>(std::count(lines.begin(), lines.end(), line));
}

}  // namespace

TEST_CASE("SIGHUP replaces every worker one by one without a single failed connection under load") {
    auto server = start_server({"--workers", "2"});
    auto old_workers = wait_for_workers(*server, 2);
    REQUIRE(old_workers.size() == 2);
    ConnectionLoad load(server->port());
    REQUIRE(eventually([&] { return load.ok() > 50; }, 10s));
    server->signal(SIGHUP);
    CHECK(server->wait_for_log("reload complete: 2 worker(s) of generation 1", 15s) >= 0);
    CHECK(eventually([&] { return all_reaped(old_workers); }, 10s));  // retired, drained and reaped
    auto before_stop = load.ok();
    CHECK(eventually([&] { return load.ok() > before_stop + 50; }, 10s));
    load.stop();
    MESSAGE("connections during the reload: " << load.ok() << " ok, " << load.failed() << " failed");
    CHECK(load.failed() == 0);
    auto new_workers = wait_for_workers(*server, 2);
    for (pid_t w : new_workers)
        CHECK(std::find(old_workers.begin(), old_workers.end(), w) == old_workers.end());
    auto notes = server->notifications();
    CHECK(count(notes, "RELOADING=1") == 1);
    CHECK(count(notes, "READY=1") == 2);
}

TEST_CASE("SIGHUP re-reads the config file, and an invalid one is refused with the old configuration kept") {
    char path[] = "/tmp/echo-reload-XXXXXX";
    close(mkstemp(path));
    // Readable by the user a server started as root drops to (docs/PRIVILEGES.md): mkstemp() makes it 0600.
    chmod(path, 0644);
    std::ofstream(path) << "workers = 2\n";
    auto server = start_server({"--config", path, "--listen", "127.0.0.1:0"});
    REQUIRE(wait_for_workers(*server, 2).size() == 2);

    std::ofstream(path) << "workers = 3\nlog-level = debug\n";
    server->signal(SIGHUP);
    CHECK(server->wait_for_log("reload complete: 3 worker(s)", 15s) >= 0);
    CHECK(wait_for_workers(*server, 3).size() == 3);

    std::ofstream(path) << "workers = lots\n";
    auto mark = static_cast<long>(server->log().size());
    server->signal(SIGHUP);
    CHECK(server->wait_for_log("reload failed: config file", 10s, mark) >= 0);
    CHECK(wait_for_workers(*server, 3).size() == 3);
    CHECK(echo_once(server->port(), "kept") == "kept");
    unlink(path);
}

TEST_CASE("SIGTTIN adds a worker, SIGTTOU removes one, never below one") {
    auto server = start_server({"--workers", "2"});
    REQUIRE(wait_for_workers(*server, 2).size() == 2);
    server->signal(SIGTTIN);
    CHECK(wait_for_workers(*server, 3).size() == 3);
    for (int i = 0; i < 2; ++i) {
        auto mark = static_cast<long>(server->log().size());
        server->signal(SIGTTOU);
        CHECK(server->wait_for_log("retiring worker", 5s, mark) >= 0);
    }
    CHECK(wait_for_workers(*server, 1).size() == 1);
    server->signal(SIGTTOU);
    CHECK(server->wait_for_log("SIGTTOU: already at 1 worker(s), ignoring", 5s) >= 0);
    CHECK(wait_for_workers(*server, 1).size() == 1);
    CHECK(echo_once(server->port(), "one") == "one");
}

TEST_CASE("a hung worker (SIGSTOP) is killed after --worker-timeout and replaced") {
    auto server = start_server({"--worker-timeout", "1s"});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    REQUIRE(kill(workers[0], SIGSTOP) == 0);
    CHECK(server->wait_for_log("(pid " + std::to_string(workers[0]) + ") sent no heartbeat", 10s) >= 0);
    CHECK(eventually([&] { return !proc_state(workers[0]); }, 5s));
    auto after = wait_for_workers(*server, 2);
    CHECK(after.size() == 2);
    CHECK(std::find(after.begin(), after.end(), workers[1]) != after.end());  // the healthy one was spared
}

TEST_CASE("a master that was stopped and resumed does not mass-kill its healthy workers") {
    auto server = start_server({"--worker-timeout", "1s"});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    server->signal(SIGSTOP);
    REQUIRE(eventually([&] { return proc_state(server->pid()) == 'T'; }, 5s));
    auto resume_at = std::chrono::steady_clock::now() + 3s;
    eventually([&] { return std::chrono::steady_clock::now() >= resume_at; },
               4s);  // three heartbeat periods pass
    server->signal(SIGCONT);
    // Two more timeout periods: a master judging on the gap would have killed both by now.
    auto settle = std::chrono::steady_clock::now() + 2500ms;
    eventually([&] { return std::chrono::steady_clock::now() >= settle; }, 3s);
    CHECK(wait_for_workers(*server, 2) == workers);
    CHECK(server->log().find("sent no heartbeat") == std::string::npos);
}

TEST_CASE("fork() failing with EAGAIN under RLIMIT_NPROC is survived and recovers when the limit allows") {
    ServerOptions options;
    options.uid = kUidForkFailure;
    options.nproc = 4;  // the master, its exec helper and two workers, not one more
    options.nproc_hard = 5;
    auto server = start_server({"--workers", "2"}, options);
    REQUIRE(wait_for_workers(*server, 2).size() == 2);
    server->signal(SIGTTIN);
    CHECK(server->wait_for_log(
              "fork() failed while spawning worker 2: Resource temporarily unavailable; retrying", 10s) >= 0);
    CHECK(echo_once(server->port(), "still serving") == "still serving");
    CHECK(wait_for_workers(*server, 2).size() == 2);
    // The operator raises the running master's soft limit (as its own user, as `prlimit --pid` would):
    // the next retry succeeds.
    pid_t helper = fork();
    REQUIRE(helper >= 0);
    if (helper == 0) {
        rlimit more{5, 5};
        _exit(setgid(kUidForkFailure) == 0 && setuid(kUidForkFailure) == 0 &&
                      prlimit(server->pid(), RLIMIT_NPROC, &more, nullptr) == 0
                  ? 0
                  : 1);
    }
    int status = 0;
    REQUIRE(waitpid(helper, &status, 0) == helper);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK(wait_for_workers(*server, 3, 40s).size() == 3);
}
