// server_process.cpp: fork/exec of the server under test, and its observation.
#include "server_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace test {

std::string server_binary() {
    const char* override_path = std::getenv("ECHO_HARDENED_BIN");
    return override_path ? override_path : ECHO_HARDENED_BIN;
}

// An exec prepared before fork(): the child of a multi-threaded process (the notify threads) must not
// allocate, since another thread may have held the allocator's lock at the moment of the fork, and the child
// would wait for it forever.
class ExecImage {
  public:
    ExecImage(std::vector<std::string> argv, std::vector<std::string> env)
        : argv_s_(std::move(argv)), env_s_(std::move(env)) {
        for (auto& a : argv_s_)
            argv_.push_back(a.data());
        argv_.push_back(nullptr);
        for (auto& e : env_s_)
            envp_.push_back(e.data());
        envp_.push_back(nullptr);
    }
    // In the child: writes the child's pid into a variable prepared as "NAME=" plus padding, without
    // allocating.
    void set_pid(std::size_t env_index, pid_t pid) {
        std::string& var = env_s_[env_index];
        char digits[16];
        int n = 0;
        for (auto v = static_cast<unsigned long>(pid); v > 0 || n == 0; v /= 10)
            digits[n++] = static_cast<char>('0' + v % 10);
        auto at = var.find('=') + 1;
        while (n > 0)
            var[at++] = digits[--n];
        var[at] = '\0';  // the padding after it is never read: execve stops at the NUL
    }
    // In the child: exec, or 127 as a shell would say.
    [[noreturn]] void exec() {
        execve(argv_[0], argv_.data(), envp_.data());
        _exit(127);
    }

  private:
    std::vector<std::string> argv_s_, env_s_;
    std::vector<char*> argv_, envp_;
};

std::vector<std::string> clean_environment() {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string_view v(*e);
        if (v.starts_with("ECHO_") || v.starts_with("NOTIFY_SOCKET=") || v.starts_with("LISTEN_") ||
            v.starts_with("JOURNAL_STREAM=") || v.starts_with("WATCHDOG_"))
            continue;
        env.emplace_back(v);
    }
    return env;
}

namespace {

// In a forked child: each passed fd onto 3, 4, ... in order, as systemd passes them, without FD_CLOEXEC. A
// source may sit on a number another is about to take: only that one moves, out of the range, and the copy is
// closed once placed, so the child needs few more fds than it holds (10,000 stored connections with a hard
// limit of 20,000 must fit). Async-signal-safe: static tables, nothing allocated.
bool place_passed_fds(const std::vector<std::pair<int, std::string>>& passed) {
    constexpr int kMaxPassed = 65536;
    constexpr int kMaxNumber = 1 << 20;  // fs.nr_open's default: no fd number is above it
    static int sources[kMaxPassed];
    static int waiting[kMaxNumber];  // fd number -> 1 + the index of the source still to place from it, or 0
    const int count = static_cast<int>(passed.size());
    if (count > kMaxPassed) return false;
    for (int i = 0; i < count; ++i) {
        sources[i] = passed[static_cast<std::size_t>(i)].first;
        if (sources[i] < 0 || sources[i] >= kMaxNumber) return false;
        waiting[sources[i]] = i + 1;
    }
    for (int i = 0; i < count; ++i) {
        const int target = 3 + i, source = sources[i];
        waiting[source] = 0;
        if (source == target) {
            if (fcntl(target, F_SETFD, 0) < 0) return false;
            continue;
        }
        if (int later = waiting[target];
            later != 0) {  // a source not placed yet sits on the target: out of the way
            int moved = fcntl(target, F_DUPFD_CLOEXEC, 3 + count);
            if (moved < 0 || moved >= kMaxNumber) return false;
            sources[later - 1] = moved;
            waiting[moved] = later;
            waiting[target] = 0;
        }
        if (dup2(source, target) < 0) return false;  // dup2 clears FD_CLOEXEC
        if (source >= 3 + count)
            (void)close(source);  // frees the number for the next move; close-on-exec anyway
    }
    return true;
}

}  // namespace

