#include "io/refusal_log.hpp"

#include <fmt/format.h>

#include "core/base/assert.hpp"

namespace praetor::io {

RefusalLog::RefusalLog(Logger& logger, std::string topic, std::string verb, std::string what,
                       Duration interval)
    : logger_(logger),
      topic_(std::move(topic)),
      verb_(std::move(verb)),
      what_(std::move(what)),
      interval_(interval) {
  PRAETOR_ASSERT(interval_ > Duration::zero());
}

void RefusalLog::refused(Instant now, std::string_view reason) {
  ++refused_total_;
  // The owner's timer may run late; an interval that has passed is closed here first.
  if (window_open_ && now - window_start_ >= interval_) flush(now);
  if (!window_open_) {
    logger_.warn(topic_, "{}", reason);
    ++lines_;
    window_open_ = true;
    window_start_ = now;
    return;
  }
  ++suppressed_;
  latest_reason_.assign(reason);
}

Instant RefusalLog::flush_at() const {
  if (!window_open_ || suppressed_ == 0) return Instant::never();
  return window_start_ + interval_;
}

void RefusalLog::flush(Instant now) {
  if (suppressed_ == 0) {
    // A quiet interval: the next refusal is logged at once.
    window_open_ = false;
    return;
  }
  const double seconds = static_cast<double>((now - window_start_).count_ms()) / 1000.0;
  logger_.warn(topic_, "{} {} {} in the last {:.1f}s: {}", verb_, suppressed_, what_, seconds,
               latest_reason_);
  ++lines_;
  suppressed_ = 0;
  latest_reason_.clear();
  // The line just logged opens the next interval, so a steady flood logs once per interval.
  window_start_ = now;
}

}  // namespace praetor::io
