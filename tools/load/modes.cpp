// Per-mode policy, kept in one place so the connection state machine stays mode-agnostic at its decision
// points.
#include "modes.hpp"

namespace echoload {

const char* mode_name(Mode mode) {
    switch (mode) {
        case Mode::PingPong:
            return "pingpong";
        case Mode::Stream:
            return "stream";
        case Mode::ConnRate:
            return "connrate";
        case Mode::Hold:
            return "hold";
    }
    return "?";
}

std::optional<Mode> parse_mode(std::string_view name) {
    for (Mode m : {Mode::PingPong, Mode::Stream, Mode::ConnRate, Mode::Hold}) {
        if (name == mode_name(m)) return m;
    }
    return std::nullopt;
}

AfterEcho after_echo(Mode mode) {
    switch (mode) {
        case Mode::PingPong:
            return AfterEcho::SendNext;
        case Mode::ConnRate:
            return AfterEcho::Close;
        case Mode::Hold:
            return AfterEcho::Rest;
        case Mode::Stream:
            return AfterEcho::Continue;
    }
    return AfterEcho::Close;
}

const char* operation_name(Mode mode) {
    switch (mode) {
        case Mode::PingPong:
            return "round trips";
        case Mode::Stream:
            return "chunks";
        case Mode::ConnRate:
            return "connections";
        case Mode::Hold:
            return "ping-pongs";
    }
    return "operations";
}

const char* latency_name(Mode mode) {
    switch (mode) {
        case Mode::PingPong:
            return "round trip";
        case Mode::ConnRate:
            return "connect";
        case Mode::Hold:
            return "round trip";
        case Mode::Stream:
            return nullptr;
    }
    return nullptr;
}

}  // namespace echoload