ServerProcess::ServerProcess(ServerOptions options) {
    char tmpl[] = "/tmp/echo-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    log_path_ = dir_ + "/server.log";
    std::string notify_path = dir_ + "/notify";

    notify_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, notify_path.c_str(), sizeof addr.sun_path - 1);
    if (notify_fd_ < 0 || bind(notify_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        throw std::runtime_error("cannot bind the notify socket");
    // A server running as another user (options.uid) must still reach its notify socket.
    chmod(dir_.c_str(), 0755);
    chmod(notify_path.c_str(), 0666);
    notify_thread_ = std::thread([this] { notify_loop(); });

    // A clean environment: nothing of the CI's or a developer's ECHO_*/systemd variables leaks in.
    std::vector<std::string> env = clean_environment();
    notify_ = !options.no_notify_socket;
    if (notify_) env.push_back("NOTIFY_SOCKET=" + notify_path);
    for (auto& [k, v] : options.env)
        env.push_back(k + "=" + v);

    std::string binary = options.binary.empty() ? server_binary() : options.binary;
    std::vector<std::string> argv_s{binary};
    argv_s.insert(argv_s.end(), options.args.begin(), options.args.end());

    int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0644);
    if (log_fd < 0) throw std::runtime_error("cannot create the log file");
    if (options.journal_stream) {
        struct stat st {};
        fstat(log_fd, &st);
        env.push_back("JOURNAL_STREAM=" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
    }

    std::size_t listen_pid_index = 0;
    if (!options.pass_fds.empty()) {
        std::string names;
        for (auto& [fd, name] : options.pass_fds)
            names += (names.empty() ? "" : ":") + name;
        env.push_back("LISTEN_FDS=" + std::to_string(options.pass_fds.size()));
        env.push_back("LISTEN_FDNAMES=" + names);
        listen_pid_index = env.size();
        env.push_back("LISTEN_PID=" + std::string(20, ' '));
    } else if (options.pass_listen_fd >= 0) {
        env.push_back("LISTEN_FDS=1");
        listen_pid_index = env.size();
        env.push_back("LISTEN_PID=" + std::string(20, ' '));  // the child writes its pid here
    }
    ExecImage image(std::move(argv_s), std::move(env));

    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        // Async-signal-safe calls only from here on: no allocation (see ExecImage).
        dup2(log_fd, STDERR_FILENO);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDIN_FILENO);
        dup2(options.capture_stdout ? log_fd : devnull, STDOUT_FILENO);
        if (!options.pass_fds.empty()) {
            if (!place_passed_fds(options.pass_fds)) _exit(125);
            image.set_pid(listen_pid_index, getpid());
        } else if (options.pass_listen_fd >= 0) {
            if (options.pass_listen_fd != 3) dup2(options.pass_listen_fd, 3);
            fcntl(3, F_SETFD, 0);
            image.set_pid(listen_pid_index, getpid());
        }
        if (options.nofile) {
            rlimit lim{*options.nofile, *options.nofile};
            setrlimit(RLIMIT_NOFILE, &lim);
        }
        if (options.nproc) {
            rlimit lim{*options.nproc, options.nproc_hard.value_or(*options.nproc)};
            setrlimit(RLIMIT_NPROC, &lim);
        }
        if (options.uid && (setgid(*options.uid) < 0 || setuid(*options.uid) < 0)) _exit(126);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        image.exec();
    }
    close(log_fd);
}

