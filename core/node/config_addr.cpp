// Address literals in the agent config. Consul accepts what Go's net.ParseIP accepts (plus
// "[::]" and unix:// sockets where listeners allow them) and expands go-sockaddr templates;
// we check literals by hand because core/ may not call inet_pton, and reject templates clearly.
#include <fmt/format.h>

#include <cstdint>
#include <vector>

#include "core/node/config_reader.hpp"

namespace praetor::node::config_detail {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Splits on ' ', '\t', '\n' like Go's strings.Fields.
std::vector<std::string> fields(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < s.size() && !(s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r')) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Counts the 16-bit groups of one side of "::" ("" is zero groups); -1 when malformed.
// An embedded IPv4 tail counts as two groups and is allowed only where last_side says so.
int count_groups(std::string_view side, bool last_side) {
  if (side.empty()) return 0;
  int groups = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t colon = side.find(':', start);
    const std::string_view g = side.substr(
        start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    const bool last = colon == std::string_view::npos;
    if (last && last_side && g.find('.') != std::string_view::npos) {
      if (!is_ipv4_literal(g)) return -1;
      return groups + 2;
    }
    if (g.empty() || g.size() > 4) return -1;
    for (char c : g) {
      if (!is_hex(c)) return -1;
    }
    ++groups;
    if (last) return groups;
    start = colon + 1;
  }
}

}  // namespace

bool is_ipv4_literal(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t digits = 0;
    int value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      value = value * 10 + (s[i] - '0');
      ++digits;
      ++i;
      if (digits > 3) return false;
    }
    // Go rejects leading zeros ("010.0.0.1") since 1.17 because they read as octal elsewhere.
    if (digits == 0 || value > 255 || (digits > 1 && s[i - digits] == '0')) return false;
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

bool is_ipv6_literal(std::string_view s) {
  if (s == "[::]") return true;  // Consul special-cases this spelling
  if (const auto pct = s.find('%'); pct != std::string_view::npos) {
    if (pct + 1 == s.size()) return false;  // empty zone
    s = s.substr(0, pct);
  }
  if (s.size() < 2) return false;
  const auto dbl = s.find("::");
  if (dbl == std::string_view::npos) return count_groups(s, true) == 8;
  if (s.find("::", dbl + 1) != std::string_view::npos) return false;
  const std::string_view left = s.substr(0, dbl);
  const std::string_view right = s.substr(dbl + 2);
  const int l = count_groups(left, false);
  const int r = count_groups(right, true);
  return l >= 0 && r >= 0 && l + r <= 7;
}

bool is_ip_literal(std::string_view s) { return is_ipv4_literal(s) || is_ipv6_literal(s); }

bool is_any_address(std::string_view s) {
  if (s == "0.0.0.0" || s == "[::]") return true;
  if (!is_ipv6_literal(s)) return false;
  for (char c : s) {
    if (c != '0' && c != ':') return false;
  }
  return true;
}

namespace {

// Appends the 16-bit groups of one side of "::" to out (an IPv4 tail as two groups). The text is
// a validated literal, so the parse cannot fail.
void append_groups(std::string_view side, std::vector<std::uint16_t>& out) {
  std::size_t start = 0;
  while (start < side.size()) {
    const std::size_t colon = side.find(':', start);
    const std::string_view g = side.substr(
        start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
    if (g.find('.') != std::string_view::npos) {
      unsigned octets[4] = {};
      int i = 0;
      for (char c : g) {
        if (c == '.') {
          ++i;
        } else {
          octets[i] = octets[i] * 10 + static_cast<unsigned>(c - '0');
        }
      }
      out.push_back(static_cast<std::uint16_t>(octets[0] << 8 | octets[1]));
      out.push_back(static_cast<std::uint16_t>(octets[2] << 8 | octets[3]));
      return;
    }
    unsigned value = 0;
    for (char c : g) {
      const unsigned digit =
          c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>((c | 0x20) - 'a' + 10);
      value = value * 16 + digit;
    }
    out.push_back(static_cast<std::uint16_t>(value));
    if (colon == std::string_view::npos) return;
    start = colon + 1;
  }
}

// The eight groups of a validated IPv6 literal.
std::vector<std::uint16_t> ipv6_groups(std::string_view s) {
  if (s.starts_with('[') && s.ends_with(']')) s = s.substr(1, s.size() - 2);
  if (const auto pct = s.find('%'); pct != std::string_view::npos) s = s.substr(0, pct);
  std::vector<std::uint16_t> left, right;
  const auto dbl = s.find("::");
  if (dbl == std::string_view::npos) {
    append_groups(s, left);
  } else {
    append_groups(s.substr(0, dbl), left);
    append_groups(s.substr(dbl + 2), right);
  }
  left.resize(8 - right.size(), 0);
  left.insert(left.end(), right.begin(), right.end());
  return left;
}

}  // namespace

bool is_loopback_address(std::string_view s) {
  if (is_ipv4_literal(s)) return s.starts_with("127.");
  if (!is_ipv6_literal(s)) return false;
  const auto g = ipv6_groups(s);
  if (g.size() != 8) return false;
  const bool zero_prefix = g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0;
  if (zero_prefix && g[5] == 0 && g[6] == 0 && g[7] == 1) return true;  // ::1
  return zero_prefix && g[5] == 0xffff && (g[6] >> 8) == 127;           // ::ffff:127.x.y.z
}

namespace {

bool reject_template(Reader& r, const std::string& path, std::string_view value) {
  if (value.find("{{") == std::string_view::npos) return false;
  r.fail(path, fmt::format("go-sockaddr templates such as \"{}\" are not supported; "
                           "write the IP address",
                           value));
  return true;
}

}  // namespace

std::vector<std::string> read_address_list(Reader& r, const Json& v, const std::string& path,
                                           bool allow_unix) {
  std::string text;
  if (!r.read(v, path, text) || reject_template(r, path, text)) return {};
  std::vector<std::string> out = fields(text);
  for (const auto& a : out) {
    if (allow_unix && a.starts_with("unix://") && a.size() > 7) continue;
    if (!is_ip_literal(a)) {
      r.fail(path, fmt::format("invalid ip address: {}", a));
      return {};
    }
  }
  return out;
}

std::string read_ip(Reader& r, const Json& v, const std::string& path) {
  std::string text;
  if (!r.read(v, path, text) || reject_template(r, path, text)) return {};
  const auto parts = fields(text);
  if (parts.size() > 1) {
    r.fail(path, "cannot contain multiple addresses. Use 'addresses.{dns,http,https}' instead.");
    return {};
  }
  if (parts.empty()) return {};
  if (parts[0].starts_with("unix://")) {
    r.fail(path, "cannot be a unix socket");
    return {};
  }
  if (!is_ip_literal(parts[0])) {
    r.fail(path, fmt::format("invalid ip address: {}", parts[0]));
    return {};
  }
  return parts[0];
}

}  // namespace praetor::node::config_detail
