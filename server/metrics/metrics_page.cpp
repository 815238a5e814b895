// metrics_page.cpp: the series of docs/METRICS.md, named by Prometheus' conventions (base units, _total).
#include "metrics/metrics_page.hpp"

#include <string>
#include <vector>

#include "metrics/exposition.hpp"
#include "version.hpp"

namespace echo {
namespace {

using U64 = std::uint64_t;

struct Labelled {
    std::string role, slot, pid, generation;
};

void totals(Exposition& e, const BoardSnapshot& b) {
    e.family("echo_hardened_build_info", "gauge", "Always 1; the version of the running server.");
    e.sample("echo_hardened_build_info", {{"version", kVersion}}, U64{1});
    e.family("echo_hardened_connections_open", "gauge", "Client connections open now, over all workers.");
    e.sample("echo_hardened_connections_open", {}, b.open);
    e.family("echo_hardened_connections_accepted_total", "counter",
             "Client connections accepted since the master started, exited workers included.");
    e.sample("echo_hardened_connections_accepted_total", {}, b.accepted);
    e.family("echo_hardened_echoed_bytes_total", "counter",
             "Bytes echoed back to clients since the master started, exited workers included.");
    e.sample("echo_hardened_echoed_bytes_total", {}, b.bytes_echoed);
    e.family("echo_hardened_accept_pauses_total", "counter",
             "Times a worker stopped accepting for 250 ms after EMFILE, ENFILE, ENOBUFS or ENOMEM.");
    e.sample("echo_hardened_accept_pauses_total", {}, b.accept_pauses);
    // Every result is always on the page, 0 included, so a rate() over it needs no absent-series care.
    e.family("echo_hardened_proxy_headers_total", "counter",
             "PROXY protocol headers by what became of them (docs/PROXY.md).");
    for (std::size_t r = 0; r < kProxyResultNames.size(); ++r)
        e.sample("echo_hardened_proxy_headers_total", {{"result", kProxyResultNames[r]}}, b.proxy_headers[r]);
}

void master(Exposition& e, const MasterFigures& m) {
    struct Gauge {
        const char* name;
        const char* help;
        U64 value;
    };
    const Gauge gauges[] = {
        {"echo_hardened_workers_alive", "Worker processes forked and not yet seen to exit.", m.workers_alive},
        {"echo_hardened_workers_target", "Workers the master keeps (--workers, SIGTTIN, SIGTTOU).",
         m.workers_target},
        {"echo_hardened_zombies", "Exited workers left unreaped by the zombie demonstration (--zombie-mode).",
         m.zombies},
    };
    for (const auto& g : gauges) {
        e.family(g.name, "gauge", g.help);
        e.sample(g.name, {}, g.value);
    }
    const Gauge counters[] = {
        {"echo_hardened_worker_restarts_total", "Workers replaced after an unexpected exit.", m.restarts},
        {"echo_hardened_crash_loop_backoffs_total",
         "Restarts delayed because the slot's workers kept dying soon after starting.",
         m.crash_loop_backoffs},
        {"echo_hardened_hung_workers_killed_total",
         "Workers killed for sending no heartbeat (--worker-timeout).", m.hung_workers_killed},
        {"echo_hardened_fork_failures_total", "fork() calls for a worker that failed.", m.fork_failures},
        {"echo_hardened_reloads_total", "Configuration reloads (SIGHUP) accepted.", m.reloads},
    };
    for (const auto& c : counters) {
        e.family(c.name, "counter", c.help);
        e.sample(c.name, {}, c.value);
    }
}

void per_worker(Exposition& e, const BoardSnapshot& b) {
    // A worker forked a moment ago has no pid on the board yet: its figures are in the totals, and its series
    // start at the next scrape, so that no series is ever labelled pid="0".
    std::vector<const WorkerFigures*> known;
    std::vector<Labelled> labels;
    for (const auto& w : b.workers) {
        if (w.pid <= 0) continue;
        known.push_back(&w);
        labels.push_back(
            {"worker", std::to_string(w.slot), std::to_string(w.pid), std::to_string(w.generation)});
    }
    auto each = [&](const char* name, const char* type, const char* help, auto value) {
        e.family(name, type, help);
        for (std::size_t i = 0; i < known.size(); ++i)
            e.sample(name,
                     {{"slot", labels[i].slot}, {"pid", labels[i].pid}, {"generation", labels[i].generation}},
                     U64{value(*known[i])});
    };
    each("echo_hardened_worker_connections_open", "gauge", "Client connections this worker holds now.",
         [](const WorkerFigures& w) { return w.open; });
    each("echo_hardened_worker_connections_accepted_total", "counter",
         "Client connections this worker process accepted.",
         [](const WorkerFigures& w) { return w.accepted; });
    each("echo_hardened_worker_echoed_bytes_total", "counter", "Bytes this worker process echoed.",
         [](const WorkerFigures& w) { return w.bytes_echoed; });
    each("echo_hardened_worker_accept_pauses_total", "counter",
         "Times this worker process paused accepting after a resource error.",
         [](const WorkerFigures& w) { return w.accept_pauses; });
}

void processes(Exposition& e, const BoardSnapshot& b, pid_t self, const StatsReader& read) {
    struct Row {
        Labelled labels;
        ProcessStats stats;
    };
    std::vector<Row> rows;
    auto add = [&](Labelled l, pid_t pid) {
        if (pid <= 0) return;
        if (auto s = read(pid)) rows.push_back({std::move(l), *s});
    };
    add({"master", "", std::to_string(b.master.master_pid), ""}, b.master.master_pid);
    for (const auto& w : b.workers)
        add({"worker", std::to_string(w.slot), std::to_string(w.pid), ""}, w.pid);
    add({"metrics", "", std::to_string(self), ""}, self);

    auto each = [&](const char* name, const char* type, const char* help, auto value) {
        e.family(name, type, help);
        for (const auto& r : rows) {
            auto v = value(r.stats);
            if (!v) continue;
            if (r.labels.role == "worker")
                e.sample(name, {{"role", r.labels.role}, {"slot", r.labels.slot}, {"pid", r.labels.pid}}, *v);
            else
                e.sample(name, {{"role", r.labels.role}, {"pid", r.labels.pid}}, *v);
        }
    };
    using S = ProcessStats;
    each("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
         [](const S& s) { return std::optional<double>(s.cpu_seconds); });
    each("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
         [](const S& s) { return std::optional<U64>(s.resident_bytes); });
    each("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
         [](const S& s) { return std::optional<U64>(s.virtual_bytes); });
    each("process_open_fds", "gauge", "Open file descriptors.", [](const S& s) { return s.open_fds; });
    each("process_max_fds", "gauge", "The soft limit on open file descriptors.",
         [](const S& s) { return s.max_fds; });
    each("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.",
         [](const S& s) { return std::optional<double>(s.start_time_seconds); });
}

}  // namespace

std::string render_metrics_page(const BoardSnapshot& board, pid_t self, const StatsReader& stats) {
    Exposition e;
    totals(e, board);
    master(e, board.master);
    per_worker(e, board);
    processes(e, board, self, stats);
    return e.text();
}

}  // namespace echo
