// listener.hpp: the listening sockets, either passed by systemd (socket activation) or bound from --listen.
#pragma once

#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "config/config.hpp"

namespace echo {

struct Listener {
    UniqueFd fd;
    std::string name;  // the address the socket is really bound to (port 0 resolved), for logs and tests
};

struct Listeners {
    std::vector<Listener> sockets;
    bool from_systemd = false;
    std::string error;  // non-empty: nothing usable; the message names the address and the syscall
};

// Socket activation first (sd_listen_fds, which also unsets LISTEN_* so no child sees them); otherwise
// binds every --listen address. All returned fds are non-blocking and close-on-exec.
Listeners open_listeners(const Config& config);

std::string describe(const std::vector<Listener>& listeners);  // "127.0.0.1:7007, [::1]:7007"

}  // namespace echo
