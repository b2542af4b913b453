#include "cmd/praetor/http_client.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

namespace praetor::cmd {
namespace {

using Clock = std::chrono::steady_clock;

Error io_error(std::string text) { return make_error(ErrorCode::kIo, std::move(text)); }

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// When the exchange must end: a point in time, and optionally a file descriptor that becomes
// readable when the caller gives up (see http_request).
struct Deadline {
  Clock::time_point at;
  int cancel_fd = -1;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Waits for the socket to become readable/writable before the deadline, unless cancelled.
Result<void> wait_for(int fd, short events, const Deadline& deadline) {
  while (true) {
    pollfd p[2] = {{fd, events, 0}, {deadline.cancel_fd, POLLIN, 0}};
    const int n = ::poll(p, deadline.cancel_fd >= 0 ? 2 : 1, remaining_ms(deadline.at));
    if (n > 0 && p[1].revents != 0 && deadline.cancel_fd >= 0) {
      return make_error(ErrorCode::kUnavailable, std::string(kHttpCancelled));
    }
    if (n > 0) return ok();
    if (n == 0) return make_error(ErrorCode::kTimeout, "timed out talking to the agent");
    if (errno != EINTR) return io_error(fmt::format("poll: {}", std::strerror(errno)));
  }
}

Result<void> connect_with_deadline(int fd, const sockaddr* addr, socklen_t len,
                                   const Deadline& deadline) {
  if (::connect(fd, addr, len) == 0) return ok();
  if (errno != EINPROGRESS) return io_error(std::strerror(errno));
  PRAETOR_TRY_VOID(wait_for(fd, POLLOUT, deadline));
  int err = 0;
  socklen_t err_len = sizeof(err);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
  if (err != 0) return io_error(std::strerror(err));
  return ok();
}

Result<int> open_connection(const HttpTarget& target, const Deadline& deadline) {
  if (!target.unix_path.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (target.unix_path.size() >= sizeof(addr.sun_path))
      return io_error("unix socket path too long");
    std::memcpy(addr.sun_path, target.unix_path.c_str(), target.unix_path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return io_error(std::strerror(errno));
    auto r =
        connect_with_deadline(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr), deadline);
    if (!r) {
      ::close(fd);
      return io_error(fmt::format("dial unix {}: {}", target.unix_path, r.error().message));
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(target.port);
  if (const int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    return io_error(fmt::format("lookup {}: {}", target.host, ::gai_strerror(rc)));
  }
  std::string last_error = "no addresses";
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    const int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    auto r = connect_with_deadline(fd, ai->ai_addr, ai->ai_addrlen, deadline);
    if (r) {
      ::freeaddrinfo(list);
      return fd;
    }
    last_error = r.error().message;
    ::close(fd);
  }
  ::freeaddrinfo(list);
  if (!last_error.empty() && last_error[0] >= 'A' && last_error[0] <= 'Z') {
    last_error[0] =
        static_cast<char>(last_error[0] - 'A' + 'a');  // Go's errno texts are lower-case
  }
  // Go's wording, which scripts grep for: "dial tcp 127.0.0.1:8500: connect: connection refused".
  return io_error(fmt::format("dial tcp {}:{}: connect: {}", target.host, target.port, last_error));
}

Result<void> send_all(int fd, std::string_view data, const Deadline& deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return io_error(fmt::format("write: {}", std::strerror(errno)));
    }
    PRAETOR_TRY_VOID(wait_for(fd, POLLOUT, deadline));
  }
  return ok();
}

std::string lower(std::string s);

// True once data holds a whole response, so a server that keeps the connection open despite
// "Connection: close" does not make us wait for the deadline.
bool response_complete(const std::string& data) {
  const auto head_end = data.find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  const std::string head = lower(data.substr(0, head_end));
  const std::size_t body = data.size() - head_end - 4;
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    return data.ends_with("0\r\n\r\n");
  }
  const auto cl = head.find("content-length:");
  if (cl == std::string::npos) return false;
  std::size_t i = cl + 15;
  while (i < head.size() && head[i] == ' ') ++i;
  std::size_t length = 0;
  const auto [end, ec] = std::from_chars(head.data() + i, head.data() + head.size(), length);
  return ec == std::errc() && body >= length;
}

// Reads until the peer closes (we asked for Connection: close), the deadline or the size cap.
// Stops early once a complete Content-Length body has arrived.
Result<std::string> receive_all(int fd, const Deadline& deadline) {
  std::string data;
  char buf[16384];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      data.append(buf, static_cast<std::size_t>(n));
      if (data.size() > kHttpClientMaxResponseBytes) return io_error("response too large");
      if (response_complete(data)) return data;
      continue;
    }
    if (n == 0) return data;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      return io_error(fmt::format("read: {}", std::strerror(errno)));
    }
    PRAETOR_TRY_VOID(wait_for(fd, POLLIN, deadline));
  }
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

