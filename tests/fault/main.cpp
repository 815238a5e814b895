// main.cpp: doctest's runner for the fault suite, plus --rounds N (default 50) for a longer soak.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

namespace fault {
namespace {
unsigned g_rounds = 50;
}
unsigned rounds() {
    return g_rounds;
}
}  // namespace fault

int main(int argc, char** argv) {
    std::vector<char*> rest;
    for (int i = 0; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        if (arg == "--rounds" && i + 1 < argc) {
            value = argv[++i];
        } else if (arg.rfind("--rounds=", 0) == 0) {
            value = arg.substr(9);
        } else {
            rest.push_back(argv[i]);
            continue;
        }
        char* end = nullptr;
        unsigned long n = std::strtoul(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || n == 0 || n > 100000) {
            std::cerr << "fault-tests: --rounds takes 1-100000, not '" << value << "'\n";
            return 2;
        }
        fault::g_rounds = static_cast<unsigned>(n);
    }
    doctest::Context context;
    context.applyCommandLine(static_cast<int>(rest.size()), rest.data());
    return context.run();
}
