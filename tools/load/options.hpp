// What one echo-load run was asked to do, as parsed from the command line.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace echoload {

enum class Mode { PingPong, Stream, ConnRate, Hold };

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 7007;
    sockaddr_storage addr{};  // resolved from host and port
    socklen_t addr_len = 0;

    Mode mode = Mode::PingPong;
    unsigned connections = 1;
    std::size_t size = 64;
    std::size_t window = 0;   // stream: bytes in flight per connection; 0 means 4 * size
    double duration = 5.0;    // seconds of measurement; <= 0 with a count means "until the count is done"
    std::uint64_t count = 0;  // operations in total; 0 means unbounded (then duration bounds the run)
    double warmup = 0.0;
    double timeout = 5.0;   // seconds without progress on a connect or an awaited echo
    double interval = 2.0;  // hold: seconds between the trickle ping-pongs of one connection
    double lifetime =
        0.0;  // pingpong, hold: seconds before a connection closes after an echo and reopens; 0: never
    unsigned threads = 1;
    std::uint64_t seed = 1;
    bool json = false;
    bool closed_ok = false;  // a clean close with nothing owed ends the connection, not an error
    bool reconnect = false;  // a connection the server drops is counted and reopened, not an error
};

}  // namespace echoload
