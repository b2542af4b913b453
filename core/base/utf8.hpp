// UTF-8 validation. The HTTP API speaks JSON, and JSON text is Unicode: a key, id or separator
// that is not valid UTF-8 cannot be written into a response without either failing or changing
// it, so the API refuses such strings at the door (decision D16). The check is strict, as
// RFC 3629 asks: no overlong forms, no UTF-16 surrogates, nothing above U+10FFFF.
#pragma once

#include <cstddef>
#include <string_view>

namespace praetor {

// The offset of the first byte that does not begin a valid UTF-8 sequence, or text.size() when
// the whole text is valid.
std::size_t first_invalid_utf8(std::string_view text);
inline bool is_valid_utf8(std::string_view text) { return first_invalid_utf8(text) == text.size(); }

}  // namespace praetor
