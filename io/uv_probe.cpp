#include "io/uv_probe.hpp"

#include <fmt/format.h>
#include <http_parser.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <optional>
#include <vector>

#include "io/sockaddr.hpp"
#include "io/tls_client.hpp"

namespace praetor::io {
namespace {

constexpr std::size_t kReadBytes = 16 * 1024;
// Go's http.Client gives up on the 11th redirect response.
constexpr int kMaxRedirects = 10;
// Only the reason phrase and Location are kept from a response's header block (http-parser caps
// the block itself at 80 KiB); these bound what is kept.
constexpr std::size_t kMaxReasonBytes = 256;
constexpr std::size_t kMaxLocationBytes = 8 * 1024;
constexpr std::size_t kMaxFieldNameBytes = 64;

constexpr std::string_view kUserAgent = "Consul Health Check";
constexpr std::string_view kAccept = "text/plain, text/*, */*";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char ch) {
    return std::isalnum(ch) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) !=
               std::string_view::npos;
  });
}

// A header value may not end the line early: CR, LF and NUL would let a check's configuration
// smuggle a second request or header block.
bool is_safe_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Go's url.Error names the operation after the method: "Get", "Post".
std::string op_name(std::string_view method) {
  std::string out = lower(method);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() &&
        std::isxdigit(static_cast<unsigned char>(s[i + 1])) != 0 &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2])) != 0) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16) |
             (static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8) |
             static_cast<unsigned>(static_cast<unsigned char>(in[i + 2]));
    for (int shift : {18, 12, 6, 0}) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (i < in.size()) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Where one HTTP hop goes, taken apart from its URL.
struct Target {
  std::string url;     // as given (or as resolved from a Location)
  std::string scheme;  // "http" or "https"
  std::string host;    // no brackets: "127.0.0.1", "::1", "localhost"
  std::uint16_t port = 0;
  std::string authority;  // the Host header: host[:port] as written, brackets kept
  std::string path;       // request target: path and query, "/" at least
  std::string userinfo;   // "user:password", still percent-encoded
};

std::string_view field(const std::string& url, const http_parser_url& u, int which) {
  if ((u.field_set & (1U << which)) == 0) return {};
  return std::string_view(url).substr(u.field_data[which].off, u.field_data[which].len);
}

// Go prints URLs in errors with the password replaced.
std::string redact(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  auto at = url.find('@', scheme_end + 3);
  auto slash = url.find('/', scheme_end + 3);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;
  auto colon = url.find(':', scheme_end + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

// Ok: the target. Error: the message after `Get "url": `.
Result<Target> parse_target(const std::string& url) {
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(url.data(), url.size(), 0, &u) != 0 ||
      (u.field_set & (1U << UF_SCHEMA)) == 0 || (u.field_set & (1U << UF_HOST)) == 0) {
    // http-parser also rejects a URL with no scheme or host, which Go would too ("unsupported
    // protocol scheme" / "no Host in request URL"); one message covers both.
    return make_error(ErrorCode::kInvalidArgument, "invalid URL (want http://host[:port]/path)");
  }
  Target t;
  t.url = url;
  t.scheme = lower(field(url, u, UF_SCHEMA));
  if (t.scheme != "http" && t.scheme != "https") {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("unsupported protocol scheme \"{}\"", t.scheme));
  }
  t.host = std::string(field(url, u, UF_HOST));
  t.port = (u.field_set & (1U << UF_PORT)) != 0 ? u.port : (t.scheme == "https" ? 443 : 80);
  bool v6 = t.host.find(':') != std::string::npos;
  t.authority = v6 ? "[" + t.host + "]" : t.host;
  if ((u.field_set & (1U << UF_PORT)) != 0) {
    t.authority += ":" + std::string(field(url, u, UF_PORT));
  }
  t.path = std::string(field(url, u, UF_PATH));
  if (t.path.empty()) t.path = "/";
  if ((u.field_set & (1U << UF_QUERY)) != 0) t.path += "?" + std::string(field(url, u, UF_QUERY));
  t.userinfo = std::string(field(url, u, UF_USERINFO));
  if (!is_safe_value(t.path) || t.path.find(' ') != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "invalid character in URL path");
  }
  return t;
}

