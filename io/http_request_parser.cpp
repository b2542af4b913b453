#include "io/http_request_parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <limits>

namespace praetor::io {
namespace {

HttpRequestParser* self(http_parser* p) { return static_cast<HttpRequestParser*>(p->data); }

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Per-header overhead counted toward the header budget (": " and CRLF), so that many empty
// headers still use it up.
constexpr std::size_t kHeaderLineOverhead = 4;

// Go's net/http refuses chunk sizes of more than 16 hex digits (leading zeros included).
constexpr std::size_t kMaxChunkSizeDigits = 16;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

// RFC 9110 §5.6.2 token characters, for trailer field names.
bool is_token_char(unsigned char ch) {
  if (std::isalnum(ch) != 0) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) != std::string_view::npos;
}

}  // namespace

HttpRequestParser::HttpRequestParser(HttpLimits limits) : limits_(limits) {
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &HttpRequestParser::on_message_begin;
  settings_.on_url = &HttpRequestParser::on_url;
  settings_.on_header_field = &HttpRequestParser::on_header_field;
  settings_.on_header_value = &HttpRequestParser::on_header_value;
  settings_.on_headers_complete = &HttpRequestParser::on_headers_complete;
  settings_.on_body = &HttpRequestParser::on_body;
  settings_.on_message_complete = &HttpRequestParser::on_message_complete;
  reset();
}

void HttpRequestParser::reset() {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  current_ = ParsedRequest{};
  url_.clear();
  field_.clear();
  value_.clear();
  in_value_ = false;
  header_bytes_ = 0;
  started_ = false;
  headers_complete_ = false;
  complete_ = false;
  expect_continue_ = false;
  request_line_.clear();
  request_line_done_ = false;
  chunked_ = false;
  in_chunked_body_ = false;
  chunk_state_ = ChunkState::kSizeLine;
  chunk_line_.clear();
  chunk_remaining_ = 0;
  trailers_ = 0;
}

HttpRequestParser::Outcome HttpRequestParser::feed(ByteView data) {
  Outcome out;
  if (failed_) {
    out.kind = Kind::kError;
    out.status = error_status_;
    out.message = error_message_;
    return out;
  }
  PRAETOR_ASSERT_MSG(!complete_, "feed() before take_request()");
  if (data.empty()) return out;
  std::size_t used = 0;
  if (!in_chunked_body_) {
    capture_request_line(data);
    used = http_parser_execute(&parser_, &settings_, reinterpret_cast<const char*>(data.data()),
                               data.size());
    auto err = HTTP_PARSER_ERRNO(&parser_);
    if (in_chunked_body_) {
      // Paused after the header block of a chunked request; the body is ours to decode.
      PRAETOR_ASSERT(err == HPE_PAUSED);
      PRAETOR_ASSERT(!complete_);
    } else if (complete_) {
      // Paused at the end of one request; the remaining bytes are the next request's.
      PRAETOR_ASSERT(err == HPE_PAUSED || err == HPE_OK);
      out.kind = Kind::kRequest;
      out.consumed = used;
      return out;
    } else if (err == HPE_OK && used == data.size()) {
      out.consumed = used;
      return out;
    } else {
      if (err == HPE_OK) {
        // http_parser stopped early without an error: only a protocol switch does that.
        fail(400, "protocol upgrade is not supported");
      }
      if (error_status_ == 0) {
        if (err == HPE_HEADER_OVERFLOW) {
          fail(431, "request header fields too large");
        } else if (err == HPE_INVALID_TRANSFER_ENCODING) {
          fail(501, "unsupported transfer encoding");
        } else {
          fail(400, fmt::format("malformed HTTP request: {}", http_errno_description(err)));
        }
      }
      failed_ = true;
    }
  }
  if (!failed_ && in_chunked_body_) used += feed_chunked(data.subspan(used));
  out.consumed = used;
  if (failed_) {
    out.kind = Kind::kError;
    out.status = error_status_;
    out.message = error_message_;
  } else if (complete_) {
    out.kind = Kind::kRequest;
  } else {
    PRAETOR_ASSERT(used == data.size());
  }
  return out;
}

