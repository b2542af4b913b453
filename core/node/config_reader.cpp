#include "core/node/config_reader.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "core/base/duration.hpp"

namespace praetor::node::config_detail {
namespace {

std::string_view type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "an object";
    case Json::value_t::array:
      return "a list";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "a number";
    default:
      return "an unsupported value";
  }
}

}  // namespace

std::string normalize_key(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '_') continue;
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

std::string join_path(const std::string& prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  return fmt::format("{}.{}", prefix, key);
}

std::string Reader::display(std::string_view path) const {
  if (key_names_ == nullptr) return std::string(path);
  if (const auto it = key_names_->find(std::string(path)); it != key_names_->end()) {
    return it->second;
  }
  // A list element ("retry_join[1]") is named by the flag that appended it.
  if (const auto bracket = path.find('['); bracket != std::string_view::npos) {
    if (const auto it = key_names_->find(std::string(path.substr(0, bracket)));
        it != key_names_->end()) {
      return it->second;
    }
  }
  return std::string(path);
}

void Reader::set_origin(const std::string& key) {
  state_.origin[key] = fmt::format("{}: {}", file_, display(key));
}

void Reader::fail(std::string_view path, std::string_view what) {
  if (error_) return;
  error_ = make_error(ErrorCode::kInvalidArgument,
                      fmt::format("{}: {}: {}", file_, display(path), what));
}

void Reader::warn(std::string_view path, std::string_view what) {
  state_.warnings.push_back(fmt::format("{}: {}: {}", file_, display(path), what));
}

bool Reader::is_object(const Json& v, const std::string& path) {
  if (!ok()) return false;
  if (v.is_object()) return true;
  fail(path.empty() ? std::string_view("(top level)") : std::string_view(path),
       fmt::format("expected an object, got {}", type_name(v)));
  return false;
}

bool Reader::read(const Json& v, const std::string& path, std::string& out) {
  if (!ok()) return false;
  if (!v.is_string()) {
    fail(path, fmt::format("expected a string, got {}", type_name(v)));
    return false;
  }
  out = v.get_ref<const std::string&>();
  return true;
}

bool Reader::read(const Json& v, const std::string& path, bool& out) {
  if (!ok()) return false;
  if (!v.is_boolean()) {
    fail(path, fmt::format("expected a boolean (true or false), got {}", type_name(v)));
    return false;
  }
  out = v.get<bool>();
  return true;
}

bool Reader::read(const Json& v, const std::string& path, std::optional<bool>& out) {
  bool b = false;
  if (!read(v, path, b)) return false;
  out = b;
  return true;
}

bool Reader::read(const Json& v, const std::string& path, std::int64_t& out) {
  if (!ok()) return false;
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail(path, "number is too large");
      return false;
    }
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return true;
  }
  if (v.is_number_float()) {
    // Go decodes JSON numbers as float64 and converts whole values to ints: 8500.0 is fine.
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || d < -9.2e18 || d > 9.2e18) {
      fail(path, fmt::format("expected a whole number, got {}", v.dump()));
      return false;
    }
    out = static_cast<std::int64_t>(d);
    return true;
  }
  fail(path, fmt::format("expected a number, got {}", type_name(v)));
  return false;
}

bool Reader::read_int(const Json& v, const std::string& path, int& out, std::int64_t min,
                      std::int64_t max) {
  std::int64_t n = 0;
  if (!read(v, path, n)) return false;
  if (n < min || n > max) {
    fail(path, fmt::format("expected a number between {} and {}, got {}", min, max, n));
    return false;
  }
  out = static_cast<int>(n);
  return true;
}

bool Reader::read(const Json& v, const std::string& path, Duration& out) {
  if (!ok()) return false;
  if (!v.is_string()) {
    fail(path, fmt::format("expected a duration string such as \"10s\", got {}", type_name(v)));
    return false;
  }
  const auto& text = v.get_ref<const std::string&>();
  auto d = parse_go_duration(text);
  if (!d) {
    // Consul words it "<key>: invalid duration: \"<value>\": <why>"; ours is equivalent.
    fail(path, d.error().message);  // names the value: invalid duration "x": why
    return false;
  }
  // Go parses "-30s" happily and Consul passes it on (a negative retry_interval retries without
  // pause, a negative TTL expires at once); no key means anything by a negative duration.
  if (d->count_ns() < 0) {
    fail(path, fmt::format("invalid duration \"{}\": must not be negative", text));
    return false;
  }
  out = *d;
  return true;
}

bool Reader::read(const Json& v, const std::string& path, std::optional<Duration>& out) {
  Duration d;
  if (!read(v, path, d)) return false;
  out = d;
  return true;
}

bool Reader::append(const Json& v, const std::string& path, std::vector<std::string>& out) {
  if (!ok()) return false;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
    return true;
  }
  if (!v.is_array()) {
    fail(path, fmt::format("expected a list of strings, got {}", type_name(v)));
    return false;
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string s;
    if (!read(v[i], fmt::format("{}[{}]", path, i), s)) return false;
    out.push_back(std::move(s));
  }
  return true;
}

bool Reader::merge(const Json& v, const std::string& path,
                   std::map<std::string, std::string>& out) {
  if (!ok()) return false;
  if (!v.is_object()) {
    fail(path, fmt::format("expected an object of strings, got {}", type_name(v)));
    return false;
  }
  for (const auto& [key, value] : v.items()) {
    std::string s;
    if (!read(value, join_path(path, key), s)) return false;
    out[key] = std::move(s);
  }
  return true;
}

}  // namespace praetor::node::config_detail
