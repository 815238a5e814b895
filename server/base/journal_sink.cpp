// journal_sink.cpp: native journal records through libsystemd's sd_journal_sendv().
#include "base/journal_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>
#include <vector>

// Otherwise sd-journal.h's sd_journal_sendv() macro adds CODE_FILE=, CODE_LINE= and CODE_FUNC=: always this
// file's sink_it_(), never the call site's.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

namespace echo {
namespace {

constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

enum class JournalFd { Unopened, Known, Unknown };
JournalFd g_state = JournalFd::Unopened;
int g_fd = -1;

// The descriptor the next socket() will get: the lowest free one (POSIX), as F_DUPFD finds it.
int lowest_free_fd() {
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) (void)close(fd);  // a descriptor of our own, just created: close cannot fail but for EINTR
    return fd;
}

// After the first send: libsystemd's socket() took `expected`, unless it opened nothing (the send failed
// early: try again next time) or something unforeseen happened (then a worker must not use the journal at
// all).
void learn_journal_fd(int expected) {
    struct stat st {};
    if (expected < 0 || fstat(expected, &st) < 0) return;
    g_state = S_ISSOCK(st.st_mode) ? JournalFd::Known : JournalFd::Unknown;
    g_fd = g_state == JournalFd::Known ? expected : -1;
}

}  // namespace

bool journal_socket_present() {
    struct stat st {};
    return stat(kJournalSocket, &st) == 0 && S_ISSOCK(st.st_mode);
}

int opened_journal_fd() {
    return g_fd;
}

bool journal_fd_unknown() {
    return g_state == JournalFd::Unknown;
}

void JournalSink::sink_it_(const spdlog::details::log_msg& msg) {
    static const LogFields kNone;
    auto strings = journal_fields(context_, pending_ ? *pending_ : kNone, syslog_priority(msg.level),
                                  std::string_view(msg.payload.data(), msg.payload.size()));
    std::vector<iovec> iov;
    iov.reserve(strings.size());
    for (auto& s : strings)
        iov.push_back({s.data(), s.size()});
    // Only the master forks, so only the master needs to know which descriptor libsystemd opened.
    bool learn = g_state == JournalFd::Unopened && context_.role == LogContext::Role::Master;
    int expected = learn ? lowest_free_fd() : -1;
    int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
    if (learn) learn_journal_fd(expected);
    if (r < 0) fallback_->log(msg);  // the journal stream on stderr still takes the plain line
}

}  // namespace echo