RunResult run_to_exit(const std::vector<std::string>& args,
                      const std::vector<std::pair<std::string, std::string>>& extra, Duration timeout) {
    RunResult result;
    auto env = clean_environment();
    for (auto& [k, v] : extra)
        env.push_back(k + "=" + v);
    std::vector<std::string> argv_s{server_binary()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    ExecImage image(std::move(argv_s), std::move(env));
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) return result;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        image.exec();
    }
    close(out[1]);
    close(err[1]);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_pipes = 2;
    char buf[4096];
    while (open_pipes > 0) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
                .count();
        if (left <= 0 || poll(fds, 2, static_cast<int>(left)) <= 0) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
            } else {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_pipes;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    int status = 0;
    if (!eventually([&] { return waitpid(pid, &status, WNOHANG) == pid; },
                    deadline - std::chrono::steady_clock::now())) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return result;
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

ServerProcess::~ServerProcess() {
    if (pid_ > 0 && !reaped_) {
        auto workers = children_of(pid_);
        kill(pid_, SIGKILL);  // only this test's own server; its workers follow through PDEATHSIG
        waitpid(pid_, nullptr, 0);
        // Leave nothing behind for the next test: the orphans are dying; wait until they have left /proc
        // entirely, since even a zombie still counts against its user's RLIMIT_NPROC.
        eventually(
            [&] {
                return std::none_of(workers.begin(), workers.end(),
                                    [](pid_t p) { return proc_state(p).has_value(); });
            },
            5s);
    }
    stop_ = true;
    if (notify_thread_.joinable()) notify_thread_.join();
    if (notify_fd_ >= 0) close(notify_fd_);
    if (std::getenv("ECHO_TEST_KEEP_LOGS") == nullptr) {
        unlink(log_path_.c_str());
        unlink((dir_ + "/notify").c_str());
        rmdir(dir_.c_str());
    }
}

void ServerProcess::notify_loop() {
    char buf[4096];
    // Room for a whole FDSTORE=1 message: systemd takes up to 253 fds (SCM_MAX_FD) in one.
    alignas(cmsghdr) static thread_local char control[CMSG_SPACE(253 * sizeof(int))];
    while (!stop_) {
        pollfd p{notify_fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        iovec iov{buf, sizeof buf};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = recvmsg(notify_fd_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n <= 0) continue;
        std::vector<UniqueFd> fds;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            for (std::size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                fds.emplace_back(fd);
            }
        }
        std::istringstream lines(std::string(buf, static_cast<std::size_t>(n)));
        std::lock_guard lock(mutex_);
        std::string name;
        for (std::string line; std::getline(lines, line);) {
            if (line.starts_with("FDNAME=")) name = line.substr(7);
            notifications_.push_back(line);
        }
        for (auto& fd : fds)
            stored_fds_.emplace_back(std::move(fd), name);
    }
}

std::vector<std::pair<UniqueFd, std::string>> ServerProcess::take_stored_fds() {
    std::lock_guard lock(mutex_);
    return std::move(stored_fds_);
}

std::string ServerProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

long ServerProcess::wait_for_log(const std::string& needle, Duration timeout, long from) const {
    long at = -1;
    eventually(
        [&] {
            auto text = log();
            auto pos = text.find(needle, static_cast<std::size_t>(std::max(0L, from)));
            if (pos != std::string::npos) at = static_cast<long>(pos);
            return at >= 0;
        },
        timeout);
    return at;
}

std::string ServerProcess::log_line_at(long offset) const {
    const auto text = log();
    const auto at = std::min(static_cast<std::size_t>(std::max(0L, offset)), text.size());
    const auto start = at == 0 ? 0 : text.rfind('\n', at - 1) + 1;  // npos + 1 == 0: the first line
    return text.substr(start, text.find('\n', at) - start);
}

std::vector<std::string> ServerProcess::notifications() {
    std::lock_guard lock(mutex_);
    return notifications_;
}

bool ServerProcess::wait_notify(const std::string& line, Duration timeout) {
    return eventually(
        [&] {
            std::lock_guard lock(mutex_);
            for (auto& n : notifications_)
                if (n == line) return true;
            return false;
        },
        timeout);
}

bool ServerProcess::wait_ready(Duration timeout) {
    // Without a notify socket the ready line is the signal (the master logs it as it sends READY=1).
    if (notify_ ? !wait_notify("READY=1", timeout) : wait_for_log("] info: ready: ", timeout) < 0)
        return false;
    auto addresses = listening_addresses(log());
    if (!addresses.empty()) port_ = addresses.front().port();
    return true;
}

namespace {
constexpr const char* kMetricsComm = "echo-metrics";  // what the metrics process names itself
constexpr const char* kExecHelperComm = "echo-exec";  // and the exec helper (R61)
}  // namespace

std::vector<pid_t> ServerProcess::workers() const {
    std::vector<pid_t> out;
    for (pid_t child : children_of(pid_))
        if (auto c = comm(child); c != kMetricsComm && c != kExecHelperComm) out.push_back(child);
    return out;
}

std::optional<pid_t> ServerProcess::exec_helper() const {
    for (pid_t child : children_of(pid_))
        if (comm(child) == kExecHelperComm) return child;
    return std::nullopt;
}

std::optional<pid_t> ServerProcess::metrics_process() const {
    for (pid_t child : children_of(pid_))
        if (comm(child) == kMetricsComm) return child;
    return std::nullopt;
}

std::uint16_t ServerProcess::metrics_port() const {
    static constexpr std::string_view kMarker = "metrics at http://";
    std::string text = log();
    auto at = text.find(kMarker);
    if (at == std::string::npos) return 0;
    auto end = text.find("/metrics", at + kMarker.size());
    std::string error;
    auto addr =
        echo::parse_listen_address(text.substr(at + kMarker.size(), end - at - kMarker.size()), error);
    return addr ? addr->port() : 0;
}

double log_stamp_seconds(const std::string& line) {
    if (line.size() < 23 || line[10] != 'T') return -1;
    return std::stoi(line.substr(11, 2)) * 3600.0 + std::stoi(line.substr(14, 2)) * 60.0 +
           std::stod(line.substr(17, 6));
}

std::vector<echo::SocketAddress> listening_addresses(const std::string& log) {
    static constexpr std::string_view kMarker = "listening on ";
    std::vector<echo::SocketAddress> out;
    for (auto at = log.find(kMarker); at != std::string::npos; at = log.find(kMarker, at)) {
        at += kMarker.size();
        auto end = log.find_first_of(" \n", at);
        std::string unused;
        auto text = std::string_view(log).substr(at, end == std::string::npos ? end : end - at);
        if (auto address = echo::parse_listen_address(text, unused)) out.push_back(*address);
    }
    return out;
}

void ServerProcess::signal(int signo) const {
    kill(pid_, signo);
}

std::optional<int> ServerProcess::wait_exit(Duration timeout) {
    int status = 0;
    bool done = eventually(
        [&] {
            pid_t r = waitpid(pid_, &status, WNOHANG);
            return r == pid_;
        },
        timeout);
    if (!done) return std::nullopt;
    reaped_ = true;
    return status;
}

int ServerProcess::wait_exit_code(Duration timeout) {
    auto status = wait_exit(timeout);
    if (!status) return -1;
    if (WIFEXITED(*status)) return WEXITSTATUS(*status);
    if (WIFSIGNALED(*status)) return 128 + WTERMSIG(*status);
    return -1;
}

}  // namespace test
