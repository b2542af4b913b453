// Raft configuration and named limits. Every queue and batch the core keeps has a cap here; the
// hard caps bound what the codec accepts from the network, the Config fields tune behaviour within
// them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/base/ids.hpp"
#include "core/base/instant.hpp"
#include "core/base/limits.hpp"
#include "core/base/result.hpp"

namespace praetor::raft {

// Hard caps (decode bounds and upper limits for Config).
inline constexpr std::size_t kMaxEntryBytes = 2 * 1024 * 1024;      // one command
inline constexpr std::size_t kMaxAppendBytesCap = 4 * 1024 * 1024;  // one append's payload
inline constexpr std::size_t kMaxEntriesPerAppendCap = 4096;
inline constexpr std::size_t kMaxSnapshotChunkBytesCap = 1024 * 1024;
inline constexpr std::size_t kMaxSnapshotBytes = std::size_t{1} << 30;  // a whole FSM image
inline constexpr std::size_t kMaxMembers = 256;
inline constexpr std::size_t kMaxInflightAppendsCap = 1024;
inline constexpr std::size_t kMaxPendingProposalsCap = 1 << 20;
inline constexpr std::size_t kMaxPendingReads = 4096;

// An append carries at most a batch plus headers; a snapshot chunk likewise. Both must fit in one
// RPC frame, and any single entry must fit in one append.
static_assert(kMaxAppendBytesCap + kMaxEntryBytes + 64 * 1024 < limits::kRpcMaxFrameBytes);
static_assert(kMaxSnapshotChunkBytesCap + 64 * 1024 < limits::kRpcMaxFrameBytes);
static_assert(kMaxEntryBytes <= kMaxAppendBytesCap);
static_assert(limits::kKvMaxValueBytes < kMaxEntryBytes, "a KV write must fit in one entry");

struct Config {
  NodeId id;

  // A follower that hears nothing for a randomized timeout in [election_timeout,
  // 2*election_timeout) starts an election (Raft §5.2). Consul's defaults with raft_multiplier=1.
  Duration election_timeout = Duration::milliseconds(1000);
  Duration heartbeat_interval = Duration::milliseconds(100);

  bool pre_vote = true;      // thesis §9.6: a would-be candidate first asks, without a new term
  bool check_quorum = true;  // leader steps down without a quorum's contact; followers keep a lease

  std::size_t max_inflight_appends = 64;  // unacknowledged appends per follower
  std::size_t max_entries_per_append = 256;
  std::size_t max_bytes_per_append = 1024 * 1024;  // soft: one larger entry still goes alone
  std::size_t snapshot_chunk_bytes = 256 * 1024;
  std::size_t max_pending_proposals = 4096;  // appended but not yet committed
  // A learner is promoted only when it is within this many entries of the leader's last index.
  std::size_t max_promote_lag = 256;

  Result<void> validate() const;
};

}  // namespace praetor::raft
