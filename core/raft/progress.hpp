// Progress: the leader's view of one follower's log (Raft §5.3 nextIndex/matchIndex) and the flow
// control around it, after etcd's progress tracker:
//   kProbe      the leader does not know where the logs diverge: one append per heartbeat
//               interval (or per response), backing `next` off on each rejection.
//   kReplicate  the follower is in sync: appends are pipelined optimistically, at most
//               max_inflight_appends unacknowledged at a time.
//   kSnapshot   `next` was compacted away: snapshot chunks are sent one at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string_view>

#include "core/base/ids.hpp"

namespace praetor::raft {

enum class ProgressState : std::uint8_t { kProbe, kReplicate, kSnapshot };
std::string_view progress_state_name(ProgressState state);

struct Progress {
  LogIndex match;
  LogIndex next{1};
  ProgressState state = ProgressState::kProbe;
  bool probe_sent = false;        // kProbe: an append is outstanding
  std::deque<LogIndex> inflight;  // kReplicate: last index of each unacknowledged append
  bool recent_active = false;     // heard from since the last CheckQuorum round
  std::uint64_t read_round = 0;   // highest ReadIndex round acknowledged

  // kSnapshot: which snapshot is being sent and the next byte; one chunk outstanding at a time.
  LogIndex snapshot_index;
  std::uint64_t snapshot_offset = 0;
  bool chunk_sent = false;

  void become_probe();
  void become_replicate();
  void become_snapshot(LogIndex index);
  // An acknowledgement that the follower holds everything up to `index`. Returns false when it
  // brings nothing new (a stale or duplicate response).
  bool maybe_update(LogIndex index);
  // A rejection of an append whose previous entry was `rejected`; `next_hint` is where to retry.
  // Returns false for stale rejections.
  bool maybe_decrease(LogIndex rejected, LogIndex next_hint);
  void sent_append(LogIndex last, std::size_t count);
  void free_inflight_to(LogIndex index);
  bool is_paused(std::size_t max_inflight) const;
};

}  // namespace praetor::raft
