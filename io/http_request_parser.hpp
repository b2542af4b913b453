// HttpRequestParser: bytes in, one typed HttpRequest (or a protocol error) out. It owns no socket,
// so unit tests and fuzzers drive it directly; the server feeds it what a connection reads.
//
// One request at a time: feed() stops at the end of a request and reports how many bytes it
// consumed; the rest of the input (pipelined requests) is fed again after take_request(). Every
// length is checked against HttpLimits before anything grows past it.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <string>

#include "core/base/bytes.hpp"
#include "core/base/instant.hpp"
#include "core/base/limits.hpp"
#include "core/node/http.hpp"

namespace praetor::io {

struct HttpLimits {
  std::size_t max_header_bytes = limits::kHttpMaxHeaderBytes;
  std::size_t max_headers = limits::kHttpMaxHeaders;
  std::size_t max_body_bytes = limits::kHttpMaxBodyBytes;
  std::size_t max_connections = limits::kHttpMaxConnections;
  std::size_t max_pending_requests = limits::kHttpMaxPendingRequests;
  Duration header_timeout = Duration::milliseconds(limits::kHttpHeaderTimeoutMs);
  Duration body_timeout = Duration::milliseconds(limits::kHttpBodyTimeoutMs);
  Duration idle_timeout = Duration::milliseconds(limits::kHttpIdleTimeoutMs);
};

// A complete request plus what the connection needs to know about it.
struct ParsedRequest {
  node::HttpRequest request;
  bool keep_alive = true;  // HTTP/1.1 default, HTTP/1.0 keep-alive, minus "Connection: close"
  bool head = false;       // HEAD: answer with headers only
  int http_major = 1;
  int http_minor = 1;
};

class HttpRequestParser {
 public:
  enum class Kind { kNeedMore, kRequest, kError };
  struct Outcome {
    Kind kind = Kind::kNeedMore;
    std::size_t consumed = 0;  // bytes of the input used; the rest belongs to the next request
    int status = 0;            // kError: 400, 413 or 431
    std::string message;       // kError: plain-text reason for the client
  };

  explicit HttpRequestParser(HttpLimits limits = {});
  HttpRequestParser(const HttpRequestParser&) = delete;
  HttpRequestParser& operator=(const HttpRequestParser&) = delete;

  // After kError the parser stays failed; the connection is closed.
  Outcome feed(ByteView data);
  // After kRequest: moves the request out and readies the parser for the next one.
  ParsedRequest take_request();

  // True once any byte of the current request has arrived (header timeout vs idle timeout).
  bool started() const { return started_; }
  // True once the header block is complete (body timeout applies).
  bool headers_complete() const { return headers_complete_; }
  // True once per request that sent "Expect: 100-continue" and still needs its body.
  bool take_expect_continue();

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t length);
  static int on_header_field(http_parser* p, const char* at, std::size_t length);
  static int on_header_value(http_parser* p, const char* at, std::size_t length);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t length);
  static int on_message_complete(http_parser* p);

  void reset();
  int fail(int status, std::string message);
  int count_header_bytes(std::size_t n);

  HttpLimits limits_;
  http_parser parser_{};
  http_parser_settings settings_{};
  ParsedRequest current_;
  std::string url_;
  std::string field_;
  std::string value_;
  bool in_value_ = false;
  std::size_t header_bytes_ = 0;
  bool started_ = false;
  bool headers_complete_ = false;
  bool complete_ = false;
  bool failed_ = false;
  bool expect_continue_ = false;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace praetor::io
