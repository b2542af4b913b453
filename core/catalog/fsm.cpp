#include "core/catalog/fsm.hpp"

#include "core/base/assert.hpp"

namespace praetor::catalog {

ApplyResult Fsm::apply(LogIndex index, ByteView payload) {
  auto command = decode_command(payload);
  PRAETOR_ASSERT_MSG(command.has_value(), "committed entry {} cannot be decoded: {}", index,
                     command ? "" : command.error().message);
  return apply_command(index, *command);
}

ApplyResult Fsm::apply_command(LogIndex index, const Command& command) {
  PRAETOR_ASSERT_MSG(index > applied_, "entry {} applied after {}", index, applied_);
  applied_ = index;
  const std::uint64_t i = index.value();
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
    // The catalog of nodes, services and checks. A refusal (Consul's text) answers the client
    // and changes nothing. The write's effects (checks gone critical or removed, nodes removed)
    // are what session invalidation will consume.
    ApplyResult operator()(const Register& c) { return result(catalog.apply_register(i, c)); }
    ApplyResult operator()(const Deregister& c) { return result(catalog.apply_deregister(i, c)); }
    static ApplyResult result(const CatalogWrite& write) {
      return ApplyResult{write.error.empty(), write.error};
    }
  };
  return std::visit(Visitor{kv_, catalog_, i}, command);
}

void Fsm::check_invariants() const {
  kv_.check_invariants();
  PRAETOR_ASSERT(kv_.index() <= applied_.value());
  catalog_.check_invariants();
  PRAETOR_ASSERT(catalog_.max_index() <= applied_.value());
}

}  // namespace praetor::catalog
