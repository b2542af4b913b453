#include "io/http_server.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "io/sockaddr.hpp"

namespace praetor::io {
namespace {

constexpr std::size_t kReadBufferBytes = 64 * 1024;
constexpr int kListenBacklog = 511;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

// Header names and values come from the process, and some echo client input: a CR or LF would
// split the response, so they are dropped.
std::string strip_crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    if (ch != '\r' && ch != '\n') out.push_back(ch);
  }
  return out;
}

}  // namespace

struct HttpServer::Listener {
  uv_tcp_t tcp{};
  HttpServer* server = nullptr;
  node::Endpoint bound;
};

struct HttpServer::Connection {
  Connection(HttpServer* s, std::uint64_t i, const HttpLimits& limits)
      : server(s), id(i), parser(limits) {}
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  HttpServer* server;
  std::uint64_t id;
  std::string remote;
  std::string ip;         // the source address counted in per_client_ (set once admitted)
  bool admitted = false;  // counted in admitted_ and per_client_
  // Until the first request is dispatched, the header timer runs from accept and is not
  // restarted by the first byte.
  bool awaiting_first_request = true;
  std::string input;  // bytes read but not yet parsed (pipelined requests wait here)
  HttpRequestParser parser;
  State state = State::kIdle;
  std::optional<RequestId> pending;
  bool keep_alive = true;
  bool head = false;
  bool http10 = false;
  bool pretty = false;  // the request asked for ?pretty: JSON answers are indented
  bool reading = false;
  bool body_timer_armed = false;
  bool closing = false;
  int open_handles = 0;
};

struct HttpServer::WriteRequest {
  uv_write_t req{};
  std::string data;
  bool close_after = false;
  bool completes_response = false;
};

std::string http_date(std::int64_t unix_seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm g{};
  gmtime_r(&t, &g);
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDays[g.tm_wday], g.tm_mday,
                     kMonths[g.tm_mon], g.tm_year + 1900, g.tm_hour, g.tm_min, g.tm_sec);
}

std::string serialize_response(const node::HttpResponse& response, bool head, bool close,
                               bool http10_keep_alive, std::string_view date) {
  std::string out;
  out.reserve(256 + response.body.size());
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\n", response.status,
                 node::http_reason(response.status));
  bool has_date = false;
  for (const auto& [name, value] : response.headers) {
    if (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
        iequals(name, "connection")) {
      continue;
    }
    if (iequals(name, "date")) has_date = true;
    out += strip_crlf(name);
    out += ": ";
    out += strip_crlf(value);
    out += "\r\n";
  }
  if (!has_date && !date.empty()) fmt::format_to(std::back_inserter(out), "Date: {}\r\n", date);
  // 1xx, 204 and 304 responses carry no body and no length (RFC 7230 §3.3.2).
  bool bodiless = response.status < 200 || response.status == 204 || response.status == 304;
  if (!bodiless)
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", response.body.size());
  if (close) {
    out += "Connection: close\r\n";
  } else if (http10_keep_alive) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (!head && !bodiless) out += response.body;
  return out;
}

HttpServer::HttpServer(uv_loop_t* loop, Logger& logger, HttpLimits limits, Handler handler)
    : loop_(loop),
      logger_(logger),
      limits_(limits),
      handler_(std::move(handler)),
      refusals_(
          loop, [this] { return loop_now(); }, logger_, "http", "refused", "connections",
          Duration::milliseconds(limits::kRefusalLogIntervalMs)),
      read_buffer_(kReadBufferBytes) {
  PRAETOR_ASSERT(limits_.max_conns_per_client > 0);
  PRAETOR_ASSERT(limits_.max_connections > 0);
}

HttpServer::~HttpServer() {
  PRAETOR_ASSERT_MSG(closed(), "HttpServer destroyed with {} connections and {} listeners open",
                     connections_.size(), listeners_.size());
}

