// log_level.hpp: the log levels an operator can choose (--log-level), apart from the logger that applies
// them.
#pragma once

namespace echo {

enum class LogLevel { Trace, Debug, Info, Warning, Error, Critical, Off };

}  // namespace echo
