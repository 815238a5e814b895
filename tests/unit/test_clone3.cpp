// test_clone3.cpp: under the in-process filters clone3 fails with ENOSYS, and fork still works (R97).
// glibc tries clone3 first where it uses it and falls back to clone on ENOSYS; a filter cannot inspect
// clone3's flags (they sit behind a pointer), so the policy answers it with ENOSYS (seccomp/policy.txt,
// RUNBOOK.md "Seccomp"). This is the test that the answer really is ENOSYS, not a kill and not EPERM, which
// glibc would report instead of falling back.
#include <doctest/doctest.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "base/log.hpp"
#include "config/config.hpp"
#include "os/seccomp_filter.hpp"

namespace {

enum ChildExit { kOk = 0, kFilterFailed = 10, kClone3NotEnosys = 11, kForkFailed = 12, kGrandchildBad = 13 };

// A raw clone3 with the smallest request there is (fork-like, SIGCHLD on exit). Returns the errno, or 0 if it
// created a process (which then exits at once and is reaped here).
int clone3_errno() {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) _exit(0);
    if (pid > 0) {
        (void)waitpid(static_cast<pid_t>(pid), nullptr, 0);
        return 0;
    }
    return errno;
}

// In a forked child (a filter cannot be removed): loads the master's filter, and the worker's on top when
// `worker`, then checks clone3 and fork. Returns the child's ChildExit, or -1 if it died of a signal.
int filtered_child(bool worker) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // The server's own sink: the test's default spdlog sink asks the terminal (ioctl), which no filter
        // allows.
        echo::setup_logging(echo::LogLevel::Warning);
        if (!echo::install_master_filter(echo::SeccompMode::Enforce)) _exit(kFilterFailed);
        if (worker && !echo::install_worker_filter(echo::SeccompMode::Enforce)) _exit(kFilterFailed);
        if (clone3_errno() != ENOSYS) _exit(kClone3NotEnosys);
        if (!worker) {  // the master forks its workers; a worker never forks
            pid_t grandchild = fork();
            if (grandchild < 0) _exit(kForkFailed);
            if (grandchild == 0) _exit(0);
            int status = 0;
            if (waitpid(grandchild, &status, 0) != grandchild || !WIFEXITED(status) ||
                WEXITSTATUS(status) != 0)
                _exit(kGrandchildBad);
        }
        _exit(kOk);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return WEXITSTATUS(status);
}

}  // namespace

TEST_CASE(
    "without a filter clone3 creates a process here (the kernel has it, so ENOSYS below is the filter's)") {
    CHECK(clone3_errno() == 0);
}

TEST_CASE("the master's filter answers clone3 with ENOSYS, and fork() still works through clone") {
    CHECK(filtered_child(false) == kOk);
}

TEST_CASE("the worker's filter, stacked on the master's, answers clone3 with ENOSYS too") {
    CHECK(filtered_child(true) == kOk);
}
