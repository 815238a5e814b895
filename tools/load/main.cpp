// echo-load: drives a TCP echo server with verified traffic and reports rates, latencies and errors.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <variant>
#include <vector>

#include "cli.hpp"
#include "load_thread.hpp"
#include "report.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitErrors = 1;  // errors were counted, or the run could not start
constexpr int kExitUsage = 2;

// hold with 10,000 connections needs more descriptors than the usual soft limit of 1024.
bool raise_fd_limit(const echoload::Options& opt) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
            std::fprintf(stderr, "echo-load: setrlimit(RLIMIT_NOFILE) failed: %s, ignoring\n",
                         std::strerror(errno));
            ::getrlimit(RLIMIT_NOFILE, &lim);
        }
    }
    const rlim_t needed = rlim_t{opt.connections} + 2 * rlim_t{opt.threads} + 16;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
        std::fprintf(stderr,
                     "echo-load: %u connections need %llu file descriptors, RLIMIT_NOFILE allows %llu\n",
                     opt.connections, static_cast<unsigned long long>(needed),
                     static_cast<unsigned long long>(lim.rlim_cur));
        return false;
    }
    return true;
}

// The first SIGINT/SIGTERM ends the run early but still drains in-flight echoes and prints the summary (the
// bench holds connections this way until it has sampled the server); another one a second later exits at
// once. Repeats within that second are the same request: timeout(1) forwards a signal to its child and then
// to its whole process group, so the child gets it twice.
void wait_for_threads(echoload::RunShared& shared, const sigset_t& stop_signals) {
    using std::chrono::steady_clock;
    const timespec poll{0, 20'000'000};
    steady_clock::time_point first{};
    while (shared.finished_threads.load() < shared.threads) {
        siginfo_t info{};
        const int signo = sigtimedwait(&stop_signals, &info, &poll);
        if (signo <= 0) continue;
        const auto now = steady_clock::now();
        if (!shared.stop_requested.exchange(true)) {
            first = now;
            std::fprintf(stderr, "echo-load: %s: stopping, finishing in-flight echoes\n", strsignal(signo));
        } else if (now - first >= std::chrono::seconds(1)) {
            std::_Exit(128 + signo);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    using namespace echoload;
    const ParseResult parsed = parse_command_line(argc, argv);
    if (std::holds_alternative<HelpRequested>(parsed)) {
        std::fputs(usage_text(), stdout);
        return kExitOk;
    }
    if (const auto* error = std::get_if<UsageError>(&parsed)) {
        std::fprintf(stderr, "echo-load: %s\n", error->message.c_str());
        return kExitUsage;
    }
    const Options& opt = std::get<Options>(parsed);
    if (!raise_fd_limit(opt)) return kExitErrors;

    // Blocked before the threads start so that they inherit the mask and only wait_for_threads() sees them.
    // The default disposition first: a shell starts background jobs with SIGINT ignored, and an ignored
    // signal is dropped once it is unblocked rather than left for sigtimedwait().
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    RunShared shared;
    shared.threads = opt.threads;
    std::vector<Stats> results(opt.threads);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < opt.threads; ++i) {
        ThreadShare share;
        share.index = i;
        share.connections = opt.connections / opt.threads + (i < opt.connections % opt.threads ? 1 : 0);
        if (opt.count > 0) share.quota = opt.count / opt.threads + (i < opt.count % opt.threads ? 1 : 0);
        threads.emplace_back(
            [&opt, &shared, &results, share] { results[share.index] = run_load_thread(opt, share, shared); });
    }
    wait_for_threads(shared, stop_signals);
    for (auto& t : threads)
        t.join();

    Stats total;
    for (const auto& r : results)
        total.merge(r);
    if (opt.json) {
        print_json(stdout, opt, total);
    } else {
        print_human(stdout, opt, total);
    }
    return total.error_total() == 0 ? kExitOk : kExitErrors;
}
