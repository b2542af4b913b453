// RefusalLog: the warning for work refused at a limit (connections over a cap, frames dropped at
// a full queue), rate-limited. A flood would otherwise print one line per refusal; issue 10
// counted 16,903 "refusing connection" lines from two loops opening idle connections.
//
// The first refusal after a quiet spell is logged at once, with its reason. Refusals within
// `interval` after a logged line are counted, and flush() logs them as one line,
//   "refused 5120 connections in the last 1.0s: <the latest reason>"
// (or "dropped 96 frames ..."),
// and starts a new interval. The owner calls flush() at flush_at() (from a timer) and when it
// closes, so no count is lost. Lines: at most one per interval, plus the first of a flood.
//
// Pure: time is an argument, so tests drive it without a loop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/instant.hpp"
#include "core/base/log.hpp"

namespace praetor::io {

class RefusalLog {
 public:
  // The counted line reads "<verb> N <what> in the last Xs: ..." ("refused", "connections").
  RefusalLog(Logger& logger, std::string topic, std::string verb, std::string what,
             Duration interval);

  // Counts one refusal; logs it now if no line was logged within the interval.
  void refused(Instant now, std::string_view reason);
  // When the refusals counted since the last line are due to be logged; never if there are none.
  Instant flush_at() const;
  // Logs the refusals counted since the last line, if any.
  void flush(Instant now);

  std::uint64_t refused_total() const { return refused_total_; }
  std::uint64_t lines() const { return lines_; }

 private:
  Logger& logger_;
  std::string topic_;
  std::string verb_;
  std::string what_;
  Duration interval_;
  bool window_open_ = false;  // a line was logged at window_start_
  Instant window_start_;
  std::uint64_t suppressed_ = 0;
  std::string latest_reason_;
  std::uint64_t refused_total_ = 0;
  std::uint64_t lines_ = 0;
};

}  // namespace praetor::io
