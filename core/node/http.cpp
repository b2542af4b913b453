#include "core/node/http.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace praetor::node {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool HttpRequest::has_query(std::string_view name) const {
  return std::any_of(query.begin(), query.end(), [&](const auto& kv) { return kv.first == name; });
}

std::optional<std::string> HttpRequest::query_value(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, lower_name)) return v;
  }
  return std::nullopt;
}

void HttpResponse::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers) {
    if (iequals(k, name)) {
      v = std::move(value);
      return;
    }
  }
  headers.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

HttpResponse HttpResponse::text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.set_header("Content-Type", "text/plain; charset=utf-8");
  return r;
}

HttpResponse HttpResponse::json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.set_header("Content-Type", "application/json");
  return r;
}

std::string_view http_reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

Result<std::string> url_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return make_error(ErrorCode::kInvalidArgument, "invalid URL escape: truncated '%'");
      }
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("invalid URL escape \"{}\"", text.substr(i, 3)));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<ParsedTarget> parse_target(std::string_view target) {
  for (unsigned char c : target) {
    if (c < 0x20 || c == 0x7f) {
      return make_error(ErrorCode::kInvalidArgument, "control character in request target");
    }
  }
  if (target.empty() || target[0] != '/') {
    return make_error(ErrorCode::kInvalidArgument, "request target must start with '/'");
  }
  ParsedTarget out;
  std::string_view path = target;
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (auto h = query.find('#'); h != std::string_view::npos) query = query.substr(0, h);
  out.raw_path = std::string(path);
  auto decoded = url_decode(path, false);
  if (!decoded) return decoded.error();
  out.path = std::move(decoded.value());
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto key = url_decode(part.substr(0, eq), true);
    if (!key) return key.error();
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = url_decode(part.substr(eq + 1), true);
      if (!v) return v.error();
      value = std::move(v.value());
    }
    out.query.emplace_back(std::move(key.value()), std::move(value));
  }
  return out;
}

}  // namespace praetor::node
