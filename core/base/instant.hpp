// Time as values. Duration is a signed count of nanoseconds; Instant is a point on a monotonic
// timeline whose origin the host chooses (process start for io/, zero for sim/). Cores never read
// a clock: they are handed `now`.
#pragma once

#include <fmt/format.h>

#include <compare>
#include <cstdint>
#include <limits>

namespace praetor {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration nanoseconds(std::int64_t n) { return Duration(n); }
  static constexpr Duration microseconds(std::int64_t n) { return Duration(n * 1000); }
  static constexpr Duration milliseconds(std::int64_t n) { return Duration(n * 1000'000); }
  static constexpr Duration seconds(std::int64_t n) { return Duration(n * 1000'000'000); }
  static constexpr Duration minutes(std::int64_t n) { return seconds(n * 60); }
  static constexpr Duration hours(std::int64_t n) { return minutes(n * 60); }
  static constexpr Duration zero() { return Duration(0); }
  static constexpr Duration max() { return Duration(std::numeric_limits<std::int64_t>::max()); }

  constexpr std::int64_t count_ns() const { return ns_; }
  constexpr std::int64_t count_ms() const { return ns_ / 1000'000; }
  constexpr double seconds_f() const { return static_cast<double>(ns_) / 1e9; }

  friend constexpr auto operator<=>(Duration, Duration) = default;
  constexpr Duration operator+(Duration o) const { return Duration(ns_ + o.ns_); }
  constexpr Duration operator-(Duration o) const { return Duration(ns_ - o.ns_); }
  constexpr Duration operator*(std::int64_t k) const { return Duration(ns_ * k); }
  constexpr Duration operator/(std::int64_t k) const { return Duration(ns_ / k); }
  constexpr Duration& operator+=(Duration o) { ns_ += o.ns_; return *this; }
  constexpr Duration& operator-=(Duration o) { ns_ -= o.ns_; return *this; }

 private:
  constexpr explicit Duration(std::int64_t ns) : ns_(ns) {}
  std::int64_t ns_ = 0;
};

class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant from_ns(std::int64_t ns) { return Instant(ns); }
  static constexpr Instant zero() { return Instant(0); }
  // "No deadline": later than any instant a run reaches.
  static constexpr Instant never() { return Instant(std::numeric_limits<std::int64_t>::max()); }

  constexpr std::int64_t ns() const { return ns_; }
  constexpr bool is_never() const { return ns_ == std::numeric_limits<std::int64_t>::max(); }

  friend constexpr auto operator<=>(Instant, Instant) = default;
  constexpr Instant operator+(Duration d) const {
    if (is_never()) return *this;
    return Instant(ns_ + d.count_ns());
  }
  constexpr Instant operator-(Duration d) const { return Instant(ns_ - d.count_ns()); }
  constexpr Duration operator-(Instant o) const { return Duration::nanoseconds(ns_ - o.ns_); }

 private:
  constexpr explicit Instant(std::int64_t ns) : ns_(ns) {}
  std::int64_t ns_ = 0;
};

// Wall-clock time (Unix epoch, nanoseconds): for display, session TTL text and SOA serials only.
struct WallTime {
  std::int64_t unix_ns = 0;
  friend constexpr auto operator<=>(WallTime, WallTime) = default;
};

}  // namespace praetor

template <>
struct fmt::formatter<praetor::Duration> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(praetor::Duration d, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}ms", d.count_ns() / 1000'000);
  }
};

template <>
struct fmt::formatter<praetor::Instant> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(praetor::Instant t, Context& ctx) const {
    if (t.is_never()) return fmt::format_to(ctx.out(), "never");
    return fmt::format_to(ctx.out(), "t={}.{:03}", t.ns() / 1000'000'000,
                          (t.ns() / 1000'000) % 1000);
  }
};