Result<node::Endpoint> HttpServer::listen(const node::Endpoint& at) {
  PRAETOR_ASSERT(!closing_);
  auto address = to_sockaddr(at);
  if (!address) return address.error();
  auto* l = new Listener;
  l->server = this;
  uv_tcp_init(loop_, &l->tcp);
  l->tcp.data = l;
  int rc = uv_tcp_bind(&l->tcp, reinterpret_cast<const sockaddr*>(&*address), 0);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), kListenBacklog, on_connection);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp),
             [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
    return make_error(ErrorCode::kIo, fmt::format("cannot listen for HTTP on {}: {}",
                                                  at.to_string(), uv_message(rc)));
  }
  auto bound = tcp_local_endpoint(&l->tcp);
  l->bound = bound ? *bound : at;
  listeners_.insert(l);
  return l->bound;
}

void HttpServer::close() {
  if (closing_) return;
  closing_ = true;
  for (Listener* l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), on_listener_closed);
  }
  std::vector<Connection*> open;
  for (auto& [id, c] : connections_) open.push_back(c);
  for (Connection* c : open) close_connection(*c);
  refusals_.close();
}

Instant HttpServer::loop_now() const {
  return Instant::from_ns(static_cast<std::int64_t>(uv_now(loop_)) * 1'000'000);
}

void HttpServer::on_listener_closed(uv_handle_t* handle) {
  auto* l = static_cast<Listener*>(handle->data);
  l->server->listeners_.erase(l);
  delete l;
}

void HttpServer::on_connection(uv_stream_t* stream, int status) {
  auto* l = static_cast<Listener*>(stream->data);
  if (status < 0) {
    l->server->logger_.warn("http", "accept on {} failed: {}", l->bound, uv_message(status));
    return;
  }
  l->server->accept(*l);
}

void HttpServer::accept(Listener& listener) {
  std::uint64_t id = next_connection_++;
  auto* c = new Connection(this, id, limits_);
  uv_tcp_init(loop_, &c->tcp);
  uv_timer_init(loop_, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  connections_[id] = c;
  // Over a cap the connection is still accepted, so that it leaves the kernel's backlog (where
  // it would hold a slot too), and closed at once.
  int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&listener.tcp),
                     reinterpret_cast<uv_stream_t*>(&c->tcp));
  if (rc != 0) {
    logger_.warn("http", "accept on {} failed: {}", listener.bound, uv_message(rc));
    close_connection(*c);
    return;
  }
  if (closing_) {
    close_connection(*c);
    return;
  }
  auto peer = tcp_peer_endpoint(&c->tcp);
  c->remote = peer ? peer->to_string() : std::string("unknown");
  const std::string ip = peer ? peer->host : std::string("unknown");
  const auto from_ip = per_client_.find(ip);
  const std::size_t open_from_ip = from_ip == per_client_.end() ? 0 : from_ip->second;
  if (admitted_ >= limits_.max_connections) {
    refusals_.refused(fmt::format("refusing connection from {}: {} connections open (limit {})",
                                  c->remote, admitted_, limits_.max_connections));
    close_connection(*c);
    return;
  }
  if (open_from_ip >= limits_.max_conns_per_client) {
    refusals_.refused(
        fmt::format("refusing connection from {}: {} connections open from {} "
                    "(limits.http_max_conns_per_client {})",
                    c->remote, open_from_ip, ip, limits_.max_conns_per_client));
    close_connection(*c);
    return;
  }
  c->ip = ip;
  c->admitted = true;
  ++admitted_;
  ++per_client_[ip];
  uv_tcp_nodelay(&c->tcp, 1);
  // A fresh connection gets the header timeout, not the idle timeout: it has not yet shown that
  // it speaks HTTP, and one that sends nothing would otherwise hold its slot for the whole idle
  // timeout (90 s). Go's ReadHeaderTimeout, under Consul, runs from accept the same way. Only a
  // keep-alive connection between requests, which has completed one, waits for idle_timeout.
  arm_timer(*c, limits_.header_timeout);
  start_reading(*c);
}

void HttpServer::start_reading(Connection& c) {
  if (c.reading || c.closing) return;
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), on_alloc, on_read);
  if (rc != 0) {
    close_connection(c);
    return;
  }
  c.reading = true;
}

void HttpServer::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  // One loop thread: a read consumes the shared buffer before the next allocation.
  auto* c = static_cast<Connection*>(handle->data);
  auto& buffer = c->server->read_buffer_;
  *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
}

