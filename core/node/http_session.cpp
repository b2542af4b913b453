// The sessions API (consul-compat §3.6) and the KV lock flags ?acquire / ?release (§3.5).
// Creates and destroys are Raft writes on the leader; the leader picks the session's UUID (from
// the agent's Rng) before it proposes, so every replica stores the same id. Renew only resets the
// leader's TTL timer (session_ttl.cpp). Reads are served like KV reads and block on the sessions
// table's index.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/base/duration.hpp"
#include "core/base/limits.hpp"
#include "core/catalog/session.hpp"
#include "core/node/agent.hpp"
#include "core/node/config_reader.hpp"
#include "core/node/json_text.hpp"

namespace praetor::node {
namespace {

using nlohmann::json;

constexpr std::string_view kDestroyPrefix = "/v1/session/destroy/";
constexpr std::string_view kRenewPrefix = "/v1/session/renew/";
constexpr std::string_view kInfoPrefix = "/v1/session/info/";
constexpr std::string_view kNodePrefix = "/v1/session/node/";

// Consul's LockDelay accepts a number: below this it is seconds (python-consul sends 15), from
// it on nanoseconds.
constexpr double kLockDelaySecondsBelow = 1000;

std::string behavior_name(catalog::SessionBehavior b) {
  return b == catalog::SessionBehavior::kDelete ? "delete" : "release";
}

json null_if_empty(const std::vector<std::string>& list) {
  // An empty list reads back as null from Consul's store, and clients see null.
  return list.empty() ? json(nullptr) : json(list);
}

json session_json(const catalog::SessionEntry& e) {
  const catalog::SessionDef& d = e.def;
  json service_checks = nullptr;
  if (!d.service_checks.empty()) {
    service_checks = json::array();
    for (const auto& check : d.service_checks) {
      service_checks.push_back({{"ID", check}, {"Namespace", ""}});
    }
  }
  return {{"ID", d.id},
          {"Name", d.name},
          {"Node", d.node},
          {"LockDelay", d.lock_delay_ns},
          {"Behavior", behavior_name(d.behavior)},
          {"TTL", d.ttl},
          {"NodeChecks", null_if_empty(d.node_checks)},
          {"ServiceChecks", service_checks},
          // The legacy field: every check the session watches.
          {"Checks", null_if_empty(catalog::session_check_ids(d))},
          {"CreateIndex", e.create_index},
          {"ModifyIndex", e.modify_index}};
}

HttpResponse sessions_json(const std::vector<const catalog::SessionEntry*>& sessions) {
  json arr = json::array();
  for (const auto* e : sessions) arr.push_back(session_json(*e));
  return HttpResponse::json(200, json_text(arr));
}

std::uint64_t sessions_index(const catalog::Fsm& fsm) { return fsm.sessions().index(); }

// A request's string field, bounded; the error names the field.
Result<std::string> bounded_string(const json& v, std::string_view field) {
  if (!v.is_string()) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{} must be a string", field));
  }
  std::string s = v.get<std::string>();
  if (s.size() > limits::kSessionMaxNameBytes) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{} is too long", field));
  }
  return s;
}

Result<std::vector<std::string>> string_list(const json& v, std::string_view field) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array() || v.size() > limits::kSessionMaxChecks) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("{} must be a list of at most {} check ids", field, limits::kSessionMaxChecks));
  }
  for (const json& item : v) {
    auto s = bounded_string(item, field);
    if (!s) return s.error();
    out.push_back(std::move(*s));
  }
  return out;
}

Result<std::int64_t> lock_delay(const json& v) {
  if (v.is_number()) {
    const double n = v.get<double>();
    if (!(n >= 0 && n < 9.2e18)) {
      return make_error(ErrorCode::kInvalidArgument, "LockDelay out of range");
    }
    return n < kLockDelaySecondsBelow ? static_cast<std::int64_t>(n * 1e9)
                                      : static_cast<std::int64_t>(n);
  }
  if (v.is_string()) {
    auto d = parse_go_duration(v.get<std::string>());
    if (!d) return d.error();
    return d->count_ns();
  }
  return make_error(ErrorCode::kInvalidArgument, "LockDelay must be a duration or a number");
}

