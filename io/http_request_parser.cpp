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
  std::size_t n = http_parser_execute(&parser_, &settings_,
                                      reinterpret_cast<const char*>(data.data()), data.size());
  out.consumed = n;
  auto err = HTTP_PARSER_ERRNO(&parser_);
  if (complete_) {
    // Paused at the end of one request; the remaining bytes are the next request's.
    PRAETOR_ASSERT(err == HPE_PAUSED || err == HPE_OK);
    out.kind = Kind::kRequest;
    return out;
  }
  if (err == HPE_OK && n == data.size()) return out;
  if (err == HPE_OK) {
    // http_parser stopped early without an error: only a protocol switch does that.
    fail(400, "protocol upgrade is not supported");
  }
  if (error_status_ == 0) {
    if (err == HPE_HEADER_OVERFLOW) {
      fail(431, "request header fields too large");
    } else {
      fail(400, fmt::format("malformed HTTP request: {}", http_errno_description(err)));
    }
  }
  failed_ = true;
  out.kind = Kind::kError;
  out.status = error_status_;
  out.message = error_message_;
  return out;
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
  s->complete_ = true;
  s->expect_continue_ = false;
  // An upgrade request (e.g. "Upgrade: h2c") is answered as plain HTTP/1.1, then the connection
  // closes, since the parser would treat what follows as the other protocol.
  s->current_.keep_alive = http_should_keep_alive(p) != 0 && p->upgrade == 0;
  http_parser_pause(p, 1);
  return 0;
}

}  // namespace praetor::io
