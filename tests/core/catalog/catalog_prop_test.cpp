// Properties of the catalog under random mixes of Register, Deregister and KV commands, over
// small name spaces so that writes collide: the invariants hold after every apply (refusals
// included), a snapshot taken at any point restores to an equal state, and the restored state
// then answers the same further commands identically.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

const std::vector<std::string> kNodes = {"n0", "n1", "n\xc3\xa9"};
const std::vector<std::string> kServiceNames = {"web", "db", ""};
const std::vector<std::string> kServiceIds = {"", "s0", "web"};
const std::vector<std::string> kCheckIds = {"serfHealth", "c0", "c1", ""};

template <typename T>
rc::Gen<T> one_of(const std::vector<T>& values) {
  return rc::gen::elementOf(values);
}

rc::Gen<CheckDef> gen_check() {
  return rc::gen::apply(
      [](std::string id, int status, int service, int output) {
        CheckDef c;
        c.name = id;
        c.status = static_cast<HealthStatus>(status);
        // Mostly node-level checks and checks on services that may or may not exist.
        c.service_id = service == 0 ? "" : kServiceIds[static_cast<std::size_t>(service - 1)];
        c.output = output == 0 ? "" : "out" + std::to_string(output);
        return c;
      },
      one_of(kCheckIds), rc::gen::inRange(0, 3), rc::gen::inRange(0, 4), rc::gen::inRange(0, 2));
}

rc::Gen<Command> gen_register() {
  return rc::gen::apply(
      [](std::string node, int address, int meta, bool with_service, std::string name,
         std::string id, int tags, std::vector<CheckDef> checks, bool skip) {
        Register r;
        r.node.name = node;
        r.node.address = address == 0 ? "" : "10.0.0." + std::to_string(address);
        if (meta > 0) r.node.meta["rack"] = "r" + std::to_string(meta);
        if (with_service) {
          ServiceDef s;
          s.name = name;
          s.id = id;
          if (tags & 1) s.tags.push_back("primary");
          if (tags & 2) s.tags.push_back("v1");
          r.service = s;
        }
        if (checks.size() > 3) checks.resize(3);
        r.checks = std::move(checks);
        r.skip_node_update = skip;
        return Command(r);
      },
      one_of(kNodes), rc::gen::inRange(0, 3), rc::gen::inRange(0, 3), rc::gen::arbitrary<bool>(),
      one_of(kServiceNames), one_of(kServiceIds), rc::gen::inRange(0, 4),
      rc::gen::container<std::vector<CheckDef>>(gen_check()), rc::gen::arbitrary<bool>());
}

rc::Gen<Command> gen_deregister() {
  return rc::gen::apply(
      [](std::string node, int what, std::string service_id, std::string check_id) {
        Deregister d{node, "", ""};
        if (what == 1) d.service_id = service_id.empty() ? "web" : service_id;
        if (what == 2) d.check_id = check_id.empty() ? "c0" : check_id;
        return Command(d);
      },
      one_of(kNodes), rc::gen::inRange(0, 3), one_of(kServiceIds), one_of(kCheckIds));
}

rc::Gen<Command> gen_kv() {
  return rc::gen::apply(
      [](int op, int key) {
        const std::string k = "k" + std::to_string(key);
        if (op == 0) return Command(KvSet{k, to_bytes("v"), 0});
        if (op == 1) return Command(KvDelete{k});
        return Command(KvDeleteTree{""});
      },
      rc::gen::inRange(0, 3), rc::gen::inRange(0, 3));
}

rc::Gen<Command> gen_command() {
  return rc::gen::weightedOneOf<Command>(
      {{6, gen_register()}, {2, gen_deregister()}, {1, gen_kv()}});
}

RC_GTEST_PROP(CatalogProperty, InvariantsHoldAndSnapshotsRestoreAndReplayEqually, ()) {
  const auto commands = *rc::gen::container<std::vector<Command>>(gen_command());
  const auto cut = *rc::gen::inRange<std::size_t>(0, commands.size() + 1);
  Fsm fsm;
  std::optional<Fsm> restored;
  std::uint64_t index = 0;
  for (std::size_t i = 0; i <= commands.size(); ++i) {
    if (i == cut) {
      Fsm copy;
      RC_ASSERT(copy.restore(fsm.snapshot()).has_value());
      copy.check_invariants();
      RC_ASSERT(copy == fsm);
      restored = std::move(copy);
    }
    if (i == commands.size()) break;
    ++index;
    const Bytes wire = encode_command(commands[i]);
    const CatalogState before = fsm.catalog();
    const ApplyResult result = fsm.apply(LogIndex(index), wire, Instant::zero());
    fsm.check_invariants();
    // A refusal changes nothing in the catalog.
    if (!result.error.empty()) RC_ASSERT(fsm.catalog() == before);
    RC_ASSERT(result.success == result.error.empty());
    if (restored) {
      RC_ASSERT(restored->apply(LogIndex(index), wire, Instant::zero()) == result);
      RC_ASSERT(*restored == fsm);
    }
  }
  RC_ASSERT(restored.has_value());
  RC_ASSERT(*restored == fsm);
}

// Re-applying any registration that just succeeded moves no index: anti-entropy repeats every
// registration each minute, and its watchers must sleep through it.
RC_GTEST_PROP(CatalogProperty, ARepeatedRegistrationMovesNoIndex, ()) {
  const auto commands = *rc::gen::container<std::vector<Command>>(gen_command());
  Fsm fsm;
  std::uint64_t index = 0;
  for (const auto& command : commands) {
    const ApplyResult first = fsm.apply_command(LogIndex(++index), command);
    if (!std::holds_alternative<Register>(command) || !first.error.empty()) continue;
    const CatalogState before = fsm.catalog();
    const ApplyResult again = fsm.apply_command(LogIndex(++index), command);
    RC_ASSERT(again.error.empty());
    RC_ASSERT(fsm.catalog() == before);
  }
}

}  // namespace
}  // namespace praetor::catalog
