// load_run.cpp: echo-load under the test harness's process owner (bounded waits, SIGKILL and reap at the
// end).
#include "load_run.hpp"

#include <signal.h>

#include <cstdlib>
#include <sstream>

namespace fault {

namespace {

// The raw text of "key": in a flat JSON object: a number, or a string with its quotes and escapes kept.
std::string raw_value(const std::string& json, const std::string& key) {
    const std::string quoted = "\"" + key + "\":";
    auto at = json.find(quoted);
    if (at == std::string::npos) return {};
    at += quoted.size();
    if (at < json.size() && json[at] == '"') {
        auto end = at + 1;
        while (end < json.size() && json[end] != '"')
            end += json[end] == '\\' ? 2 : 1;
        return json.substr(at, end + 1 - at);
    }
    auto end = json.find_first_of(",}", at);
    return json.substr(at, end - at);
}

}  // namespace

std::string load_binary() {
    return ECHO_LOAD_BIN;
}

bool LoadSummary::has(const std::string& key) const {
    return !raw_value(json, key).empty();
}

std::uint64_t LoadSummary::count(const std::string& key) const {
    auto v = raw_value(json, key);
    return v.empty() ? 0 : std::strtoull(v.c_str(), nullptr, 10);
}

double LoadSummary::real(const std::string& key) const {
    auto v = raw_value(json, key);
    return v.empty() ? 0.0 : std::strtod(v.c_str(), nullptr);
}

std::string LoadSummary::text(const std::string& key) const {
    auto v = raw_value(json, key);
    return v.size() >= 2 && v.front() == '"' ? v.substr(1, v.size() - 2) : v;
}

LoadRun::LoadRun(std::uint16_t port, std::vector<std::string> args) {
    test::ServerOptions options;
    options.binary = load_binary();
    options.capture_stdout = true;
    options.args = {"--target", "127.0.0.1:" + std::to_string(port), "--json"};
    bool bounded = false;
    for (const auto& a : args)
        bounded = bounded || a == "-d" || a == "--duration" || a == "-n" || a == "--count";
    // "Until stop()": an hour is far beyond any scenario, and the harness kills it if a test fails first.
    if (!bounded) options.args.insert(options.args.end(), {"--duration", "3600"});
    options.args.insert(options.args.end(), args.begin(), args.end());
    process_ = std::make_unique<test::ServerProcess>(std::move(options));
}

LoadSummary LoadRun::stop(Duration timeout) {
    process_->signal(SIGTERM);
    return wait(timeout);
}

LoadSummary LoadRun::wait(Duration timeout) {
    return summary(process_->wait_exit_code(timeout));
}

bool LoadRun::wait_for_output(const std::string& needle, Duration timeout) const {
    return process_->wait_for_log(needle, timeout) >= 0;
}

LoadSummary LoadRun::summary(int exit_code) const {
    LoadSummary s;
    s.exit_code = exit_code;
    s.output = process_->log();
    // The summary is the one line that is a JSON object; stderr's lines (notices, errors) are not.
    std::istringstream lines(s.output);
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with("{\"mode\"")) s.json = line;
    return s;
}

}  // namespace fault
