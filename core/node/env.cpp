#include "core/node/env.hpp"

#include <charconv>

namespace praetor::node {

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string_view channel_name(Channel c) {
  switch (c) {
    case Channel::kRpc: return "rpc";
    case Channel::kGossipLan: return "gossip-lan";
    case Channel::kGossipWan: return "gossip-wan";
    case Channel::kDns: return "dns";
    case Channel::kHttp: return "http";
    case Channel::kGossipLanStream: return "gossip-lan-stream";
    case Channel::kGossipWanStream: return "gossip-wan-stream";
    case Channel::kDnsStream:
      return "dns-stream";
  }
  return "unknown";
}

Result<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port) {
  Endpoint e;
  std::string_view port_text;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("bad address \"{}\"", text));
    }
    e.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        return make_error(ErrorCode::kInvalidArgument, fmt::format("bad address \"{}\"", text));
      }
      port_text = rest.substr(1);
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') == colon) {
      e.host = std::string(text.substr(0, colon));
      port_text = text.substr(colon + 1);
    } else {
      e.host = std::string(text);  // bare IPv4 or bare IPv6 without brackets
    }
  }
  if (e.host.empty()) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("bad address \"{}\"", text));
  }
  e.port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value > 65535) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("bad port in \"{}\"", text));
    }
    e.port = static_cast<std::uint16_t>(value);
  }
  return e;
}

}  // namespace praetor::node
