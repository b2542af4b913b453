// The catalog's hot paths: encoding and decoding a command (every Raft entry pays this) and
// applying it to the FSM.
#include <benchmark/benchmark.h>

#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

void BM_EncodeKvSet(benchmark::State& state) {
  const Command command = KvSet{"service/web/config", Bytes(256, 'x'), 0};
  for (auto _ : state) benchmark::DoNotOptimize(encode_command(command));
}
BENCHMARK(BM_EncodeKvSet);

void BM_DecodeKvSet(benchmark::State& state) {
  const Bytes wire = encode_command(KvSet{"service/web/config", Bytes(256, 'x'), 0});
  for (auto _ : state) benchmark::DoNotOptimize(decode_command(wire));
}
BENCHMARK(BM_DecodeKvSet);

// 1,000 keys with 256-byte values, written round-robin: the Raft issue's KV workload.
void BM_ApplyKvSet(benchmark::State& state) {
  std::vector<Bytes> entries;
  for (int i = 0; i < 1000; ++i) {
    entries.push_back(encode_command(KvSet{"key/" + std::to_string(i), Bytes(256, 'v'), 0}));
  }
  Fsm fsm;
  std::uint64_t index = 0;
  for (auto _ : state) {
    ++index;
    benchmark::DoNotOptimize(
        fsm.apply(LogIndex(index), entries[index % entries.size()], Instant::zero()));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ApplyKvSet);

void BM_SnapshotThousandKeys(benchmark::State& state) {
  Fsm fsm;
  for (int i = 0; i < 1000; ++i) {
    fsm.apply_command(LogIndex(static_cast<std::uint64_t>(i + 1)),
                      KvSet{"key/" + std::to_string(i), Bytes(256, 'v'), 0});
  }
  for (auto _ : state) benchmark::DoNotOptimize(fsm.snapshot());
}
BENCHMARK(BM_SnapshotThousandKeys);

}  // namespace
}  // namespace praetor::catalog
