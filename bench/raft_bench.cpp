// The Raft core alone: proposals through a three-node cluster held in memory, messages delivered
// by hand, every Ready "persisted" at once. What this measures is the core's own cost per entry
// (log bookkeeping, encoding-free message handling, commit counting), without I/O.
#include <benchmark/benchmark.h>

#include <deque>
#include <map>

#include "core/raft/raft.hpp"

namespace praetor::raft {
namespace {

class Trio {
 public:
  Trio() {
    Membership m;
    for (std::uint64_t i = 1; i <= 3; ++i) m.voters.insert(NodeId(i));
    for (std::uint64_t i = 1; i <= 3; ++i) {
      Config c;
      c.id = NodeId(i);
      nodes_.emplace(NodeId(i), Raft::restore(c, PersistentState::bootstrap(m), Rng(i), logger_).value());
    }
    node(1).campaign(now_);
    settle();
  }
  Raft& node(std::uint64_t i) { return nodes_.at(NodeId(i)); }
  // Delivers every message and confirms every Ready until the cluster is quiet.
  std::size_t settle() {
    std::size_t committed = 0;
    for (bool busy = true; busy;) {
      busy = false;
      for (auto& [id, r] : nodes_) {
        while (r.has_ready()) {
          busy = true;
          Ready ready = r.take_ready();
          for (auto& m : ready.messages) inbox_.push_back(std::move(m));
          if (id == NodeId(1)) committed += ready.committed.size();
          r.advance(ready);
        }
      }
      while (!inbox_.empty()) {
        busy = true;
        Message m = std::move(inbox_.front());
        inbox_.pop_front();
        nodes_.at(m.to).step(now_, m);
      }
    }
    return committed;
  }
  Instant now_ = Instant::from_ns(1);

 private:
  NullLogger logger_;
  std::map<NodeId, Raft> nodes_;
  std::deque<Message> inbox_;
};

// One proposal at a time, each committed before the next (latency-bound, like one client).
void BM_RaftCommitOneByOne(benchmark::State& state) {
  Trio trio;
  const Bytes command(256, 'x');
  for (auto _ : state) {
    benchmark::DoNotOptimize(trio.node(1).propose(trio.now_, command));
    benchmark::DoNotOptimize(trio.settle());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_RaftCommitOneByOne);

// 32 proposals per round, committed together (what group commit gives many clients).
void BM_RaftCommitBatchOf32(benchmark::State& state) {
  Trio trio;
  const Bytes command(256, 'x');
  for (auto _ : state) {
    for (int i = 0; i < 32; ++i) benchmark::DoNotOptimize(trio.node(1).propose(trio.now_, command));
    benchmark::DoNotOptimize(trio.settle());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 32);
}
BENCHMARK(BM_RaftCommitBatchOf32);

}  // namespace
}  // namespace praetor::raft
