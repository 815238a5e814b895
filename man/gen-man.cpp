// gen-man.cpp: writes echo-hardened(8) from its template and the option table --help prints, so the two
// cannot drift.
//
// Usage: echo-gen-man TEMPLATE OUTPUT. The template's line '.\" {{options}}' (a roff comment) becomes one .TP
// entry per option of echo::options() (server/config/options.cpp), in --help's order: the flag and its value,
// the help text, the environment variable. ctest man.matches-help compares the rendered page with --help.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "config/options.hpp"

namespace {

constexpr std::string_view kMarker = ".\\\" {{options}}";

// Text as roff shows it literally: a backslash is \e, every '-' the minus \- (flags, ranges and option names
// must copy and paste as ASCII), and a line may not start with a control character.
std::string roff_escaped(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
    }
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
    return out;
}

// --help wraps a help text with "\n    "; the page lets man fill the paragraph to the terminal's width.
std::string one_paragraph(std::string_view help) {
    std::string out;
    std::size_t start = 0;
    while (start <= help.size()) {
        auto nl = help.find('\n', start);
        auto line = help.substr(start, nl == std::string_view::npos ? help.npos : nl - start);
        while (!line.empty() && line.front() == ' ')
            line.remove_prefix(1);
        if (!out.empty()) out += ' ';
        out += line;
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    return out;
}

std::string option_entries() {
    std::string out;
    // fmt, not "literal" + std::string: GCC 12 at -O3 reports a false overlap there (-Wrestrict, a known
    // bug).
    for (const auto& o : echo::options()) {
        out += fmt::format(".TP\n\\fB\\-\\-{}\\fR", roff_escaped(o.name));
        if (o.metavar) out += fmt::format(" \\fI{}\\fR", roff_escaped(o.metavar));
        out += fmt::format("\n{}\n", roff_escaped(one_paragraph(o.help)));
        out += fmt::format(".br\nEnvironment: \\fB{}\\fR\n", roff_escaped(o.env));
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fputs("usage: echo-gen-man TEMPLATE OUTPUT\n", stderr);
        return 2;
    }
    std::ifstream in(argv[1]);
    if (!in) {
        std::fprintf(stderr, "echo-gen-man: cannot read %s\n", argv[1]);
        return 1;
    }
    std::ostringstream page;
    bool placed = false;
    for (std::string line; std::getline(in, line);) {
        if (line == kMarker) {
            page << option_entries();
            placed = true;
        } else {
            page << line << '\n';
        }
    }
    if (!placed) {
        std::fprintf(stderr, "echo-gen-man: %s has no options marker line\n", argv[1]);
        return 1;
    }
    std::ofstream out(argv[2]);
    out << page.str();
    if (!out.flush()) {
        std::fprintf(stderr, "echo-gen-man: cannot write %s\n", argv[2]);
        return 1;
    }
    return 0;
}