// A Location header against the URL it came from (RFC 3986 §5.2, without dot-segment removal,
// which servers do not need from a health check).
std::string resolve_location(const Target& base, const std::string& location) {
  auto scheme_end = location.find("://");
  auto first_delim = location.find_first_of("/?#");
  if (scheme_end != std::string::npos && scheme_end < first_delim) return location;
  if (location.starts_with("//")) return base.scheme + ":" + location;
  std::string origin = base.scheme + "://" + base.authority;
  if (location.starts_with("/")) return origin + location;
  std::string path = base.path.substr(0, base.path.find('?'));
  if (location.starts_with("?")) return origin + path + location;
  return origin + path.substr(0, path.rfind('/') + 1) + location;
}

// "host:port" or "[v6]:port" of a TCP check.
Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& address) {
  auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("address {}: {}", address, why));
  };
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return bad("missing port in address");
  std::string host = address.substr(0, colon);
  if (host.starts_with("[") && host.ends_with("]")) {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad("too many colons in address");
  }
  std::string port_text = address.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](unsigned char c) { return std::isdigit(c) != 0; })) {
    return bad("invalid port");
  }
  int port = std::stoi(port_text);
  if (port < 1 || port > 65535) return bad("invalid port");
  if (host.empty()) host = "127.0.0.1";  // Go dials the local system for ":port"
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

std::optional<sockaddr_storage> ip_literal(const std::string& host, std::uint16_t port) {
  sockaddr_storage out{};
  sockaddr_in a4{};
  sockaddr_in6 a6{};
  if (uv_ip4_addr(host.c_str(), port, &a4) == 0) {
    std::memcpy(&out, &a4, sizeof a4);
    return out;
  }
  if (uv_ip6_addr(host.c_str(), port, &a6) == 0) {
    std::memcpy(&out, &a6, sizeof a6);
    return out;
  }
  return std::nullopt;
}

}  // namespace

class UvProbe::Probe {
 public:
  Probe(UvProbe* owner, CheckRunId id, node::ExecSpec spec)
      : owner_(owner), id_(id), spec_(std::move(spec)), read_buffer_(kReadBytes) {
    timer_.data = tcp_.data = resolver_.data = this;
  }

  void start();
  // Abandons the probe: nothing will be delivered (the owner is closing).
  void cancel() {
    if (!finished_) finish();
  }

  // http-parser's callbacks (public for the settings table below).
  static int on_message_begin(http_parser* p);
  static int on_status(http_parser* p, const char* at, std::size_t length);
  static int on_header_field(http_parser* p, const char* at, std::size_t length);
  static int on_header_value(http_parser* p, const char* at, std::size_t length);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t length);
  static int on_message_complete(http_parser* p);

 private:
  enum class Phase : std::uint8_t { kResolve, kConnect, kAwaitHeaders, kBody };
  enum class AfterClose : std::uint8_t { kNothing, kConnectNext, kNextHop };

  bool http() const { return spec_.kind == node::ExecSpec::Kind::kHttp; }
  std::string method() const { return spec_.http.method.empty() ? "GET" : spec_.http.method; }
  // Go's url.Error: `Get "http://host/path": <what>`; a TCP check's reason stands alone.
  std::string reason(std::string_view what) const {
    if (!http()) return std::string(what);
    return fmt::format("{} \"{}\": {}", op_name(method()), redact(target_.url), what);
  }

  void start_hop();
  void resolve(const std::string& host, std::uint16_t port);
  void connect_next();
  void on_dial_failed(int status);
  void reset_response();
  void send_request();
  void write(std::string data);
  void flush_tls();
  void feed(const char* data, std::size_t size);
  void after_parse();
  void on_eof();
  void follow_redirect();
  void restart_connection(AfterClose next);
  Result<std::string> build_request() const;

  void succeed();
  void fail(std::string reason, bool timed_out = false);
  void finish();
  void maybe_destroy();

  static void on_timeout(uv_timer_t* timer);
  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_timer_closed(uv_handle_t* handle);
  static void on_tcp_closed(uv_handle_t* handle);
  static Probe& of(http_parser* p) { return *static_cast<Probe*>(p->data); }

  UvProbe* owner_;
  CheckRunId id_;
  node::ExecSpec spec_;
  node::ExecResult result_;
  bool finished_ = false;

  uv_timer_t timer_{};
  bool timer_open_ = false;
  uv_getaddrinfo_t resolver_{};
  bool resolving_ = false;
  uv_tcp_t tcp_{};
  bool tcp_open_ = false;
  uv_connect_t connect_req_{};
  AfterClose after_close_ = AfterClose::kNothing;
  Phase phase_ = Phase::kResolve;

  std::string host_;  // what is being dialled, before resolution
  std::uint16_t port_ = 0;
  std::vector<sockaddr_storage> addresses_;
  std::size_t next_address_ = 0;
  std::string dialled_;     // "127.0.0.1:80" of the current attempt
  std::string dial_error_;  // the first attempt's failure, reported if all fail (as Go does)

  // kHttp: the current hop.
  Target target_;
  std::string hop_method_;
  std::string hop_body_;
  bool hop_keeps_auth_ = true;  // false once a redirect leaves the original host
  int redirects_ = 0;
  std::unique_ptr<TlsClient> tls_;
  std::vector<char> read_buffer_;
  std::string plaintext_;

  // The response being parsed.
  http_parser parser_{};
  int status_ = 0;
  std::string reason_;
  std::string field_;
  bool in_value_ = false;
  std::string location_;
  bool location_done_ = false;
  bool informational_ = false;  // a 1xx before the real response; skipped, as Go does
  bool headers_done_ = false;
  bool message_done_ = false;
  bool body_full_ = false;
  bool redirect_pending_ = false;
  std::string body_;
};