// The body of PUT /v1/session/create, with Consul's defaults. Field names match whatever their
// case and underscores (python-consul sends "lockdelay", node-consul "LockDelay"). A behavior
// that is neither "release" nor "delete" is Consul's 500, not a decode error: `bad_behavior`.
Result<catalog::SessionDef> parse_session_body(const std::string& body, std::string node_name,
                                               std::optional<std::string>& bad_behavior) {
  catalog::SessionDef d;
  d.node = std::move(node_name);
  d.node_checks = {"serfHealth"};
  if (body.empty()) return d;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !(j.is_object() || j.is_null())) {
    return make_error(ErrorCode::kInvalidArgument, "body is not a JSON object");
  }
  if (j.is_null()) return d;
  for (const auto& item : j.items()) {
    // Named, not structured bindings: clang 14 cannot capture those in the lambda below.
    const std::string raw_key = item.key();
    const json& v = item.value();
    const std::string key = config_detail::normalize_key(raw_key);
    Result<void> field = ok();
    auto take_string = [&](std::string& into) {
      auto s = bounded_string(v, raw_key);
      if (s) into = std::move(*s);
      return s ? ok() : Result<void>(s.error());
    };
    if (key == "name") {
      field = take_string(d.name);
    } else if (key == "node") {
      if (!v.is_null()) field = take_string(d.node);
    } else if (key == "checks" || key == "nodechecks") {
      // An explicit [] binds the session to no check at all (Patroni sends it).
      auto list = string_list(v, raw_key);
      if (list) d.node_checks = std::move(*list);
      field = list ? ok() : Result<void>(list.error());
    } else if (key == "servicechecks") {
      d.service_checks.clear();
      if (!v.is_null() && !v.is_array()) {
        field = make_error(ErrorCode::kInvalidArgument, "ServiceChecks must be a list");
      } else if (v.is_array()) {
        for (const json& entry : v) {
          const json* check_id = nullptr;
          if (entry.is_object()) {
            for (const auto& [k, value] : entry.items()) {
              if (config_detail::normalize_key(k) == "id") check_id = &value;
            }
          }
          if (check_id == nullptr) {
            field = make_error(ErrorCode::kInvalidArgument, "ServiceChecks entries need an ID");
            break;
          }
          auto s = bounded_string(*check_id, "ServiceChecks ID");
          if (!s) {
            field = s.error();
            break;
          }
          d.service_checks.push_back(std::move(*s));
        }
        if (d.service_checks.size() > limits::kSessionMaxChecks) {
          field = make_error(ErrorCode::kInvalidArgument, "too many ServiceChecks");
        }
      }
    } else if (key == "lockdelay") {
      auto delay = lock_delay(v);
      if (delay) d.lock_delay_ns = *delay;
      field = delay ? ok() : Result<void>(delay.error());
    } else if (key == "behavior") {
      std::string b;
      field = take_string(b);
      if (field && b == "delete") {
        d.behavior = catalog::SessionBehavior::kDelete;
      } else if (field && !b.empty() && b != "release") {
        bad_behavior = b;
      }
    } else if (key == "ttl") {
      field = take_string(d.ttl);
    }
    // Other fields (ID, Namespace, ...) are ignored, as Consul ignores a client's ID.
    if (!field) return field.error();
  }
  return d;
}

std::string path_rest(const HttpRequest& request, std::string_view prefix) {
  return request.path.size() > prefix.size() ? request.path.substr(prefix.size()) : "";
}

}  // namespace

void Agent::session_create(RequestId id, HttpRequest& request) {
  std::optional<std::string> bad_behavior;
  // A session's Node defaults to the agent the client asked, as in Consul (its HTTP handler
  // fills in its own NodeName before the RPC): a session created through client c1 watches c1's
  // serfHealth, not the leader's (session_sim_test GossipInvalidation).
  const std::string& this_agent =
      request.origin_node.empty() ? config_.node_name : request.origin_node;
  auto def = parse_session_body(request.body, this_agent, bad_behavior);
  if (!def) {
    respond(id, HttpResponse::text(400, "Request decode failed: " + def.error().message));
    return;
  }
  if (bad_behavior) {
    respond(id,
            HttpResponse::text(500, fmt::format("Invalid Behavior setting '{}'", *bad_behavior)));
    return;
  }
  // The leader picks the id, unused in the table it has applied; the apply refuses a clash with
  // a session created meanwhile (the odds of which are those of a UUID collision).
  do {
    def->id = make_uuid(rng_);
  } while (fsm_.sessions().get(def->id) != nullptr);
  if (auto valid = catalog::validate_session_request(*def, config_.session_ttl_min); !valid) {
    respond(id, HttpResponse::text(500, valid.error().message));
    return;
  }
  const std::string session_id = def->id;
  commit(id, catalog::SessionCreate{std::move(*def)},
         [session_id](const catalog::ApplyResult& result) {
           if (!result.error.empty()) return HttpResponse::text(500, result.error);
           return HttpResponse::json(200, json_text(json{{"ID", session_id}}));
         });
}

