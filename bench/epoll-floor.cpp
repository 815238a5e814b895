// epoll-floor: the smallest correct epoll echo server, the syscall floor that echo-hardened is benchmarked
// against.
//
// One level-triggered epoll loop per process: read once, write it back; only a short write allocates (the
// unsent tail) and parks the connection on EPOLLOUT until it drains, so memory stays bounded. With -w N the
// parent pre-forks N workers that share one listening socket through EPOLLEXCLUSIVE; with --reuseport each
// worker has a listening socket of its own on the same port (SO_REUSEPORT), and the kernel picks one per
// connection by a hash of its addresses: the spread bench/balance-bench.sh holds the other servers to.
// SIGTERM/SIGINT stop it with exit status 0; SIGUSR1 to a worker makes it print how many connections it has
// accepted (the balance benchmark's count under churn, where connections live too briefly to be seen open).
// It prints the same "ready:" line as echo-hardened so scripts drive both alike.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Connection {
    int fd;
    std::vector<char> pending;  // unsent tail of a short write; empty almost always
    std::size_t sent = 0;
};

constexpr std::size_t kReadSize = 64 * 1024;
constexpr int kMaxEvents = 256;
// Marks the two non-connection sources in epoll_event.data.ptr.
char listen_tag;
char signal_tag;
unsigned long accepted = 0;  // this worker's, for SIGUSR1

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "epoll-floor: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

[[noreturn]] void usage(const std::string& message) {
    std::fprintf(stderr,
                 "epoll-floor: %s (usage: epoll-floor [--listen ADDR:PORT] [-w|--workers N] [--reuseport])\n",
                 message.c_str());
    std::exit(2);
}

struct Listen {
    sockaddr_storage addr{};
    socklen_t len = 0;
};

Listen parse_listen(std::string_view text) {
    Listen l;
    std::string host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos) usage("bad --listen '" + std::string(text) + "'");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) usage("bad --listen '" + std::string(text) + "'");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    unsigned p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || end != port.data() + port.size() || p > 65535) usage("bad port in --listen");
    auto* v4 = reinterpret_cast<sockaddr_in*>(&l.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&l.addr);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(p));
        l.len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(p));
        l.len = sizeof *v6;
    } else {
        usage("bad address in --listen '" + std::string(text) + "'");
    }
    return l;
}

std::string describe(const sockaddr_storage& addr) {
    char host[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
    }
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6->sin6_port));
}

// The first call may bind port 0; it rewrites l.addr with the port the kernel chose, so the SO_REUSEPORT
// siblings opened after it join the same port.
int open_listener(Listen& l, bool reuseport) {
    const int fd = ::socket(l.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket()");
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) die("SO_REUSEPORT");
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&l.addr), l.len) != 0) die("bind()");
    if (::listen(fd, SOMAXCONN) != 0) die("listen()");
    l.len = sizeof l.addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&l.addr), &l.len) != 0) die("getsockname()");
    return fd;
}

void close_connection(Connection* c) {
    ::close(c->fd);  // also removes it from epoll
    delete c;
}

void set_interest(int epfd, Connection* c, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = c;
    if (::epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl(MOD)");
}

// Returns false when the connection is finished (closed by the caller).
bool flush_pending(int epfd, Connection* c) {
    while (c->sent < c->pending.size()) {
        const ssize_t n = ::write(c->fd, c->pending.data() + c->sent, c->pending.size() - c->sent);
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        c->sent += static_cast<std::size_t>(n);
    }
    std::vector<char>().swap(c->pending);  // give the memory back: an idle connection owns nothing
    c->sent = 0;
    set_interest(epfd, c, EPOLLIN);
    return true;
}

bool echo_once(int epfd, Connection* c, char* buf) {
    const ssize_t n = ::read(c->fd, buf, kReadSize);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    const ssize_t w = ::write(c->fd, buf, static_cast<std::size_t>(n));
    if (w == n) return true;
    if (w < 0 && errno != EAGAIN && errno != EINTR) return false;
    const auto done = static_cast<std::size_t>(w < 0 ? 0 : w);
    c->pending.assign(buf + done, buf + n);
    c->sent = 0;
    set_interest(epfd, c, EPOLLOUT);  // stop reading until the tail is out: back-pressure
    return true;
}

void accept_all(int epfd, int listen_fd) {
    for (;;) {
        const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                // The pending connection stays queued; a short pause avoids spinning on a level-triggered
                // listener.
                std::fprintf(stderr, "epoll-floor: accept4(): %s\n", std::strerror(errno));
                ::usleep(10'000);
            }
            return;
        }
        ++accepted;
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto* c = new Connection{fd, {}, 0};
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) close_connection(c);
    }
}

