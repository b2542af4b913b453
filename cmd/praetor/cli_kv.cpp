// `praetor kv get|put|delete`: Consul's output strings and exit codes (consul-compat.md §2).
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cmd/praetor/commands.hpp"
#include "cmd/praetor/config_files.hpp"
#include "core/base/bytes.hpp"

namespace praetor::cmd {
namespace {

using Json = nlohmann::json;

struct KvPair {
  std::string key;
  std::string value;
  std::uint64_t flags = 0, create_index = 0, modify_index = 0, lock_index = 0;
  std::string session;
};

Result<std::vector<KvPair>> decode_pairs(const std::string& body) {
  const Json doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array()) return make_error(ErrorCode::kInvalidArgument, "malformed KV response");
  std::vector<KvPair> out;
  for (const auto& e : doc) {
    if (!e.is_object()) continue;
    KvPair p;
    p.key = json_string(e, "Key");
    if (const auto v = e.find("Value"); v != e.end() && v->is_string()) {
      Bytes raw;
      if (!base64_decode(v->get<std::string>(), raw)) {
        return make_error(ErrorCode::kInvalidArgument, "malformed base64 value");
      }
      p.value = to_string(raw);
    }
    p.flags = json_uint(e, "Flags");
    p.create_index = json_uint(e, "CreateIndex");
    p.modify_index = json_uint(e, "ModifyIndex");
    p.lock_index = json_uint(e, "LockIndex");
    p.session = json_string(e, "Session");
    out.push_back(std::move(p));
  }
  return out;
}

// Consul's prettyKVPair: a tabwriter with padding 6, so values start after the longest label.
void print_detailed(const KvPair& p, bool base64) {
  const std::string value = base64 ? base64_encode(to_bytes(p.value)) : p.value;
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"CreateIndex", std::to_string(p.create_index)},
      {"Flags", std::to_string(p.flags)},
      {"Key", p.key},
      {"LockIndex", std::to_string(p.lock_index)},
      {"ModifyIndex", std::to_string(p.modify_index)},
      {"Session", p.session.empty() ? "-" : p.session},
      {"Value", value}};
  for (const auto& [label, v] : rows) fmt::print("{:<17}{}\n", label, v);
}

std::string strip_leading_slash(std::string key) {
  // Keys cannot start with '/', but users will type "/foo"; Consul strips it too.
  if (!key.empty() && key.front() == '/') key.erase(0, 1);
  return key;
}

Result<std::string> single_key(const std::vector<std::string>& rest, bool allow_empty) {
  if (rest.size() > 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Too many arguments (expected 1, got {})", rest.size()));
  }
  std::string key = rest.empty() ? "" : strip_leading_slash(rest[0]);
  if (key.empty() && !allow_empty) {
    return make_error(ErrorCode::kInvalidArgument, "Error! Missing KEY argument");
  }
  return key;
}

int kv_get(Args args) {
  HttpOptions http;
  bool recurse = false, detailed = false, keys = false, base64 = false;
  std::string separator = "/";
  FlagSet flags("kv get");
  add_http_flags(flags, http);
  flags.add_bool("recurse", &recurse, "Recursively look at all keys prefixed with the given path.");
  flags.add_bool("detailed", &detailed, "Provide additional metadata about the key.");
  flags.add_bool("keys", &keys, "List keys which start with the given prefix, not values.");
  flags.add_bool("base64", &base64, "Base64 encode the value.");
  flags.add_string("separator", &separator, "String to use as a separator for -keys.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor kv get [options] [KEY_OR_PREFIX]", flags);
  auto key = single_key(*rest, recurse || keys);
  if (!key) {
    fmt::print(stderr, "{}\n", key.error().message);
    return 1;
  }
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  std::string query =
      keys ? "keys" + (separator.empty() ? "" : "&separator=" + escape_query(separator))
           : (recurse ? "recurse" : "");
  auto r = client->call("GET", "/v1/kv/" + escape_path(*key), query);
  if (r && r->status == 404) {
    // A missing single key is an error; an empty prefix listing prints nothing.
    if (keys || recurse) return 0;
    fmt::print(stderr, "Error! No key exists at: {}\n", *key);
    return 1;
  }
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error querying agent: {}\n",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  if (keys) {
    const Json doc = Json::parse(r->body, nullptr, false);
    if (doc.is_array()) {
      for (const auto& k : doc) {
        if (k.is_string()) fmt::print("{}\n", k.get<std::string>());
      }
    }
    return 0;
  }
  auto pairs = decode_pairs(r->body);
  if (!pairs) {
    fmt::print(stderr, "Error querying agent: {}\n", pairs.error().message);
    return 1;
  }
  for (std::size_t i = 0; i < pairs->size(); ++i) {
    const auto& p = (*pairs)[i];
    if (detailed) {
      if (i > 0) fmt::print("\n");
      print_detailed(p, base64);
    } else if (recurse) {
      fmt::print("{}:{}\n", p.key, base64 ? base64_encode(to_bytes(p.value)) : p.value);
    } else {
      fmt::print("{}\n", base64 ? base64_encode(to_bytes(p.value)) : p.value);
    }
    if (!recurse) break;
  }
  return 0;
}

