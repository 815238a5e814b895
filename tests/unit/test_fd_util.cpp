// test_fd_util.cpp: close_inherited_fds (server/os/fd_util.hpp) in a forked child, checked in /proc/self/fd.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <vector>

#include "os/fd_util.hpp"

using echo::close_inherited_fds;

namespace {

// The descriptors open in this process, without the one that reads the directory.
std::set<int> open_fds() {
    std::set<int> fds;
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return fds;
    while (dirent* entry = readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        int fd = std::atoi(entry->d_name);
        if (fd != dirfd(dir)) fds.insert(fd);
    }
    closedir(dir);
    return fds;
}

enum ChildExit { kOk = 0, kSetupFailed = 10, kCallFailed = 11, kWrongFds = 12 };

// Forks; the child opens `extra` pipes, keeps the descriptors `pick` chooses from them (plus stdin, stdout
// and stderr), and exits with a ChildExit. The parent returns that code.
template <typename Pick>
int in_child(int extra, Pick pick) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::vector<int> opened;
        for (int i = 0; i < extra; ++i) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0) _exit(kSetupFailed);
            opened.insert(opened.end(), {p[0], p[1]});
        }
        std::vector<int> keep = pick(opened);
        std::set<int> expected(keep.begin(), keep.end());
        expected.erase(-1);
        for (int fd : {0, 1, 2})
            if (fcntl(fd, F_GETFD) >= 0) expected.insert(fd);
        if (close_inherited_fds(keep) != 0) _exit(kCallFailed);
        _exit(open_fds() == expected ? kOk : kWrongFds);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE("close_inherited_fds keeps the standard descriptors and the chosen ones, nothing else") {
    CHECK(in_child(4, [](const std::vector<int>& fds) { return std::vector<int>{fds[1], fds[4]}; }) == kOk);
}

TEST_CASE("close_inherited_fds: an unsorted keep list with duplicates and a negative value") {
    CHECK(in_child(5, [](const std::vector<int>& fds) {
              return std::vector<int>{fds[7], -1, fds[0], fds[7], fds[3], fds[2]};
          }) == kOk);
}

TEST_CASE("close_inherited_fds: adjacent kept descriptors and the highest one open") {
    CHECK(in_child(3, [](const std::vector<int>& fds) {
              return std::vector<int>{fds[0], fds[1], fds[2], fds.back()};
          }) == kOk);
}

TEST_CASE("close_inherited_fds with nothing to keep closes all but stdin, stdout and stderr") {
    CHECK(in_child(3, [](const std::vector<int>&) { return std::vector<int>{}; }) == kOk);
}

TEST_CASE("close_inherited_fds keeps a descriptor far above the others") {
    CHECK(in_child(1, [](const std::vector<int>& fds) {
              int high = fcntl(fds[0], F_DUPFD_CLOEXEC, 500);
              return std::vector<int>{high};
          }) == kOk);
}
