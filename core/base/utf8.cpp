#include "core/base/utf8.hpp"

#include <cstdint>

namespace praetor {
namespace {

bool is_continuation(std::uint8_t b) { return (b & 0xC0) == 0x80; }

// The length of the valid sequence starting at text[i], or 0 when none starts there. The ranges
// of the second byte after E0, ED, F0 and F4 are RFC 3629's table: they exclude overlong forms,
// surrogates and code points above U+10FFFF.
std::size_t sequence_length(std::string_view text, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<std::uint8_t>(text[i + k]); };
  const std::uint8_t b0 = at(0);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  std::uint8_t low = 0x80;
  std::uint8_t high = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) low = 0xA0;
    if (b0 == 0xED) high = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) low = 0x90;
    if (b0 == 0xF4) high = 0x8F;
  } else {
    return 0;  // a continuation byte, C0/C1 (always overlong) or F5-FF
  }
  if (text.size() - i < n) return 0;
  if (at(1) < low || at(1) > high) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (!is_continuation(at(k))) return 0;
  }
  return n;
}

}  // namespace

std::size_t first_invalid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t n = sequence_length(text, i);
    if (n == 0) return i;
    i += n;
  }
  return text.size();
}

}  // namespace praetor
