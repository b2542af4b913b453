#include "core/catalog/session.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/base/assert.hpp"
#include "core/base/duration.hpp"

namespace praetor::catalog {
namespace {

std::string_view status_name(HealthStatus status) {
  switch (status) {
    case HealthStatus::kPassing:
      return "passing";
    case HealthStatus::kWarning:
      return "warning";
    case HealthStatus::kCritical:
      return "critical";
  }
  return "unknown";
}

}  // namespace

Result<Duration> session_ttl(const SessionDef& def) {
  if (def.ttl.empty()) return Duration::zero();
  auto ttl = parse_go_duration(def.ttl);
  if (!ttl) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Session TTL '{}' invalid: {}", def.ttl, ttl.error().message));
  }
  return *ttl;
}

Result<void> validate_session_request(const SessionDef& def, Duration ttl_min) {
  if (def.id.empty()) return make_error(ErrorCode::kInvalidArgument, "Must provide ID");
  if (def.node.empty()) return make_error(ErrorCode::kInvalidArgument, "Must provide Node");
  auto ttl = session_ttl(def);
  if (!ttl) return ttl.error();
  // Patroni matches the start of this text ("Invalid Session TTL") and adjusts its TTL.
  if (*ttl != Duration::zero() && (*ttl < ttl_min || *ttl > kSessionTtlMax)) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("Invalid Session TTL '{}', must be between [{}={}]", ttl->count_ns(),
                    format_go_duration(ttl_min), format_go_duration(kSessionTtlMax)));
  }
  return ok();
}

std::vector<std::string> session_check_ids(const SessionDef& def) {
  std::vector<std::string> ids = def.node_checks;
  ids.insert(ids.end(), def.service_checks.begin(), def.service_checks.end());
  return ids;
}

const SessionEntry* SessionTable::get(const std::string& id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

std::vector<const SessionEntry*> SessionTable::on_node(const std::string& node) const {
  std::vector<const SessionEntry*> out;
  for (const std::string& id : of_node(node)) out.push_back(get(id));
  return out;
}

Result<void> SessionTable::create(std::uint64_t index, const SessionDef& def,
                                  const CatalogFacts& facts) {
  PRAETOR_ASSERT_MSG(index >= index_, "session index went backwards: {} < {}", index, index_);
  // The leader picks unused ids, but an entry is checked against the state it applies to.
  if (def.id.empty()) return make_error(ErrorCode::kInvalidArgument, "Must provide ID");
  if (sessions_.contains(def.id)) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("Session ID '{}' already exists", def.id));
  }
  if (!facts.node_exists(def.node)) {
    return make_error(ErrorCode::kNotFound, "Missing node registration");
  }
  for (const std::string& check : session_check_ids(def)) {
    auto status = facts.check_status(def.node, check);
    if (!status) {
      return make_error(ErrorCode::kNotFound,
                        fmt::format("Missing check '{}' registration", check));
    }
    // A session bound to a failing check would be invalidated at once: refuse it instead.
    if (*status == HealthStatus::kCritical) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("Check '{}' is in {} state", check, status_name(*status)));
    }
  }
  sessions_.emplace(def.id, SessionEntry{def, index, index});
  auto& ids = by_node_[def.node];
  ids.insert(std::upper_bound(ids.begin(), ids.end(), def.id), def.id);
  index_ = index;
  return ok();
}

std::optional<SessionEntry> SessionTable::remove(std::uint64_t index, const std::string& id) {
  PRAETOR_ASSERT_MSG(index >= index_, "session index went backwards: {} < {}", index, index_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  SessionEntry entry = std::move(it->second);
  sessions_.erase(it);
  auto node = by_node_.find(entry.def.node);
  PRAETOR_ASSERT(node != by_node_.end());
  std::erase(node->second, id);
  if (node->second.empty()) by_node_.erase(node);
  index_ = index;
  return entry;
}

std::vector<std::string> SessionTable::using_check(const std::string& node,
                                                   const std::string& check_id) const {
  std::vector<std::string> out;
  for (const std::string& id : of_node(node)) {
    const auto checks = session_check_ids(get(id)->def);
    if (std::find(checks.begin(), checks.end(), check_id) != checks.end()) out.push_back(id);
  }
  return out;
}

std::vector<std::string> SessionTable::of_node(const std::string& node) const {
  auto it = by_node_.find(node);
  return it == by_node_.end() ? std::vector<std::string>{} : it->second;
}

Result<SessionTable> SessionTable::from_entries(std::vector<SessionEntry> entries,
                                                std::uint64_t index) {
  SessionTable table;
  table.index_ = index;
  for (auto& e : entries) {
    if (e.def.id.empty() || e.create_index > e.modify_index || e.modify_index > index) {
      return make_error(
          ErrorCode::kCorruption,
          fmt::format("session \"{}\" has an empty id or inconsistent indexes", e.def.id));
    }
    const std::string id = e.def.id;
    const std::string node = e.def.node;
    if (!table.sessions_.emplace(id, std::move(e)).second) {
      return make_error(ErrorCode::kCorruption, "duplicate session id in snapshot");
    }
    auto& ids = table.by_node_[node];
    ids.insert(std::upper_bound(ids.begin(), ids.end(), id), id);
  }
  return table;
}

void SessionTable::check_invariants() const {
  std::size_t indexed = 0;
  for (const auto& [node, ids] : by_node_) {
    PRAETOR_ASSERT(!ids.empty());
    PRAETOR_ASSERT(std::is_sorted(ids.begin(), ids.end()));
    for (const std::string& id : ids) {
      const SessionEntry* e = get(id);
      PRAETOR_ASSERT_MSG(e != nullptr && e->def.node == node, "session {} misindexed", id);
    }
    indexed += ids.size();
  }
  PRAETOR_ASSERT(indexed == sessions_.size());
  for (const auto& [id, e] : sessions_) {
    PRAETOR_ASSERT(id == e.def.id);
    PRAETOR_ASSERT(e.create_index <= e.modify_index);
    PRAETOR_ASSERT(e.modify_index <= index_);
  }
}

}  // namespace praetor::catalog