void HttpRequestParser::capture_request_line(ByteView data) {
  for (std::size_t i = 0; i < data.size() && !request_line_done_; ++i) {
    const char ch = static_cast<char>(data[i]);
    // http_parser skips empty lines before a request (RFC 9112 §2.2); so does the capture.
    if (request_line_.empty() && (ch == '\r' || ch == '\n')) continue;
    if (ch == '\n') {
      request_line_done_ = true;
    } else if (request_line_.size() <= limits_.max_header_bytes) {
      // A longer line fails as 431 in http_parser (its target counts against the header budget).
      request_line_.push_back(ch);
    }
  }
}

int HttpRequestParser::check_version() {
  std::string_view line = request_line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // "GET /" and "GET / HTTP/0.9" both reach us as version 0.9; only the second names one.
  const auto space = line.rfind(' ');
  if (space == std::string_view::npos || !line.substr(space + 1).starts_with("HTTP/")) {
    return fail(400, "malformed HTTP request: the request line has no HTTP version");
  }
  if (parser_.http_major != 1 || parser_.http_minor > 1) {
    return fail(505, fmt::format("HTTP version {}.{} is not supported (HTTP/1.0 and HTTP/1.1 are)",
                                 parser_.http_major, parser_.http_minor));
  }
  return 0;
}

int HttpRequestParser::check_transfer_encoding() {
  const auto& headers = current_.request.headers;
  const auto count = std::count_if(headers.begin(), headers.end(),
                                   [](const auto& h) { return h.first == "transfer-encoding"; });
  if (count == 0) return 0;
  // Go's net/http answers 501 to anything but one "chunked" (RFC 9112 §6.1: a server that
  // receives a transfer coding it does not understand responds 501). "gzip, chunked" would
  // otherwise be read as plain chunked and its compressed bytes stored as the value.
  if (count > 1 || !iequals(trim_ows(*current_.request.header("transfer-encoding")), "chunked")) {
    return fail(501, "unsupported transfer encoding");
  }
  return 0;
}

ParsedRequest HttpRequestParser::take_request() {
  PRAETOR_ASSERT_MSG(complete_, "take_request() without a complete request");
  ParsedRequest out = std::move(current_);
  reset();
  return out;
}

bool HttpRequestParser::take_expect_continue() {
  bool want = expect_continue_;
  expect_continue_ = false;
  return want;
}

int HttpRequestParser::fail(int status, std::string message) {
  if (error_status_ == 0) {
    error_status_ = status;
    error_message_ = std::move(message);
  }
  failed_ = true;
  // Non-zero stops http_parser with an error; on_headers_complete reserves 1 and 2 (skip body,
  // upgrade), so -1.
  return -1;
}

int HttpRequestParser::count_header_bytes(std::size_t n) {
  header_bytes_ += n;
  if (header_bytes_ > limits_.max_header_bytes) {
    return fail(431, "request header fields too large");
  }
  return 0;
}

int HttpRequestParser::on_message_begin(http_parser* p) {
  self(p)->started_ = true;
  return 0;
}

int HttpRequestParser::on_url(http_parser* p, const char* at, std::size_t length) {
  auto* s = self(p);
  s->started_ = true;
  if (s->count_header_bytes(length) != 0) return -1;
  s->url_.append(at, length);
  return 0;
}

int HttpRequestParser::on_header_field(http_parser* p, const char* at, std::size_t length) {
  auto* s = self(p);
  if (s->in_value_) {
    // A new header begins: the previous one is complete.
    if (s->current_.request.headers.size() >= s->limits_.max_headers) {
      return s->fail(431, "too many request header fields");
    }
    s->current_.request.headers.emplace_back(lower(std::move(s->field_)), std::move(s->value_));
    s->field_.clear();
    s->value_.clear();
    s->in_value_ = false;
    if (s->count_header_bytes(kHeaderLineOverhead) != 0) return -1;
  }
  if (s->count_header_bytes(length) != 0) return -1;
  s->field_.append(at, length);
  return 0;
}

