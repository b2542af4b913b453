#include "sim/sim_storage.hpp"

#include <iterator>
#include <vector>

namespace praetor::sim {

void SimStorage::apply_op(node::StoredFiles& files, const node::WriteOp& op) {
  apply_write_op(files, op);
}

void SimStorage::apply(const node::WriteBatch& batch, std::uint64_t batch_id) {
  PRAETOR_ASSERT(pending_.empty() || pending_.back().batch_id <= batch_id);
  for (const auto& op : batch.ops) pending_.push_back(Pending{batch_id, op});
}

void SimStorage::sync_through(std::uint64_t batch_id) {
  while (!pending_.empty() && pending_.front().batch_id <= batch_id) {
    apply_op(durable_, pending_.front().op);
    pending_.pop_front();
  }
}

CrashReport SimStorage::crash(Rng& rng, CrashMode mode) {
  CrashReport report;
  report.pending = pending_.size();
  if (mode == CrashMode::kRandomPrefix && !pending_.empty()) {
    report.kept = static_cast<std::size_t>(rng.uniform(pending_.size() + 1));
    for (std::size_t i = 0; i < report.kept; ++i) apply_op(durable_, pending_[i].op);
    if (report.kept < pending_.size()) {
      const node::WriteOp& next = pending_[report.kept].op;
      // Only appends tear: a replace is atomic (temp file + rename) and remove/truncate are
      // metadata operations that either happened or did not.
      if (next.kind == node::WriteOp::Kind::kAppend && next.data.size() > 1 && rng.chance(1, 2)) {
        node::WriteOp torn = next;
        torn.data.resize(1 + static_cast<std::size_t>(rng.uniform(next.data.size() - 1)));
        apply_op(durable_, torn);
        report.torn = true;
      }
    }
  }
  pending_.clear();
  return report;
}

node::StoredFiles SimStorage::files() const {
  node::StoredFiles view = durable_;
  for (const auto& p : pending_) apply_op(view, p.op);
  return view;
}

std::string SimStorage::corrupt_random_byte(Rng& rng) {
  std::vector<std::string> candidates;
  for (const auto& [name, data] : durable_) {
    if (!data.empty()) candidates.push_back(name);
  }
  if (candidates.empty()) return "";
  const std::string& name = candidates[rng.uniform(candidates.size())];
  Bytes& data = durable_[name];
  std::size_t at = static_cast<std::size_t>(rng.uniform(data.size()));
  data[at] = static_cast<std::uint8_t>(data[at] ^ (1u << rng.uniform(8)));
  return name;
}

}  // namespace praetor::sim
