// TimedRefusalLog: a RefusalLog with the libuv timer that flushes it. The log itself is pure
// (time is an argument); this part makes the count of a flood reach the log when its interval
// ends, rather than at the next refusal, and flushes it once more at close so no count is lost.
// HttpServer, UvNetwork (one per listener kind) and UvHost (dropped frames) each own one.
//
// Time comes from `clock` (the owner's: a manual one in some tests); the timer is only the
// nudge. Lifetime: the timer handle is opened lazily at the first counted refusal; after close()
// the loop must run until closed() before the object is destroyed, like any libuv handle.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <string_view>

#include "io/refusal_log.hpp"

namespace praetor::io {

class TimedRefusalLog {
 public:
  TimedRefusalLog(uv_loop_t* loop, std::function<Instant()> clock, Logger& logger,
                  std::string topic, std::string verb, std::string what, Duration interval);
  ~TimedRefusalLog();
  TimedRefusalLog(const TimedRefusalLog&) = delete;
  TimedRefusalLog& operator=(const TimedRefusalLog&) = delete;

  // Counts one refusal: logs it now, or arms the timer that logs the interval's count.
  void refused(std::string_view reason);
  // Logs what is still counted and closes the timer; refusals after this are counted only.
  void close();
  bool closed() const { return !timer_open_; }

  const RefusalLog& log() const { return log_; }

 private:
  static void on_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  std::function<Instant()> clock_;
  RefusalLog log_;
  uv_timer_t timer_{};
  bool timer_open_ = false;
  bool closing_ = false;
};

}  // namespace praetor::io
