#include "io/sockaddr.hpp"

#include <fmt/format.h>

#include <cstring>

namespace praetor::io {

std::string uv_message(int status) {
  return fmt::format("{} ({})", uv_strerror(status), uv_err_name(status));
}

Result<sockaddr_storage> to_sockaddr(const node::Endpoint& endpoint) {
  sockaddr_storage out{};
  if (endpoint.host.find(':') != std::string::npos) {
    sockaddr_in6 a6{};
    int rc = uv_ip6_addr(endpoint.host.c_str(), endpoint.port, &a6);
    if (rc != 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("bad IPv6 address \"{}\"", endpoint.host));
    }
    std::memcpy(&out, &a6, sizeof a6);
    return out;
  }
  sockaddr_in a4{};
  int rc = uv_ip4_addr(endpoint.host.c_str(), endpoint.port, &a4);
  if (rc != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("bad IPv4 address \"{}\"", endpoint.host));
  }
  std::memcpy(&out, &a4, sizeof a4);
  return out;
}

node::Endpoint from_sockaddr(const sockaddr* address) {
  node::Endpoint out;
  char name[INET6_ADDRSTRLEN + 1] = {};
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 a6{};
    std::memcpy(&a6, address, sizeof a6);
    uv_ip6_name(&a6, name, sizeof name);
    out.port = ntohs(a6.sin6_port);
  } else if (address->sa_family == AF_INET) {
    sockaddr_in a4{};
    std::memcpy(&a4, address, sizeof a4);
    uv_ip4_name(&a4, name, sizeof name);
    out.port = ntohs(a4.sin_port);
  }
  out.host = name;
  return out;
}

namespace {

template <typename Fn>
Result<node::Endpoint> endpoint_from(Fn fn, std::string_view what) {
  sockaddr_storage storage{};
  int length = sizeof storage;
  int rc = fn(reinterpret_cast<sockaddr*>(&storage), &length);
  if (rc != 0) {
    return make_error(ErrorCode::kIo, fmt::format("{}: {}", what, uv_message(rc)));
  }
  return from_sockaddr(reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace

Result<node::Endpoint> tcp_local_endpoint(const uv_tcp_t* handle) {
  return endpoint_from([&](sockaddr* a, int* n) { return uv_tcp_getsockname(handle, a, n); },
                       "getsockname");
}

Result<node::Endpoint> tcp_peer_endpoint(const uv_tcp_t* handle) {
  return endpoint_from([&](sockaddr* a, int* n) { return uv_tcp_getpeername(handle, a, n); },
                       "getpeername");
}

Result<node::Endpoint> udp_local_endpoint(const uv_udp_t* handle) {
  return endpoint_from([&](sockaddr* a, int* n) { return uv_udp_getsockname(handle, a, n); },
                       "getsockname");
}

}  // namespace praetor::io
