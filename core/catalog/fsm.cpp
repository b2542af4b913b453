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
  struct Visitor {
    KvStore& kv;
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
    // Sessions, locks and transactions never get here (apply_session_command).
    ApplyResult operator()(const SessionCreate&) { return unreachable(); }
    ApplyResult operator()(const SessionDestroy&) { return unreachable(); }
    ApplyResult operator()(const KvLock&) { return unreachable(); }
    ApplyResult operator()(const KvUnlock&) { return unreachable(); }
    ApplyResult operator()(const Txn&) { return unreachable(); }
    static ApplyResult unreachable() {
      PRAETOR_ASSERT_MSG(false, "a session command reached the KV visitor");
      return {};
    }
  };
  return std::visit(Visitor{kv_, i}, command);
}

void Fsm::check_invariants() const {
  kv_.check_invariants();
  PRAETOR_ASSERT(kv_.index() <= applied_.value());
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

// MERGE: there is no node/check table yet, so every node exists and every node has a passing
// `serfHealth` check (what each agent registers for itself) and no other check. Consequences
// until the catalog lands: a session may name any node; a session naming any check but
// serfHealth is refused with "Missing check '<id>' registration"; nothing invalidates sessions
// but destroy and TTL expiry. The lead replaces both functions with lookups in the node and
// check tables (and wires invalidate_sessions_for_* into Register/Deregister).
class Fsm::Facts final : public CatalogFacts {
 public:
  explicit Facts(const Fsm& fsm) : fsm_(fsm) {}
  bool node_exists(const std::string&) const override { return true; }
  std::optional<HealthStatus> check_status(const std::string&,
                                           const std::string& check_id) const override {
    static_cast<void>(fsm_);
    if (check_id == "serfHealth") return HealthStatus::kPassing;
    return std::nullopt;
  }

 private:
  const Fsm& fsm_;
};

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