int HttpRequestParser::on_header_value(http_parser* p, const char* at, std::size_t length) {
  auto* s = self(p);
  s->in_value_ = true;
  if (s->count_header_bytes(length) != 0) return -1;
  s->value_.append(at, length);
  return 0;
}

int HttpRequestParser::on_headers_complete(http_parser* p) {
  auto* s = self(p);
  auto& req = s->current_;
  if (s->in_value_) {
    if (req.request.headers.size() >= s->limits_.max_headers) {
      return s->fail(431, "too many request header fields");
    }
    req.request.headers.emplace_back(lower(std::move(s->field_)), std::move(s->value_));
    s->field_.clear();
    s->value_.clear();
    s->in_value_ = false;
  }
  s->headers_complete_ = true;
  if (s->check_version() != 0) return -1;
  if (s->check_transfer_encoding() != 0) return -1;
  req.request.method = http_method_str(static_cast<http_method>(p->method));
  req.head = p->method == HTTP_HEAD;
  req.http_major = p->http_major;
  req.http_minor = p->http_minor;
  if (p->method == HTTP_CONNECT) return s->fail(400, "CONNECT is not supported");
  auto target = node::parse_target(s->url_);
  if (!target) return s->fail(400, target.error().message);
  req.request.path = std::move(target->path);
  req.request.raw_path = std::move(target->raw_path);
  req.request.query = std::move(target->query);
  bool has_length = p->content_length != std::numeric_limits<std::uint64_t>::max();
  if (has_length && p->content_length > s->limits_.max_body_bytes) {
    return s->fail(
        413, fmt::format("request body too large (limit {} bytes)", s->limits_.max_body_bytes));
  }
  if (has_length) req.request.body.reserve(static_cast<std::size_t>(p->content_length));
  bool chunked = (p->flags & F_CHUNKED) != 0;
  auto expect = req.request.header("expect");
  if (expect && lower(*expect) == "100-continue" && p->http_minor >= 1 &&
      (chunked || (has_length && p->content_length > 0))) {
    s->expect_continue_ = true;
  }
  if (chunked) {
    // 1 tells http_parser there is no body: it completes the message at once, and
    // on_message_complete hands the rest of the stream to feed_chunked().
    s->chunked_ = true;
    return 1;
  }
  return 0;
}

int HttpRequestParser::on_body(http_parser* p, const char* at, std::size_t length) {
  auto* s = self(p);
  auto& body = s->current_.request.body;
  if (body.size() + length > s->limits_.max_body_bytes) {
    return s->fail(
        413, fmt::format("request body too large (limit {} bytes)", s->limits_.max_body_bytes));
  }
  body.append(at, length);
  return 0;
}

int HttpRequestParser::on_message_complete(http_parser* p) {
  auto* s = self(p);
  if (s->chunked_) {
    s->in_chunked_body_ = true;
  } else {
    s->complete_ = true;
    s->expect_continue_ = false;
  }
  // An upgrade request (e.g. "Upgrade: h2c") is answered as plain HTTP/1.1, then the connection
  // closes, since the parser would treat what follows as the other protocol.
  s->current_.keep_alive = http_should_keep_alive(p) != 0 && p->upgrade == 0;
  http_parser_pause(p, 1);
  return 0;
}

// --- chunked bodies (RFC 9112 §7.1) -----------------------------------------------------------

