// test_privileges.cpp: started as root, the master, its workers and its metrics process run as the
// unprivileged user with no capability and no supplementary group, under Landlock (R99); a missing user is
// exit 2 with one line; not root, --user is ignored with a warning; SIGHUP still re-reads the config file.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "fixture.hpp"

using namespace test;

namespace {

// The fields of /proc/PID/status this test reads ("Uid", "CapEff", ...), each value as the kernel prints it.
std::map<std::string, std::string> status_of(pid_t pid) {
    std::map<std::string, std::string> fields;
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        fields[line.substr(0, colon)] = value;
    }
    return fields;
}

std::string four(unsigned id) {
    auto s = std::to_string(id);
    return s + "\t" + s + "\t" + s + "\t" + s;
}

// The user the server drops to when no --user is given (docs/PRIVILEGES.md "Which user").
passwd default_user() {
    passwd* pw = getpwnam("echo-hardened");
    if (pw == nullptr) pw = getpwnam("nobody");
    REQUIRE(pw != nullptr);
    return *pw;
}

// Every id the unprivileged uid/gid, no groups, every capability set and the bounding set empty.
void check_unprivileged(pid_t pid, uid_t uid, gid_t gid, const char* who) {
    auto s = status_of(pid);
    INFO(who << " " << pid);
    CHECK(s["Uid"] == four(uid));
    CHECK(s["Gid"] == four(gid));
    CHECK(s["Groups"] == "");
    for (const char* set : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
        INFO(set);
        CHECK(s[set] == "0000000000000000");
    }
    CHECK(s["NoNewPrivs"] == "1");
}

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

}  // namespace

TEST_CASE(
    "started as root: master, workers and metrics process drop to the default user, without capabilities") {
    if (geteuid() != 0) {
        MESSAGE("not root: nothing to drop, skipped");
        return;
    }
    const passwd user = default_user();
    auto server = start_server({"--log-level", "debug", "--metrics-listen", "127.0.0.1:0"});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    check_unprivileged(server->pid(), user.pw_uid, user.pw_gid, "master");
    for (pid_t w : workers)
        check_unprivileged(w, user.pw_uid, user.pw_gid, "worker");
    REQUIRE(eventually([&] { return server->metrics_process().has_value(); }, 10s));
    check_unprivileged(*server->metrics_process(), user.pw_uid, user.pw_gid, "metrics process");

    auto log = server->log();
    CHECK(log.find("running as user " + std::string(user.pw_name) + " (" + std::to_string(user.pw_uid) +
                   ")") != std::string::npos);
    // Landlock is offered here (kernel 6.18): the master says so, and each worker's set-up confirms its own.
    CHECK(log.find("Landlock in force") != std::string::npos);
    CHECK(log.find("the master may only read beneath /proc; the workers nothing") != std::string::npos);
    CHECK(count(log, "this worker can open no file") == 2);
    // Still a server: the sockets were bound as root, and it serves them as the user.
    CHECK(echo_once(server->port(), "dropped") == "dropped");
}

TEST_CASE("started as root with --user and --group: exactly those ids") {
    if (geteuid() != 0) {
        MESSAGE("not root: skipped");
        return;
    }
    passwd* daemon_user = getpwnam("daemon");
    group* nogroup = getgrnam("nogroup");
    REQUIRE(daemon_user != nullptr);
    REQUIRE(nogroup != nullptr);
    auto server = start_server({"--user", "daemon", "--group", "nogroup"});
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    check_unprivileged(server->pid(), daemon_user->pw_uid, nogroup->gr_gid, "master");
    for (pid_t w : workers)
        check_unprivileged(w, daemon_user->pw_uid, nogroup->gr_gid, "worker");
}

TEST_CASE("a user or group that does not exist: exit 2 and one line, before anything is bound") {
    if (geteuid() != 0) {
        MESSAGE("not root: the name is not looked up, skipped");
        return;
    }
    for (auto args : {std::vector<std::string>{"--user", "echo-no-such-user"},
                      std::vector<std::string>{"--group", "echo-no-such-group"}}) {
        args.insert(args.end(), {"--listen", "127.0.0.1:0"});
        auto r = run_to_exit(args, {}, 5s);
        INFO(args[0] << ": " << r.err);
        CHECK(r.exit_code == 2);
        CHECK(count(r.err, "\n") == 1);
        CHECK(r.err.find(args[0] + ": no ") != std::string::npos);
        CHECK(r.err.find("listening on") == std::string::npos);
    }
    // The environment and a config file name it the same way.
    auto r = run_to_exit({"--listen", "127.0.0.1:0"}, {{"ECHO_USER", "echo-no-such-user"}}, 5s);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("no user 'echo-no-such-user'") != std::string::npos);
}

