#include "core/raft/config.hpp"

#include <fmt/format.h>

namespace praetor::raft {

Result<void> Config::validate() const {
  auto bad = [](std::string why) {
    return make_error(ErrorCode::kInvalidArgument, std::move(why));
  };
  if (id == NodeId(0)) return bad("raft: node id must be > 0");
  if (heartbeat_interval <= Duration::zero()) return bad("raft: heartbeat interval must be > 0");
  // Followers must hear several heartbeats per election timeout or they campaign spuriously.
  if (election_timeout < heartbeat_interval * 2) {
    return bad("raft: election timeout must be at least twice the heartbeat interval");
  }
  if (max_inflight_appends == 0 || max_inflight_appends > kMaxInflightAppendsCap) {
    return bad(
        fmt::format("raft: max_inflight_appends must be in [1, {}]", kMaxInflightAppendsCap));
  }
  if (max_entries_per_append == 0 || max_entries_per_append > kMaxEntriesPerAppendCap) {
    return bad(
        fmt::format("raft: max_entries_per_append must be in [1, {}]", kMaxEntriesPerAppendCap));
  }
  if (max_bytes_per_append == 0 || max_bytes_per_append > kMaxAppendBytesCap) {
    return bad(fmt::format("raft: max_bytes_per_append must be in [1, {}]", kMaxAppendBytesCap));
  }
  if (snapshot_chunk_bytes == 0 || snapshot_chunk_bytes > kMaxSnapshotChunkBytesCap) {
    return bad(
        fmt::format("raft: snapshot_chunk_bytes must be in [1, {}]", kMaxSnapshotChunkBytesCap));
  }
  if (max_pending_proposals == 0 || max_pending_proposals > kMaxPendingProposalsCap) {
    return bad(
        fmt::format("raft: max_pending_proposals must be in [1, {}]", kMaxPendingProposalsCap));
  }
  return ok();
}

}  // namespace praetor::raft
