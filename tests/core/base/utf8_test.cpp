#include "core/base/utf8.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace praetor {
namespace {

// UTF-8 encoding of one code point, written out here so the test does not lean on the code under
// test.
std::string encode(std::uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

TEST(Utf8, AcceptsAsciiAndMultibyteText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("service/mysql"));
  EXPECT_TRUE(is_valid_utf8("x\xC3\xA9y"));                // é
  EXPECT_TRUE(is_valid_utf8("\xE6\xB7\xB1\xE5\x9C\xB3"));  // 深圳
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));          // U+1F600
  EXPECT_TRUE(is_valid_utf8(std::string_view("a\0b", 3)));
}

TEST(Utf8, RefusesWhatTheIssueFoundAndEveryMalformedShape) {
  EXPECT_EQ(first_invalid_utf8("poison\xff"), 6u);
  EXPECT_EQ(first_invalid_utf8("x\xC3"), 1u);       // a lead byte cut short
  EXPECT_EQ(first_invalid_utf8("\xA9y"), 0u);       // a lone continuation byte
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong, three bytes
  EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));  // overlong, four bytes
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // U+D800, a surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(is_valid_utf8("\xE6\xB7"));      // truncated at the end
  EXPECT_FALSE(is_valid_utf8("\xE6\x41\xB1"));  // a non-continuation inside
}

// Every scalar value encodes to valid UTF-8; every surrogate does not.
RC_GTEST_PROP(Utf8, EveryScalarValueIsValidAndNoSurrogateIs, ()) {
  const auto cp = *rc::gen::inRange<std::uint32_t>(0, 0x110000);
  const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  RC_ASSERT(is_valid_utf8(encode(cp)) == !surrogate);
}

// nlohmann's parser checks UTF-8 too (strictly, as RFC 8259 asks): for any bytes that need no
// JSON escaping, both must agree. This is the property that matters: whatever we accept, the
// JSON layer can carry without throwing.
RC_GTEST_PROP(Utf8, AgreesWithTheJsonParser, ()) {
  auto bytes = *rc::gen::container<std::string>(
      rc::gen::oneOf(rc::gen::inRange<char>(0x20, 0x7F),
                     rc::gen::map(rc::gen::inRange<int>(0x80, 0x100),
                                  [](int b) { return static_cast<char>(b); })));
  std::string text;
  for (char c : bytes) {
    if (c != '"' && c != '\\') text += c;
  }
  const bool json_ok = nlohmann::json::accept("\"" + text + "\"");
  RC_ASSERT(is_valid_utf8(text) == json_ok);
  if (is_valid_utf8(text)) {
    RC_ASSERT(nlohmann::json(text).dump() == "\"" + text + "\"");
  }
}

}  // namespace
}  // namespace praetor