TEST_CASE("not root: --user is ignored with a warning, and the ids stay the caller's") {
    constexpr uid_t kUid = 64020;  // no other test's (fixture.hpp)
    ServerOptions options;
    options.uid = kUid;
    auto server = start_server({"--user", "nobody"}, options);
    CHECK(server->log().find("--user/--group ignored: not started as root (uid 64020)") != std::string::npos);
    auto workers = wait_for_workers(*server, 2);
    REQUIRE(workers.size() == 2);
    CHECK(status_of(workers[0])["Uid"] == four(kUid));
    CHECK(server->log().find("Landlock") == std::string::npos);
    CHECK(echo_once(server->port(), "as-is") == "as-is");
}

TEST_CASE("after the drop SIGHUP re-reads the config file, rewritten in place or replaced by rename()") {
    if (geteuid() != 0) {
        MESSAGE("not root: skipped");
        return;
    }
    char tmpl[] = "/tmp/echo-priv-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl, path = dir + "/echo.conf", next = dir + "/echo.conf.new";
    chmod(dir.c_str(), 0755);  // the unprivileged user must reach the file, as RUNBOOK's guide says
    std::ofstream(path) << "workers = 2\n";
    chmod(path.c_str(), 0644);
    auto server = start_server({"--config", path});
    REQUIRE(wait_for_workers(*server, 2).size() == 2);
    CHECK(server->log().find("the master may only read beneath " + dir) != std::string::npos);

    std::ofstream(path) << "workers = 3\n";
    server->signal(SIGHUP);
    CHECK(server->wait_for_log("reload complete: 3 worker(s)", 15s) >= 0);
    CHECK(wait_for_workers(*server, 3).size() == 3);

    // An editor's save: a new file renamed over the old one, a new inode the rule on the directory covers.
    std::ofstream(next) << "workers = 1\n";
    chmod(next.c_str(), 0644);
    REQUIRE(rename(next.c_str(), path.c_str()) == 0);
    auto mark = static_cast<long>(server->log().size());
    server->signal(SIGHUP);
    CHECK(server->wait_for_log("reload complete: 1 worker(s)", 15s, mark) >= 0);
    CHECK(echo_once(server->port(), "reloaded") == "reloaded");
    unlink(path.c_str());
    rmdir(dir.c_str());
}

TEST_CASE("Landlock holds the master to its config directory: a link moved outside it cannot be re-read") {
    if (geteuid() != 0) {
        MESSAGE("not root: skipped");
        return;
    }
    // Permissions allow the unprivileged user everything here; only Landlock can refuse the read.
    char tmpl[] = "/tmp/echo-priv-XXXXXX", other[] = "/tmp/echo-priv-other-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    REQUIRE(mkdtemp(other) != nullptr);
    const std::string dir = tmpl, outside = other, link = dir + "/echo.conf";
    chmod(outside.c_str(), 0755);
    chmod(dir.c_str(), 0755);
    const std::string inside_file = dir + "/real.conf", outside_file = outside + "/other.conf";
    std::ofstream(inside_file) << "workers = 2\n";
    std::ofstream(outside_file) << "workers = 3\n";
    chmod(inside_file.c_str(), 0644);
    chmod(outside_file.c_str(), 0644);
    REQUIRE(symlink(inside_file.c_str(), link.c_str()) == 0);
    auto server = start_server({"--config", link});
    REQUIRE(wait_for_workers(*server, 2).size() == 2);

    // The link now leads outside the directories the master may read: the reload is refused, the old
    // configuration kept.
    unlink(link.c_str());
    REQUIRE(symlink(outside_file.c_str(), link.c_str()) == 0);
    server->signal(SIGHUP);
    long at = server->wait_for_log("reload failed", 10s);
    REQUIRE(at >= 0);
    CHECK(server->log_line_at(at).find("Permission denied") != std::string::npos);
    CHECK(wait_for_workers(*server, 2).size() == 2);
    CHECK(echo_once(server->port(), "kept") == "kept");
    for (const auto& p : {link, inside_file, outside_file})
        unlink(p.c_str());
    rmdir(outside.c_str());
    rmdir(dir.c_str());
}
