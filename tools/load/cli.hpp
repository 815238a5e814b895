// Command-line parsing for echo-load: argv to Options, or a one-line usage error.
#pragma once

#include <string>
#include <variant>

#include "options.hpp"

namespace echoload {

struct UsageError {
    std::string message;
};
struct HelpRequested {};

using ParseResult = std::variant<Options, UsageError, HelpRequested>;

[[nodiscard]] ParseResult parse_command_line(int argc, char** argv);
[[nodiscard]] const char* usage_text();

}  // namespace echoload