void HttpServer::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  HttpServer* s = c->server;
  if (nread < 0) {
    // EOF or reset. A pending request is abandoned; its response will be dropped.
    s->close_connection(*c);
    return;
  }
  if (nread == 0 || c->closing) return;
  c->input.append(buf->base, static_cast<std::size_t>(nread));
  if (c->state == State::kWaiting || c->state == State::kWriting) {
    // Pipelined bytes wait for the current response; stop reading when they pile up.
    if (c->input.size() > s->limits_.max_header_bytes + kReadBufferBytes) {
      uv_read_stop(stream);
      c->reading = false;
    }
    return;
  }
  s->process_input(*c);
}

void HttpServer::process_input(Connection& c) {
  if (c.closing || c.input.empty()) return;
  if (c.state == State::kIdle) {
    c.state = State::kReading;
    c.body_timer_armed = false;
    // On a fresh connection the header timer has run since accept and keeps running: restarting
    // it at the first byte would give a client that sends one byte just before the deadline a
    // whole new timeout. A keep-alive connection's next request starts its own.
    if (!c.awaiting_first_request) arm_timer(c, limits_.header_timeout);
  }
  PRAETOR_ASSERT(c.state == State::kReading);
  auto outcome = c.parser.feed(
      ByteView(reinterpret_cast<const std::uint8_t*>(c.input.data()), c.input.size()));
  c.input.erase(0, outcome.consumed);
  switch (outcome.kind) {
    case HttpRequestParser::Kind::kNeedMore:
      if (c.parser.headers_complete() && !c.body_timer_armed) {
        c.body_timer_armed = true;
        arm_timer(c, limits_.body_timeout);
      }
      if (c.parser.take_expect_continue()) {
        write(c, "HTTP/1.1 100 Continue\r\n\r\n", false, false);
      }
      start_reading(c);
      return;
    case HttpRequestParser::Kind::kError:
      logger_.debug("http", "bad request from {}: {} {}", c.remote, outcome.status,
                    outcome.message);
      send_error(c, outcome.status, outcome.message);
      return;
    case HttpRequestParser::Kind::kRequest:
      dispatch(c);
      return;
  }
}

void HttpServer::dispatch(Connection& c) {
  ParsedRequest parsed = c.parser.take_request();
  uv_timer_stop(&c.timer);
  c.awaiting_first_request = false;
  c.keep_alive = parsed.keep_alive;
  c.head = parsed.head;
  c.http10 = parsed.http_major == 1 && parsed.http_minor == 0;
  c.pretty = std::any_of(parsed.request.query.begin(), parsed.request.query.end(),
                         [](const auto& q) { return q.first == "pretty"; });
  c.state = State::kWaiting;
  if (pending_.size() >= limits_.max_pending_requests) {
    logger_.warn("http", "rejecting request from {}: {} requests pending", c.remote,
                 pending_.size());
    send_response(c, node::HttpResponse::text(503, "too many pending requests\n"), !c.keep_alive);
    return;
  }
  RequestId id(next_request_++);
  c.pending = id;
  pending_[id] = c.id;
  parsed.request.remote = c.remote;
  handler_(id, std::move(parsed.request));
}

// ?pretty, as Consul's HTTP API does it: a JSON answer indented by four spaces with a newline at
// the end; anything else (text, a body that does not parse) as it is. Done here, where the
// answer leaves the agent, so an answer forwarded from a server is indented once, by the agent
// the client asked, whatever route it took.
std::string pretty_json(const node::HttpResponse& response) {
  bool json = false;
  for (const auto& [name, value] : response.headers) {
    if (name == "Content-Type") json = value.starts_with("application/json");
  }
  if (!json || response.body.empty()) return response.body;
  auto doc = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return response.body;
  return doc.dump(4) + "\n";
}

void HttpServer::respond(RequestId id, node::HttpResponse response) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    logger_.debug("http", "dropping response to request {}: its connection is gone", id);
    return;
  }
  auto conn = connections_.find(it->second);
  pending_.erase(it);
  PRAETOR_ASSERT(conn != connections_.end());
  Connection& c = *conn->second;
  PRAETOR_ASSERT(c.pending == id);
  PRAETOR_ASSERT(c.state == State::kWaiting);
  c.pending.reset();
  if (c.pretty) response.body = pretty_json(response);
  send_response(c, response, !c.keep_alive || closing_);
}

