// main.cpp: doctest's runner for the fault suite, plus --rounds N (default 50) for longer repeated-fault
// scenarios and --soak DURATION [--seed N] for the soak (test_soak.cpp).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "config/grammar.hpp"
#include "scenario.hpp"

namespace fault {
namespace {
unsigned g_rounds = 50;
std::optional<Duration> g_soak;
std::uint64_t g_seed = 0;
}  // namespace
unsigned rounds() {
    return g_rounds;
}
std::optional<Duration> soak_duration() {
    return g_soak;
}
std::uint64_t soak_seed() {
    return g_seed;
}
}  // namespace fault

namespace {

// "--name VALUE" or "--name=VALUE" at argv[i]; advances i past a separate value.
std::optional<std::string> option_value(int argc, char** argv, int& i, const std::string& name) {
    const std::string arg = argv[i];
    if (arg == name && i + 1 < argc) return std::string(argv[++i]);
    if (arg.rfind(name + "=", 0) == 0) return arg.substr(name.size() + 1);
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<char*> rest;
    bool seeded = false;
    for (int i = 0; i < argc; ++i) {
        if (auto v = option_value(argc, argv, i, "--rounds")) {
            auto n = echo::parse_unsigned(*v, 1, 100000);
            if (!n) {
                std::cerr << "fault-tests: --rounds takes 1-100000, not '" << *v << "'\n";
                return 2;
            }
            fault::g_rounds = static_cast<unsigned>(*n);
        } else if (auto d = option_value(argc, argv, i, "--soak")) {
            auto duration = echo::parse_duration(*d);
            if (!duration || duration->count() == 0) {
                std::cerr << "fault-tests: --soak takes a duration such as 180s, 3m or 60m, not '" << *d
                          << "'\n";
                return 2;
            }
            fault::g_soak = *duration;
        } else if (auto s = option_value(argc, argv, i, "--seed")) {
            auto seed = echo::parse_unsigned(*s);
            if (!seed) {
                std::cerr << "fault-tests: --seed takes a whole number, not '" << *s << "'\n";
                return 2;
            }
            fault::g_seed = *seed;
            seeded = true;
        } else {
            rest.push_back(argv[i]);
        }
    }
    // The soak is skipped (and so not listed for ctest's discovery) unless asked for; asked for, it runs
    // alone.
    std::string only_soak = "--test-case=soak:*", no_skip = "--no-skip";
    if (fault::g_soak) {
        if (!seeded) fault::g_seed = std::random_device{}();
        rest.push_back(only_soak.data());
        rest.push_back(no_skip.data());
    } else if (seeded) {
        std::cerr << "fault-tests: --seed goes with --soak\n";
        return 2;
    }
    doctest::Context context;
    context.applyCommandLine(static_cast<int>(rest.size()), rest.data());
    return context.run();
}
