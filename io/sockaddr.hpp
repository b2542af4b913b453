// Conversions between node::Endpoint (an IP literal and a port) and socket addresses.
#pragma once

#include <uv.h>

#include "core/base/result.hpp"
#include "core/node/env.hpp"

namespace praetor::io {

Result<sockaddr_storage> to_sockaddr(const node::Endpoint& endpoint);
node::Endpoint from_sockaddr(const sockaddr* address);
// The locally bound address of a TCP or UDP handle (to learn an ephemeral port).
Result<node::Endpoint> tcp_local_endpoint(const uv_tcp_t* handle);
Result<node::Endpoint> tcp_peer_endpoint(const uv_tcp_t* handle);
Result<node::Endpoint> udp_local_endpoint(const uv_udp_t* handle);
// "address already in use" and friends, as a sentence.
std::string uv_message(int status);

}  // namespace praetor::io