// The value argument: literal, "@file" (file contents) or "-" (stdin).
Result<std::string> put_value(const std::vector<std::string>& rest, bool base64) {
  std::string value;
  if (rest.size() >= 2) {
    const std::string& arg = rest[1];
    if (arg == "-") {
      value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else if (arg.size() > 1 && arg[0] == '@') {
      auto text = read_config_file(arg.substr(1));
      if (!text) {
        return make_error(ErrorCode::kIo,
                          fmt::format("Error! Failed to read file: {}", text.error().message));
      }
      value = std::move(*text);
    } else {
      value = arg;
    }
  }
  if (base64) {
    Bytes raw;
    if (!base64_decode(value, raw)) {
      return make_error(ErrorCode::kInvalidArgument, "Error! Cannot base 64 decode data");
    }
    value = to_string(raw);
  }
  return value;
}

struct PutFlags {
  bool cas = false, acquire = false, release = false, base64 = false;
  std::uint64_t modify_index = 0, flags = 0;
  std::string session;
};

// Consul's messages for the outcome of a PUT that reached the agent.
int report_put(const PutFlags& p, const std::string& key, bool written) {
  if (p.cas && !written) {
    if (p.modify_index == 0) {
      fmt::print(stderr,
                 "Error! Did not write to {}: CAS performed with index=0 and key already "
                 "exists.\n",
                 key);
    } else {
      fmt::print(stderr, "Error! Did not write to {}: CAS failed\n", key);
    }
    return 1;
  }
  if ((p.acquire || p.release) && !written) {
    fmt::print(stderr, "Error! Did not {} lock\n", p.acquire ? "acquire" : "release");
    return 1;
  }
  if (p.acquire) {
    fmt::print("Success! Lock acquired on: {}\n", key);
  } else if (p.release) {
    fmt::print("Success! Lock released on: {}\n", key);
  } else {
    fmt::print("Success! Data written to: {}\n", key);
  }
  return 0;
}

int kv_put(Args args) {
  HttpOptions http;
  PutFlags p;
  FlagSet flags("kv put");
  add_http_flags(flags, http);
  flags.add_bool("cas", &p.cas, "Perform a Check-And-Set operation (needs -modify-index).");
  flags.add_uint64("modify-index", &p.modify_index, "Unsigned integer for -cas (0 = create only).");
  flags.add_uint64("flags", &p.flags, "Unsigned integer value to assign to this key-value pair.");
  flags.add_bool("acquire", &p.acquire, "Obtain a lock on the key (needs -session).");
  flags.add_bool("release", &p.release, "Forfeit the lock on the key (needs -session).");
  flags.add_string("session", &p.session, "Session ID for -acquire / -release.");
  flags.add_bool("base64", &p.base64, "Treat the data as base 64 encoded.");
  constexpr std::string_view kSynopsis = "praetor kv put [options] KEY [DATA|@FILE|-]";
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kSynopsis, flags);
  if (rest->empty()) {
    fmt::print(stderr, "Error! Missing KEY argument\n");
    return 1;
  }
  if (rest->size() > 2) {
    fmt::print(stderr, "Error! Too many arguments (expected 1 or 2, got {})\n", rest->size());
    return 1;
  }
  const std::string key = (*rest)[0];  // Consul's put does not strip a leading '/'

  auto value = put_value(*rest, p.base64);
  if (!value) {
    fmt::print(stderr, "{}\n", value.error().message);
    return 1;
  }
  if ((p.acquire || p.release) && p.session.empty()) {
    fmt::print(stderr, "Error! Missing -session (required with -acquire and -release)\n");
    return 1;
  }
  if (p.cas && !flags.was_set("modify-index")) {
    fmt::print(stderr, "Must specify -modify-index with -cas!\n");
    return 1;
  }
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  std::string query = p.flags != 0 ? fmt::format("flags={}", p.flags) : "";
  auto add = [&query](const std::string& part) { query += (query.empty() ? "" : "&") + part; };
  if (p.cas) add(fmt::format("cas={}", p.modify_index));
  if (p.acquire) add("acquire=" + escape_query(p.session));
  if (p.release) add("release=" + escape_query(p.session));
  auto r = client->call("PUT", "/v1/kv/" + escape_path(key), query, *value);
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error! Failed writing data: {}\n",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  return report_put(p, key, r->body.find("true") != std::string::npos);
}

