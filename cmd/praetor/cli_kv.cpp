// `praetor kv get|put|delete|export|import`: Consul's output strings and exit codes
// (consul-compat.md §2).
#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cmd/praetor/cli_support.hpp"
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

int kv_export(Args args) {
  HttpOptions http;
  FlagSet flags("kv export");
  add_http_flags(flags, http);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor kv export [options] [PREFIX]", flags);
  if (rest->size() > 1) {
    fmt::print(stderr, "Too many arguments (expected 1, got {})\n", rest->size());
    return 1;
  }
  const std::string prefix = rest->empty() ? "" : (*rest)[0];
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  auto r = client->call("GET", "/v1/kv/" + escape_path(prefix), "recurse");
  std::vector<KvPair> pairs;
  if (r && r->status == 200) {
    auto decoded = decode_pairs(r->body);
    if (!decoded) {
      fmt::print(stderr, "Error querying agent: {}\n", decoded.error().message);
      return 1;
    }
    pairs = std::move(*decoded);
  } else if (!r || r->status != 404) {  // 404: nothing under the prefix, an empty export
    fmt::print(stderr, "Error querying agent: {}\n",
               r ? unexpected_response(*r) : r.error().message);
    return 1;
  }
  // Go's json.MarshalIndent(entries, "", "\t"), field order key, flags, value.
  if (pairs.empty()) {
    fmt::print("[]\n");
    return 0;
  }
  std::string out = "[\n";
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& p = pairs[i];
    out +=
        fmt::format("\t{{\n\t\t\"key\": {},\n\t\t\"flags\": {},\n\t\t\"value\": \"{}\"\n\t}}{}\n",
                    go_json_string(p.key), p.flags, base64_encode(to_bytes(p.value)),
                    i + 1 < pairs.size() ? "," : "");
  }
  out += "]\n";
  fmt::print("{}", out);
  return 0;
}

struct ImportEntry {
  std::string key;
  std::uint64_t flags = 0;
  std::string value;  // decoded bytes
};

// The import document: an array of {key, flags, value(base64)}. Field names match
// case-insensitively (Go's decoder does) and unknown fields are ignored; everything is checked
// before the first write, so malformed input never leaves a half-imported tree.
Result<std::vector<ImportEntry>> parse_import(const std::string& data) {
  auto fail = [](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, "Cannot unmarshal data: " + why);
  };
  Json doc;
  try {
    doc = Json::parse(data);
  } catch (const Json::parse_error& e) {
    std::string why = e.what();
    if (const auto at = why.find("] "); at != std::string::npos) why.erase(0, at + 2);
    return fail(why);
  }
  if (!doc.is_array()) return fail("expected a JSON array of {key, flags, value} objects");
  std::vector<ImportEntry> out;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const Json& e = doc[i];
    if (!e.is_object()) return fail(fmt::format("entry {} is not an object", i));
    ImportEntry entry;
    bool has_key = false;
    for (const auto& [name, v] : e.items()) {
      std::string lower = name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "key") {
        if (!v.is_string()) return fail(fmt::format("entry {}: key is not a string", i));
        entry.key = v.get<std::string>();
        has_key = true;
      } else if (lower == "flags") {
        if (!v.is_number_unsigned()) {
          return fail(fmt::format("entry {}: flags is not an unsigned integer", i));
        }
        entry.flags = v.get<std::uint64_t>();
      } else if (lower == "value") {
        if (!v.is_string()) return fail(fmt::format("entry {}: value is not a string", i));
        Bytes raw;
        if (!base64_decode(v.get<std::string>(), raw)) {
          return make_error(ErrorCode::kInvalidArgument,
                            fmt::format("Error base 64 decoding value for key {}: illegal "
                                        "base64 data",
                                        entry.key.empty() ? fmt::format("#{}", i) : entry.key));
        }
        entry.value = to_string(raw);
      }
    }
    if (!has_key || entry.key.empty()) return fail(fmt::format("entry {} has no key", i));
    out.push_back(std::move(entry));
  }
  return out;
}

// "prefix" + "key" joined with one '/', as Consul's -prefix does with path.Join, but without
// Join's cleaning: a key that ends in '/' (a "folder") keeps its slash.
std::string prefixed_key(const std::string& prefix, const std::string& key) {
  if (prefix.empty()) return key;
  const bool slash_left = prefix.back() == '/';
  const bool slash_right = key.front() == '/';
  if (slash_left && slash_right) return prefix + key.substr(1);
  if (slash_left || slash_right) return prefix + key;
  return prefix + "/" + key;
}

int kv_import(Args args) {
  HttpOptions http;
  std::string prefix;
  FlagSet flags("kv import");
  add_http_flags(flags, http);
  flags.add_string("prefix", &prefix, "Key prefix for imported data (default: the root).");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor kv import [options] [DATA|@FILE|-]", flags);
  if (rest->empty()) {
    fmt::print(stderr, "Error! Missing DATA argument\n");
    return 1;
  }
  if (rest->size() > 1) {
    fmt::print(stderr, "Error! Too many arguments (expected 1, got {})\n", rest->size());
    return 1;
  }
  if ((*rest)[0].empty()) {
    fmt::print(stderr, "Error! Empty DATA argument\n");
    return 1;
  }
  // The same DATA forms as `kv put`: literal JSON, @file or - for stdin.
  auto data = put_value({"", (*rest)[0]}, /*base64=*/false);
  if (!data) {
    fmt::print(stderr, "{}\n", data.error().message);
    return 1;
  }
  auto entries = parse_import(*data);
  if (!entries) {
    fmt::print(stderr, "{}\n", entries.error().message);
    return 1;
  }
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  for (const auto& e : *entries) {
    const std::string key = prefixed_key(prefix, e.key);
    const std::string query = e.flags != 0 ? fmt::format("flags={}", e.flags) : "";
    auto r = client->call("PUT", "/v1/kv/" + escape_path(key), query, e.value);
    if (!r || r->status != 200 || r->body.find("true") == std::string::npos) {
      fmt::print(stderr, "Error! Failed writing data for key {}: {}\n", key,
                 !r ? r.error().message
                    : (r->status != 200 ? unexpected_response(*r) : "the agent answered false"));
      return 1;
    }
    fmt::print("Imported: {}\n", key);
  }
  return 0;
}

}  // namespace

int run_kv(Args args) {
  if (args.empty()) {
    fmt::print(stderr,
               "Usage: praetor kv <subcommand> [options] [args]\n\n"
               "Subcommands:\n    delete    Removes data from the KV store\n"
               "    export    Exports a tree from the KV store as JSON\n"
               "    get       Retrieves or lists data from the KV store\n"
               "    import    Imports a tree stored as JSON to the KV store\n"
               "    put       Sets or updates data in the KV store\n");
    return 1;
  }
  const std::string& sub = args[0];
  const Args rest = args.subspan(1);
  if (sub == "get") return kv_get(rest);
  if (sub == "put") return kv_put(rest);
  if (sub == "delete") return kv_delete(rest);
  if (sub == "export") return kv_export(rest);
  if (sub == "import") return kv_import(rest);
  fmt::print(stderr, "Unknown kv subcommand: {}\n", sub);
  return 1;
}

}  // namespace praetor::cmd
