#include "core/catalog/state.hpp"

#include <fmt/format.h>

#include <tuple>

#include "core/base/assert.hpp"
#include "core/base/limits.hpp"

namespace praetor::catalog {
namespace {

std::optional<std::string> meta_error(const std::map<std::string, std::string>& meta,
                                      std::string_view what) {
  if (meta.size() > limits::kCatalogMaxMetaPairs) {
    return fmt::format("{} cannot contain more than {} key/value pairs", what,
                       limits::kCatalogMaxMetaPairs);
  }
  for (const auto& [key, value] : meta) {
    if (key.empty()) return fmt::format("{}: key cannot be blank", what);
    if (key.size() > limits::kCatalogMaxMetaKeyBytes) {
      return fmt::format("{}: key is too long (limit: {} characters)", what,
                         limits::kCatalogMaxMetaKeyBytes);
    }
    if (value.size() > limits::kCatalogMaxMetaValueBytes) {
      return fmt::format("{}: value is too long (limit: {} characters)", what,
                         limits::kCatalogMaxMetaValueBytes);
    }
  }
  return std::nullopt;
}

std::optional<std::string> too_long(const std::string& text, std::size_t max,
                                    std::string_view what) {
  if (text.size() <= max) return std::nullopt;
  return fmt::format("{} is too long ({} bytes, limit {})", what, text.size(), max);
}

// The registration as stored: defaults filled in (service id from its name, a check's node
// from the registration, its id from its name).
ServiceDef normalized(ServiceDef def) {
  if (def.id.empty()) def.id = def.name;
  return def;
}

CheckDef normalized(CheckDef def, const std::string& node) {
  if (def.node.empty()) def.node = node;
  if (def.check_id.empty()) def.check_id = def.name;
  return def;
}

bool has_all_tags(const ServiceDef& def, const std::vector<std::string>& tags) {
  for (const auto& tag : tags) {
    if (std::find(def.tags.begin(), def.tags.end(), tag) == def.tags.end()) return false;
  }
  return true;
}

void sort_unique(CatalogEffects& effects) {
  std::sort(effects.checks_down.begin(), effects.checks_down.end());
  effects.checks_down.erase(std::unique(effects.checks_down.begin(), effects.checks_down.end()),
                            effects.checks_down.end());
  std::sort(effects.nodes_removed.begin(), effects.nodes_removed.end());
  effects.nodes_removed.erase(
      std::unique(effects.nodes_removed.begin(), effects.nodes_removed.end()),
      effects.nodes_removed.end());
}

}  // namespace

std::string_view health_status_name(HealthStatus status) {
  switch (status) {
    case HealthStatus::kPassing:
      return "passing";
    case HealthStatus::kWarning:
      return "warning";
    case HealthStatus::kCritical:
      return "critical";
  }
  return "critical";
}

std::optional<std::string> register_limits_error(const Register& c) {
  using namespace limits;
  std::optional<std::string> e;
  if ((e = too_long(c.node.name, kCatalogMaxNameBytes, "Node")) ||
      (e = too_long(c.node.id, kCatalogMaxNameBytes, "ID")) ||
      (e = too_long(c.node.address, kCatalogMaxAddressBytes, "Address")) ||
      (e = too_long(c.node.datacenter, kCatalogMaxNameBytes, "Datacenter")) ||
      (e = meta_error(c.node.meta, "Node metadata")) ||
      (e = meta_error(c.node.tagged_addresses, "TaggedAddresses"))) {
    return e;
  }
  if (c.service) {
    const ServiceDef& s = *c.service;
    if ((e = too_long(s.id, kCatalogMaxNameBytes, "Service.ID")) ||
        (e = too_long(s.name, kCatalogMaxNameBytes, "Service.Service")) ||
        (e = too_long(s.address, kCatalogMaxAddressBytes, "Service.Address")) ||
        (e = meta_error(s.meta, "Service metadata"))) {
      return e;
    }
    if (s.tags.size() > kCatalogMaxTags) {
      return fmt::format("Service.Tags: more than {} tags", kCatalogMaxTags);
    }
    for (const auto& tag : s.tags) {
      if ((e = too_long(tag, kCatalogMaxTagBytes, "Service tag"))) return e;
    }
  }
  if (c.checks.size() > kCatalogMaxChecksPerRegister) {
    return fmt::format("Checks: more than {} checks", kCatalogMaxChecksPerRegister);
  }
  for (const auto& k : c.checks) {
    if ((e = too_long(k.node, kCatalogMaxNameBytes, "Check.Node")) ||
        (e = too_long(k.check_id, kCatalogMaxNameBytes, "Check.CheckID")) ||
        (e = too_long(k.name, kCatalogMaxNameBytes, "Check.Name")) ||
        (e = too_long(k.service_id, kCatalogMaxNameBytes, "Check.ServiceID")) ||
        (e = too_long(k.type, kCatalogMaxNameBytes, "Check.Type")) ||
        (e = too_long(k.interval, kCatalogMaxNameBytes, "Check.Interval")) ||
        (e = too_long(k.timeout, kCatalogMaxNameBytes, "Check.Timeout")) ||
        (e = too_long(k.notes, kCatalogMaxCheckTextBytes, "Check.Notes")) ||
        (e = too_long(k.output, kCatalogMaxCheckTextBytes, "Check.Output"))) {
      return e;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Writes. Each validates everything first, so a refusal changes nothing; then it changes only
// records that differ from what is stored, so a repeated registration moves no index.

std::optional<std::string> CatalogState::validate_register(const Register& c) const {
  if (auto e = register_limits_error(c)) return e;
  if (c.node.name.empty()) return "Must provide node";
  const bool exists = nodes_.contains(c.node.name);
  // SkipNodeUpdate lets an agent add a service to a node it knows exists without restating the
  // node; a node that does not exist yet still needs its address.
  if (c.node.address.empty() && !(c.skip_node_update && exists)) {
    return "Must provide address if SkipNodeUpdate is not set";
  }
  std::string registering_service;
  if (c.service) {
    if (c.service->name.empty()) {
      return c.service->id.empty() ? "Must provide service name (Service.Service)"
                                   : "Must provide service name with ID";
    }
    registering_service = normalized(*c.service).id;
  }
  for (const auto& raw : c.checks) {
    const CheckDef check = normalized(raw, c.node.name);
    // Consul would register a check naming another node on that node; one registration
    // describing two nodes is a client mistake, so it is refused (decision D24).
    if (check.node != c.node.name) {
      return fmt::format("Check node \"{}\" does not match registration node \"{}\"", check.node,
                         c.node.name);
    }
    if (check.check_id.empty()) return "Must provide check ID or name";
    if (!check.service_id.empty() && check.service_id != registering_service &&
        !services_.contains(Key{c.node.name, check.service_id})) {
      return "Missing service registration";
    }
  }
  return std::nullopt;
}

CatalogWrite CatalogState::apply_register(std::uint64_t index, const Register& c) {
  PRAETOR_ASSERT_MSG(index > max_index(), "catalog write at {} after {}", index, max_index());
  CatalogWrite out;
  if (auto e = validate_register(c)) {
    out.error = std::move(*e);
    return out;
  }
  if (!(c.skip_node_update && nodes_.contains(c.node.name))) put_node(index, c.node);
  if (c.service) put_service(index, c.node.name, normalized(*c.service));
  // One registration naming a check twice stores the last one, as applying them in turn would,
  // but without a passing-critical-passing flap that would move indexes on every repeat.
  std::map<std::string, CheckDef> checks;
  for (const auto& check : c.checks) {
    CheckDef def = normalized(check, c.node.name);
    std::string id = def.check_id;
    checks.insert_or_assign(std::move(id), std::move(def));
  }
  for (auto& [id, def] : checks) put_check(index, std::move(def), out.effects);
  sort_unique(out.effects);
  return out;
}

CatalogWrite CatalogState::apply_deregister(std::uint64_t index, const Deregister& c) {
  PRAETOR_ASSERT_MSG(index > max_index(), "catalog write at {} after {}", index, max_index());
  CatalogWrite out;
  if (c.node.empty()) {
    out.error = "Must provide node";
    return out;
  }
  // As in Consul: a service id wins over a check id, and deregistering what does not exist is
  // a success that changes nothing.
  if (!c.service_id.empty()) {
    if (services_.contains(Key{c.node, c.service_id})) {
      remove_service(index, Key{c.node, c.service_id}, out.effects);
    }
  } else if (!c.check_id.empty()) {
    if (checks_.contains(Key{c.node, c.check_id})) {
      remove_check(index, Key{c.node, c.check_id}, out.effects);
    }
  } else if (nodes_.contains(c.node)) {
    remove_node(index, c.node, out.effects);
  }
  sort_unique(out.effects);
  return out;
}

void CatalogState::put_node(std::uint64_t index, const NodeDef& def) {
  auto [it, inserted] = nodes_.try_emplace(def.name);
  NodeRecord& record = it->second;
  if (!inserted && record.def == def) return;
  if (inserted) record.create_index = index;
  record.def = def;
  record.modify_index = index;
  nodes_index_ = index;
  // A service's entries show its node's address and meta.
  touch_services_of(index, def.name);
}

void CatalogState::put_service(std::uint64_t index, const std::string& node, ServiceDef def) {
  const Key key{node, def.id};
  auto [it, inserted] = services_.try_emplace(key);
  ServiceRecord& record = it->second;
  if (!inserted && record.def == def) return;
  std::optional<std::string> old_name;
  if (inserted) {
    record.node = node;
    record.create_index = index;
  } else if (record.def.name != def.name) {
    old_name = record.def.name;
  }
  record.def = std::move(def);
  record.modify_index = index;
  services_index_ = index;
  const std::string& name = record.def.name;
  by_name_[name].insert(key);
  touch_name(index, name);
  if (old_name) {
    // Renamed in place: the old name loses an instance, and the service's checks now belong to
    // the new name.
    touch_name(index, *old_name);
    auto& old_set = by_name_[*old_name];
    old_set.erase(key);
    if (old_set.empty()) {
      by_name_.erase(*old_name);
      service_name_indexes_.erase(*old_name);
    }
    for (auto& [check_key, check] : checks_) {
      if (check.def.node == node && check.def.service_id == key.second) {
        check.service_name = name;
        check.modify_index = index;
        checks_index_ = index;
      }
    }
  }
}

void CatalogState::put_check(std::uint64_t index, CheckDef def, CatalogEffects& effects) {
  const Key key{def.node, def.check_id};
  std::string service_name;
  if (!def.service_id.empty()) {
    auto service = services_.find(Key{def.node, def.service_id});
    PRAETOR_ASSERT_MSG(service != services_.end(), "check {} names a missing service {}",
                       def.check_id, def.service_id);
    service_name = service->second.def.name;
  }
  auto [it, inserted] = checks_.try_emplace(key);
  CheckRecord& record = it->second;
  if (!inserted && record.def == def && record.service_name == service_name) return;
  const bool was_critical = !inserted && record.def.status == HealthStatus::kCritical;
  if (!inserted) {
    // The check may have moved between services, or from the node to a service: whoever showed
    // it before must see it go.
    if (record.def.service_id.empty()) {
      touch_services_of(index, record.def.node);
    } else {
      touch_name(index, record.service_name);
    }
  } else {
    record.create_index = index;
  }
  record.def = std::move(def);
  record.service_name = std::move(service_name);
  record.modify_index = index;
  checks_index_ = index;
  if (record.def.service_id.empty()) {
    touch_services_of(index, record.def.node);
  } else {
    touch_name(index, record.service_name);
  }
  if (record.def.status == HealthStatus::kCritical && !was_critical) {
    effects.checks_down.push_back(CheckRef{key.first, key.second});
  }
}

void CatalogState::remove_check(std::uint64_t index, const Key& key, CatalogEffects& effects) {
  auto it = checks_.find(key);
  PRAETOR_ASSERT(it != checks_.end());
  if (it->second.def.service_id.empty()) {
    touch_services_of(index, key.first);
  } else {
    touch_name(index, it->second.service_name);
  }
  checks_.erase(it);
  checks_index_ = index;
  effects.checks_down.push_back(CheckRef{key.first, key.second});
}

void CatalogState::remove_service(std::uint64_t index, const Key& key, CatalogEffects& effects) {
  auto it = services_.find(key);
  PRAETOR_ASSERT(it != services_.end());
  std::vector<Key> doomed;
  for (auto c = checks_.lower_bound(Key{key.first, ""});
       c != checks_.end() && c->first.first == key.first; ++c) {
    if (c->second.def.service_id == key.second) doomed.push_back(c->first);
  }
  for (const Key& check : doomed) remove_check(index, check, effects);
  const std::string name = it->second.def.name;
  touch_name(index, name);
  services_.erase(it);
  services_index_ = index;
  auto& instances = by_name_[name];
  instances.erase(key);
  if (instances.empty()) {
    // The name's own index goes with its last instance; its watchers fall back to the services
    // table's index, which has just moved to `index`, past anything they saw.
    by_name_.erase(name);
    service_name_indexes_.erase(name);
  }
}

void CatalogState::remove_node(std::uint64_t index, const std::string& name,
                               CatalogEffects& effects) {
  std::vector<Key> services;
  for (auto s = services_.lower_bound(Key{name, ""});
       s != services_.end() && s->first.first == name; ++s) {
    services.push_back(s->first);
  }
  for (const Key& key : services) remove_service(index, key, effects);
  std::vector<Key> checks;
  for (auto c = checks_.lower_bound(Key{name, ""}); c != checks_.end() && c->first.first == name;
       ++c) {
    checks.push_back(c->first);
  }
  for (const Key& key : checks) remove_check(index, key, effects);
  nodes_.erase(name);
  nodes_index_ = index;
  effects.nodes_removed.push_back(name);
}

void CatalogState::touch_services_of(std::uint64_t index, const std::string& node) {
  for (auto s = services_.lower_bound(Key{node, ""});
       s != services_.end() && s->first.first == node; ++s) {
    touch_name(index, s->second.def.name);
  }
}

void CatalogState::touch_name(std::uint64_t index, const std::string& name) {
  if (by_name_.contains(name)) service_name_indexes_[name] = index;
}

// ---------------------------------------------------------------------------------------------
// Queries

std::uint64_t CatalogState::service_name_index(const std::string& name) const {
  auto it = service_name_indexes_.find(name);
  return it == service_name_indexes_.end() ? services_index_ : it->second;
}

std::uint64_t CatalogState::max_index() const {
  return std::max({nodes_index_, services_index_, checks_index_});
}

const NodeRecord* CatalogState::node(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

const ServiceRecord* CatalogState::service(const std::string& node,
                                           const std::string& service_id) const {
  auto it = services_.find(Key{node, service_id});
  return it == services_.end() ? nullptr : &it->second;
}

bool CatalogState::node_matches(const std::string& node_name, const MetaFilter& meta) const {
  if (meta.empty()) return true;
  const NodeRecord* n = node(node_name);
  if (n == nullptr) return false;
  for (const auto& [key, value] : meta) {
    auto it = n->def.meta.find(key);
    if (it == n->def.meta.end() || it->second != value) return false;
  }
  return true;
}

Indexed<std::vector<const NodeRecord*>> CatalogState::nodes(const MetaFilter& meta) const {
  Indexed<std::vector<const NodeRecord*>> out;
  out.index = nodes_index_;
  for (const auto& [name, record] : nodes_) {
    if (node_matches(name, meta)) out.value.push_back(&record);
  }
  return out;
}

Indexed<std::map<std::string, std::vector<std::string>>> CatalogState::services(
    const MetaFilter& meta) const {
  Indexed<std::map<std::string, std::vector<std::string>>> out;
  out.index = services_index_;
  for (const auto& [name, keys] : by_name_) {
    std::set<std::string> tags;
    bool any = false;
    for (const Key& key : keys) {
      if (!node_matches(key.first, meta)) continue;
      any = true;
      const auto& def = services_.at(key).def;
      tags.insert(def.tags.begin(), def.tags.end());
    }
    if (any) out.value.emplace(name, std::vector<std::string>(tags.begin(), tags.end()));
  }
  return out;
}

std::vector<const ServiceRecord*> CatalogState::instances_of(const std::string& name,
                                                             const std::vector<std::string>& tags,
                                                             const MetaFilter& meta) const {
  std::vector<const ServiceRecord*> out;
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return out;
  // The set is ordered by (node, service id): the order the API promises.
  for (const Key& key : it->second) {
    const ServiceRecord& s = services_.at(key);
    if (has_all_tags(s.def, tags) && node_matches(key.first, meta)) out.push_back(&s);
  }
  return out;
}

Indexed<std::vector<ServiceInstance>> CatalogState::service_instances(
    const std::string& name, const std::vector<std::string>& tags, const MetaFilter& meta) const {
  Indexed<std::vector<ServiceInstance>> out;
  out.index = service_name_index(name);
  for (const ServiceRecord* s : instances_of(name, tags, meta)) {
    out.value.push_back(ServiceInstance{node(s->node), s});
  }
  return out;
}

Indexed<std::optional<NodeServices>> CatalogState::node_services(const std::string& name) const {
  Indexed<std::optional<NodeServices>> out;
  out.index = node_index();
  const NodeRecord* n = node(name);
  if (n == nullptr) return out;
  NodeServices result{n, {}};
  for (auto s = services_.lower_bound(Key{name, ""});
       s != services_.end() && s->first.first == name; ++s) {
    result.services.push_back(&s->second);
  }
  out.value = std::move(result);
  return out;
}

std::vector<const CheckRecord*> CatalogState::checks_on(const std::string& node_name,
                                                        const std::string& service_id) const {
  std::vector<const CheckRecord*> out;
  for (auto c = checks_.lower_bound(Key{node_name, ""});
       c != checks_.end() && c->first.first == node_name; ++c) {
    if (c->second.def.service_id == service_id) out.push_back(&c->second);
  }
  return out;
}

Indexed<std::vector<const CheckRecord*>> CatalogState::node_checks(const std::string& name) const {
  Indexed<std::vector<const CheckRecord*>> out;
  out.index = checks_index_;
  for (auto c = checks_.lower_bound(Key{name, ""}); c != checks_.end() && c->first.first == name;
       ++c) {
    out.value.push_back(&c->second);
  }
  return out;
}

Indexed<std::vector<const CheckRecord*>> CatalogState::service_checks(
    const std::string& name, const MetaFilter& meta) const {
  Indexed<std::vector<const CheckRecord*>> out;
  out.index = service_name_index(name);
  for (const ServiceRecord* s : instances_of(name, {}, meta)) {
    auto checks = checks_on(s->node, s->def.id);
    out.value.insert(out.value.end(), checks.begin(), checks.end());
  }
  // Instances come by (node, service id) and checks by check id within each: re-sort so that
  // two services on one node interleave by check id.
  std::sort(out.value.begin(), out.value.end(), [](const CheckRecord* a, const CheckRecord* b) {
    return std::tie(a->def.node, a->def.check_id) < std::tie(b->def.node, b->def.check_id);
  });
  return out;
}

Indexed<std::vector<const CheckRecord*>> CatalogState::checks_in_state(
    CheckStateFilter state, const MetaFilter& meta) const {
  Indexed<std::vector<const CheckRecord*>> out;
  out.index = checks_index_;
  for (const auto& [key, check] : checks_) {
    const bool wanted =
        state == CheckStateFilter::kAny ||
        (state == CheckStateFilter::kPassing && check.def.status == HealthStatus::kPassing) ||
        (state == CheckStateFilter::kWarning && check.def.status == HealthStatus::kWarning) ||
        (state == CheckStateFilter::kCritical && check.def.status == HealthStatus::kCritical);
    if (wanted && node_matches(key.first, meta)) out.value.push_back(&check);
  }
  return out;
}

Indexed<std::vector<HealthEntry>> CatalogState::health_service(const std::string& name,
                                                               const std::vector<std::string>& tags,
                                                               const MetaFilter& meta,
                                                               bool passing_only) const {
  Indexed<std::vector<HealthEntry>> out;
  out.index = service_name_index(name);
  for (const ServiceRecord* s : instances_of(name, tags, meta)) {
    HealthEntry entry{node(s->node), s, checks_on(s->node, "")};
    auto own = checks_on(s->node, s->def.id);
    entry.checks.insert(entry.checks.end(), own.begin(), own.end());
    const bool healthy =
        std::all_of(entry.checks.begin(), entry.checks.end(),
                    [](const CheckRecord* c) { return c->def.status == HealthStatus::kPassing; });
    if (passing_only && !healthy) continue;
    out.value.push_back(std::move(entry));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Invariants and restore

std::optional<std::string> CatalogState::invariant_violation() const {
  const auto indexes_ok = [](std::uint64_t create, std::uint64_t modify, std::uint64_t table) {
    return create >= 1 && create <= modify && modify <= table;
  };
  for (const auto& [name, n] : nodes_) {
    if (name != n.def.name || name.empty()) return fmt::format("node \"{}\" is misfiled", name);
    if (!indexes_ok(n.create_index, n.modify_index, nodes_index_)) {
      return fmt::format("node \"{}\" has indexes {}..{} over table {}", name, n.create_index,
                         n.modify_index, nodes_index_);
    }
  }
  std::map<std::string, std::set<Key>> by_name;
  for (const auto& [key, s] : services_) {
    if (key.first != s.node || key.second != s.def.id || s.def.id.empty() || s.def.name.empty()) {
      return fmt::format("service \"{}\" on \"{}\" is misfiled", key.second, key.first);
    }
    if (!indexes_ok(s.create_index, s.modify_index, services_index_)) {
      return fmt::format("service \"{}\" on \"{}\" has bad indexes", key.second, key.first);
    }
    auto n = nodes_.find(s.node);
    if (n == nodes_.end()) {
      return fmt::format("service \"{}\" is on a missing node \"{}\"", key.second, key.first);
    }
    by_name[s.def.name].insert(key);
    // A watcher of this name must have seen every change to what it shows.
    const std::uint64_t name_index = service_name_index(s.def.name);
    if (name_index < s.modify_index || name_index < n->second.modify_index) {
      return fmt::format("service name \"{}\" index {} is behind its records", s.def.name,
                         name_index);
    }
  }
  if (by_name != by_name_) return std::string("the service name index is stale");
  for (const auto& [name, index] : service_name_indexes_) {
    if (!by_name_.contains(name)) return fmt::format("index for absent service \"{}\"", name);
    if (index > max_index()) return fmt::format("service \"{}\" index above the tables", name);
  }
  if (service_name_indexes_.size() != by_name_.size()) {
    return std::string("a service name without an index");
  }
  for (const auto& [key, c] : checks_) {
    if (key.first != c.def.node || key.second != c.def.check_id || key.second.empty()) {
      return fmt::format("check \"{}\" on \"{}\" is misfiled", key.second, key.first);
    }
    if (!indexes_ok(c.create_index, c.modify_index, checks_index_)) {
      return fmt::format("check \"{}\" on \"{}\" has bad indexes", key.second, key.first);
    }
    if (!nodes_.contains(c.def.node)) {
      return fmt::format("check \"{}\" is on a missing node \"{}\"", key.second, key.first);
    }
    if (c.def.service_id.empty()) {
      if (!c.service_name.empty())
        return fmt::format("node check \"{}\" has a service", key.second);
      for (auto s = services_.lower_bound(Key{key.first, ""});
           s != services_.end() && s->first.first == key.first; ++s) {
        if (service_name_index(s->second.def.name) < c.modify_index) {
          return fmt::format("node check \"{}\" is newer than service \"{}\"'s index", key.second,
                             s->second.def.name);
        }
      }
      continue;
    }
    auto s = services_.find(Key{c.def.node, c.def.service_id});
    if (s == services_.end()) {
      return fmt::format("check \"{}\" names a missing service \"{}\"", key.second,
                         c.def.service_id);
    }
    if (c.service_name != s->second.def.name) {
      return fmt::format("check \"{}\" has a stale service name", key.second);
    }
    if (service_name_index(c.service_name) < c.modify_index) {
      return fmt::format("check \"{}\" is newer than its service name's index", key.second);
    }
  }
  return std::nullopt;
}

void CatalogState::check_invariants() const {
  auto violation = invariant_violation();
  PRAETOR_ASSERT_MSG(!violation, "catalog invariant broken: {}", violation.value_or(""));
}

Result<CatalogState> CatalogState::from_tables(Tables tables) {
  CatalogState state;
  state.nodes_index_ = tables.nodes_index;
  state.services_index_ = tables.services_index;
  state.checks_index_ = tables.checks_index;
  state.service_name_indexes_ = std::move(tables.service_name_indexes);
  for (auto& n : tables.nodes) {
    std::string name = n.def.name;
    if (!state.nodes_.emplace(std::move(name), std::move(n)).second) {
      return make_error(ErrorCode::kCorruption, "duplicate node in catalog snapshot");
    }
  }
  for (auto& s : tables.services) {
    Key key{s.node, s.def.id};
    state.by_name_[s.def.name].insert(key);
    if (!state.services_.emplace(std::move(key), std::move(s)).second) {
      return make_error(ErrorCode::kCorruption, "duplicate service in catalog snapshot");
    }
  }
  for (auto& c : tables.checks) {
    Key key{c.def.node, c.def.check_id};
    if (!state.checks_.emplace(std::move(key), std::move(c)).second) {
      return make_error(ErrorCode::kCorruption, "duplicate check in catalog snapshot");
    }
  }
  if (auto violation = state.invariant_violation()) {
    return make_error(ErrorCode::kCorruption, "catalog snapshot: " + *violation);
  }
  return state;
}

}  // namespace praetor::catalog