std::size_t HttpRequestParser::feed_chunked(ByteView data) {
  std::size_t i = 0;
  auto& body = current_.request.body;
  while (i < data.size() && !failed_ && !complete_) {
    const char ch = static_cast<char>(data[i]);
    switch (chunk_state_) {
      case ChunkState::kSizeLine:
      case ChunkState::kTrailerLine: {
        ++i;
        if (ch != '\n') {
          if (chunk_line_.size() >= limits::kHttpMaxChunkLineBytes) {
            fail(400, "malformed chunked body: chunk line too long");
            break;
          }
          chunk_line_.push_back(ch);
          break;
        }
        // A bare LF is refused: proxies that accept it would end the line elsewhere.
        if (chunk_line_.empty() || chunk_line_.back() != '\r') {
          fail(400, "malformed chunked body: line not ended by CRLF");
          break;
        }
        chunk_line_.pop_back();
        const bool size_line = chunk_state_ == ChunkState::kSizeLine;
        if (size_line ? take_size_line(chunk_line_) : take_trailer_line(chunk_line_)) {
          chunk_line_.clear();
        }
        break;
      }
      case ChunkState::kData: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk_remaining_, data.size() - i));
        body.append(reinterpret_cast<const char*>(data.data() + i), n);
        chunk_remaining_ -= n;
        i += n;
        if (chunk_remaining_ == 0) chunk_state_ = ChunkState::kDataCr;
        break;
      }
      case ChunkState::kDataCr:
      case ChunkState::kDataLf:
        // The CRLF after chunk data is checked, not skipped: "5\r\nhelloAB..." is an error, not
        // the chunk "hello" followed by whatever "AB" makes of the next chunk-size line.
        if (ch != (chunk_state_ == ChunkState::kDataCr ? '\r' : '\n')) {
          fail(400, "malformed chunked body: chunk data not followed by CRLF");
          break;
        }
        ++i;
        chunk_state_ =
            chunk_state_ == ChunkState::kDataCr ? ChunkState::kDataLf : ChunkState::kSizeLine;
        break;
    }
  }
  return i;
}

bool HttpRequestParser::take_size_line(std::string_view line) {
  std::size_t digits = 0;
  std::uint64_t size = 0;
  while (digits < line.size() && hex_value(line[digits]) >= 0) {
    if (digits == kMaxChunkSizeDigits) {
      fail(400, "malformed chunked body: chunk size too large");
      return false;
    }
    size = size * 16 + static_cast<std::uint64_t>(hex_value(line[digits]));
    ++digits;
  }
  if (digits == 0) {
    fail(400, "malformed chunked body: invalid chunk size");
    return false;
  }
  // What may follow the size is a chunk extension: optional whitespace, then ';' and the rest,
  // which is ignored (as Go does) but counted against the header budget.
  std::string_view rest = line.substr(digits);
  if (!rest.empty()) {
    std::string_view extension = trim_ows(rest);
    if (extension.empty() || extension.front() != ';') {
      fail(400, "malformed chunked body: invalid chunk size");
      return false;
    }
    if (count_header_bytes(rest.size()) != 0) return false;
  }
  if (size > limits_.max_body_bytes - current_.request.body.size()) {
    fail(413, fmt::format("request body too large (limit {} bytes)", limits_.max_body_bytes));
    return false;
  }
  if (size == 0) {
    chunk_state_ = ChunkState::kTrailerLine;
  } else {
    chunk_remaining_ = size;
    chunk_state_ = ChunkState::kData;
  }
  return true;
}

bool HttpRequestParser::take_trailer_line(std::string_view line) {
  if (line.empty()) {
    // The empty line after the last chunk and its trailers ends the request.
    complete_ = true;
    expect_continue_ = false;
    return true;
  }
  // Trailers are read and dropped: none of the API's fields may come after the body, and
  // merging them into the headers would let a body-less proxy check miss them.
  const auto colon = line.find(':');
  const std::string_view name = line.substr(0, colon);
  if (colon == std::string_view::npos || name.empty() ||
      !std::all_of(name.begin(), name.end(),
                   [](char ch) { return is_token_char(static_cast<unsigned char>(ch)); })) {
    fail(400, "malformed chunked body: invalid trailer field");
    return false;
  }
  if (++trailers_ > limits_.max_headers) {
    fail(431, "too many trailer fields");
    return false;
  }
  return count_header_bytes(line.size() + kHeaderLineOverhead / 2) == 0;
}

}  // namespace praetor::io
