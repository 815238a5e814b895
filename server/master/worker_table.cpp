// worker_table.cpp: lookups over the worker table.
#include "master/worker_table.hpp"

#include <algorithm>

namespace echo {

std::string_view phase_name(WorkerPhase phase) {
    switch (phase) {
        case WorkerPhase::Starting:
            return "starting";
        case WorkerPhase::Serving:
            return "serving";
        case WorkerPhase::Retiring:
            return "retiring";
    }
    return "?";
}

WorkerProcess& WorkerTable::add(WorkerProcess process) {
    return workers_.emplace_back(std::move(process));
}

const WorkerProcess* WorkerTable::find(pid_t pid) const {
    auto it = std::find_if(workers_.begin(), workers_.end(), [&](auto& w) { return w.pid == pid; });
    return it == workers_.end() ? nullptr : &*it;
}

std::optional<WorkerProcess> WorkerTable::take(pid_t pid) {
    auto it = std::find_if(workers_.begin(), workers_.end(), [&](auto& w) { return w.pid == pid; });
    if (it == workers_.end()) return std::nullopt;
    WorkerProcess out = std::move(*it);
    workers_.erase(it);
    return out;
}

const WorkerProcess* WorkerTable::active_in_slot(unsigned slot, std::optional<unsigned> generation) const {
    for (const auto& w : workers_)
        if (w.slot == slot && w.phase != WorkerPhase::Retiring &&
            (!generation || w.generation == *generation))
            return &w;
    return nullptr;
}

std::size_t WorkerTable::count(WorkerPhase phase) const {
    return static_cast<std::size_t>(
        std::count_if(workers_.begin(), workers_.end(), [&](auto& w) { return w.phase == phase; }));
}

}  // namespace echo