void Agent::session_destroy(RequestId id, HttpRequest& request) {
  const std::string session = path_rest(request, kDestroyPrefix);
  if (session.empty()) {
    respond(id, HttpResponse::text(400, "Missing session"));
    return;
  }
  // No session has an id this long (they are UUIDs), and destroying a missing session is not an
  // error; the answer needs no log entry (and the id would not fit one).
  if (session.size() > limits::kSessionMaxIdBytes) {
    respond(id, HttpResponse::json(200, "true"));
    return;
  }
  session_timers_.remove(session);
  commit(id, catalog::SessionDestroy{session});
}

void Agent::session_renew(RequestId id, HttpRequest& request) {
  const std::string session = path_rest(request, kRenewPrefix);
  if (session.empty()) {
    respond(id, HttpResponse::text(400, "Missing session"));
    return;
  }
  const catalog::SessionEntry* e = fsm_.sessions().get(session);
  if (e == nullptr) {
    // python-consul raises NotFound on this 404 and Patroni then creates a new session.
    respond(id, HttpResponse::text(404, fmt::format("Session id '{}' not found", session)));
    return;
  }
  if (auto ttl = catalog::session_ttl(e->def); ttl && *ttl > Duration::zero()) {
    session_timers_.reset(session, *ttl, env_->clock.now());
    arm_timer();
  }
  HttpResponse response = sessions_json({e});
  decorate(response, fsm_.sessions().index());
  respond(id, std::move(response));
}

void Agent::session_info(RequestId id, HttpRequest& request) {
  const std::string session = path_rest(request, kInfoPrefix);
  serve_read(id, request, sessions_index, [this, &session] {
    std::vector<const catalog::SessionEntry*> found;
    if (const auto* e = fsm_.sessions().get(session)) found.push_back(e);
    return sessions_json(found);
  });
}

void Agent::session_node(RequestId id, HttpRequest& request) {
  const std::string node = path_rest(request, kNodePrefix);
  serve_read(id, request, sessions_index,
             [this, &node] { return sessions_json(fsm_.sessions().on_node(node)); });
}

void Agent::session_list(RequestId id, HttpRequest& request) {
  serve_read(id, request, sessions_index, [this] {
    std::vector<const catalog::SessionEntry*> all;
    for (const auto& [sid, e] : fsm_.sessions().all()) all.push_back(&e);
    return sessions_json(all);
  });
}

// PUT /v1/kv/<key>?acquire=<session> or ?release=<session> (the body is the value).
void Agent::handle_kv_lock(RequestId id, const HttpRequest& request, const std::string& key,
                           bool acquire, std::uint64_t flags) {
  const std::string session = request.query_value(acquire ? "acquire" : "release").value_or("");
  if (session.empty()) {
    respond(id, HttpResponse::text(400, "Missing session"));
    return;
  }
  // No session has an id this long, and it would not fit a log entry: answer as the apply would.
  if (session.size() > limits::kSessionMaxIdBytes) {
    respond(id, acquire ? HttpResponse::text(500, fmt::format("invalid session \"{}\"", session))
                        : HttpResponse::json(200, "false"));
    return;
  }
  if (!acquire) {
    commit(id, catalog::KvUnlock{key, to_bytes(request.body), flags, session});
    return;
  }
  // Lock-delay is this server's own wall-clock state, so it is checked here, before proposing,
  // and not at apply (decision D29). A delayed key answers false, as in Consul.
  if (fsm_.lock_delay_until(key) > env_->clock.now()) {
    env_->logger.warn("kvs", "rejecting lock of {} due to lock-delay until {}", key,
                      fsm_.lock_delay_until(key));
    respond(id, HttpResponse::json(200, "false"));
    return;
  }
  commit(id, catalog::KvLock{key, to_bytes(request.body), flags, session});
}

}  // namespace praetor::node