namespace {

http_parser_settings make_settings() {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = &UvProbe::Probe::on_message_begin;
  s.on_status = &UvProbe::Probe::on_status;
  s.on_header_field = &UvProbe::Probe::on_header_field;
  s.on_header_value = &UvProbe::Probe::on_header_value;
  s.on_headers_complete = &UvProbe::Probe::on_headers_complete;
  s.on_body = &UvProbe::Probe::on_body;
  s.on_message_complete = &UvProbe::Probe::on_message_complete;
  return s;
}

const http_parser_settings& settings() {
  static const http_parser_settings s = make_settings();
  return s;
}

}  // namespace

// ---- lifecycle ----

void UvProbe::Probe::start() {
  uv_timer_init(owner_->loop_, &timer_);
  timer_open_ = true;
  auto timeout_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(spec_.timeout.count_ms(), 1));
  uv_timer_start(&timer_, on_timeout, timeout_ms, 0);

  if (!http()) {
    auto split = split_host_port(spec_.tcp);
    if (!split) return fail("dial tcp: " + split.error().message);
    resolve(split->first, split->second);
    return;
  }
  hop_method_ = method();
  hop_body_ = spec_.http.body;
  auto target = parse_target(spec_.http.url);
  if (!target) {
    target_.url = spec_.http.url;
    return fail(reason(target.error().message));
  }
  target_ = std::move(*target);
  start_hop();
}

void UvProbe::Probe::start_hop() {
  if (target_.scheme == "https") {
    std::string error;
    TlsContext* context = owner_->tls_context(error);
    if (context == nullptr) return fail(reason(error));
    tls_ = std::make_unique<TlsClient>(*context, target_.host, !spec_.http.tls_skip_verify);
  } else {
    tls_.reset();
  }
  resolve(target_.host, target_.port);
}

void UvProbe::Probe::resolve(const std::string& host, std::uint16_t port) {
  phase_ = Phase::kResolve;
  host_ = host;
  port_ = port;
  addresses_.clear();
  next_address_ = 0;
  dial_error_.clear();
  // IP literals (the usual case) need no trip through libuv's thread pool.
  if (auto literal = ip_literal(host, port)) {
    addresses_.push_back(*literal);
    connect_next();
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(owner_->loop_, &resolver_, on_resolved, host.c_str(), nullptr, &hints);
  if (rc != 0) return fail(reason(fmt::format("dial tcp: lookup {}: {}", host, uv_strerror(rc))));
  resolving_ = true;
}

void UvProbe::Probe::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* p = static_cast<Probe*>(req->data);
  p->resolving_ = false;
  if (p->finished_) {
    uv_freeaddrinfo(res);  // null when cancelled; uv_freeaddrinfo accepts that
    p->maybe_destroy();
    return;
  }
  if (status != 0) {
    std::string why = status == UV_EAI_NONAME ? "no such host" : uv_strerror(status);
    p->fail(p->reason(fmt::format("dial tcp: lookup {}: {}", p->host_, why)));
    return;
  }
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    sockaddr_storage a{};
    if (ai->ai_family == AF_INET) {
      std::memcpy(&a, ai->ai_addr, sizeof(sockaddr_in));
      reinterpret_cast<sockaddr_in*>(&a)->sin_port = htons(p->port_);
    } else if (ai->ai_family == AF_INET6) {
      std::memcpy(&a, ai->ai_addr, sizeof(sockaddr_in6));
      reinterpret_cast<sockaddr_in6*>(&a)->sin6_port = htons(p->port_);
    } else {
      continue;
    }
    bool seen = std::any_of(p->addresses_.begin(), p->addresses_.end(),
                            [&](const auto& b) { return std::memcmp(&a, &b, sizeof a) == 0; });
    if (!seen) p->addresses_.push_back(a);
  }
  uv_freeaddrinfo(res);
  if (p->addresses_.empty()) {
    p->fail(p->reason(fmt::format("dial tcp: lookup {}: no such host", p->host_)));
    return;
  }
  p->connect_next();
}

