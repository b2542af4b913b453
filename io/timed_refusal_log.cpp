#include "io/timed_refusal_log.hpp"

#include <algorithm>

#include "core/base/assert.hpp"

namespace praetor::io {

TimedRefusalLog::TimedRefusalLog(uv_loop_t* loop, std::function<Instant()> clock, Logger& logger,
                                 std::string topic, std::string verb, std::string what,
                                 Duration interval)
    : loop_(loop),
      clock_(std::move(clock)),
      log_(logger, std::move(topic), std::move(verb), std::move(what), interval) {}

TimedRefusalLog::~TimedRefusalLog() {
  PRAETOR_ASSERT_MSG(!timer_open_, "TimedRefusalLog destroyed with its timer open");
}

void TimedRefusalLog::refused(std::string_view reason) {
  const Instant now = clock_();
  log_.refused(now, reason);
  const Instant at = log_.flush_at();
  if (at.is_never() || closing_) return;
  if (!timer_open_) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    timer_open_ = true;
  }
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)) != 0) return;
  const auto ms = static_cast<std::uint64_t>(std::max<std::int64_t>((at - now).count_ms(), 1));
  uv_timer_start(&timer_, on_timer, ms, 0);
}

void TimedRefusalLog::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<TimedRefusalLog*>(timer->data);
  self->log_.flush(self->clock_());
}

void TimedRefusalLog::close() {
  if (closing_) return;
  closing_ = true;
  log_.flush(clock_());  // the count of the last interval is not lost
  if (timer_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), [](uv_handle_t* h) {
      static_cast<TimedRefusalLog*>(h->data)->timer_open_ = false;
    });
  }
}

}  // namespace praetor::io
