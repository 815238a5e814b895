// listener.hpp: the listening sockets, either passed by systemd (socket activation) or bound from --listen.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/sys_result.hpp"
#include "base/unique_fd.hpp"
#include "config/address.hpp"

namespace echo {

struct Listener {
    UniqueFd fd;
    std::string name;    // the address the socket is really bound to (port 0 resolved), for logs and tests
    bool proxy = false;  // its connections start with a PROXY protocol header (R90, docs/PROXY.md)
};

struct Listeners {
    std::vector<Listener> sockets;
    bool from_systemd = false;
    // The metrics page's socket (R81): a passed socket named "metrics" (FileDescriptorName=), or bound from
    // --metrics-listen. Never handed to a worker.
    std::optional<Listener> metrics;
    // Connections the last instance left in systemd's file descriptor store (FDNAME=conn, R62): served again
    // once the workers accept. Connected stream sockets, non-blocking and close-on-exec like the rest.
    std::vector<UniqueFd> stored;
};

// The FDNAME= of a connection in systemd's file descriptor store (RUNBOOK.md "Connections across reload,
// upgrade and restart").
inline constexpr const char* kStoredConnectionName = "conn";

// Whether a socket systemd passes under this FileDescriptorName= expects PROXY protocol headers: "proxy",
// or a name ending in "-proxy" (several such sockets, each its own name: docs/PROXY.md "Which listeners").
bool is_proxy_socket_name(std::string_view name);

// Socket activation first (sd_listen_fds_with_names, which also unsets LISTEN_* so no child sees them):
// a socket named "metrics" is the metrics page's, every other one serves echo; otherwise binds every
// address, then every one of `proxy_addresses`, which expect a PROXY header (R90). With `proxy_protocol`
// every echo listener expects one; without it, only those and the passed sockets whose name says so
// (is_proxy_socket_name). `metrics_address` is bound unless systemd passed the metrics
// socket. All returned fds are non-blocking and close-on-exec. Unlike the one-object owners, it logs its
// failure itself (critical), since only it knows which address or passed fd and which call failed; then
// returns -errno.
SysResult<Listeners> open_listeners(const std::vector<SocketAddress>& addresses,
                                    const std::vector<SocketAddress>& proxy_addresses,
                                    const std::optional<SocketAddress>& metrics_address, bool proxy_protocol);

std::string describe(const std::vector<Listener>& listeners);  // "127.0.0.1:7007, [::1]:7007"

}  // namespace echo
