#include "core/node/raft_log_names.hpp"

#include <charconv>

namespace praetor::node {

std::string RaftLogNames::with_names(std::string_view message) const {
  std::string out;
  out.reserve(message.size());
  std::size_t i = 0;
  while (i < message.size()) {
    const char c = message[i];
    if (c < '0' || c > '9') {
      out.push_back(c);
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < message.size() && message[end] >= '0' && message[end] <= '9') ++end;
    const std::string_view digits = message.substr(i, end - i);
    std::uint64_t id = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    std::optional<std::string> name;
    // Ids are hashes of node UUIDs: terms, indexes and ports are far shorter than 10 digits.
    if (ec == std::errc() && p == digits.data() + digits.size() && digits.size() >= 10) {
      name = name_of_(id);
    }
    out += name ? std::string_view(*name) : digits;
    i = end;
  }
  return out;
}

void RaftLogNames::log(LogLevel level, std::string_view subsystem, std::string_view message) {
  const LogLevel shown = shown_as(level);
  if (!out_->enabled(shown)) return;
  out_->log(shown, subsystem, with_names(message));
}

}  // namespace praetor::node
