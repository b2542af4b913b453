// The logging facade. Cores log through an injected Logger&; the host decides where lines go
// (io/log_sink prints Consul-style lines, the simulator adds them to its trace).
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string_view>

namespace praetor {

enum class LogLevel { kTrace = 0, kDebug = 1, kInfo = 2, kWarn = 3, kError = 4 };

std::string_view log_level_name(LogLevel level);  // "TRACE", "DEBUG", "INFO", "WARN", "ERR"
std::optional<LogLevel> parse_log_level(std::string_view text);  // case-insensitive; "err" too

class Logger {
 public:
  virtual ~Logger() = default;
  // subsystem is the Consul-style prefix ("agent", "raft", "serf", "memberlist", "http").
  virtual void log(LogLevel level, std::string_view subsystem, std::string_view message) = 0;
  virtual bool enabled(LogLevel level) const = 0;

  template <typename... Args>
  void info(std::string_view subsystem, fmt::format_string<Args...> f, Args&&... args) {
    emit(LogLevel::kInfo, subsystem, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void debug(std::string_view subsystem, fmt::format_string<Args...> f, Args&&... args) {
    emit(LogLevel::kDebug, subsystem, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void trace(std::string_view subsystem, fmt::format_string<Args...> f, Args&&... args) {
    emit(LogLevel::kTrace, subsystem, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void warn(std::string_view subsystem, fmt::format_string<Args...> f, Args&&... args) {
    emit(LogLevel::kWarn, subsystem, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void error(std::string_view subsystem, fmt::format_string<Args...> f, Args&&... args) {
    emit(LogLevel::kError, subsystem, f, std::forward<Args>(args)...);
  }

 private:
  template <typename... Args>
  void emit(LogLevel level, std::string_view subsystem, fmt::format_string<Args...> f,
            Args&&... args) {
    if (!enabled(level)) return;
    log(level, subsystem, fmt::format(f, std::forward<Args>(args)...));
  }
};

// Discards everything: for tests that do not look at logs.
class NullLogger final : public Logger {
 public:
  void log(LogLevel, std::string_view, std::string_view) override {}
  bool enabled(LogLevel) const override { return false; }
};

}  // namespace praetor
