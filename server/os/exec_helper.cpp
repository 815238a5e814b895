// exec_helper.cpp: the exec helper's life: record the binary, wait for a request, start the new master.
#include "os/exec_helper.hpp"

#include <fcntl.h>
#include <linux/limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "base/log.hpp"
#include "os/channel.hpp"
#include "os/fd_util.hpp"

extern char** environ;

namespace echo {
namespace {

constexpr std::size_t kMaxPassed = 32;  // the upgrade channel and the listeners (systemd passes a few)
constexpr std::string_view kDeleted = " (deleted)";

bool identify(const std::string& path, BinaryIdentity& out) {
    struct stat st {};
    if (stat(path.c_str(), &st) < 0) return false;
    out = {st.st_dev, st.st_ino, st.st_mtim};
    return true;
}

// The binary this process runs, as a path to look at again later.
std::string own_binary() {
    std::array<char, PATH_MAX> buf{};
    ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    if (n <= 0) return {};
    std::string path(buf.data(), static_cast<std::size_t>(n));
    // Replaced already before we started: the path is still where the next binary will be.
    if (path.ends_with(kDeleted)) path.resize(path.size() - kDeleted.size());
    return path;
}

bool drop_variable(std::string_view entry) {
    for (std::string_view name :
         {"LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "ECHO_UPGRADE_FD=", "WATCHDOG_PID="})
        if (entry.starts_with(name)) return true;
    return false;
}

struct Recorded {
    std::string path;
    std::vector<std::string> argv;
    std::vector<std::string> env;  // without what each request sets anew
    bool watchdog_pid = false;     // systemd set WATCHDOG_PID=: the new master needs its own
    sigset_t mask{};               // main()'s, given back to the new binary
};

// In the new master's process, between clone() and execve(): only async-signal-safe calls from here on
// would be the rule after a fork in a threaded program; this one has a single thread, so building strings
// is fine. Failures go to stderr (the journal's stream): the loggers' own fds are closed by now.
[[noreturn]] void become_successor(const Recorded& r, const std::vector<int>& fds,
                                   const std::vector<std::string>& names) {
    const int n = static_cast<int>(fds.size());  // the listeners, then the upgrade channel
    const int high = 3 + n + 1;
    std::vector<int> moved;
    for (int fd : fds) {
        int m = fcntl(fd, F_DUPFD, high);
        if (m < 0)
            dprintf(2, "echo-hardened upgrade: fcntl(F_DUPFD) failed: %s\n", strerror(errno)), _exit(127);
        moved.push_back(m);
    }
    (void)syscall(SYS_close_range, 3U, static_cast<unsigned>(high - 1), 0U);  // EINVAL only: cannot be
    for (int i = 0; i < n; ++i)
        if (fcntl(moved[static_cast<std::size_t>(i)], F_DUPFD, 3 + i) != 3 + i)
            dprintf(2, "echo-hardened upgrade: cannot place fd %d\n", 3 + i), _exit(127);
    (void)syscall(SYS_close_range, static_cast<unsigned>(high), ~0U, 0U);

    std::string listen_names;
    for (const auto& name : names)
        listen_names += (listen_names.empty() ? "" : ":") + name;
    std::vector<std::string> env = r.env;
    const pid_t self = getpid();
    env.push_back("LISTEN_FDS=" + std::to_string(n - 1));
    env.push_back("LISTEN_PID=" + std::to_string(self));
    env.push_back("LISTEN_FDNAMES=" + listen_names);
    env.push_back(std::string(kUpgradeFdVariable) + "=" + std::to_string(3 + n - 1));
    if (r.watchdog_pid) env.push_back("WATCHDOG_PID=" + std::to_string(self));
    std::vector<char*> envp, argv;
    for (auto& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    for (const auto& a : r.argv)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    (void)sigprocmask(SIG_SETMASK, &r.mask, nullptr);  // EINVAL only: cannot be
    execve(r.path.c_str(), argv.data(), envp.data());
    dprintf(2, "echo-hardened upgrade: execve(%s) failed: %s\n", r.path.c_str(), strerror(errno));
    _exit(127);
}

// One request: "exec" and the listeners' names, '\n'-separated; the upgrade channel and the listeners by
// SCM_RIGHTS. Returns false when the master is gone (EOF) or the channel failed.
bool serve_one(int sock, const Recorded& r) {
    std::array<char, 4096> data{};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kMaxPassed)> control{};
    iovec iov{data.data(), data.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    ssize_t got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (got < 0 && errno == EINTR) return true;
    if (got <= 0) return false;
    std::vector<UniqueFd> fds;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            fds.emplace_back(fd);
        }
    }
    std::vector<std::string> names;
    std::string_view text(data.data(), static_cast<std::size_t>(got));
    if (!text.starts_with("exec") || fds.size() < 2) {
        spdlog::error("exec helper: a malformed request ({} fd(s)); ignored", fds.size());
        return true;
    }
    for (std::size_t at = text.find('\n'); at != std::string_view::npos;) {
        std::size_t next = text.find('\n', at + 1);
        names.emplace_back(text.substr(at + 1, next == std::string_view::npos ? next : next - at - 1));
        at = next;
    }
    // fds[0] is the upgrade channel; the new master wants it after the listeners.
    std::vector<int> order;
    for (std::size_t i = 1; i < fds.size(); ++i)
        order.push_back(fds[i].get());
    order.push_back(fds[0].get());
    names.resize(fds.size() - 1, "unknown");
    // A double fork: the new master is orphaned at once and adopted by the service manager (PID 1, or the
    // nearest subreaper), so after MAINPID= systemd supervises a child of its own. A main process that is not
    // its child systemd cannot wait for ("Supervising process N which is not our child"), and its stop then
    // SIGKILLs it at once, losing R62's graceful stop. The old master learns of a failure from the upgrade
    // channel's hang-up.
    pid_t middle = fork();
    if (middle == 0) {
        pid_t pid = fork();
        if (pid == 0) become_successor(r, order, names);
        if (pid < 0) dprintf(2, "echo-hardened upgrade: fork() failed: %s\n", strerror(errno));
        ChannelWriter say(false);
        say.push(MessageKind::SuccessorStarted, pid > 0 ? static_cast<std::uint64_t>(pid) : 0);
        if (int e = say.flush(fds[0].get()); e < 0)
            dprintf(2, "echo-hardened upgrade: cannot tell the master pid %d: %s\n", pid, strerror(-e));
        _exit(0);
    }
    if (middle < 0) {
        spdlog::error("exec helper: fork() failed: {}", errno_text(-errno));
        ChannelWriter say(false);
        say.push(MessageKind::SuccessorStarted, 0);
        (void)say.flush(fds[0].get());  // a master that cannot hear this hears the channel's hang-up instead
    } else {
        while (waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    return true;
}

[[noreturn]] void run_helper(int sock, pid_t master, Recorded r) {
    // R18's rule for a worker: it dies with its master, even if the master died before this took hold.
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);  // EINVAL only: cannot be
    if (getppid() != master) _exit(0);
    // Told apart from the workers in ps and /proc/PID/comm (and by the tests that count workers).
    (void)prctl(PR_SET_NAME, "echo-exec");  // cannot fail for a string argument
    std::array<int, 2> keep = {sock, journal_socket_fd()};
    (void)close_inherited_fds(keep);  // a failure leaves an fd open in an idle process: harmless
    sigset_t all;
    sigfillset(&all);
    (void)sigprocmask(SIG_SETMASK, &all, nullptr);  // only the death signal ends it (SIGKILL: not maskable)
    while (serve_one(sock, r)) {
    }
    _exit(0);
}

}  // namespace

ExecHelper ExecHelper::start(int argc, char** argv) {
    ExecHelper h;
    Recorded r;
    r.path = own_binary();
    if (r.path.empty() || !identify(r.path, h.started_from_)) {
        spdlog::warn("cannot find the running binary (/proc/self/exe): no binary upgrade on SIGHUP");
        return h;
    }
    for (int i = 0; i < argc; ++i)
        r.argv.emplace_back(argv[i]);
    for (char** e = environ; *e != nullptr; ++e) {
        if (std::string_view(*e).starts_with("WATCHDOG_PID=")) r.watchdog_pid = true;
        if (!drop_variable(*e)) r.env.emplace_back(*e);
    }
    (void)sigprocmask(SIG_SETMASK, nullptr, &r.mask);  // reading it cannot fail
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        spdlog::warn("socketpair() for the exec helper failed: {}; no binary upgrade on SIGHUP",
                     errno_text(-errno));
        return h;
    }
    UniqueFd ours(pair[0]), theirs(pair[1]);
    const pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        spdlog::warn("fork() of the exec helper failed: {}; no binary upgrade on SIGHUP", errno_text(-errno));
        return h;
    }
    if (pid == 0) {
        ours.reset();
        run_helper(theirs.get(), master, std::move(r));
    }
    h.pid_ = pid;
    h.channel_ = std::move(ours);
    h.path_ = std::move(r.path);
    return h;
}

bool ExecHelper::binary_changed() const {
    BinaryIdentity now;
    if (!running() || !identify(path_, now)) return false;
    return now.dev != started_from_.dev || now.ino != started_from_.ino ||
           now.mtime.tv_sec != started_from_.mtime.tv_sec || now.mtime.tv_nsec != started_from_.mtime.tv_nsec;
}

int ExecHelper::request_exec(int upgrade, const std::vector<std::pair<int, std::string>>& listeners) const {
    if (listeners.size() + 1 > kMaxPassed) return -E2BIG;
    std::string text = "exec";
    std::vector<int> fds = {upgrade};
    for (const auto& [fd, name] : listeners) {
        text += "\n" + name;
        fds.push_back(fd);
    }
    iovec iov{text.data(), text.size()};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int) * kMaxPassed)> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    if (sendmsg(channel_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) return -errno;
    return 0;
}

}  // namespace echo