int kv_delete(Args args) {
  HttpOptions http;
  bool recurse = false, cas = false;
  std::uint64_t modify_index = 0;
  FlagSet flags("kv delete");
  add_http_flags(flags, http);
  flags.add_bool("recurse", &recurse, "Recursively delete all keys with the path as prefix.");
  flags.add_bool("cas", &cas, "Perform a Check-And-Set operation (needs -modify-index).");
  flags.add_uint64("modify-index", &modify_index, "Unsigned integer for -cas.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor kv delete [options] KEY_OR_PREFIX", flags);
  auto key = single_key(*rest, recurse);
  if (!key) {
    fmt::print(stderr, "{}\n", key.error().message);
    return 1;
  }
  // Consul's checks, in Consul's order.
  if (cas && modify_index == 0) {
    fmt::print(stderr, "Must specify -modify-index with -cas!\n");
    return 1;
  }
  if (modify_index != 0 && !cas) fmt::print(stderr, "Cannot specify -modify-index without -cas!\n");
  if (cas && recurse) {
    fmt::print(stderr, "Cannot specify both -cas and -recurse!\n");
    return 1;
  }
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  const std::string query = recurse ? "recurse" : (cas ? fmt::format("cas={}", modify_index) : "");
  auto r = client->call("DELETE", "/v1/kv/" + escape_path(*key), query);
  if (!r || r->status != 200) {
    const std::string why = r ? unexpected_response(*r) : r.error().message;
    if (recurse) {
      fmt::print(stderr, "Error! Did not delete prefix {}: {}\n", *key, why);
    } else if (cas) {
      fmt::print(stderr, "Error! Did not delete key {}: {}\n", *key, why);
    } else {
      fmt::print(stderr, "Error deleting key {}: {}\n", *key, why);
    }
    return 1;
  }
  if (cas && r->body.find("true") == std::string::npos) {
    fmt::print(stderr, "Error! Did not delete key {}: CAS failed\n", *key);
    return 1;
  }
  if (recurse) {
    fmt::print("Success! Deleted keys with prefix: {}\n", *key);
  } else {
    fmt::print("Success! Deleted key: {}\n", *key);
  }
  return 0;
}

}  // namespace

int run_kv(Args args) {
  if (args.empty()) {
    fmt::print(stderr,
               "Usage: praetor kv <subcommand> [options] [args]\n\n"
               "Subcommands:\n    delete    Removes data from the KV store\n"
               "    get       Retrieves or lists data from the KV store\n"
               "    put       Sets or updates data in the KV store\n");
    return 1;
  }
  const std::string& sub = args[0];
  const Args rest = args.subspan(1);
  if (sub == "get") return kv_get(rest);
  if (sub == "put") return kv_put(rest);
  if (sub == "delete") return kv_delete(rest);
  fmt::print(stderr, "Unknown kv subcommand: {}\n", sub);
  return 1;
}

}  // namespace praetor::cmd
