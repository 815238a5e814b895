// test_rate_limited_log.cpp: the rate-limited warning (server/base/rate_limited_log.hpp), on chosen times.
#include <doctest/doctest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

#include "base/rate_limited_log.hpp"

using namespace echo;

namespace {

const TimePoint t0 = TimePoint{} + seconds(1000);

// Points the default logger at a ring buffer for the life of the object; restores the previous one after.
class CapturedLog {
  public:
    CapturedLog()
        : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)), saved_(spdlog::default_logger()) {
        auto logger = std::make_shared<spdlog::logger>("test", sink_);
        logger->set_pattern("%l %v");
        spdlog::set_default_logger(logger);
    }
    ~CapturedLog() { spdlog::set_default_logger(saved_); }
    std::vector<std::string> lines() const { return sink_->last_formatted(); }

  private:
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
    std::shared_ptr<spdlog::logger> saved_;
};

std::string chomp(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

}  // namespace

TEST_CASE("the first occurrence is admitted at once, then at most one per interval") {
    RateLimitedWarning w(seconds(10));
    CHECK(w.admit(t0) == 0u);
    CHECK(!w.admit(t0));
    CHECK(!w.admit(t0 + seconds(5)));
    CHECK(!w.admit(t0 + seconds(10) - milliseconds(1)));
    CHECK(w.admit(t0 + seconds(10)) == 3u);  // the three swallowed since
    CHECK(!w.admit(t0 + seconds(11)));
    CHECK(w.admit(t0 + seconds(60)) == 1u);
    CHECK(w.admit(t0 + seconds(120)) == 0u);  // a quiet interval: nothing swallowed
}

TEST_CASE("the interval runs from the last line written, not from the first occurrence") {
    RateLimitedWarning w(seconds(10));
    CHECK(w.admit(t0) == 0u);
    CHECK(w.admit(t0 + seconds(15)) == 0u);
    CHECK(!w.admit(t0 + seconds(20)));  // 5 s after the last line
    CHECK(w.admit(t0 + seconds(25)) == 1u);
}

TEST_CASE("a time at the clock's epoch is still admitted the first time") {
    RateLimitedWarning w(seconds(10));
    CHECK(w.admit(TimePoint{}) == 0u);
    CHECK(!w.admit(TimePoint{} + seconds(1)));
}

TEST_CASE("warn writes one warning line per admitted occurrence, with the count swallowed") {
    CapturedLog log;
    RateLimitedWarning w(milliseconds(250));
    w.warn(t0, "accept4() failed: {}", "Too many open files");
    w.warn(t0 + milliseconds(1), "accept4() failed: {}", "Too many open files");
    w.warn(t0 + milliseconds(2), "accept4() failed: {}", "Too many open files");
    w.warn(t0 + milliseconds(300), "accept4() failed: {}", "No buffer space available");
    auto lines = log.lines();
    REQUIRE(lines.size() == 2);
    CHECK(chomp(lines[0]) == "warning accept4() failed: Too many open files");
    CHECK(chomp(lines[1]) ==
          "warning accept4() failed: No buffer space available (2 more since the last report)");
}

TEST_CASE("two warnings are limited independently") {
    CapturedLog log;
    RateLimitedWarning a(seconds(10));
    RateLimitedWarning b(seconds(10));
    a.warn(t0, "a {}", 1);
    b.warn(t0, "b {}", 1);
    a.warn(t0 + seconds(1), "a {}", 2);
    CHECK(log.lines().size() == 2);
}
