// Property: random sequences of KV writes, locks, session creates/destroys/invalidations and
// transactions keep the catalog's invariants after every apply (Fsm::check_invariants: a key's
// Session always names a live session), LockIndex never decreases while a key lives, a failed
// transaction changes nothing (indexes included), and a snapshot restores to an equal state.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

const std::vector<std::string> kKeys = {"a", "b", "d/x", "d/y"};
const std::vector<std::string> kSessions = {"s0", "s1", "s2"};

TxnOp random_op() {
  TxnOp o;
  o.verb = static_cast<TxnVerb>(*rc::gen::inRange(0, 12));
  o.key = *rc::gen::elementOf(kKeys);
  if (o.verb == TxnVerb::kDeleteTree || o.verb == TxnVerb::kGetTree) o.key = "d/";
  o.value = to_bytes(*rc::gen::elementOf(std::vector<std::string>{"", "v", "w"}));
  o.index = static_cast<std::uint64_t>(*rc::gen::inRange(0, 12));
  o.session = *rc::gen::elementOf(kSessions);
  return o;
}

Command random_command() {
  const std::string key = *rc::gen::elementOf(kKeys);
  const std::string session = *rc::gen::elementOf(kSessions);
  switch (*rc::gen::inRange(0, 9)) {
    case 0:
      return KvSet{key, to_bytes("x"), 0};
    case 1:
      return KvDelete{key};
    case 2:
      return KvDeleteTree{"d/"};
    case 3: {
      SessionDef d;
      d.id = session;
      d.node = "n1";
      d.node_checks = {"serfHealth"};
      d.behavior = *rc::gen::element(SessionBehavior::kRelease, SessionBehavior::kDelete);
      d.lock_delay_ns = *rc::gen::element<std::int64_t>(0, 15'000'000'000);
      return SessionCreate{d};
    }
    case 4:
      return SessionDestroy{session};
    case 5:
    case 6:
      return KvLock{key, to_bytes("l"), 1, session};
    case 7:
      return KvUnlock{key, {}, 0, session};
    default: {
      Txn txn;
      const int n = *rc::gen::inRange(1, 5);
      for (int i = 0; i < n; ++i) txn.ops.push_back(random_op());
      return txn;
    }
  }
}

// n1 with its serfHealth check in a given state: what the leader's reconcile registers for a
// member alive (passing) or failed (critical).
Register n1(HealthStatus serf) {
  Register r;
  r.node = NodeDef{"", "n1", "10.0.0.1", "", {}, {}};
  r.checks = {CheckDef{"n1", "serfHealth", "Serf Health Status", serf, "", "", "", "", "", ""}};
  return r;
}

RC_GTEST_PROP(SessionFsm, InvariantsHoldUnderRandomCommands, ()) {
  Fsm fsm;
  RC_ASSERT(fsm.apply_command(LogIndex(1), n1(HealthStatus::kPassing)).success);
  const int steps = *rc::gen::inRange(2, 80);
  bool any_session = false;
  for (int step = 2; step <= steps; ++step) {
    const auto kv_before = fsm.kv().entries();
    const std::uint64_t kv_index = fsm.kv().index();
    const auto sessions_before = fsm.sessions().all();
    const std::uint64_t sessions_index = fsm.sessions().index();
    const LogIndex index(static_cast<std::uint64_t>(step));
    ApplyResult result;
    if (*rc::gen::inRange(0, 12) == 0) {
      // The member fails, comes back, or is deregistered and registered again: the catalog's
      // writes invalidate the sessions that depended on it.
      const Command command = *rc::gen::element<Command>(
          n1(HealthStatus::kCritical), n1(HealthStatus::kPassing), Deregister{"n1", "", ""});
      result = fsm.apply(index, encode_command(command), Instant::from_ns(step));
      RC_ASSERT(result.error.empty());
      if (fsm.catalog().node("n1") == nullptr || result.success) {
        // Whatever ended n1 or its serfHealth took every session with it.
        const CheckRecord* serf = nullptr;
        for (const CheckRecord* c : fsm.catalog().node_checks("n1").value) serf = c;
        if (serf == nullptr || serf->def.status == HealthStatus::kCritical) {
          RC_ASSERT(fsm.sessions().all().empty());
        }
      }
    } else {
      const Command command = random_command();
      result = fsm.apply(index, encode_command(command), Instant::from_ns(step));
      RC_ASSERT(result.txn.has_value() == std::holds_alternative<Txn>(command));
    }
    fsm.check_invariants();
    any_session = any_session || !fsm.sessions().all().empty();
    if (result.txn && !result.txn->errors.empty()) {
      RC_ASSERT(!result.success);
      RC_ASSERT(fsm.kv().entries() == kv_before);
      RC_ASSERT(fsm.kv().index() == kv_index);
      RC_ASSERT(fsm.sessions().all() == sessions_before);
      RC_ASSERT(fsm.sessions().index() == sessions_index);
    }
    if (!result.error.empty()) {  // refused: nothing changed
      RC_ASSERT(fsm.kv().entries() == kv_before);
      RC_ASSERT(fsm.sessions().all() == sessions_before);
    }
    for (const auto& [key, before] : kv_before) {
      if (const KvEntry* after = fsm.kv().get(key))
        RC_ASSERT(after->lock_index >= before.lock_index);
    }
  }
  RC_CLASSIFY(any_session, "sessions lived");
  Fsm restored;
  RC_ASSERT(restored.restore(fsm.snapshot()).has_value());
  RC_ASSERT(restored.kv().entries() == fsm.kv().entries());
  RC_ASSERT(restored.kv().index() == fsm.kv().index());
  RC_ASSERT(restored.sessions().all() == fsm.sessions().all());
  RC_ASSERT(restored.sessions().index() == fsm.sessions().index());
  RC_ASSERT(restored.applied_index() == fsm.applied_index());
  for (const std::string& s : kSessions) RC_ASSERT(restored.kv().held_by(s) == fsm.kv().held_by(s));
  restored.check_invariants();
}

}  // namespace
}  // namespace praetor::catalog
