// version.hpp: the version this binary was built as (server/version.cpp.in, configured by CMake).
#pragma once

namespace echo {
// Defined in a translation unit of its own, so that a second build of the same code under another version
// (echo-hardened-next, the binary-upgrade tests' "new release") is one more link, not a second compile.
extern const char kVersion[];
}  // namespace echo
