#include "core/raft/progress.hpp"

#include <algorithm>

#include "core/base/assert.hpp"

namespace praetor::raft {

std::string_view progress_state_name(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "?";
}

void Progress::become_probe() {
  // After a snapshot the follower holds at least the snapshot: continue right after it.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match, snapshot_index).next();
  } else {
    next = match.next();
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  inflight.clear();
  snapshot_index = LogIndex(0);
  snapshot_offset = 0;
  chunk_sent = false;
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  next = match.next();
  probe_sent = false;
  inflight.clear();
}

void Progress::become_snapshot(LogIndex index) {
  state = ProgressState::kSnapshot;
  snapshot_index = index;
  snapshot_offset = 0;
  chunk_sent = false;
  probe_sent = false;
  inflight.clear();
}

bool Progress::maybe_update(LogIndex index) {
  bool updated = false;
  if (index > match) {
    match = index;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, index.next());
  return updated;
}

bool Progress::maybe_decrease(LogIndex rejected, LogIndex next_hint) {
  if (state == ProgressState::kReplicate) {
    // Pipelined appends past `match` were optimistic: a rejection at or below match is stale.
    if (rejected <= match) return false;
    next = match.next();
    return true;
  }
  // In probe, only the rejection of the outstanding probe (at next-1) counts.
  if (next.prev() != rejected) return false;
  next = std::max(std::min(rejected, next_hint.next()), match.next());
  probe_sent = false;
  return true;
}

void Progress::sent_append(LogIndex last, std::size_t count) {
  if (state == ProgressState::kReplicate) {
    if (count > 0) {
      next = last.next();
      inflight.push_back(last);
    }
  } else if (state == ProgressState::kProbe) {
    probe_sent = true;
  } else {
    PRAETOR_UNREACHABLE();
  }
}

void Progress::free_inflight_to(LogIndex index) {
  while (!inflight.empty() && inflight.front() <= index) inflight.pop_front();
}

bool Progress::is_paused(std::size_t max_inflight) const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflight.size() >= max_inflight;
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

}  // namespace praetor::raft
