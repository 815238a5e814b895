// The run summary: a human-readable block or one flat JSON object (flat so shell scripts can pick fields).
#pragma once

#include <cstdio>

#include "options.hpp"
#include "stats.hpp"

namespace echoload {

void print_human(std::FILE* out, const Options& opt, const Stats& stats);
void print_json(std::FILE* out, const Options& opt, const Stats& stats);

}  // namespace echoload
