// Internal to the config loader (config*.cpp): typed reads of one JSON source with Consul's key
// matching, error text of the form "<file>: <key path>: <what was expected>", and the warning list.
// Not part of the node API; include only from core/node/config*.cpp and their tests.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/instant.hpp"
#include "core/base/result.hpp"
#include "core/node/config.hpp"

namespace praetor::node::config_detail {

using Json = nlohmann::json;

// Go's encoding/json matches keys case-insensitively and Consul translates snake_case, so
// "NodeName", "node_name" and "nodename" are one key: lower-case it and drop underscores.
std::string normalize_key(std::string_view key);

// Where a script check came from, so "scripts are disabled" can name the file and key after
// all sources are merged (enable_script_checks may be set in a later file).
struct ScriptCheckOrigin {
  std::string file;
  std::string path;
};

// State shared by all sources of one load.
struct LoadState {
  std::vector<std::string> warnings;
  // Canonical key -> "<source>: <key as that source names it>" for the last source that set it.
  std::map<std::string, std::string> origin;
  std::vector<ScriptCheckOrigin> script_checks;
};

// Reads values of one source. The first error sticks; later reads become no-ops, so field
// handlers can read without checking after every step.
class Reader {
 public:
  // key_names (may be null) renames key paths in messages: the command line names its flags.
  Reader(std::string file, LoadState& state,
         const std::map<std::string, std::string>* key_names = nullptr)
      : file_(std::move(file)), state_(state), key_names_(key_names) {}

  const std::string& file() const { return file_; }
  LoadState& state() { return state_; }
  bool ok() const { return !error_.has_value(); }
  const Error& error() const { return *error_; }

  void fail(std::string_view path, std::string_view what);
  void warn(std::string_view path, std::string_view what);
  // Records that this source set a top-level key (for errors found after the merge).
  void set_origin(const std::string& key);
  // How this source names a key path: the flag that set it on the command line, else the path.
  std::string display(std::string_view path) const;

  bool is_object(const Json& v, const std::string& path);
  bool read(const Json& v, const std::string& path, std::string& out);
  bool read(const Json& v, const std::string& path, bool& out);
  bool read(const Json& v, const std::string& path, std::optional<bool>& out);
  bool read(const Json& v, const std::string& path, std::int64_t& out);
  bool read_int(const Json& v, const std::string& path, int& out, std::int64_t min = INT32_MIN,
                std::int64_t max = INT32_MAX);
  // Durations are never negative in Consul's model; a negative one is refused.
  bool read(const Json& v, const std::string& path, Duration& out);
  bool read(const Json& v, const std::string& path, std::optional<Duration>& out);
  // Lists concatenate onto out (Consul's merge rule for slices). A bare string counts as a
  // one-element list, as Consul's weak decoding of HCL lists allows.
  bool append(const Json& v, const std::string& path, std::vector<std::string>& out);
  // Maps merge key-wise onto out.
  bool merge(const Json& v, const std::string& path, std::map<std::string, std::string>& out);

 private:
  std::string file_;
  LoadState& state_;
  const std::map<std::string, std::string>* key_names_;
  std::optional<Error> error_;
};

std::string join_path(const std::string& prefix, std::string_view key);

// One known key of an object: its canonical (documented) name and what to do with its value.
// JSON null means "not set" and never reaches the handler.
template <typename Target>
struct Field {
  const char* name;
  void (*apply)(Reader& r, const Json& v, const std::string& path, Target& t);
};

// Keys that are accepted and deliberately ignored without a warning (settings with no effect
// in praetor that operators routinely carry over, e.g. disable_update_check).
using IgnoredKeys = std::span<const char* const>;

// Applies every member of obj through the matching field; unknown keys become warnings.
template <typename Target>
void walk_object(Reader& r, const Json& obj, const std::string& prefix,
                 std::span<const Field<Target>> fields, Target& target, IgnoredKeys ignored = {}) {
  if (!r.is_object(obj, prefix)) return;
  for (const auto& [key, value] : obj.items()) {
    if (!r.ok()) return;
    if (value.is_null()) continue;
    const std::string norm = normalize_key(key);
    const Field<Target>* match = nullptr;
    for (const auto& f : fields) {
      if (normalize_key(f.name) == norm) {
        match = &f;
        break;
      }
    }
    if (match != nullptr) {
      match->apply(r, value, join_path(prefix, match->name), target);
      continue;
    }
    bool is_ignored = false;
    for (const char* name : ignored) is_ignored = is_ignored || normalize_key(name) == norm;
    if (!is_ignored) {
      r.warn(join_path(prefix, key), "unknown configuration key, ignored (Consul rejects it)");
    }
  }
}

// Addresses (config_addr.cpp). Literal checks by hand: core may not call inet_pton.
bool is_ipv4_literal(std::string_view s);
bool is_ipv6_literal(std::string_view s);  // also "[::]", and a "%zone" suffix
bool is_ip_literal(std::string_view s);
bool is_any_address(std::string_view s);  // 0.0.0.0, ::, [::]
// 127.0.0.0/8, ::1 in any spelling, and IPv4-mapped 127.x (::ffff:127.0.0.1).
bool is_loopback_address(std::string_view s);
// Validates a space-separated list of IP literals or unix:// paths; records errors on r.
std::vector<std::string> read_address_list(Reader& r, const Json& v, const std::string& path,
                                           bool allow_unix);
// Validates a single IP literal (bind/advertise addresses).
std::string read_ip(Reader& r, const Json& v, const std::string& path);

// Services and checks (config_service.cpp).
void read_service_list(Reader& r, const Json& v, const std::string& path,
                       std::vector<ServiceDefinition>& out);
void read_check_list(Reader& r, const Json& v, const std::string& path,
                     std::vector<CheckDefinition>& out);

}  // namespace praetor::node::config_detail
