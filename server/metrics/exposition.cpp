// exposition.cpp: escaping and formatting the text exposition format.
#include "metrics/exposition.hpp"

#include <fmt/format.h>

#include <cmath>

namespace echo {

void Exposition::escape_label_value(std::string_view value, std::string& out) {
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
}

void Exposition::escape_help(std::string_view help, std::string& out) {
    for (char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
}

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    escape_help(help, text_);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
}

void Exposition::begin_sample(std::string_view name, std::initializer_list<Label> labels) {
    text_ += name;
    if (labels.size() > 0) {
        char sep = '{';
        for (const auto& [key, value] : labels) {
            text_ += sep;
            text_ += key;
            text_ += "=\"";
            escape_label_value(value, text_);
            text_ += '"';
            sep = ',';
        }
        text_ += '}';
    }
    text_ += ' ';
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value) {
    begin_sample(name, labels);
    fmt::format_to(std::back_inserter(text_), "{}\n", value);
}

void Exposition::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
    begin_sample(name, labels);
    // The format's spellings for the values that have no decimal form.
    if (std::isnan(value))
        text_ += "NaN\n";
    else if (std::isinf(value))
        text_ += value > 0 ? "+Inf\n" : "-Inf\n";
    else
        fmt::format_to(std::back_inserter(text_), "{}\n", value);  // shortest form that reads back the same
}

}  // namespace echo
