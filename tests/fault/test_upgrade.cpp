// test_upgrade.cpp: binary upgrade without dropping a connection (R61): after the binary is replaced, SIGHUP
// starts it as a new master that takes every connection over, and a new binary that fails leaves the old
// master serving every one of them.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "../integration/fixture.hpp"
#include "scenario.hpp"
#include "sockets.hpp"
#include "version.hpp"

using namespace fault;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// A copy of the binary under test in a directory of its own, to be replaced as a package upgrade replaces
// it: a new file renamed over the old path (a new inode; the running one stays intact).
struct UpgradableBinary {
    std::string dir;
    std::string path;

    UpgradableBinary() {
        char tmpl[] = "/tmp/echo-upgrade-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        chmod(dir.c_str(), 0755);  // a server that drops to nobody must still execute it
        path = dir + "/echo-hardened";
        fs::copy_file(test::server_binary(), path);
    }
    ~UpgradableBinary() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }
    void replace_with(const std::function<void(const std::string&)>& write) const {
        std::string next = path + ".new";
        write(next);
        chmod(next.c_str(), 0755);
        REQUIRE(rename(next.c_str(), path.c_str()) == 0);
    }
    // The next release: the same code built as version X+next (server/CMakeLists.txt), so the new master's
    // log and STATUS= show that new code runs.
    void replace_with_next_build() const {
        replace_with([](const std::string& to) { fs::copy_file(ECHO_HARDENED_NEXT_BIN, to); });
    }
    void replace_with_script(const std::string& text) const {
        replace_with([&](const std::string& to) { std::ofstream(to) << text; });
    }
};

std::string next_version() {
    return std::string(echo::kVersion) + "+next";
}

// The new master is not the harness's child: once the old one has exited it belongs to init. Stopped by
// its pid, waited for (bounded), pass or fail.
struct NewMaster {
    pid_t pid = 0;
    ~NewMaster() {
        if (pid <= 0 || !test::alive(pid)) return;
        kill(pid, SIGTERM);
        if (!test::eventually([&] { return !test::alive(pid); }, 20s)) kill(pid, SIGKILL);
    }
};

pid_t pid_in(const std::string& line) {
    auto at = line.rfind("(pid ");
    return at == std::string::npos ? 0 : std::atoi(line.c_str() + at + 5);
}

// Its children that serve: not its exec helper, not a metrics process.
std::vector<pid_t> workers_of(pid_t master) {
    std::vector<pid_t> out;
    for (pid_t c : test::children_of(master))
        if (auto name = test::comm(c); name && *name != "echo-exec" && *name != "echo-metrics")
            out.push_back(c);
    return out;
}

// The index of the first notification line equal to `line` at or after `from`; -1 if none.
long find_note(const std::vector<std::string>& notes, const std::string& line, long from = 0) {
    for (auto i = static_cast<std::size_t>(std::max(from, 0L)); i < notes.size(); ++i)
        if (notes[i] == line) return static_cast<long>(i);
    return -1;
}

}  // namespace

TEST_CASE(
    "upgrade: a replaced binary takes over 1,000 idle, 50 ping-pong and 10 streaming connections, none "
    "dropped") {
    raise_nofile();
    UpgradableBinary binary;
    test::ServerOptions options;
    options.binary = binary.path;
    auto server = test::start_server({"--workers", "2"}, options);
    auto old_workers = test::wait_for_workers(*server, 2);
    REQUIRE(test::eventually([&] { return server->exec_helper().has_value(); }, 5s));
    std::uint64_t verified = 0;
    auto idle = open_idle(server->port(), 1000, verified);
    REQUIRE(idle.size() == 1000);
    LoadRun pingpong(server->port(), {"--mode", "pingpong", "-c", "50"});
    LoadRun streams(server->port(), {"--mode", "stream", "-c", "10", "-s", "16K", "--window", "256K"});
    REQUIRE(test::eventually([&] { return established_on(server->port()) >= 1060; }, 10s));

    binary.replace_with_next_build();
    const auto at = Clock::now();
    server->signal(SIGHUP);
    long line = server->wait_for_log("upgrade: now running echo-hardened " + next_version() + " ", 30s);
    REQUIRE_MESSAGE(line >= 0, server->log());
    NewMaster successor{pid_in(server->log_line_at(line))};
    const double took_ms = ms_since(at);
    CHECK(successor.pid > 0);
    CHECK(successor.pid != server->pid());
    CHECK(server->wait_exit_code(20s) == 0);  // the old master exits once everything is handed over
    CHECK(test::eventually([&] { return test::all_reaped(old_workers); }, 10s));
    CHECK(test::eventually([&] { return workers_of(successor.pid).size() == 2; }, 10s));

    CHECK(still_echoing(idle, 1000, verified) == idle.size());
    auto pp = pingpong.stop();
    auto st = streams.stop();
    check_load(pp, false);
    check_load(st, false);
    // systemd's view: the reload began, the main pid changed, and the service was ready again.
    auto notes = server->notifications();
    long reloading = -1;
    for (std::size_t i = 0; i < notes.size(); ++i)
        if (notes[i].rfind("RELOADING=1", 0) == 0) reloading = static_cast<long>(i);
    long main_pid = find_note(notes, "MAINPID=" + std::to_string(successor.pid), reloading);
    CHECK(reloading >= 0);
    CHECK(main_pid > reloading);
    CHECK(find_note(notes, "READY=1", main_pid) > main_pid);
    // The new master's own STATUS= names the version it runs (systemctl status shows it).
    CHECK(std::any_of(notes.begin() + std::max(main_pid, 0L), notes.end(), [](const std::string& n) {
        return n.rfind("STATUS=echo-hardened " + next_version() + " (upgraded); ", 0) == 0;
    }));
    const std::string log = server->log();
    CHECK(log.find("upgrade: handed ") != std::string::npos);
    CHECK(log.find("upgrade failed") == std::string::npos);
    report({"upgrade: replaced binary, SIGHUP", "1,000 idle + 50 ping-pong + 10 streaming", "1 upgrade",
            verified + pp.count("total_bytes") + st.count("total_bytes"),
            pp.count("errors") + st.count("errors"), 0,
            fmt::format("0 dropped; SIGHUP to the new master serving everything {:.0f} ms", took_ms)});
}

