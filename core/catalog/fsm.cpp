#include "core/catalog/fsm.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/base/assert.hpp"

namespace praetor::catalog {
namespace {

// Sessions, locks and transactions are applied by apply_session_command, kept apart from the KV
// and catalog cases so that merges touch separate blocks.
bool is_session_command(const Command& c) {
  return std::holds_alternative<SessionCreate>(c) || std::holds_alternative<SessionDestroy>(c) ||
         std::holds_alternative<KvLock>(c) || std::holds_alternative<KvUnlock>(c) ||
         std::holds_alternative<Txn>(c);
}

}  // namespace

ApplyResult Fsm::apply(LogIndex index, ByteView payload, Instant now) {
  auto command = decode_command(payload);
  PRAETOR_ASSERT_MSG(command.has_value(), "committed entry {} cannot be decoded: {}", index,
                     command ? "" : command.error().message);
  return apply_command(index, *command, now);
}

ApplyResult Fsm::apply_command(LogIndex index, const Command& command, Instant now) {
  PRAETOR_ASSERT_MSG(index > applied_, "entry {} applied after {}", index, applied_);
  applied_ = index;
  const std::uint64_t i = index.value();
  if (is_session_command(command)) return apply_session_command(i, command, now);
  if (const auto* c = std::get_if<Register>(&command)) {
    return apply_catalog_write(i, catalog_.apply_register(i, *c), now);
  }
  if (const auto* c = std::get_if<Deregister>(&command)) {
    return apply_catalog_write(i, catalog_.apply_deregister(i, *c), now);
  }
  if (const auto* c = std::get_if<Restore>(&command)) return apply_restore(i, *c, now);
  struct Visitor {
    KvStore& kv;
    CatalogState& catalog;
    std::uint64_t i;
    ApplyResult operator()(const Noop&) { return {}; }
    ApplyResult operator()(const KvSet& c) {
      kv.set(i, c.key, c.value, c.flags);
      return {};
    }
    ApplyResult operator()(const KvCas& c) {
      return {kv.cas(i, c.key, c.value, c.flags, c.index), {}};
    }
    ApplyResult operator()(const KvDelete& c) {
      kv.remove(i, c.key);
      return {};
    }
    ApplyResult operator()(const KvDeleteCas& c) { return {kv.remove_cas(i, c.key, c.index), {}}; }
    ApplyResult operator()(const KvDeleteTree& c) {
      kv.remove_tree(i, c.prefix);
      return {};
    }
    // The catalog and the session commands never get here (apply_catalog_write,
    // apply_session_command): they need the Fsm, not one table.
    ApplyResult operator()(const Register&) { return unreachable(); }
    ApplyResult operator()(const Deregister&) { return unreachable(); }
    // Sessions, locks and transactions never get here (apply_session_command).
    ApplyResult operator()(const SessionCreate&) { return unreachable(); }
    ApplyResult operator()(const SessionDestroy&) { return unreachable(); }
    ApplyResult operator()(const KvLock&) { return unreachable(); }
    ApplyResult operator()(const KvUnlock&) { return unreachable(); }
    ApplyResult operator()(const Txn&) { return unreachable(); }
    ApplyResult operator()(const Restore&) { return unreachable(); }
    static ApplyResult unreachable() {
      PRAETOR_ASSERT_MSG(false, "a catalog or session command reached the KV visitor");
      return {};
    }
  };
  return std::visit(Visitor{kv_, catalog_, i}, command);
}

void Fsm::check_invariants() const {
  kv_.check_invariants();
  PRAETOR_ASSERT(kv_.index() <= applied_.value());
  catalog_.check_invariants();
  PRAETOR_ASSERT(catalog_.max_index() <= applied_.value());
  sessions_.check_invariants();
  PRAETOR_ASSERT(sessions_.index() <= applied_.value());
  // A lock is only ever held by a live session: destroying one frees or deletes its keys.
  for (const auto& [key, e] : kv_.entries()) {
    if (!e.session.empty()) {
      PRAETOR_ASSERT_MSG(sessions_.get(e.session) != nullptr, "key {} held by dead session {}", key,
                         e.session);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sessions, locks, transactions

// Sessions see the catalog through CatalogFacts: a session's node must exist and each of its
// checks must exist and not be critical, as the catalog holds them at this entry.
class Fsm::Facts final : public CatalogFacts {
 public:
  explicit Facts(const Fsm& fsm) : fsm_(fsm) {}
  bool node_exists(const std::string& node) const override {
    return fsm_.catalog_.node(node) != nullptr;
  }
  std::optional<HealthStatus> check_status(const std::string& node,
                                           const std::string& check_id) const override {
    for (const CheckRecord* c : fsm_.catalog_.node_checks(node).value) {
      if (c->def.check_id == check_id) return c->def.status;
    }
    return std::nullopt;
  }

 private:
  const Fsm& fsm_;
};

// A catalog write's refusal answers the client; its effects invalidate the sessions that
// depended on what changed, in the same apply (Consul does it in the same transaction): a check
// that went critical or was removed, a node that was removed.
ApplyResult Fsm::apply_catalog_write(std::uint64_t index, const CatalogWrite& write, Instant now) {
  if (!write.error.empty()) return {false, write.error, {}};
  for (const CheckRef& check : write.effects.checks_down) {
    invalidate_sessions_for_check(index, check.node, check.check_id, now);
  }
  for (const std::string& node : write.effects.nodes_removed) {
    invalidate_sessions_for_node(index, node, now);
  }
  return {};
}

Instant Fsm::lock_delay_until(const std::string& key) const {
  auto it = lock_delays_.find(key);
  return it == lock_delays_.end() ? Instant::zero() : it->second;
}

bool Fsm::destroy_session(std::uint64_t index, const std::string& id, Instant now) {
  auto session = sessions_.remove(index, id);
  if (!session) return false;
  // Forget delays that have run out, so the side map holds only keys still delayed.
  std::erase_if(lock_delays_, [now](const auto& kv) { return kv.second <= now; });
  const Duration delay =
      std::min(Duration::nanoseconds(session->def.lock_delay_ns), kSessionLockDelayMax);
  for (const std::string& key : kv_.held_by(id)) {
    if (session->def.behavior == SessionBehavior::kDelete) {
      kv_.remove(index, key);
    } else {
      kv_.clear_session(index, key);
    }
    if (delay > Duration::zero()) lock_delays_[key] = now + delay;
  }
  return true;
}

std::vector<std::string> Fsm::invalidate_sessions_for_check(std::uint64_t index,
                                                            const std::string& node,
                                                            const std::string& check_id,
                                                            Instant now) {
  auto ids = sessions_.using_check(node, check_id);
  for (const auto& id : ids) destroy_session(index, id, now);
  return ids;
}

std::vector<std::string> Fsm::invalidate_sessions_for_node(std::uint64_t index,
                                                           const std::string& node, Instant now) {
  auto ids = sessions_.of_node(node);
  for (const auto& id : ids) destroy_session(index, id, now);
  return ids;
}

ApplyResult Fsm::apply_session_command(std::uint64_t i, const Command& command, Instant now) {
  if (const auto* c = std::get_if<SessionCreate>(&command)) {
    auto created = sessions_.create(i, c->session, Facts(*this));
    if (!created) return {false, created.error().message, {}};
    return {};
  }
  if (const auto* c = std::get_if<SessionDestroy>(&command)) {
    // Destroying a session that is already gone is not an error (Consul answers true).
    destroy_session(i, c->id, now);
    return {};
  }
  if (const auto* c = std::get_if<KvLock>(&command)) {
    // Patroni matches this text to recreate its session.
    if (c->session.empty() || sessions_.get(c->session) == nullptr) {
      return {false, fmt::format("invalid session \"{}\"", c->session), {}};
    }
    return {kv_.lock(i, c->key, c->value, c->flags, c->session), {}, {}};
  }
  if (const auto* c = std::get_if<KvUnlock>(&command)) {
    return {kv_.unlock(i, c->key, c->value, c->flags, c->session), {}, {}};
  }
  const Txn& txn = std::get<Txn>(command);
  TxnResult result = apply_txn(i, kv_, sessions_, txn);
  const bool success = result.errors.empty();
  return {success, {}, std::move(result)};
}

}  // namespace praetor::catalog

// ---------------------------------------------------------------------------------------------
// PUT /v1/snapshot (decision D41)

namespace praetor::catalog {
namespace {

template <typename Record>
void rebase_record(Record& r, std::uint64_t index) {
  // The restore wrote every record at `index`: a CAS against an index read before it fails, as
  // it should, since the value may not be the one that was read.
  r.modify_index = index;
  r.create_index = std::min(r.create_index, index);
}

}  // namespace

// Every index a watcher can see moves to `index`, which is above any index this cluster has
// handed out, so no watcher sees its index go back and every parked read wakes: the KV, catalog
// and sessions table indexes, the per-service-name indexes and each record's ModifyIndex (a
// single key's read watches it). CreateIndex is kept, capped at `index` (an image from a longer
// log may carry larger ones); LockIndex counts acquisitions and is kept.
Result<Fsm::Image> Fsm::rebase_image(Image image, std::uint64_t index) {
  PRAETOR_ASSERT(index > 0);
  std::vector<KvEntry> entries;
  entries.reserve(image.kv.entries().size());
  for (const auto& [key, e] : image.kv.entries()) rebase_record(entries.emplace_back(e), index);
  auto kv = KvStore::from_entries(std::move(entries), index);
  if (!kv) return kv.error();

  CatalogState::Tables t;
  for (const auto& [name, n] : image.catalog.node_table()) {
    rebase_record(t.nodes.emplace_back(n), index);
  }
  for (const auto& [key, s] : image.catalog.service_table()) {
    rebase_record(t.services.emplace_back(s), index);
  }
  for (const auto& [key, c] : image.catalog.check_table()) {
    rebase_record(t.checks.emplace_back(c), index);
  }
  for (const auto& [name, i] : image.catalog.service_name_indexes()) {
    t.service_name_indexes.emplace(name, index);
  }
  t.nodes_index = t.services_index = t.checks_index = index;
  auto catalog = CatalogState::from_tables(std::move(t));
  if (!catalog) return catalog.error();

  std::vector<SessionEntry> sessions;
  for (const auto& [id, e] : image.sessions.all()) rebase_record(sessions.emplace_back(e), index);
  auto table = SessionTable::from_entries(std::move(sessions), index);
  if (!table) return table.error();
  return Image{std::move(kv.value()), std::move(catalog.value()), std::move(table.value()), index};
}

Result<void> Fsm::check_restore_image(ByteView state) {
  auto image = decode_image(state);
  if (!image) return image.error();
  // Whether an image rebases does not depend on the index (any index >= 1 gives the same
  // verdict), so the leader's check at 1 is the apply's at N.
  auto rebased = rebase_image(std::move(*image), 1);
  if (!rebased) return rebased.error();
  return ok();
}

ApplyResult Fsm::apply_restore(std::uint64_t index, const Restore& command, Instant now) {
  // The leader checked the image before proposing it; decoding is deterministic, so a refusal
  // here is the same on every replica and changes nothing, like any refused command.
  auto image = decode_image(command.state);
  if (!image) return {false, "snapshot restore refused: " + image.error().message, {}};
  auto rebased = rebase_image(std::move(*image), index);
  if (!rebased) return {false, "snapshot restore refused: " + rebased.error().message, {}};
  // A lock the restore takes from a session is treated as the session's destruction would be:
  // the key gets that session's lock-delay (dated by this server, not replicated: D29), so the
  // former holder, which may still believe it holds the lock, has time to notice before another
  // session takes it. Delays already running stay.
  std::erase_if(lock_delays_, [now](const auto& kv) { return kv.second <= now; });
  for (const auto& [key, e] : kv_.entries()) {
    if (e.session.empty()) continue;
    const KvEntry* after = rebased->kv.get(key);
    if (after != nullptr && after->session == e.session) continue;
    const SessionEntry* holder = sessions_.get(e.session);
    if (holder == nullptr) continue;
    const Duration delay =
        std::min(Duration::nanoseconds(holder->def.lock_delay_ns), kSessionLockDelayMax);
    if (delay > Duration::zero()) lock_delays_[key] = std::max(lock_delay_until(key), now + delay);
  }
  kv_ = std::move(rebased->kv);
  catalog_ = std::move(rebased->catalog);
  sessions_ = std::move(rebased->sessions);
  PRAETOR_ASSERT(applied_.value() == index);
  return {};
}

}  // namespace praetor::catalog
