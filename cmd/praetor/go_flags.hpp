// A small parser with the semantics of Go's `flag` package, which Consul's CLI uses and which
// scripts written for Consul rely on:
//   -name=value, -name value, --name=value, --name value; bool flags only take "=value"
//   (-server, -server=false); parsing stops at the first non-flag argument or after "--";
//   repeated flags call the setter again (-config-file a -config-file b).
// We do not use CLI11 here: it reads "-abc" as a cluster of short options, lets options follow
// positional arguments, and its error texts differ from Go's ("flag provided but not defined:
// -x"), all of which Consul users see.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.hpp"

namespace praetor::cmd {

class FlagSet {
 public:
  // Receives the flag's text value; returns an error text when the value is invalid.
  using Setter = std::function<std::optional<std::string>(const std::string& value)>;

  explicit FlagSet(std::string command) : command_(std::move(command)) {}

  void add(std::string name, std::string usage, Setter set, bool is_bool = false);

  // Typed conveniences. Lists append on every use.
  void add_string(std::string name, std::string* out, std::string usage);
  void add_strings(std::string name, std::vector<std::string>* out, std::string usage);
  void add_bool(std::string name, bool* out, std::string usage);
  void add_uint64(std::string name, std::uint64_t* out, std::string usage);
  void add_int(std::string name, std::int64_t* out, std::string usage);

  // Parses args (without the command words). On success returns the positional arguments.
  // "-h"/"-help" yields an error whose message is "help" so callers can print usage, exit 0.
  Result<std::vector<std::string>> parse(std::span<const std::string> args);

  // Whether a flag appeared on the command line (even with its default value).
  bool was_set(std::string_view name) const;

  // "  -name\n        usage" lines, sorted by name, like Go's PrintDefaults.
  std::string usage() const;

 private:
  struct Flag {
    std::string name;
    std::string usage;
    Setter set;
    bool is_bool = false;
  };
  const Flag* find(std::string_view name) const;

  std::string command_;
  std::vector<Flag> flags_;
  std::vector<std::string> set_;
};

// Go's strconv.ParseBool.
std::optional<bool> parse_go_bool(std::string_view text);

}  // namespace praetor::cmd
