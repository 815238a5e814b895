// test_journal_fields.cpp: the native journal records (R80): the fields a log line becomes, the events the
// supervisor attaches to its decisions, and the catalog in step with the MESSAGE_IDs of log_event.hpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "base/journal_fields.hpp"
#include "supervisor_harness.hpp"

using namespace echo;
using namespace echo::testing;

namespace {

bool has(const std::vector<std::string>& fields, const std::string& field) {
    return std::find(fields.begin(), fields.end(), field) != fields.end();
}

bool has_key(const std::vector<std::string>& fields, const std::string& key) {
    return std::any_of(fields.begin(), fields.end(),
                       [&](const std::string& f) { return f.rfind(key + "=", 0) == 0; });
}

const Action* event_in(const Actions& actions, LogEvent event) {
    auto it = std::find_if(actions.begin(), actions.end(), [&](const Action& a) {
        return a.kind == Action::Kind::Log && a.fields.event == event;
    });
    return it == actions.end() ? nullptr : &*it;
}

std::string read_catalog() {
    std::ifstream in(ECHO_CATALOG);
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("the metrics process's records say so in ECHO_ROLE and MESSAGE, and name no worker") {
    auto f =
        journal_fields({LogContext::Role::Metrics, 77}, {}, 3, "epoll_wait() failed in the metrics process");
    CHECK(has(f, "MESSAGE=metrics: epoll_wait() failed in the metrics process"));
    CHECK(has(f, "ECHO_ROLE=metrics"));
    CHECK_FALSE(has_key(f, "WORKER_PID"));
    CHECK_FALSE(has_key(f, "WORKER_SLOT"));
}

TEST_CASE(
    "a master's record about a killed worker carries the worker's fields, the signal and the MESSAGE_ID") {
    LogContext master{LogContext::Role::Master, 53};
    LogFields about{
        .event = LogEvent::WorkerDied, .worker_slot = 3, .worker_pid = 1234, .worker_generation = 2};
    add_exit(about, killed_by(SIGKILL));
    auto f =
        journal_fields(master, about, 4, "worker 3 (pid 1234) killed by signal 9 (SIGKILL) unexpectedly");
    CHECK(has(f, "MESSAGE=worker 3 (pid 1234) killed by signal 9 (SIGKILL) unexpectedly"));
    CHECK(has(f, "PRIORITY=4"));
    CHECK(has(f, "SYSLOG_IDENTIFIER=echo-hardened"));
    CHECK(has(f, "ECHO_ROLE=master"));
    CHECK(has(f, "WORKER_SLOT=3"));
    CHECK(has(f, "WORKER_PID=1234"));
    CHECK(has(f, "WORKER_GENERATION=2"));
    CHECK(has(f, "SIGNAL=9"));
    CHECK(has(f, "SIGNAL_NAME=SIGKILL"));
    CHECK_FALSE(has_key(f, "EXIT_STATUS"));
    CHECK(has(f, "MESSAGE_ID=9f8f32079a3947cdb006f0110d7b2346"));
    // The master's own pid is nowhere: journald records _PID= itself.
    for (const auto& field : f)
        CHECK_MESSAGE(field.find("53") == std::string::npos, field);
}

TEST_CASE("a worker's record about a PROXY header carries the client, the balancer and the result (R90)") {
    LogFields fields{
        .client_address = "203.0.113.9:4444", .proxy_address = "127.0.0.1:51034", .proxy_result = "proxy"};
    auto f = journal_fields({LogContext::Role::Worker, 42, 1, 0}, fields, 7,
                            "connection from 203.0.113.9:4444 via 127.0.0.1:51034 (PROXY v1)");
    CHECK(has(f, "CLIENT_ADDRESS=203.0.113.9:4444"));
    CHECK(has(f, "PROXY_ADDRESS=127.0.0.1:51034"));
    CHECK(has(f, "PROXY_RESULT=proxy"));
    CHECK(has(f, "WORKER_PID=42"));
    // A record without them has none of them, not empty ones.
    auto plain = journal_fields({LogContext::Role::Worker, 42, 1, 0}, {}, 6, "draining");
    CHECK_FALSE(has_key(plain, "CLIENT_ADDRESS"));
    CHECK_FALSE(has_key(plain, "PROXY_ADDRESS"));
    CHECK_FALSE(has_key(plain, "PROXY_RESULT"));
}

TEST_CASE("an exit status becomes EXIT_STATUS=, and an unknown status neither field") {
    LogFields exited;
    add_exit(exited, exited_with(78));
    auto f = journal_fields({}, exited, 3, "worker 0 failed");
    CHECK(has(f, "EXIT_STATUS=78"));
    CHECK_FALSE(has_key(f, "SIGNAL"));
    LogFields unknown;
    add_exit(unknown, -1);
    f = journal_fields({}, unknown, 4, "gone");
    CHECK_FALSE(has_key(f, "EXIT_STATUS"));
    CHECK_FALSE(has_key(f, "SIGNAL"));
}

TEST_CASE(
    "a worker's own record names itself: role, slot, pid, generation, and a short prefix without the pid") {
    LogContext worker{LogContext::Role::Worker, 4321, 1, 5};
    auto f = journal_fields(worker, {}, 6, "draining: closed 2 idle connection(s)");
    CHECK(has(f, "MESSAGE=worker 1: draining: closed 2 idle connection(s)"));
    CHECK(has(f, "ECHO_ROLE=worker"));
    CHECK(has(f, "WORKER_SLOT=1"));
    CHECK(has(f, "WORKER_PID=4321"));
    CHECK(has(f, "WORKER_GENERATION=5"));
    CHECK_FALSE(has_key(f, "MESSAGE_ID"));
}

TEST_CASE("an ordinary master line has no MESSAGE_ID= and no worker fields") {
    auto f = journal_fields({LogContext::Role::Master, 7}, {}, 6, "listening on 127.0.0.1:7007");
    CHECK(f == std::vector<std::string>{"MESSAGE=listening on 127.0.0.1:7007", "PRIORITY=6",
                                        "SYSLOG_IDENTIFIER=echo-hardened", "ECHO_ROLE=master"});
}

TEST_CASE("syslog priorities of the spdlog levels") {
    CHECK(syslog_priority(spdlog::level::debug) == 7);
    CHECK(syslog_priority(spdlog::level::info) == 6);
    CHECK(syslog_priority(spdlog::level::warn) == 4);
    CHECK(syslog_priority(spdlog::level::err) == 3);
    CHECK(syslog_priority(spdlog::level::critical) == 2);
}

TEST_CASE("the supervisor attaches the events an operator acts on") {
    auto h = in_state(MasterState::Running);

    auto died = h.exit(100, killed_by(SIGKILL));
    const Action* a = event_in(died, LogEvent::WorkerDied);
    REQUIRE(a != nullptr);
    CHECK(a->fields.worker_slot == 0u);
    CHECK(a->fields.worker_pid == 100);
    CHECK(a->fields.worker_generation == 0u);
    CHECK(a->fields.signal == SIGKILL);
    CHECK_FALSE(a->fields.exit_status.has_value());
    h.ready_all();

    auto sys = h.exit(101, killed_by(SIGSYS));
    CHECK(event_in(sys, LogEvent::WorkerDied) != nullptr);
    REQUIRE(event_in(sys, LogEvent::SeccompKill) != nullptr);
    CHECK(event_in(sys, LogEvent::SeccompKill)->fields.worker_pid == 101);
    h.ready_all();

    h.signal(SIGHUP);
    for (int i = 0; i < 4 && h.sup.state() == MasterState::Reloading; ++i) {
        h.ready_all();
        for (pid_t pid : h.pids())  // the retired ones exit as asked: an expected exit, no WorkerDied
            if (std::none_of(
                    h.sup.workers().all().begin(), h.sup.workers().all().end(),
                    [&](const WorkerProcess& w) { return w.pid == pid && w.phase != WorkerPhase::Retiring; }))
                CHECK(event_in(h.exit(pid, exited_with(0)), LogEvent::WorkerDied) == nullptr);
    }
    a = event_in(h.seen, LogEvent::ReloadDone);
    REQUIRE(a != nullptr);
    CHECK(a->fields.worker_generation == 1u);

    auto stop = h.signal(SIGTERM);
    a = event_in(stop, LogEvent::StopBegun);
    REQUIRE(a != nullptr);
    CHECK(a->fields.signal == SIGTERM);
    auto late = h.tick_after(seconds(13));
    CHECK(event_in(late, LogEvent::StragglersKilled) != nullptr);
}

TEST_CASE("hung, crash-looping and unforkable workers carry their events") {
    auto h = in_state(MasterState::Running);
    auto hung = h.tick_after(seconds(31));
    REQUIRE(event_in(hung, LogEvent::HungKilled) != nullptr);
    auto killed = h.exit(event_in(hung, LogEvent::HungKilled)->fields.worker_pid, killed_by(SIGKILL));
    CHECK(event_in(killed, LogEvent::WorkerDied) ==
          nullptr);  // the master's own kill, reported as HungKilled

    auto loop = in_state(MasterState::Running);
    Actions all;
    for (int i = 0; i < 3; ++i) {  // slot 0's workers die as soon as they start
        auto more = loop.exit(loop.sup.workers().active_in_slot(0)->pid, exited_with(1));
        all.insert(all.end(), more.begin(), more.end());
        loop.tick_after(milliseconds(500));  // past the back-off: the next one is forked
    }
    CHECK(event_in(all, LogEvent::CrashLoop) != nullptr);

    auto fork = in_state(MasterState::Running);
    fork.fork_fails = true;
    auto failed = fork.exit(100, killed_by(SIGKILL));
    REQUIRE(event_in(failed, LogEvent::ForkFailed) != nullptr);
    CHECK(event_in(failed, LogEvent::ForkFailed)->fields.worker_slot == 0u);

    Supervisor sup(default_settings(), "x");
    sup.start(TimePoint{});
    CHECK(event_in(sup.on_reload_failed("bad --workers", TimePoint{}), LogEvent::ReloadFailed) != nullptr);
}

TEST_CASE("every MESSAGE_ID is in the catalog, and the catalog has no other") {
    std::string text = read_catalog();
    std::set<std::string> in_catalog;
    std::regex entry("^-- ([0-9a-f]{32})$");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (std::regex_match(line, m, entry))
            CHECK_MESSAGE(in_catalog.insert(m[1]).second, "twice: " << m[1]);
    }
    std::set<std::string> in_header;
    for (const auto& e : kLogEvents) {
        CHECK_MESSAGE(in_header.insert(std::string(e.message_id)).second, "id used twice: " << e.name);
        CHECK_MESSAGE(in_catalog.count(std::string(e.message_id)) == 1, "not in the catalog: " << e.name);
    }
    CHECK(in_catalog == in_header);
    // Every event but None has an id.
    CHECK(kLogEvents.size() == static_cast<std::size_t>(LogEvent::UpgradeFailed));
}

TEST_CASE("the catalog refers only to fields the records carry") {
    std::string text = read_catalog();
    const std::set<std::string> known = {"WORKER_SLOT", "WORKER_PID",  "WORKER_GENERATION", "EXIT_STATUS",
                                         "SIGNAL",      "SIGNAL_NAME", "ECHO_ROLE"};
    std::regex var("@([A-Z_]+)@");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), var); it != std::sregex_iterator(); ++it)
        CHECK_MESSAGE(known.count((*it)[1]) == 1, "unknown field @" << (*it)[1] << "@");
}
