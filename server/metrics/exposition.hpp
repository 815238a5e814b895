// exposition.hpp: a writer of the Prometheus text exposition format 0.0.4 (HELP and TYPE lines, samples).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace echo {

// The format is small and fixed (prometheus.io "Exposition formats"): a family is a "# HELP" and a "# TYPE"
// line, then its samples, "name{label="value",...} value". Label values escape backslash, double quote and
// newline; HELP text escapes backslash and newline. Names are the caller's constants and are not checked
// here: `promtool check metrics` checks the whole page in the tests.
class Exposition {
  public:
    using Label = std::pair<std::string_view, std::string_view>;

    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
    void sample(std::string_view name, std::initializer_list<Label> labels, double value);

    const std::string& text() const { return text_; }

    static void escape_label_value(std::string_view value, std::string& out);
    static void escape_help(std::string_view help, std::string& out);

  private:
    void begin_sample(std::string_view name, std::initializer_list<Label> labels);
    std::string text_;
};

}  // namespace echo
