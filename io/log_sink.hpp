// LogSink: the host's Logger. Prints Consul-style lines
//   2026/11/25 10:00:00 [INFO] agent: message
// (local wall time) filtered by level, to stderr or to a file. It runs on the loop thread only,
// so it is not synchronised.
//
// Like Consul's gated writer, the sink can hold lines back until the startup banner has been
// printed (hold() ... release()), so the banner is never interleaved with log output.
#pragma once

#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/log.hpp"
#include "core/base/result.hpp"

namespace praetor::io {

// Formats one line (without the trailing newline) for the given local broken-down time.
std::string format_log_line(const std::tm& local_time, LogLevel level, std::string_view subsystem,
                            std::string_view message);

class LogSink final : public Logger {
 public:
  // Writes to stdout, as Consul's agent does (the seed runs `nohup consul agent ... > consul.log`:
  // the log is what stdout carries).
  explicit LogSink(LogLevel min_level);
  ~LogSink() override;
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;

  // Additionally appends every line to `path` (created if missing).
  Result<void> open_file(const std::string& path);
  // Also keeps a copy of each emitted line in memory (tests).
  void capture(bool on) { capture_ = on; }
  const std::vector<std::string>& captured() const { return captured_; }
  // Turns stdout output off (tests, or when only a file is wanted).
  void set_stdout(bool on) { to_stdout_ = on; }

  void set_level(LogLevel level) { min_level_ = level; }
  void hold();
  void release();

  void log(LogLevel level, std::string_view subsystem, std::string_view message) override;
  bool enabled(LogLevel level) const override { return level >= min_level_; }

 private:
  void emit(const std::string& line);

  LogLevel min_level_;
  bool to_stdout_ = true;
  bool capture_ = false;
  bool held_ = false;
  std::FILE* file_ = nullptr;
  std::vector<std::string> held_lines_;
  std::vector<std::string> captured_;
};

}  // namespace praetor::io
