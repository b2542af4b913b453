#include "core/base/duration.hpp"

#include <cstdint>
#include <fmt/format.h>

namespace praetor {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t ns;
};
constexpr Unit kUnits[] = {
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000},  // U+00B5 micro sign
    {"\xce\xbcs", 1000},  // U+03BC Greek mu
    {"ms", 1000'000},
    {"s", 1000'000'000},
    {"m", 60LL * 1000'000'000},
    {"h", 3600LL * 1000'000'000},
};

constexpr std::int64_t kMax = INT64_MAX;
// 128-bit intermediate for exact fraction * unit; __extension__ keeps -Wpedantic quiet.
__extension__ typedef __int128 Int128;

Error bad(std::string_view text, std::string_view why) {
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("invalid duration \"{}\": {}", text, why));
}

}  // namespace

Result<Duration> parse_go_duration(std::string_view text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return Duration::zero();
  if (s.empty()) return bad(text, "empty");
  std::int64_t total = 0;
  while (!s.empty()) {
    // Integer part.
    std::int64_t whole = 0;
    std::size_t digits = 0;
    bool overflow = false;
    while (!s.empty() && s[0] >= '0' && s[0] <= '9') {
      if (whole > (kMax - 9) / 10) overflow = true;
      if (!overflow) whole = whole * 10 + (s[0] - '0');
      s.remove_prefix(1);
      ++digits;
    }
    // Fraction part: keep up to 18 digits as an exact fraction numerator/scale.
    std::int64_t frac = 0, scale = 1;
    std::size_t frac_digits = 0;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      while (!s.empty() && s[0] >= '0' && s[0] <= '9') {
        if (scale < 1000'000'000'000'000'000LL) {
          frac = frac * 10 + (s[0] - '0');
          scale *= 10;
        }
        s.remove_prefix(1);
        ++frac_digits;
      }
    }
    if (digits == 0 && frac_digits == 0) return bad(text, "expected a number");
    if (overflow) return bad(text, "out of range");
    std::size_t unit_len = 0;
    while (unit_len < s.size() && !(s[unit_len] >= '0' && s[unit_len] <= '9') &&
           s[unit_len] != '.') {
      ++unit_len;
    }
    if (unit_len == 0) return bad(text, "missing unit");
    std::string_view unit = s.substr(0, unit_len);
    s.remove_prefix(unit_len);
    const Unit* found = nullptr;
    for (const auto& u : kUnits) {
      if (u.name == unit) found = &u;
    }
    if (found == nullptr) return bad(text, fmt::format("unknown unit \"{}\"", unit));
    if (whole > kMax / found->ns) return bad(text, "out of range");
    std::int64_t value = whole * found->ns;
    if (frac > 0) {
      // frac/scale * unit, computed without overflow: unit <= 3.6e12, frac < 1e18.
      Int128 part = static_cast<Int128>(frac) * found->ns / scale;
      value += static_cast<std::int64_t>(part);
    }
    if (value < 0 || total > kMax - value) return bad(text, "out of range");
    total += value;
  }
  return Duration::nanoseconds(negative ? -total : total);
}

std::string format_go_duration(Duration d) {
  std::int64_t ns = d.count_ns();
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  std::uint64_t u = ns < 0 ? static_cast<std::uint64_t>(-(ns + 1)) + 1 : static_cast<std::uint64_t>(ns);
  auto frac_text = [](std::uint64_t whole, std::uint64_t frac, int width) {
    std::string out = fmt::format("{}", whole);
    if (frac != 0) {
      std::string f = fmt::format("{:0{}}", frac, width);
      while (!f.empty() && f.back() == '0') f.pop_back();
      out += "." + f;
    }
    return out;
  };
  if (u < 1000) return sign + fmt::format("{}ns", u);
  if (u < 1000'000) return sign + frac_text(u / 1000, u % 1000, 3) + "\xc2\xb5s";
  if (u < 1000'000'000) return sign + frac_text(u / 1000'000, u % 1000'000, 6) + "ms";
  std::uint64_t secs = u / 1000'000'000, sub = u % 1000'000'000;
  std::uint64_t hours = secs / 3600, minutes = (secs / 60) % 60, s = secs % 60;
  std::string out = sign;
  if (hours > 0) out += fmt::format("{}h", hours);
  if (hours > 0 || minutes > 0) out += fmt::format("{}m", minutes);
  out += frac_text(s, sub, 9) + "s";
  return out;
}

}  // namespace praetor