void HttpServer::send_response(Connection& c, const node::HttpResponse& response,
                               bool close_after) {
  std::string date = http_date(static_cast<std::int64_t>(std::time(nullptr)));
  c.state = State::kWriting;
  write(c, serialize_response(response, c.head, close_after, c.http10 && c.keep_alive, date),
        close_after, true);
}

void HttpServer::send_error(Connection& c, int status, const std::string& message) {
  uv_timer_stop(&c.timer);
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.tcp));
  c.reading = false;
  c.head = false;
  c.http10 = false;
  send_response(c, node::HttpResponse::text(status, message + "\n"), true);
}

void HttpServer::write(Connection& c, std::string data, bool close_after, bool completes_response) {
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.tcp);
  if (completes_response && !close_after && c.input.empty() &&
      uv_stream_get_write_queue_size(stream) == 0) {
    // The common keep-alive case: the socket takes the whole response at once, and nothing
    // pipelined waits to be parsed, so the connection is idle again without a write request, its
    // callback and the poller changes libuv makes for it. Nothing here calls back into the
    // handler, so answering stays free of re-entrancy.
    uv_buf_t buf = uv_buf_init(data.data(), static_cast<unsigned>(data.size()));
    const int n = uv_try_write(stream, &buf, 1);
    if (n == static_cast<int>(data.size())) {
      c.state = State::kIdle;
      arm_timer(c, limits_.idle_timeout);
      start_reading(c);
      return;
    }
    if (n > 0) data.erase(0, static_cast<std::size_t>(n));  // uv_write sends the rest
  }
  auto* w = new WriteRequest;
  w->data = std::move(data);
  w->close_after = close_after;
  w->completes_response = completes_response;
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, stream, &buf, 1, on_write);
  if (rc != 0) {
    delete w;
    close_connection(c);
  }
}

void HttpServer::on_write(uv_write_t* req, int status) {
  std::unique_ptr<WriteRequest> w(static_cast<WriteRequest*>(req->data));
  auto* c = static_cast<Connection*>(req->handle->data);
  HttpServer* s = c->server;
  if (c->closing) return;
  if (status < 0) {
    s->close_connection(*c);
    return;
  }
  if (!w->completes_response) return;
  if (w->close_after) {
    s->close_connection(*c);
    return;
  }
  c->state = State::kIdle;
  s->arm_timer(*c, s->limits_.idle_timeout);
  s->start_reading(*c);
  s->process_input(*c);
}

void HttpServer::arm_timer(Connection& c, Duration after) {
  auto ms = static_cast<std::uint64_t>(std::max<std::int64_t>(after.count_ms(), 1));
  uv_timer_start(&c.timer, on_timer, ms, 0);
}

void HttpServer::on_timer(uv_timer_t* timer) {
  auto* c = static_cast<Connection*>(timer->data);
  HttpServer* s = c->server;
  if (c->closing) return;
  if (c->state == State::kIdle) {
    s->logger_.debug("http", "closing connection from {}: {}", c->remote,
                     c->awaiting_first_request ? "no request within the header timeout" : "idle");
    s->close_connection(*c);
  } else if (c->state == State::kReading) {
    s->logger_.debug("http", "request from {} timed out", c->remote);
    s->send_error(*c, 408, "request timed out");
  }
}

void HttpServer::close_connection(Connection& c) {
  if (c.closing) return;
  c.closing = true;
  if (c.admitted) {
    c.admitted = false;
    --admitted_;
    auto it = per_client_.find(c.ip);
    PRAETOR_ASSERT(it != per_client_.end());
    PRAETOR_ASSERT(it->second > 0);
    if (--it->second == 0) per_client_.erase(it);
  }
  if (c.pending) {
    pending_.erase(*c.pending);
    c.pending.reset();
  }
  uv_timer_stop(&c.timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), on_connection_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), on_connection_handle_closed);
}

void HttpServer::on_connection_handle_closed(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  if (--c->open_handles > 0) return;
  c->server->connections_.erase(c->id);
  delete c;
}

}  // namespace praetor::io
