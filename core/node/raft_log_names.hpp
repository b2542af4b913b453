// The logger the agent hands to the Raft core. The core knows servers by their 64-bit Raft ids
// and logs those; an operator reading consul.log knows them by name. This writes the core's lines
// with every id of a known server replaced by its name ("leader=S1"), and the core's info lines
// at debug level: the agent logs Consul's own lines for the same events at info ("Node at
// 127.0.0.2:8300 [Leader] entering Leader state", "consul: New leader elected: S1"), so the log
// at the default level reads as Consul's does. The core's warnings and errors stay as they are.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/log.hpp"

namespace praetor::node {

class RaftLogNames final : public Logger {
 public:
  using NameOf = std::function<std::optional<std::string>(std::uint64_t id)>;
  RaftLogNames(Logger& out, NameOf name_of) : out_(&out), name_of_(std::move(name_of)) {}

  void log(LogLevel level, std::string_view subsystem, std::string_view message) override;
  bool enabled(LogLevel level) const override { return out_->enabled(shown_as(level)); }

  // `message` with each run of digits that is a known server's id replaced by its name.
  std::string with_names(std::string_view message) const;

 private:
  static LogLevel shown_as(LogLevel level) {
    return level == LogLevel::kInfo ? LogLevel::kDebug : level;
  }
  Logger* out_;
  NameOf name_of_;
};

}  // namespace praetor::node