TEST_CASE("upgrade: a new binary that exits at once leaves the old master serving every connection") {
    raise_nofile();
    UpgradableBinary binary;
    test::ServerOptions options;
    options.binary = binary.path;
    auto server = test::start_server({"--workers", "2"}, options);
    auto before = test::wait_for_workers(*server, 2);
    std::uint64_t verified = 0;
    auto idle = open_idle(server->port(), 200, verified);
    REQUIRE(idle.size() == 200);
    LoadRun pingpong(server->port(), {"--mode", "pingpong", "-c", "10"});
    REQUIRE(test::eventually([&] { return established_on(server->port()) >= 210; }, 10s));

    binary.replace_with_script("#!/bin/sh\nexit 1\n");
    server->signal(SIGHUP);
    long line = server->wait_for_log("upgrade failed: ", 20s);
    REQUIRE_MESSAGE(line >= 0, server->log());
    const std::string failure = server->log_line_at(line);
    CHECK(failure.find("exited before it was ready") != std::string::npos);
    CHECK(failure.find("still serving with the running binary") != std::string::npos);
    // A second try fails the same way: the helper stays for the next attempt.
    server->signal(SIGHUP);
    CHECK_MESSAGE(server->wait_for_log("upgrade failed: ", 20s, line + 1) > line, server->log());

    CHECK(test::alive(server->pid()));
    check_no_worker_died(*server, before, test::wait_for_workers(*server, 2));
    CHECK(still_echoing(idle, 2000, verified) == idle.size());
    auto pp = pingpong.stop();
    check_load(pp, false);
    auto notes = server->notifications();
    long reloading = -1;
    for (std::size_t i = 0; i < notes.size(); ++i)
        if (notes[i].rfind("RELOADING=1", 0) == 0 && reloading < 0) reloading = static_cast<long>(i);
    CHECK(reloading >= 0);
    CHECK(find_note(notes, "READY=1", reloading) > reloading);
    CHECK(std::any_of(notes.begin() + std::max(reloading, 0L), notes.end(),
                      [](const std::string& n) { return n.rfind("STATUS=upgrade failed", 0) == 0; }));
    server->signal(SIGTERM);
    CHECK(server->wait_exit_code(20s) == 0);
    report({"upgrade: new binary exits 1", "200 idle + 10 ping-pong", "2 failed upgrades",
            verified + pp.count("total_bytes"), pp.count("errors"), 0, "0 dropped; old master serving"});
}

TEST_CASE("upgrade: a listener that expects PROXY headers still does under the new master") {
    UpgradableBinary binary;
    test::ServerOptions options;
    options.binary = binary.path;
    auto server = test::start_server({"--workers", "1", "--listen", "127.0.0.1:0", "--proxy-listen",
                                      "127.0.0.1:0", "--log-level", "debug"},
                                     options);
    auto addresses = test::listening_addresses(server->log());
    REQUIRE(addresses.size() == 2);
    const std::uint16_t plain = addresses[0].port(), proxied = addresses[1].port();
    auto reply = [](std::uint16_t port, const std::string& bytes) {
        auto fd = test::connect_local(port);
        REQUIRE(fd.valid());
        return test::exchange(fd.get(), bytes, 10s).value_or("(no EOF)");
    };
    const std::string header = "PROXY TCP4 192.0.2.7 127.0.0.1 4242 7007\r\n";

    binary.replace_with_next_build();
    server->signal(SIGHUP);
    long line = server->wait_for_log("upgrade: now running echo-hardened " + next_version() + " ", 30s);
    REQUIRE_MESSAGE(line >= 0, server->log());
    NewMaster successor{pid_in(server->log_line_at(line))};
    CHECK(server->wait_exit_code(20s) == 0);
    // The new master took the listeners as systemd passes them: the PROXY one under a name that says so.
    CHECK(reply(proxied, header + "after") == "after");
    CHECK(server->wait_for_log("connection from 192.0.2.7:4242", 10s) >= 0);
    CHECK(reply(proxied, "no header").empty());
    CHECK(reply(plain, "plain") == "plain");
}
