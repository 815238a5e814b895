// test_privileges.cpp: resolving --user/--group, and the Landlock ruleset (server/os/landlock.hpp) in forked
// children: what it lets them read, and that it refuses everything else with EACCES.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "os/landlock.hpp"
#include "os/privileges.hpp"

using echo::confine_file_system;

namespace {

// A directory with one readable file, removed afterwards.
struct Scratch {
    std::string dir;
    std::string file;
    Scratch() {
        char tmpl[] = "/tmp/echo-landlock-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        file = dir + "/readable";
        std::ofstream(file) << "kept\n";
    }
    ~Scratch() {
        unlink((dir + "/created").c_str());
        unlink(file.c_str());
        rmdir(dir.c_str());
    }
};

// errno of open(path, flags) in this process; 0 when it succeeded.
int open_errno(const std::string& path, int flags) {
    int fd = open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

// Runs `body` in a forked child and returns its exit status (a number the body chose, 0 for success).
template <typename Body>
int in_child(Body body) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(body());
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("Landlock: a confined process reads beneath its paths only, and nothing is writable or creatable") {
    if (echo::landlock_abi() == 0) {
        MESSAGE("this kernel offers no Landlock: skipped");
        return;
    }
    Scratch scratch;
    int status = in_child([&] {
        int before = open("/etc/passwd", O_RDONLY | O_CLOEXEC);  // opened before: keeps working
        auto outcome = confine_file_system({scratch.dir});
        if (!outcome.in_force || outcome.abi <= 0) return 10;
        if (open_errno(scratch.file, O_RDONLY) != 0) return 11;
        if (open_errno(scratch.file, O_WRONLY) != EACCES) return 12;
        if (open_errno(scratch.dir + "/created", O_WRONLY | O_CREAT) != EACCES) return 13;
        if (open_errno("/etc/passwd", O_RDONLY) != EACCES) return 14;
        char byte;
        if (before < 0 || read(before, &byte, 1) != 1) return 15;
        if (unlink(scratch.file.c_str()) == 0 || errno != EACCES) return 16;
        return 0;
    });
    CHECK(status == 0);
    // The parent is untouched: Landlock binds the process that asked and its later children only.
    CHECK(open_errno("/etc/passwd", O_RDONLY) == 0);
}

TEST_CASE("Landlock: a worker's ruleset, stacked on the master's, leaves no file to open") {
    if (echo::landlock_abi() == 0) {
        MESSAGE("this kernel offers no Landlock: skipped");
        return;
    }
    Scratch scratch;
    int status = in_child([&] {
        if (!confine_file_system({scratch.dir}).in_force) return 10;  // the master's
        if (open_errno(scratch.file, O_RDONLY) != 0) return 11;
        return in_child([&] {
            if (!confine_file_system({}).in_force) return 20;  // the worker's, with no rule
            if (open_errno(scratch.file, O_RDONLY) != EACCES) return 21;
            if (open_errno(scratch.dir, O_RDONLY | O_DIRECTORY) != EACCES) return 22;
            if (open_errno("/", O_RDONLY | O_DIRECTORY) != EACCES) return 23;
            if (open_errno("/tmp/echo-landlock-new", O_WRONLY | O_CREAT) != EACCES) return 24;
            return 0;
        });
    });
    CHECK(status == 0);
}

TEST_CASE("resolve_identity: a named user and group, the user's primary group by default") {
    std::string why;
    auto id = echo::resolve_identity("nobody", "", why);
    REQUIRE_MESSAGE(id, why);
    passwd* pw = getpwnam("nobody");
    REQUIRE(pw != nullptr);
    CHECK(id->uid == pw->pw_uid);
    CHECK(id->gid == pw->pw_gid);
    CHECK(id->user == "nobody");
    group* gr = getgrgid(pw->pw_gid);
    REQUIRE(gr != nullptr);
    CHECK(id->group == gr->gr_name);

    auto with_group = echo::resolve_identity("nobody", "nogroup", why);
    REQUIRE_MESSAGE(with_group, why);
    CHECK(with_group->gid == getgrnam("nogroup")->gr_gid);
    CHECK(with_group->group == "nogroup");
}

TEST_CASE("resolve_identity: the default is echo-hardened when it exists, else nobody") {
    std::string why;
    auto id = echo::resolve_identity("", "", why);
    REQUIRE_MESSAGE(id, why);
    CHECK(id->user == (getpwnam(echo::kDefaultUser) != nullptr ? echo::kDefaultUser : echo::kFallbackUser));
}

TEST_CASE("resolve_identity: a missing user or group, root and root's group are refused with one line") {
    std::string why;
    CHECK(!echo::resolve_identity("echo-no-such-user", "", why));
    CHECK(why == "--user: no user 'echo-no-such-user'");
    CHECK(!echo::resolve_identity("nobody", "echo-no-such-group", why));
    CHECK(why == "--group: no group 'echo-no-such-group'");
    CHECK(!echo::resolve_identity("root", "", why));
    CHECK(why.find("is root") != std::string::npos);
    CHECK(!echo::resolve_identity("nobody", "root", why));
    CHECK(why.find("root's group") != std::string::npos);
    CHECK(why.find('\n') == std::string::npos);
}