void UvProbe::Probe::connect_next() {
  if (next_address_ >= addresses_.size()) return fail(reason(dial_error_));
  phase_ = Phase::kConnect;
  const sockaddr_storage& address = addresses_[next_address_++];
  dialled_ = from_sockaddr(reinterpret_cast<const sockaddr*>(&address)).to_string();
  uv_tcp_init(owner_->loop_, &tcp_);
  tcp_open_ = true;
  connect_req_.data = this;
  int rc =
      uv_tcp_connect(&connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&address), on_connect);
  if (rc != 0) on_dial_failed(rc);
}

void UvProbe::Probe::on_dial_failed(int status) {
  if (dial_error_.empty()) {
    dial_error_ = fmt::format("dial tcp {}: connect: {}", dialled_, uv_strerror(status));
  }
  // localhost is ::1 and 127.0.0.1; a server on one of them must still be found, so every
  // address gets its turn (Go tries them in order too) within the one timeout.
  if (next_address_ < addresses_.size()) return restart_connection(AfterClose::kConnectNext);
  fail(reason(dial_error_));
}

void UvProbe::Probe::on_connect(uv_connect_t* req, int status) {
  auto* p = static_cast<Probe*>(req->data);
  // Cancelled: the handle is closing for a retry, a redirect, the timeout or close().
  if (status == UV_ECANCELED || p->finished_ || p->after_close_ != AfterClose::kNothing) return;
  if (status != 0) return p->on_dial_failed(status);
  if (!p->http()) {
    p->result_.output = fmt::format("TCP connect {}: Success", p->spec_.tcp);
    return p->succeed();
  }
  p->phase_ = Phase::kAwaitHeaders;
  uv_tcp_nodelay(&p->tcp_, 1);
  p->reset_response();
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&p->tcp_), on_alloc, on_read);
  if (rc != 0) return p->fail(p->reason(fmt::format("read: {}", uv_strerror(rc))));
  p->send_request();
}

void UvProbe::Probe::reset_response() {
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.data = this;
  status_ = 0;
  reason_.clear();
  headers_done_ = message_done_ = body_full_ = redirect_pending_ = false;
  body_.clear();
}

void UvProbe::Probe::send_request() {
  auto request = build_request();
  if (!request) return fail(reason(request.error().message));
  if (tls_) {
    tls_->start();
    tls_->send(*request);  // held until the handshake is done
    flush_tls();
  } else {
    write(std::move(*request));
  }
}

