// `praetor watch -type=key|keyprefix|services|nodes|service|checks|event [...] [handler...]`:
// Consul's watch command. A loop of blocking queries (?index= from the last X-Consul-Index, no
// wait: the agent's default of 5 minutes, as Consul's watch plans send none). Without a handler
// the first result is printed as indented JSON and the command exits, as Consul's does; with one,
// the handler runs through the shell with the result as compact JSON on stdin and CONSUL_INDEX in
// its environment, at start and then each time the result changes.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "cmd/praetor/cli_support.hpp"
#include "cmd/praetor/commands.hpp"

namespace praetor::cmd {
namespace {

using ojson = nlohmann::ordered_json;
using std::chrono::milliseconds;

constexpr std::string_view kWatchSynopsis = "praetor watch [options] [child...]";

// Consul's plan: the n-th consecutive failure waits 5 s * n^2, at most 180 s.
constexpr milliseconds kRetryBase{5'000};
constexpr milliseconds kRetryMax{180'000};
// No wait is sent, so the agent holds a query up to its default 5 minutes plus up to 1/16 of
// jitter; the client allows that and a margin before it calls the connection dead.
constexpr int kBlockingTimeoutMs = (300 + 300 / 16 + 30) * 1000;

// ---- the shapes of Consul's api structs, which the watch command prints ----------------------

const std::vector<std::string_view> kKvPairFields = {
    "Key", "CreateIndex", "ModifyIndex", "LockIndex", "Flags", "Value", "Session"};
const std::vector<std::string_view> kEventFields = {
    "ID", "Name", "Payload", "NodeFilter", "ServiceFilter", "TagFilter", "Version", "LTime"};
const std::vector<std::string_view> kNodeFields = {
    "ID",          "Node",        "Address",   "Datacenter", "TaggedAddresses", "Meta",
    "CreateIndex", "ModifyIndex", "Partition", "PeerName",   "Locality"};
const std::vector<std::string_view> kAgentServiceFields = {"Kind",
                                                           "ID",
                                                           "Service",
                                                           "Tags",
                                                           "Meta",
                                                           "Port",
                                                           "Address",
                                                           "SocketPath",
                                                           "TaggedAddresses",
                                                           "Weights",
                                                           "EnableTagOverride",
                                                           "CreateIndex",
                                                           "ModifyIndex",
                                                           "ContentHash",
                                                           "Proxy",
                                                           "Connect",
                                                           "PeerName",
                                                           "Namespace",
                                                           "Partition",
                                                           "Datacenter",
                                                           "Locality"};
const std::vector<std::string_view> kHealthCheckFields = {
    "Node",        "CheckID",     "Name",        "Status",      "Notes",      "Output",
    "ServiceID",   "ServiceName", "ServiceTags", "Type",        "Namespace",  "Partition",
    "ExposedPort", "PeerName",    "Definition",  "CreateIndex", "ModifyIndex"};

// Consul's watch decodes each answer into its api package's structs and prints those, so the
// output has exactly their fields, in their order: fields the agent sends beyond them (praetor's
// checks carry Interval and Timeout) are dropped, and a field Go always writes is filled with its
// zero value when the agent left it out. `optional` fields are Go's omitempty ones.
ojson as_struct(const ojson& object, const std::vector<std::string_view>& fields,
                const std::map<std::string_view, ojson>& zeros,
                const std::vector<std::string_view>& optional = {}) {
  if (object.is_null()) return object;
  const ojson in = object.is_object() ? object : ojson::object();
  ojson out = ojson::object();
  for (const auto name : fields) {
    const auto it = in.find(std::string(name));
    const bool omitempty = std::find(optional.begin(), optional.end(), name) != optional.end();
    if (it != in.end()) {
      out[std::string(name)] = *it;
    } else if (!omitempty) {
      const auto z = zeros.find(name);
      out[std::string(name)] = z != zeros.end() ? z->second : ojson(nullptr);
    }
  }
  return out;
}

ojson sorted_maps(ojson object, std::initializer_list<const char*> maps) {
  for (const char* m : maps) {
    if (object.contains(m)) object[m] = sorted_map(object[m]);
  }
  return object;
}

ojson kv_pair(const ojson& e) {
  return as_struct(e, kKvPairFields,
                   {{"Key", ""},
                    {"CreateIndex", 0},
                    {"ModifyIndex", 0},
                    {"LockIndex", 0},
                    {"Flags", 0},
                    {"Value", nullptr},
                    {"Session", ""}},
                   {"Namespace", "Partition"});
}

ojson user_event(const ojson& e) {
  return as_struct(e, kEventFields,
                   {{"ID", ""},
                    {"Name", ""},
                    {"Payload", nullptr},
                    {"NodeFilter", ""},
                    {"ServiceFilter", ""},
                    {"TagFilter", ""},
                    {"Version", 0},
                    {"LTime", 0}});
}

ojson node(const ojson& n) {
  return sorted_maps(as_struct(n, kNodeFields,
                               {{"ID", ""},
                                {"Node", ""},
                                {"Address", ""},
                                {"Datacenter", ""},
                                {"TaggedAddresses", nullptr},
                                {"Meta", nullptr},
                                {"CreateIndex", 0},
                                {"ModifyIndex", 0}},
                               {"Partition", "PeerName", "Locality"}),
                     {"TaggedAddresses", "Meta"});
}

ojson health_check(const ojson& c) {
  return as_struct(c, kHealthCheckFields,
                   {{"Node", ""},
                    {"CheckID", ""},
                    {"Name", ""},
                    {"Status", ""},
                    {"Notes", ""},
                    {"Output", ""},
                    {"ServiceID", ""},
                    {"ServiceName", ""},
                    {"ServiceTags", nullptr},
                    {"Type", ""},
                    {"ExposedPort", 0},
                    {"Definition", ojson::object()},
                    {"CreateIndex", 0},
                    {"ModifyIndex", 0}},
                   {"Namespace", "Partition", "PeerName"});
}

ojson agent_service(const ojson& s) {
  ojson out = sorted_maps(
      as_struct(s, kAgentServiceFields,
                {{"ID", ""},
                 {"Service", ""},
                 {"Tags", nullptr},
                 {"Meta", nullptr},
                 {"Port", 0},
                 {"Address", ""},
                 {"Weights", ojson{{"Passing", 0}, {"Warning", 0}}},
                 {"EnableTagOverride", false},
                 {"CreateIndex", 0},
                 {"ModifyIndex", 0}},
                {"Kind", "SocketPath", "TaggedAddresses", "ContentHash", "Proxy", "Connect",
                 "PeerName", "Namespace", "Partition", "Datacenter", "Locality"}),
      {"Meta", "TaggedAddresses"});
  if (out.contains("Weights"))
    out["Weights"] = order_fields(out["Weights"], {"Passing", "Warning"});
  return out;
}

ojson service_entry(const ojson& e) {
  ojson out = as_struct(e, {"Node", "Service", "Checks"}, {});
  out["Node"] = node(out["Node"]);
  out["Service"] = agent_service(out["Service"]);
  if (out["Checks"].is_array()) {
    for (auto& c : out["Checks"]) c = health_check(c);
  }
  return out;
}

ojson map_array(const ojson& doc, ojson (*shape)(const ojson&)) {
  if (!doc.is_array()) return doc;
  ojson out = ojson::array();
  for (const auto& e : doc) out.push_back(shape(e));
  return out;
}

// Consul's index of an event: the UUID's two 64-bit halves xor-ed (the agent folds the same
// way for /v1/event/list's X-Consul-Index).
std::uint64_t event_index(std::string_view uuid) {
  std::uint64_t halves[2] = {0, 0};
  int nibble = 0;
  for (char c : uuid) {
    if (c == '-') continue;
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0 || nibble >= 32) return 0;
    halves[nibble / 16] = (halves[nibble / 16] << 4) | static_cast<std::uint64_t>(v);
    ++nibble;
  }
  return nibble == 32 ? halves[0] ^ halves[1] : 0;
}

// ---- the watch plan ------------------------------------------------------------------------

struct WatchPlan {
  std::string type;
  std::string path;
  std::string query;  // the type's own parameters, without index
  // Turns the agent's answer (status 200 or 404) into the value handed to the handler.
  ojson (*shape)(int status, const ojson& doc) = nullptr;
  // The agent's index is a Raft index that only grows, except when the cluster was rebuilt;
  // for events it is a hash of the newest event's ID and has no order.
  bool ordered_index = true;
};

ojson shape_key(int status, const ojson& doc) {
  if (status == 404 || !doc.is_array() || doc.empty()) return nullptr;  // Go: a nil *KVPair
  return kv_pair(doc[0]);
}
ojson shape_keyprefix(int status, const ojson& doc) {
  if (status == 404 || !doc.is_array()) return nullptr;  // Go: a nil KVPairs slice
  return map_array(doc, kv_pair);
}
ojson shape_services(int, const ojson& doc) { return sorted_map(doc); }
ojson shape_nodes(int, const ojson& doc) { return map_array(doc, node); }
ojson shape_service(int, const ojson& doc) { return map_array(doc, service_entry); }
ojson shape_checks(int, const ojson& doc) { return map_array(doc, health_check); }
ojson shape_events(int, const ojson& doc) { return map_array(doc, user_event); }

struct WatchFlags {
  std::string type, key, prefix, service, passing_only, state, name;
  std::vector<std::string> tags;
  bool shell = true;
};

// Consul's watch.Parse: which parameters each type takes, which it requires, and the rest
// reported as "Invalid parameters: [...]".
Result<WatchPlan> parse_plan(const WatchFlags& f, bool stale) {
  auto fail = [](std::string text) { return make_error(ErrorCode::kInvalidArgument, text); };
  std::map<std::string, bool> given = {{"key", !f.key.empty()},
                                       {"prefix", !f.prefix.empty()},
                                       {"service", !f.service.empty()},
                                       {"tag", !f.tags.empty()},
                                       {"state", !f.state.empty()},
                                       {"name", !f.name.empty()},
                                       {"passingonly", !f.passing_only.empty()},
                                       {"stale", stale}};
  auto take = [&given](const char* p) { given[p] = false; };
  WatchPlan plan;
  plan.type = f.type;
  auto add = [&plan](const std::string& part) {
    plan.query += (plan.query.empty() ? "" : "&") + part;
  };
  if (f.type == "key") {
    take("stale");
    take("key");
    if (f.key.empty()) return fail("Must specify a single key to watch");
    plan.path = "/v1/kv/" + escape_path(f.key);
    plan.shape = shape_key;
  } else if (f.type == "keyprefix") {
    take("stale");
    take("prefix");
    if (f.prefix.empty()) return fail("Must specify a single prefix to watch");
    plan.path = "/v1/kv/" + escape_path(f.prefix);
    add("recurse");
    plan.shape = shape_keyprefix;
  } else if (f.type == "services") {
    take("stale");
    plan.path = "/v1/catalog/services";
    plan.shape = shape_services;
  } else if (f.type == "nodes") {
    take("stale");
    plan.path = "/v1/catalog/nodes";
    plan.shape = shape_nodes;
  } else if (f.type == "service") {
    take("stale");
    take("service");
    if (f.service.empty()) return fail("Must specify a single service to watch");
    take("tag");
    take("passingonly");
    plan.path = "/v1/health/service/" + escape_path(f.service, false);
    for (const auto& t : f.tags) add("tag=" + escape_query(t));
    if (!f.passing_only.empty() && *parse_go_bool(f.passing_only)) add("passing=1");
    plan.shape = shape_service;
  } else if (f.type == "checks") {
    take("stale");
    take("service");
    take("state");
    if (!f.service.empty() && !f.state.empty()) return fail("Cannot specify service and state");
    take("tag");
    if (!f.service.empty()) {
      plan.path = "/v1/health/checks/" + escape_path(f.service, false);
    } else {
      plan.path = "/v1/health/state/" + escape_path(f.state.empty() ? "any" : f.state, false);
      for (const auto& t : f.tags) add("tag=" + escape_query(t));
    }
    plan.shape = shape_checks;
  } else if (f.type == "event") {
    take("name");  // stale does not apply to events, so Consul refuses it here
    plan.path = "/v1/event/list";
    if (!f.name.empty()) add("name=" + escape_query(f.name));
    plan.shape = shape_events;
    plan.ordered_index = false;
  } else {
    return fail("Unsupported watch type: " + f.type);
  }
  std::vector<std::string> bad;
  for (const auto& [name, left] : given) {
    if (left) bad.push_back(name);
  }
  if (!bad.empty()) {
    std::string list;
    for (const auto& b : bad) list += (list.empty() ? "" : " ") + b;
    return fail(fmt::format("Invalid parameters: [{}]", list));
  }
  return plan;
}

struct QueryResult {
  std::uint64_t index = 0;
  ojson value;
};

Result<QueryResult> query_once(const AgentClient& client, const WatchPlan& plan,
                               std::uint64_t index, const Latch& stop) {
  std::string query = plan.query;
  if (index > 0) query += fmt::format("{}index={}", query.empty() ? "" : "&", index);
  auto r = client.call("GET", plan.path, query, "", kBlockingTimeoutMs, stop.fd());
  if (!r) return r.error();
  // A key or prefix that does not exist is an answer (null), not an error, as in Consul's api.
  const bool missing_ok = r->status == 404 && plan.path.starts_with("/v1/kv/");
  if (r->status != 200 && !missing_ok) {
    return make_error(ErrorCode::kUnavailable, unexpected_response(*r));
  }
  QueryResult out;
  if (const auto it = r->headers.find("x-consul-index"); it != r->headers.end()) {
    out.index = std::strtoull(it->second.c_str(), nullptr, 10);
  }
  ojson doc = nullptr;
  if (r->status == 200) {
    doc = ojson::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      return make_error(ErrorCode::kInvalidArgument, "malformed JSON in the agent's answer");
    }
  }
  out.value = plan.shape(r->status, doc);
  return out;
}

std::string format_retry(milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{}s", d.count() / 1000)
                               : fmt::format("{}ms", d.count());
}

// Runs the handler (or prints) for one result. Returns false when the watch must stop, with
// exit_code set.
using Handler = std::function<bool(std::uint64_t index, const ojson& value, int& exit_code)>;

int run_plan(const AgentClient& client, const WatchPlan& plan, const Latch& stop,
             const Handler& handler) {
  std::optional<std::uint64_t> last_index;  // nullopt: nothing seen yet, or after an error
  std::optional<ojson> last_result;
  int failures = 0;
  int exit_code = 0;
  while (!stop.fired()) {
    auto result = query_once(client, plan, last_index.value_or(0), stop);
    if (stop.fired()) break;
    if (!result) {
      // Consul's plan forgets the index after an error, so the next query answers at once and
      // the handler runs again with what is there then.
      ++failures;
      last_index.reset();
      const auto retry = std::min(kRetryMax, kRetryBase * (failures * failures));
      fmt::print(stderr, "[ERROR] watch: Watch errored: type={} error=\"{}\" retry={}\n", plan.type,
                 result.error().message, format_retry(retry));
      std::fflush(stderr);
      if (!stop.sleep_for(retry)) break;
      continue;
    }
    failures = 0;
    std::uint64_t index = result->index;
    ojson value = std::move(result->value);
    if (last_index && *last_index == index) continue;  // the wait ended with nothing new
    if (plan.type == "event" && last_index) {
      // Only the events after the one the previous answer ended with.
      if (value.is_array()) {
        for (std::size_t i = 0; i < value.size(); ++i) {
          if (event_index(value[i].value("ID", "")) == *last_index) {
            ojson newer = ojson::array();
            for (std::size_t j = i + 1; j < value.size(); ++j) newer.push_back(value[j]);
            value = std::move(newer);
            break;
          }
        }
      }
    }
    const std::optional<std::uint64_t> old_index = last_index;
    // An index that went backwards means the agent's state was rebuilt (a restarted -dev agent,
    // a restored snapshot): blocking on the old index would hang until the new one caught up, so
    // ask from 0 again. Event indexes have no order and are kept as they are.
    std::uint64_t next = index;
    if (plan.ordered_index && old_index && index < *old_index) next = 0;
    // An agent that sends no index would make every query return at once; block from 1 instead.
    if (plan.ordered_index && next == 0 && !(old_index && index < *old_index)) next = 1;
    last_index = next;
    if (old_index && last_result && *last_result == value) continue;
    last_result = value;
    if (!handler(index, value, exit_code)) return exit_code;
  }
  return exit_code;
}

}  // namespace

int run_watch(Args args) {
  HttpOptions http;
  WatchFlags f;
  FlagSet flags("watch");
  add_http_flags(flags, http);
  flags.add_string("type", &f.type,
                   "Specifies the watch type. One of key, keyprefix, services, nodes, service, "
                   "checks, or event.");
  flags.add_string("key", &f.key, "Specifies the key to watch. Only for 'key' type.");
  flags.add_string("prefix", &f.prefix,
                   "Specifies the key prefix to watch. Only for 'keyprefix' type.");
  flags.add_string("service", &f.service,
                   "Specifies the service to watch. Required for 'service' type, optional for "
                   "'checks' type.");
  flags.add_strings("tag", &f.tags,
                    "Specifies the service tag(s) to filter on. Optional for 'service' and "
                    "'checks' types; may be repeated.");
  flags.add_string("passingonly", &f.passing_only,
                   "Specifies if only hosts passing all checks are displayed. Optional for "
                   "'service' type, must be one of `[true|false]`. Defaults false.");
  flags.add_bool("shell", &f.shell,
                 "Use a shell to run the command (can set a custom shell via the SHELL "
                 "environment variable). Default true.");
  flags.add_string("state", &f.state, "Specifies the states to watch. Optional for 'checks' type.");
  flags.add_string("name", &f.name, "Specifies an event name to watch. Only for 'event' type.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kWatchSynopsis, flags);
  if (f.type.empty()) {
    fmt::print(stderr, "Watch type must be specified\n\nUsage: {}\n\n{}", kWatchSynopsis,
               flags.usage());
    return 1;
  }
  if (!f.passing_only.empty() && !parse_go_bool(f.passing_only)) {
    fmt::print(stderr,
               "Failed to parse passingonly flag: strconv.ParseBool: parsing \"{}\": invalid "
               "syntax\n",
               f.passing_only);
    return 1;
  }
  auto plan = parse_plan(f, http.stale);
  if (!plan) {
    fmt::print(stderr, "{}\n", plan.error().message);
    return 1;
  }
  auto client = connect_to_agent(http);
  if (!client) return 1;

  Latch stop;
  install_shutdown_signals(stop);
  Handler handler;
  if (rest->empty()) {
    handler = [](std::uint64_t, const ojson& value, int&) {
      fmt::print("{}\n", go_json(value, 4));
      std::fflush(stdout);
      return false;  // dump once and exit, as Consul's watch does without a handler
    };
  } else {
    handler = [&](std::uint64_t index, const ojson& value, int& exit_code) {
      ChildSpec spec;
      spec.words = *rest;
      spec.shell = f.shell;
      spec.extra_env = {fmt::format("CONSUL_INDEX={}", index)};
      spec.stdin_data = go_json(value, 0) + "\n";  // json.Encoder: compact, one line
      std::fflush(stdout);
      auto child = Child::start(spec);
      if (!child) {
        fmt::print(stderr, "Error starting handler: {}\n", child.error().message);
        exit_code = 1;
        return false;
      }
      // SIGINT/SIGTERM reach the handler's process group; then give it a moment to finish.
      auto status = child->wait({&stop});
      if (!status) {
        status = child->wait({}, milliseconds(5'000));
        return false;  // shutting down: exit 0, as Consul does
      }
      if (const std::string error = go_exit_error(*status); !error.empty()) {
        if (stop.fired()) return false;
        fmt::print(stderr, "Error executing handler: {}\n", error);
        exit_code = 1;
        return false;
      }
      return true;
    };
  }
  return run_plan(*client, *plan, stop, handler);
}

}  // namespace praetor::cmd
