#include "io/log_sink.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace praetor::io {

std::string format_log_line(const std::tm& t, LogLevel level, std::string_view subsystem,
                            std::string_view message) {
  return fmt::format("{:04}/{:02}/{:02} {:02}:{:02}:{:02} [{}] {}: {}", t.tm_year + 1900,
                     t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, log_level_name(level),
                     subsystem, message);
}

LogSink::LogSink(LogLevel min_level) : min_level_(min_level) {}

LogSink::~LogSink() {
  release();
  if (file_ != nullptr) std::fclose(file_);
}

Result<void> LogSink::open_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) {
    return make_error(ErrorCode::kIo,
                      fmt::format("cannot open log file {}: {}", path, std::strerror(errno)));
  }
  if (file_ != nullptr) std::fclose(file_);
  file_ = f;
  return ok();
}

void LogSink::hold() { held_ = true; }

void LogSink::release() {
  held_ = false;
  std::vector<std::string> lines;
  lines.swap(held_lines_);
  for (const auto& line : lines) emit(line);
}

void LogSink::log(LogLevel level, std::string_view subsystem, std::string_view message) {
  if (!enabled(level)) return;
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::string line = format_log_line(local, level, subsystem, message);
  if (capture_) captured_.push_back(line);
  if (held_) {
    held_lines_.push_back(std::move(line));
    return;
  }
  emit(line);
}

void LogSink::emit(const std::string& line) {
  if (to_stdout_) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  if (file_ != nullptr) {
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }
}

}  // namespace praetor::io