Result<std::string> UvProbe::Probe::build_request() const {
  if (!is_token(hop_method_)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("net/http: invalid method \"{}\"", hop_method_));
  }
  std::string host = target_.authority;
  bool has_user_agent = false;
  bool has_accept = false;
  bool has_authorization = false;
  std::string headers;
  for (const auto& [name, values] : spec_.http.header) {
    if (!is_token(name)) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("net/http: invalid header field name \"{}\"", name));
    }
    for (const auto& v : values) {
      if (!is_safe_value(v)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("net/http: invalid header field value for \"{}\"", name));
      }
    }
    if (values.empty()) continue;
    // Consul sets the request's Host from a Host header. The framing headers are the
    // transport's business (Go ignores them in a request's Header too): a stray
    // Transfer-Encoding would make the server misread the body.
    if (iequals(name, "Host")) {
      host = values.front();
      continue;
    }
    if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
        iequals(name, "Connection")) {
      continue;
    }
    if (iequals(name, "Authorization")) {
      if (!hop_keeps_auth_) continue;  // not sent on to another host after a redirect (Go)
      has_authorization = true;
    }
    has_user_agent = has_user_agent || iequals(name, "User-Agent");
    has_accept = has_accept || iequals(name, "Accept");
    for (const auto& v : values) headers += fmt::format("{}: {}\r\n", name, v);
  }
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\n", hop_method_, target_.path, host);
  if (!has_user_agent) out += fmt::format("User-Agent: {}\r\n", kUserAgent);
  if (!has_accept) out += fmt::format("Accept: {}\r\n", kAccept);
  if (!has_authorization && !target_.userinfo.empty()) {
    out += fmt::format("Authorization: Basic {}\r\n", base64(percent_decode(target_.userinfo)));
  }
  out += headers;
  // Go sends a length with any body, and "0" for an empty POST, PUT or PATCH.
  if (!hop_body_.empty() || hop_method_ == "POST" || hop_method_ == "PUT" ||
      hop_method_ == "PATCH") {
    out += fmt::format("Content-Length: {}\r\n", hop_body_.size());
  }
  out += "Connection: close\r\n\r\n";
  out += hop_body_;
  return out;
}

namespace {
struct WriteReq {
  uv_write_t req{};
  std::string data;  // must live until the write callback
};
}  // namespace

void UvProbe::Probe::write(std::string data) {
  auto* w = new WriteReq;
  w->req.data = w;
  w->data = std::move(data);
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  // A failed write is not reported by itself: the server may have answered and closed before
  // reading a large body, and the read side then reports the answer, EOF or the reset.
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1,
                    [](uv_write_t* req, int) { delete static_cast<WriteReq*>(req->data); });
  if (rc != 0) delete w;
}

void UvProbe::Probe::flush_tls() {
  std::string out = tls_->take_outgoing();
  if (!out.empty()) write(std::move(out));
}

void UvProbe::Probe::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* p = static_cast<Probe*>(handle->data);
  *buf = uv_buf_init(p->read_buffer_.data(), static_cast<unsigned>(p->read_buffer_.size()));
}

void UvProbe::Probe::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* p = static_cast<Probe*>(stream->data);
  if (p->finished_ || p->after_close_ != AfterClose::kNothing) return;
  if (nread == 0) return;
  if (nread == UV_EOF) return p->on_eof();
  if (nread < 0) {
    // The status (and what came of the body) counts once headers are in: Consul reports the
    // code and only logs a failed body read.
    if (p->headers_done_) return p->succeed();
    auto local = tcp_local_endpoint(&p->tcp_);
    std::string what =
        fmt::format("read tcp {}->{}: read: {}", local ? local->to_string() : std::string("?"),
                    p->dialled_, uv_strerror(static_cast<int>(nread)));
    return p->fail(p->reason(what));
  }
  auto size = static_cast<std::size_t>(nread);
  if (!p->tls_) return p->feed(buf->base, size);
  p->plaintext_.clear();
  auto received = p->tls_->receive(std::string_view(buf->base, size), p->plaintext_);
  p->flush_tls();  // handshake messages, the request once the handshake is done
  if (!received) {
    if (p->headers_done_) return p->succeed();
    return p->fail(p->reason(received.error().message));
  }
  if (!p->plaintext_.empty()) p->feed(p->plaintext_.data(), p->plaintext_.size());
  if (!p->finished_ && p->tls_->closed_by_peer()) p->on_eof();
}

void UvProbe::Probe::feed(const char* data, std::size_t size) {
  http_parser_execute(&parser_, &settings(), data, size);
  after_parse();
}

void UvProbe::Probe::after_parse() {
  if (finished_) return;
  if (redirect_pending_) return follow_redirect();
  if (message_done_ || (headers_done_ && body_full_)) return succeed();
  auto err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_OK || err == HPE_PAUSED) return;
  if (headers_done_) return succeed();  // a bad chunk after the status: as a failed body read
  fail(
      reason(fmt::format("net/http: HTTP/1.x transport connection broken: malformed HTTP "
                         "response ({})",
                         http_errno_description(err))));
}

