// Fuzzes the catalog command decoder and, for inputs that decode, the FSM apply path: anything a
// peer could put in a log entry must either be rejected or applied without breaking invariants.
#include <cstdint>

#include "core/catalog/fsm.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace praetor;
  ByteView input(data, size);
  auto command = catalog::decode_command(input);
  if (!command) return 0;
  // One encoding per command: re-encoding reproduces the input.
  Bytes again = catalog::encode_command(*command);
  PRAETOR_ASSERT(again.size() == size);
  catalog::Fsm fsm;
  fsm.apply_command(LogIndex(1), catalog::KvSet{"dir/a", to_bytes("x"), 0});
  // A node with a service and checks, so that a fuzzed Deregister or Register has something to
  // remove or change.
  catalog::Register seed;
  seed.node = catalog::NodeDef{"", "n1", "10.0.0.1", "", {}, {}};
  seed.service = catalog::ServiceDef{"web", "web", {"a"}, "", 80, {}, 1, 1, false};
  seed.checks = {
      catalog::CheckDef{"", "serfHealth", "", catalog::HealthStatus::kPassing, "", "", "", "", "",
                        ""},
      catalog::CheckDef{"", "c", "", catalog::HealthStatus::kCritical, "", "", "web", "", "", ""}};
  PRAETOR_ASSERT(fsm.apply_command(LogIndex(2), seed).error.empty());
  fsm.apply(LogIndex(3), input, Instant::zero());
  fsm.check_invariants();
  catalog::Fsm restored;
  PRAETOR_ASSERT(restored.restore(fsm.snapshot()).has_value());
  PRAETOR_ASSERT(restored == fsm);
  return 0;
}