Result<std::string> decode_chunked(std::string_view in) {
  std::string out;
  while (true) {
    const auto eol = in.find("\r\n");
    if (eol == std::string_view::npos) return io_error("truncated chunked body");
    std::string_view size_text = in.substr(0, eol);
    if (const auto semi = size_text.find(';'); semi != std::string_view::npos) {
      size_text = size_text.substr(0, semi);
    }
    std::size_t size = 0;
    const auto [end, ec] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (ec != std::errc() || end != size_text.data() + size_text.size()) {
      return io_error("bad chunk size");
    }
    in.remove_prefix(eol + 2);
    if (size == 0) return out;  // trailers ignored
    if (in.size() < size + 2) return io_error("truncated chunked body");
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

Result<HttpResponse> parse_response(const std::string& raw) {
  // Go's client says "EOF" when the server hangs up without answering.
  if (raw.empty()) return io_error("EOF (the agent closed the connection without a response)");
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return io_error("malformed HTTP response from the agent");
  HttpResponse response;
  std::string_view head(raw.data(), head_end);
  const auto first_eol = head.find("\r\n");
  const std::string_view status_line = head.substr(0, first_eol);
  // "HTTP/1.1 200 OK"
  if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12) {
    return io_error("malformed HTTP status line from the agent");
  }
  const auto code = status_line.substr(9, 3);
  const auto [end, ec] = std::from_chars(code.data(), code.data() + 3, response.status);
  if (ec != std::errc() || end != code.data() + 3) return io_error("malformed HTTP status code");
  std::string_view rest = first_eol == std::string_view::npos ? "" : head.substr(first_eol + 2);
  while (!rest.empty()) {
    const auto eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? "" : rest.substr(eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    response.headers[lower(std::string(line.substr(0, colon)))] = std::string(value);
  }
  std::string_view body(raw);
  body.remove_prefix(head_end + 4);
  if (lower(response.headers["transfer-encoding"]).find("chunked") != std::string::npos) {
    auto decoded = decode_chunked(body);
    if (!decoded) return decoded.error();
    response.body = std::move(*decoded);
  } else if (auto it = response.headers.find("content-length"); it != response.headers.end()) {
    std::size_t length = 0;
    const auto& text = it->second;
    const auto [e2, ec2] = std::from_chars(text.data(), text.data() + text.size(), length);
    if (ec2 != std::errc() || body.size() < length) return io_error("truncated HTTP body");
    response.body = std::string(body.substr(0, length));
  } else {
    response.body = std::string(body);
  }
  return response;
}

}  // namespace

Result<HttpTarget> parse_http_addr(std::string_view text) {
  HttpTarget t;
  if (text.starts_with("unix://")) {
    t.unix_path = std::string(text.substr(7));
    if (t.unix_path.empty())
      return make_error(ErrorCode::kInvalidArgument, "empty unix socket path");
    return t;
  }
  if (text.starts_with("https://")) {
    return make_error(ErrorCode::kInvalidArgument, "HTTPS is not supported yet: use http://");
  }
  if (text.starts_with("http://")) text.remove_prefix(7);
  while (text.ends_with('/')) text.remove_suffix(1);
  std::string_view host = text;
  std::string_view port = "8500";
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("bad address {}", text));
    }
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') {
        return make_error(ErrorCode::kInvalidArgument, fmt::format("bad address {}", text));
      }
      port = text.substr(close + 2);
    }
  } else if (const auto colon = text.rfind(':');
             colon != std::string_view::npos && text.find(':') == colon) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("bad address {}", text));
  }
  t.host = std::string(host);
  t.port = static_cast<std::uint16_t>(value);
  return t;
}

Result<HttpResponse> http_request(const HttpTarget& target, const HttpRequest& request,
                                  int timeout_ms, int cancel_fd) {
  const Deadline deadline{Clock::now() + std::chrono::milliseconds(timeout_ms), cancel_fd};
  auto fd = open_connection(target, deadline);
  if (!fd) return fd.error();
  Socket socket(*fd);
  std::string host_header = target.unix_path.empty()
                                ? (target.host.find(':') != std::string::npos
                                       ? fmt::format("[{}]:{}", target.host, target.port)
                                       : fmt::format("{}:{}", target.host, target.port))
                                : std::string("localhost");
  std::string head = fmt::format(
      "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: praetor-cli\r\n"
      "Connection: close\r\nContent-Length: {}\r\n",
      request.method, request.target, host_header, request.body.size());
  for (const auto& [name, value] : request.headers) head += fmt::format("{}: {}\r\n", name, value);
  head += "\r\n";
  PRAETOR_TRY_VOID(send_all(socket.fd(), head, deadline));
  PRAETOR_TRY_VOID(send_all(socket.fd(), request.body, deadline));
  auto raw = receive_all(socket.fd(), deadline);
  if (!raw) return raw.error();
  return parse_response(*raw);
}

std::string escape_path(std::string_view text, bool keep_slash) {
  // Go's url.PathEscape rules as Consul's api client applies them: sub-delimiters such as ':'
  // and '@' stay literal in a path ("/v1/agent/join/127.0.0.1:8301"); '?', '#', '%', spaces
  // and non-ASCII bytes are escaped. Query values (keep_slash=false) escape all but unreserved.
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    const bool path_safe = keep_slash && (c == '/' || c == ':' || c == '@' || c == '$' ||
                                          c == '&' || c == '+' || c == ',' || c == ';' || c == '=');
    if (unreserved || path_safe) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string escape_query(std::string_view text) { return escape_path(text, false); }

}  // namespace praetor::cmd
