// options.hpp: the one table of options the command line, the environment and the config file share.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace echo {

// Sets one option from its text; returns the reason when the text is not acceptable.
using Apply = std::function<std::optional<std::string>(Config&, std::string_view)>;

struct Option {
    const char* name;  // long flag without the dashes; also the config file key
    const char* env;
    const char* metavar;  // nullptr for a boolean switch
    const char* help;
    Apply apply;
    // Set for a list given by repeating the flag (a comma list in the environment and the file): the list,
    // which a later layer replaces rather than extends.
    std::vector<SocketAddress> Config::*repeatable_list = nullptr;
    // Names the config file: read before the other layers, and so not a key in the file itself.
    bool names_config_file = false;
};

// Every option, in --help's order.
const std::vector<Option>& options();
const Option* find_option(std::string_view name);
const Option& config_file_option();

// A value as an error message shows it: quoted, and abbreviated on a UTF-8 boundary past a few dozen bytes.
std::string quoted(std::string_view value);
// Control characters escaped as \xNN, so a message stays one line.
std::string printable(std::string_view text);

}  // namespace echo
