// HttpRequestParser: bytes in, one typed HttpRequest (or a protocol error) out. It owns no socket,
// so unit tests and fuzzers drive it directly; the server feeds it what a connection reads.
//
// One request at a time: feed() stops at the end of a request and reports how many bytes it
// consumed; the rest of the input (pipelined requests) is fed again after take_request(). Every
// length is checked against HttpLimits before anything grows past it.
//
// Framing is strict, because a proxy in front that splits the byte stream into requests
// differently from us could smuggle a request past it (RFC 9112 §11.2). http_parser reads the
// request line and headers; chunked bodies are decoded here, since http_parser (built without
// HTTP_PARSER_STRICT) skips the CRLF after chunk data unchecked. The answers follow Go's net/http
// server, which Consul runs on:
//   - a Transfer-Encoding other than exactly one "chunked" -> 501 (RFC 9112 §6.1);
//   - Transfer-Encoding with Content-Length, or Content-Length twice -> 400;
//   - a chunk-size that is not 1-16 hex digits, junk after it, chunk data not followed by CRLF,
//     a bare LF ending a chunk line -> 400; a chunk larger than the body limit -> 413;
//   - chunk extensions and trailers are accepted and discarded; their bytes count against the
//     header budget, each chunk line against kHttpMaxChunkLineBytes, trailers against max_headers;
//   - a request line without a version -> 400; a version other than HTTP/1.0 or 1.1 -> 505.
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
  // Open connections from one source IP (loopback included): Consul's http_max_conns_per_client.
  std::size_t max_conns_per_client = limits::kHttpMaxConnsPerClient;
  std::size_t max_pending_requests = limits::kHttpMaxPendingRequests;
  // From accept (or from the first byte of a later request on a keep-alive connection) until the
  // header block is complete.
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
    int status = 0;            // kError: 400, 413, 431, 501 or 505
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

  // The chunked body decoder: a small state machine over the bytes after the header block.
  enum class ChunkState { kSizeLine, kData, kDataCr, kDataLf, kTrailerLine };

  void reset();
  int fail(int status, std::string message);
  int count_header_bytes(std::size_t n);
  void capture_request_line(ByteView data);
  int check_version();
  int check_transfer_encoding();
  // Consumes chunked body bytes; sets complete_ at the end of the trailers, or fails.
  std::size_t feed_chunked(ByteView data);
  // A whole chunk-size line (CRLF stripped) or trailer line: false after fail().
  bool take_size_line(std::string_view line);
  bool take_trailer_line(std::string_view line);

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
  // The request line as sent (leading empty lines skipped), for telling a missing version apart
  // from an explicit "HTTP/0.9", which http_parser reports alike.
  std::string request_line_;
  bool request_line_done_ = false;
  bool chunked_ = false;          // the body is chunked: feed_chunked() reads it
  bool in_chunked_body_ = false;  // the header block is done and feed_chunked() has the stream
  ChunkState chunk_state_ = ChunkState::kSizeLine;
  std::string chunk_line_;             // the chunk-size or trailer line read so far
  std::uint64_t chunk_remaining_ = 0;  // data bytes of the current chunk still to come
  std::size_t trailers_ = 0;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace praetor::io
