// User events (`consul event`, /v1/event/fire and /v1/event/list): fired into the LAN gossip pool
// as Serf user events, kept by every agent that they are meant for in a ring of the most recent
// ones. They are not in the catalog or the Raft log: an event is a broadcast, seen by whoever is
// in the pool when it spreads, as in Consul.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "core/base/bytes.hpp"
#include "core/node/agent.hpp"
#include "core/node/json_text.hpp"

namespace praetor::node {
namespace {

using nlohmann::json;

constexpr std::string_view kFirePrefix = "/v1/event/fire/";
// Filters are regular expressions; bounded so that compiling one is cheap.
constexpr std::size_t kMaxFilterBytes = 256;

// Consul's index for an event: the two halves of its UUID folded together. It identifies the
// latest event but is not ordered, so blocking on /v1/event/list waits for a different value.
std::uint64_t event_index(std::string_view uuid) {
  std::uint64_t halves[2] = {0, 0};
  int nibble = 0;
  for (char c : uuid) {
    if (c == '-') continue;
    const int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                  : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                              : -1;
    if (v < 0 || nibble >= 32) return 0;
    halves[nibble / 16] = (halves[nibble / 16] << 4) | static_cast<std::uint64_t>(v);
    ++nibble;
  }
  return nibble == 32 ? halves[0] ^ halves[1] : 0;
}

// Go's regexp finds a match anywhere in the string; so does regex_search. The polynomial
// (Thompson) executor keeps a hostile pattern from backtracking for ever; patterns it cannot run
// (back-references) are refused, which Go's RE2 syntax does not have either.
std::optional<std::regex> compile_filter(const std::string& pattern, std::string& error) {
  if (pattern.size() > kMaxFilterBytes) {
    error = fmt::format("filter longer than {} bytes", kMaxFilterBytes);
    return std::nullopt;
  }
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex_constants::__polynomial);
  } catch (const std::regex_error& e) {
    error = e.what();
    return std::nullopt;
  }
}

bool filter_matches(const std::string& pattern, const std::string& subject) {
  if (pattern.empty()) return true;
  std::string error;
  auto re = compile_filter(pattern, error);
  return re && std::regex_search(subject, *re);
}

json event_json(const Agent::UserEventRecord& e) {
  return json{{"ID", e.id},
              {"Name", e.name},
              {"Payload", e.payload.empty() ? json(nullptr) : json(base64_encode(e.payload))},
              {"NodeFilter", e.node_filter},
              {"ServiceFilter", e.service_filter},
              {"TagFilter", e.tag_filter},
              {"Version", 1},
              {"LTime", e.ltime}};
}

}  // namespace

void Agent::event_fire(RequestId id, HttpRequest& request) {
  UserEventRecord e;
  e.name = request.path.substr(kFirePrefix.size());
  if (e.name.empty()) {
    respond(id, HttpResponse::text(400, "Missing name"));
    return;
  }
  e.node_filter = request.query_value("node").value_or("");
  e.service_filter = request.query_value("service").value_or("");
  e.tag_filter = request.query_value("tag").value_or("");
  if (!e.tag_filter.empty() && e.service_filter.empty()) {
    respond(id, HttpResponse::text(400, "Cannot provide tag filter without service filter"));
    return;
  }
  for (const auto* filter : {&e.node_filter, &e.service_filter, &e.tag_filter}) {
    std::string error;
    if (!filter->empty() && !compile_filter(*filter, error)) {
      respond(id, HttpResponse::text(400, fmt::format("Invalid filter \"{}\": {}", *filter, error)));
      return;
    }
  }
  e.id = make_uuid(rng_);
  e.payload = to_bytes(request.body);
  json wire = event_json(e);
  wire.erase("LTime");  // Serf's Lamport clock orders the broadcast itself
  if (!lan_.serf) {
    respond(id, HttpResponse::text(500, "No gossip pool to fire the event into"));
    return;
  }
  auto fired = lan_.serf->user_event(env_->clock.now(), e.name, to_bytes(json_text(wire)));
  if (!fired) {
    respond(id, HttpResponse::text(fired.error().code == ErrorCode::kTooLarge ? 413 : 400,
                                   fmt::format("UserEvent \"{}\" refused: {}", e.name,
                                               fired.error().message)));
    return;
  }
  // The local delivery happened inside user_event(); the broadcast leaves with this drive.
  drive_gossip(lan_, env_->clock.now());
  respond(id, HttpResponse::json(200, json_text(event_json(e))));
}

void Agent::on_user_event(const gossip::UserEvent& event) {
  const json doc = json::parse(to_string(event.payload), nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("ID") || !doc["ID"].is_string()) {
    env_->logger.debug("agent", "dropping user event {}: not a praetor event", event.name);
    return;
  }
  UserEventRecord e;
  e.name = event.name;
  e.ltime = event.ltime.value();
  e.id = doc["ID"].get<std::string>();
  auto text = [&doc](const char* key) {
    auto it = doc.find(key);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  e.node_filter = text("NodeFilter");
  e.service_filter = text("ServiceFilter");
  e.tag_filter = text("TagFilter");
  if (const std::string payload = text("Payload"); !payload.empty()) {
    if (!base64_decode(payload, e.payload)) return;
  }
  e.index = event_index(e.id);
  if (!filter_matches(e.node_filter, config_.node_name)) return;
  // A service filter asks for agents that run a matching service. This agent keeps no local
  // services yet (issue 12), so such an event is for other agents.
  if (!e.service_filter.empty()) return;
  env_->logger.debug("agent", "User event: {}", e.name);
  events_.push_back(std::move(e));
  while (events_.size() > kMaxUserEvents) events_.pop_front();
  wake_parked(env_->clock.now(), false);
}

void Agent::event_list(RequestId id, HttpRequest& request) {
  const std::string name = request.query_value("name").value_or("");
  auto matching = [this, name] {
    std::vector<const UserEventRecord*> out;
    for (const auto& e : events_) {
      if (name.empty() || e.name == name) out.push_back(&e);
    }
    return out;
  };
  serve_read(
      id, request,
      [matching](const catalog::Fsm&) {
        // An empty list reports index 1 (X-Consul-Index is never 0), and compares as 1 too, so
        // that a watcher that sends the index back waits instead of spinning.
        auto list = matching();
        return list.empty() ? std::uint64_t{1} : list.back()->index;
      },
      [matching] {
        json arr = json::array();
        for (const auto* e : matching()) arr.push_back(event_json(*e));
        return HttpResponse::json(200, json_text(arr));
      },
      IndexOrder::kOpaque);
}

}  // namespace praetor::node