void UvProbe::Probe::on_eof() {
  // An EOF ends a body that has neither a length nor chunks.
  if (HTTP_PARSER_ERRNO(&parser_) == HPE_OK) http_parser_execute(&parser_, &settings(), nullptr, 0);
  if (finished_) return;
  if (redirect_pending_) return follow_redirect();
  if (headers_done_) return succeed();
  fail(reason(phase_ == Phase::kAwaitHeaders && tls_ && !tls_->handshake_done()
                  ? "remote closed the connection during the TLS handshake: EOF"
                  : "EOF"));
}

void UvProbe::Probe::follow_redirect() {
  redirect_pending_ = false;
  std::string next = resolve_location(target_, location_);
  if (redirects_ >= kMaxRedirects) {
    target_.url = next;
    return fail(reason(fmt::format("stopped after {} redirects", kMaxRedirects)));
  }
  auto parsed = parse_target(next);
  if (!parsed) {
    target_.url = next;
    return fail(reason(parsed.error().message));
  }
  ++redirects_;
  // Go: 301/302/303 turn anything but HEAD into a GET without a body; 307/308 repeat the request.
  if (status_ == 301 || status_ == 302 || status_ == 303) {
    if (hop_method_ != "HEAD") hop_method_ = "GET";
    hop_body_.clear();
  }
  if (!iequals(parsed->host, target_.host)) hop_keeps_auth_ = false;
  target_ = std::move(*parsed);
  // The redirect's status is not this check's answer: a timeout while the next hop connects
  // must read as a timeout.
  reset_response();
  restart_connection(AfterClose::kNextHop);
}

void UvProbe::Probe::restart_connection(AfterClose next) {
  after_close_ = next;
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_tcp_closed);
  }
}

void UvProbe::Probe::on_tcp_closed(uv_handle_t* handle) {
  auto* p = static_cast<Probe*>(handle->data);
  p->tcp_open_ = false;
  AfterClose next = std::exchange(p->after_close_, AfterClose::kNothing);
  if (p->finished_) return p->maybe_destroy();
  // A uv_tcp_t can be initialised again once its close callback has run.
  p->tcp_ = uv_tcp_t{};
  p->tcp_.data = p;
  if (next == AfterClose::kConnectNext) return p->connect_next();
  if (next == AfterClose::kNextHop) return p->start_hop();
}

void UvProbe::Probe::on_timeout(uv_timer_t* timer) {
  auto* p = static_cast<Probe*>(timer->data);
  if (p->finished_) return;
  // Headers in: the check has its answer; the body is what arrived by now (Consul's client
  // times out reading the body and still reports the status).
  if (p->headers_done_ && !p->redirect_pending_) return p->succeed();
  if (!p->http()) {
    std::string where =
        p->phase_ == Phase::kResolve ? fmt::format("lookup {}", p->host_) : p->dialled_;
    return p->fail(fmt::format("dial tcp {}: i/o timeout", where), true);
  }
  p->fail(p->reason("context deadline exceeded (Client.Timeout exceeded while awaiting headers)"),
          true);
}

void UvProbe::Probe::succeed() {
  result_.exit_code = 0;
  if (http()) {
    result_.http_status = status_;
    result_.http_reason = std::move(reason_);
    result_.output = std::move(body_);
  }
  finish();
}

void UvProbe::Probe::fail(std::string why, bool timed_out) {
  result_.exit_code = -1;
  result_.timed_out = timed_out;
  result_.output = std::move(why);
  owner_->logger_.debug("agent", "check {}: {}", id_, result_.output);
  finish();
}

void UvProbe::Probe::finish() {
  finished_ = true;
  if (timer_open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_timer_closed);
  }
  if (tcp_open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_tcp_closed);
  }
  // Fails when the lookup already runs in the pool; its callback then arrives and is ignored.
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolver_));
  // The timer is open from start() until here, so the result always comes from a close
  // callback, never from inside run().
}

void UvProbe::Probe::on_timer_closed(uv_handle_t* handle) {
  auto* p = static_cast<Probe*>(handle->data);
  p->timer_open_ = false;
  p->maybe_destroy();
}

void UvProbe::Probe::maybe_destroy() {
  if (!finished_ || timer_open_ || tcp_open_ || resolving_) return;
  UvProbe* owner = owner_;
  owner->probes_.erase(this);
  std::unique_ptr<Probe> owned(this);
  if (!owner->closing_) owner->completion_(id_, std::move(result_));
}

