// The four workloads: their names, what one counted operation is, and what a connection does after an echo.
#pragma once

#include <optional>
#include <string_view>

#include "options.hpp"

namespace echoload {

[[nodiscard]] const char* mode_name(Mode mode);
[[nodiscard]] std::optional<Mode> parse_mode(std::string_view name);

// What a connection does once the echo of a whole message has been verified.
enum class AfterEcho {
    SendNext,  // pingpong: the next round trip at once
    Close,     // connrate: the cycle is complete; a fresh connection replaces it
    Rest,      // hold: stay open and idle until the next trickle ping
    Continue,  // stream: there are no message boundaries, the window just keeps moving
};
[[nodiscard]] AfterEcho after_echo(Mode mode);

// The unit that --count counts and the summary reports.
[[nodiscard]] const char* operation_name(Mode mode);
// What the latency histogram measures in this mode, or nullptr when it records nothing.
[[nodiscard]] const char* latency_name(Mode mode);

}  // namespace echoload