// Returns false for a stop request; answers SIGUSR1 with the accepted count.
bool handle_signal(int sigfd) {
    signalfd_siginfo info{};
    if (::read(sigfd, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return true;
    if (info.ssi_signo != SIGUSR1) return false;
    std::fprintf(stderr, "epoll-floor: worker %d accepted %lu connections\n", static_cast<int>(::getpid()),
                 accepted);
    return true;
}

[[noreturn]] void serve(int listen_fd, const sigset_t& worker_signals) {
    const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    const int sigfd = ::signalfd(-1, &worker_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (epfd < 0 || sigfd < 0) die("epoll_create1()/signalfd()");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;  // one accepting worker woken per connection, not all of them
    ev.data.ptr = &listen_tag;
    if (::epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) die("epoll_ctl(listener)");
    ev.events = EPOLLIN;
    ev.data.ptr = &signal_tag;
    if (::epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) != 0) die("epoll_ctl(signalfd)");

    std::vector<char> buf(kReadSize);
    epoll_event events[kMaxEvents];
    for (;;) {
        const int n = ::epoll_wait(epfd, events, kMaxEvents, -1);
        if (n < 0 && errno != EINTR) die("epoll_wait()");
        for (int i = 0; i < n; ++i) {
            void* tag = events[i].data.ptr;
            if (tag == &signal_tag) {
                if (handle_signal(sigfd)) continue;
                std::fflush(nullptr);
                _exit(0);  // a forked worker must not run the parent's atexit handlers
            }
            if (tag == &listen_tag) {
                accept_all(epfd, listen_fd);
                continue;
            }
            auto* c = static_cast<Connection*>(tag);
            const bool alive = c->pending.empty() ? echo_once(epfd, c, buf.data()) : flush_pending(epfd, c);
            if (!alive) close_connection(c);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string listen_text = "127.0.0.1:7008";
    unsigned workers = 1;
    bool reuseport = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::puts("usage: epoll-floor [--listen ADDR:PORT] [-w|--workers N] [--reuseport]");
            return 0;
        }
        if (arg == "--reuseport") {
            reuseport = true;
            continue;
        }
        if (i + 1 >= argc) usage("option '" + std::string(arg) + "' needs a value");
        const std::string_view value = argv[++i];
        if (arg == "--listen") {
            listen_text = value;
        } else if (arg == "-w" || arg == "--workers") {
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), workers);
            if (ec != std::errc{} || end != value.data() + value.size() || workers == 0 || workers > 256) {
                usage("bad worker count '" + std::string(value) + "'");
            }
        } else {
            usage("unknown option '" + std::string(arg) + "'");
        }
    }

    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    ::signal(SIGPIPE, SIG_IGN);
    Listen l = parse_listen(listen_text);
    // One listener shared by every worker, or (--reuseport) one per worker, all open and listening before the
    // first fork, so no connection finds the port closed once "ready" is printed.
    std::vector<int> listeners(reuseport ? workers : 1);
    for (int& fd : listeners)
        fd = open_listener(l, reuseport);

    // Blocked before fork so a worker never misses a stop request between fork() and its signalfd.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigset_t master_signals = stop_signals;
    sigaddset(&master_signals, SIGCHLD);
    sigset_t worker_signals = stop_signals;
    sigaddset(&worker_signals, SIGUSR1);
    ::sigprocmask(SIG_BLOCK, &master_signals, nullptr);
    ::sigprocmask(SIG_BLOCK, &worker_signals, nullptr);  // a SIGUSR1 to the parent stays pending, unanswered

    const auto ready = [&] {
        std::fprintf(stderr, "ready: %u worker%s accepting on %s%s\n", workers, workers == 1 ? "" : "s",
                     describe(l.addr).c_str(), reuseport ? " (SO_REUSEPORT, one socket per worker)" : "");
    };
    if (workers == 1) {
        ready();
        serve(listeners[0], worker_signals);
    }

    const pid_t parent = ::getpid();
    std::vector<pid_t> children;
    for (unsigned w = 0; w < workers; ++w) {
        const pid_t pid = ::fork();
        if (pid < 0) die("fork()");
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) _exit(1);  // the master died before PDEATHSIG was armed
            sigset_t chld;
            sigemptyset(&chld);
            sigaddset(&chld, SIGCHLD);
            ::sigprocmask(SIG_UNBLOCK, &chld, nullptr);
            // A sibling's listener left open here would stay in the SO_REUSEPORT group after that sibling
            // died, and the connections hashed to it would never be accepted.
            const int mine = listeners[reuseport ? w : 0];
            for (const int fd : listeners)
                if (fd != mine) ::close(fd);
            serve(mine, worker_signals);
        }
        children.push_back(pid);
    }
    if (reuseport)  // the workers hold them now; the parent accepts nothing
        for (const int fd : listeners)
            ::close(fd);
    ready();

    int status = 0;
    int signo = 0;
    sigwait(&master_signals, &signo);
    for (const pid_t pid : children)
        ::kill(pid, SIGTERM);
    int exit_code = signo == SIGCHLD ? 1 : 0;  // a worker died on its own: report it
    for (std::size_t left = children.size(); left > 0;) {
        const pid_t pid = ::waitpid(-1, &status, 0);
        if (pid < 0 && errno == EINTR) continue;
        if (pid < 0) break;
        --left;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) exit_code = 1;
    }
    return exit_code;
}