// ---- response parsing ----

int UvProbe::Probe::on_message_begin(http_parser* p) {
  Probe& self = of(p);
  self.status_ = 0;
  self.reason_.clear();
  self.field_.clear();
  self.in_value_ = false;
  self.location_.clear();
  self.location_done_ = false;
  self.informational_ = false;
  return 0;
}

int UvProbe::Probe::on_status(http_parser* p, const char* at, std::size_t length) {
  Probe& self = of(p);
  self.reason_.append(
      at, std::min(length, kMaxReasonBytes - std::min(kMaxReasonBytes, self.reason_.size())));
  return 0;
}

int UvProbe::Probe::on_header_field(http_parser* p, const char* at, std::size_t length) {
  Probe& self = of(p);
  if (self.in_value_) {
    // The previous header is complete; only the first Location counts (Header.Get).
    if (!self.location_.empty() || iequals(self.field_, "location")) self.location_done_ = true;
    self.field_.clear();
    self.in_value_ = false;
  }
  self.field_.append(
      at, std::min(length, kMaxFieldNameBytes - std::min(kMaxFieldNameBytes, self.field_.size())));
  return 0;
}

int UvProbe::Probe::on_header_value(http_parser* p, const char* at, std::size_t length) {
  Probe& self = of(p);
  self.in_value_ = true;
  if (!self.location_done_ && iequals(self.field_, "location")) {
    self.location_.append(
        at,
        std::min(length, kMaxLocationBytes - std::min(kMaxLocationBytes, self.location_.size())));
  }
  return 0;
}

int UvProbe::Probe::on_headers_complete(http_parser* p) {
  Probe& self = of(p);
  int status = static_cast<int>(p->status_code);
  if (status >= 100 && status < 200 && status != 101) {
    self.informational_ = true;
    return 0;
  }
  self.status_ = status;
  self.headers_done_ = true;
  self.phase_ = Phase::kBody;
  bool redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  if (redirect && !self.location_.empty()) {
    self.redirect_pending_ = true;  // the body of a redirect is not needed
    http_parser_pause(p, 1);
    return 0;
  }
  if (self.spec_.output_max_bytes == 0) {
    self.body_full_ = true;
    http_parser_pause(p, 1);
  }
  return self.hop_method_ == "HEAD" ? 1 : 0;  // 1: a HEAD response has no body
}

int UvProbe::Probe::on_body(http_parser* p, const char* at, std::size_t length) {
  Probe& self = of(p);
  if (self.informational_) return 0;
  std::size_t room = self.spec_.output_max_bytes - self.body_.size();
  self.body_.append(at, std::min(room, length));
  if (self.body_.size() >= self.spec_.output_max_bytes) {
    // Enough for the output: stop here rather than read the rest, however long it is.
    self.body_full_ = true;
    http_parser_pause(p, 1);
  }
  return 0;
}

int UvProbe::Probe::on_message_complete(http_parser* p) {
  Probe& self = of(p);
  if (self.informational_) {
    self.informational_ = false;
    return 0;  // the real response follows on the same connection
  }
  self.message_done_ = true;
  http_parser_pause(p, 1);
  return 0;
}

// ---- UvProbe ----

UvProbe::UvProbe(uv_loop_t* loop, Logger& logger, ExecCompletion completion)
    : loop_(loop), logger_(logger), completion_(std::move(completion)) {}

UvProbe::~UvProbe() { PRAETOR_ASSERT_MSG(closed(), "UvProbe destroyed with probes running"); }

void UvProbe::run(CheckRunId id, node::ExecSpec spec) {
  PRAETOR_ASSERT(!closing_);
  PRAETOR_ASSERT(spec.kind != node::ExecSpec::Kind::kArgs);
  auto* p = new Probe(this, id, std::move(spec));
  probes_.insert(p);
  p->start();
}

void UvProbe::close() {
  if (closing_) return;
  closing_ = true;
  std::vector<Probe*> running(probes_.begin(), probes_.end());
  for (Probe* p : running) p->cancel();
}

TlsContext* UvProbe::tls_context(std::string& error) {
  if (!tls_) {
    auto made = TlsContext::create();
    if (!made) {
      error = made.error().message;
      return nullptr;
    }
    tls_ = std::move(*made);
  }
  return tls_.get();
}

}  // namespace praetor::io
