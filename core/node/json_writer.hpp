// Writing JSON answers straight into one string, without building an nlohmann document first.
//
// Why: a 1,000-entry /v1/health/service answer was about 40,000 nlohmann values (each object a
// std::map, each string its own allocation) built, dumped and freed per request: 156 million
// instructions and 13-90 ms of one core (docs/benchmarks.md, "Catalog scale"). Writing the text
// directly costs a fraction of that. The output must stay byte for byte what json_text() gives
// for the same document, because clients and the transcripts see it:
//
//   * Objects list their keys in std::map order (nlohmann's default object is a std::map): the
//     caller writes keys in ascending byte order, and debug builds assert it.
//   * Strings are escaped as nlohmann's dump(-1, ' ', false, replace) escapes them: `"` and `\`,
//     \b \t \n \f \r, other bytes below 0x20 as \u00xx; valid UTF-8 is copied as it is. A string
//     that is not valid UTF-8 is handed to nlohmann itself, so its replacement characters are
//     exactly nlohmann's (json_text.hpp says why such strings can appear at all).
//   * No whitespace; unsigned numbers in decimal; an empty map is {} and an empty list [].
//
// tests/core/node/json_writer_test.cpp compares the writer with nlohmann on awkward strings.
#pragma once

#include <charconv>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/assert.hpp"
#include "core/base/utf8.hpp"
#include "core/node/json_text.hpp"

namespace praetor::node {

class JsonWriter {
 public:
  explicit JsonWriter(std::size_t reserve = 0) { out_.reserve(reserve); }

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  // Keys are the API's fixed field names: plain ASCII, written without escaping.
  JsonWriter& key(std::string_view name) {
    separate();
#ifndef NDEBUG
    PRAETOR_ASSERT(depth_ > 0 && !in_array(depth_ - 1));
    PRAETOR_ASSERT_MSG(last_key_[depth_ - 1].empty() || last_key_[depth_ - 1] < name,
                       "JSON key {} after {}: nlohmann orders keys", name, last_key_[depth_ - 1]);
    last_key_[depth_ - 1] = name;
#endif
    out_ += '"';
    out_ += name;
    out_ += "\":";
    after_key_ = true;
    return *this;
  }

  // A key that is data (a service name or id): escaped like a value; the caller iterates a
  // std::map, whose order is nlohmann's.
  JsonWriter& data_key(std::string_view name) {
    separate();
    append_string(name);
    out_ += ':';
    after_key_ = true;
    return *this;
  }

  void value(std::string_view text) {
    separate();
    append_string(text);
  }
  void value(const std::string& text) { value(std::string_view(text)); }
  void value(const char* text) { value(std::string_view(text)); }
  void value(bool b) {
    separate();
    out_ += b ? "true" : "false";
  }
  void value(std::uint64_t n) {
    separate();
    char buffer[24];
    auto end = std::to_chars(buffer, buffer + sizeof buffer, n).ptr;
    out_.append(buffer, end);
  }
  void value(std::uint32_t n) { value(static_cast<std::uint64_t>(n)); }

  // A list of strings, [] when empty.
  void value(const std::vector<std::string>& list) {
    begin_array();
    for (const auto& s : list) value(s);
    end_array();
  }
  // A string map as an object, {} when empty (string_map_json in the handlers). std::map
  // iterates in the same order nlohmann would write.
  void value(const std::map<std::string, std::string>& map) {
    separate();
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : map) {
      if (!first) out_ += ',';
      first = false;
      append_string(k);
      out_ += ':';
      append_string(v);
    }
    out_ += '}';
  }

  std::string take() {
    PRAETOR_ASSERT(depth_ == 0);
    return std::move(out_);
  }

 private:
  static constexpr int kMaxDepth = 16;

  // Whether a byte can be copied as it is (printable ASCII other than `"` and `\`).
  static bool plain(unsigned char c) { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\'; }

  void append_string(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && plain(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) {
      out_ += '"';
      out_ += text;
      out_ += '"';
      return;
    }
    if (!is_valid_utf8(text)) {
      out_ += json_text(nlohmann::json(std::string(text)));
      return;
    }
    out_ += '"';
    out_.append(text.data(), i);
    for (; i < text.size(); ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\b':
          out_ += "\\b";
          break;
        case '\t':
          out_ += "\\t";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\f':
          out_ += "\\f";
          break;
        case '\r':
          out_ += "\\r";
          break;
        default:
          if (c < 0x20) {
            static constexpr char kHex[] = "0123456789abcdef";
            out_ += "\\u00";
            out_ += kHex[c >> 4];
            out_ += kHex[c & 0xf];
          } else {
            out_ += static_cast<char>(c);
          }
      }
    }
    out_ += '"';
  }

  bool in_array(int level) const { return (arrays_ >> level) & 1U; }

  // A comma before every element but the first of its container; none after a key.
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ > 0) {
      const std::uint32_t bit = 1U << (depth_ - 1);
      if (started_ & bit) out_ += ',';
      started_ |= bit;
    }
  }

  void open(char bracket) {
    separate();
    PRAETOR_ASSERT(depth_ < kMaxDepth);
    out_ += bracket;
    const std::uint32_t bit = 1U << depth_;
    started_ &= ~bit;
    if (bracket == '[') {
      arrays_ |= bit;
    } else {
      arrays_ &= ~bit;
    }
#ifndef NDEBUG
    last_key_[depth_] = {};
#endif
    ++depth_;
  }

  void close(char bracket) {
    PRAETOR_ASSERT(depth_ > 0 && !after_key_);
    --depth_;
    out_ += bracket;
  }

  std::string out_;
  int depth_ = 0;
  std::uint32_t started_ = 0;  // bit d: the container at depth d has an element
  std::uint32_t arrays_ = 0;   // bit d: the container at depth d is an array
  bool after_key_ = false;
#ifndef NDEBUG
  std::string_view last_key_[kMaxDepth];
#endif
};

}  // namespace praetor::node
