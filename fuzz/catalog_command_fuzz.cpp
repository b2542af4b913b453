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
  fsm.apply(LogIndex(2), input, Instant::zero());
  fsm.check_invariants();
  catalog::Fsm restored;
  PRAETOR_ASSERT(restored.restore(fsm.snapshot()).has_value());
  PRAETOR_ASSERT(restored.kv().entries() == fsm.kv().entries());
  return 0;
}
