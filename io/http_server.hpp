// HttpServer: HTTP/1.1 on libuv for the agent's API. It parses requests with HttpRequestParser,
// hands each to a handler with a fresh RequestId, and writes the response whenever respond() is
// called, which may be much later (blocking queries park for minutes).
//
// Per connection one request is in flight at a time: the next pipelined request is parsed only
// after the previous response has been written, so responses are always in request order.
// Protocol errors are answered by the server itself (400, 408, 413, 431, 501, 503, 505) and close
// the connection; routing errors (404, 405) are the handler's business. A response for a
// connection that has gone away is dropped.
//
// Hostile clients: at most max_connections connections are open, and at most
// max_conns_per_client from one source IP (loopback included); a connection beyond either cap is
// closed at once, without reading or answering (decisions.md D20), and the refusals are logged at
// most once a second (RefusalLog). A new connection must complete its header block within
// header_timeout of accept, or it is closed (with 408 if it sent part of a request, silently if
// it sent nothing); only a keep-alive connection between requests waits for idle_timeout.
//
// Lifetime: close() starts closing every handle; the loop must run until closed() before the
// server is destroyed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/base/ids.hpp"
#include "core/base/log.hpp"
#include "core/base/result.hpp"
#include "core/node/env.hpp"
#include "core/node/http.hpp"
#include "io/http_request_parser.hpp"
#include "io/timed_refusal_log.hpp"

namespace praetor::io {

// The response bytes the server writes: status line, the handler's headers (minus framing
// headers the server owns), Date, Content-Length, and Connection when it closes or keeps an
// HTTP/1.0 connection alive. Exposed for tests.
std::string serialize_response(const node::HttpResponse& response, bool head, bool close,
                               bool http10_keep_alive, std::string_view date);
// The body a ?pretty request gets: JSON indented by four spaces plus a newline; other bodies as
// they are.
std::string pretty_json(const node::HttpResponse& response);
// RFC 7231 IMF-fixdate for the Date header: "Wed, 25 Nov 2026 10:00:00 GMT".
std::string http_date(std::int64_t unix_seconds);

class HttpServer {
 public:
  using Handler = std::function<void(RequestId, node::HttpRequest)>;

  HttpServer(uv_loop_t* loop, Logger& logger, HttpLimits limits, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the bound address (port 0 picks an ephemeral port).
  Result<node::Endpoint> listen(const node::Endpoint& at);
  // Answers a request; an unknown id (connection gone, already answered) is dropped.
  void respond(RequestId id, node::HttpResponse response);
  void close();
  bool closed() const { return listeners_.empty() && connections_.empty() && refusals_.closed(); }

  // Connections with open handles, refused ones that are still closing included.
  std::size_t connection_count() const { return connections_.size(); }
  // Connections admitted under the caps and not closing.
  std::size_t admitted_count() const { return admitted_; }
  const RefusalLog& refusals() const { return refusals_.log(); }
  std::size_t pending_count() const { return pending_.size(); }

 private:
  struct Connection;
  struct Listener;
  struct WriteRequest;
  enum class State { kIdle, kReading, kWaiting, kWriting };

  static void on_connection(uv_stream_t* stream, int status);
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_timer(uv_timer_t* timer);
  static void on_connection_handle_closed(uv_handle_t* handle);
  static void on_listener_closed(uv_handle_t* handle);

  void accept(Listener& listener);
  void process_input(Connection& c);
  void dispatch(Connection& c);
  void send_response(Connection& c, const node::HttpResponse& response, bool close_after);
  void send_error(Connection& c, int status, const std::string& message);
  void write(Connection& c, std::string data, bool close_after, bool completes_response);
  void arm_timer(Connection& c, Duration after);
  void start_reading(Connection& c);
  void close_connection(Connection& c);
  Instant loop_now() const;

  uv_loop_t* loop_;
  Logger& logger_;
  HttpLimits limits_;
  Handler handler_;
  std::set<Listener*> listeners_;
  std::map<std::uint64_t, Connection*> connections_;
  std::map<RequestId, std::uint64_t> pending_;  // request -> connection id
  std::size_t admitted_ = 0;                    // open connections within the caps
  std::map<std::string, std::size_t> per_client_;  // source IP -> its admitted connections
  TimedRefusalLog refusals_;  // connections refused at a cap, logged rate-limited
  std::uint64_t next_connection_ = 1;
  std::uint64_t next_request_ = 1;
  bool closing_ = false;
  std::vector<char> read_buffer_;
};

}  // namespace praetor::io
