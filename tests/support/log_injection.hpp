// Appends one committed entry to a stopped server's stored log, as if its leader had replicated
// and committed it. Tests use it to put into a log what the API no longer lets in (a KV key that
// is not valid UTF-8, written by a build before decision D16) and check that such a log still
// loads, replays and serves. Every server of a cluster must get the same entry at the same index,
// or their logs diverge: callers check that the logs they inject into end alike.
#pragma once

#include "core/base/result.hpp"
#include "core/base/storage_types.hpp"
#include "core/catalog/command.hpp"
#include "core/node/raft_storage.hpp"

namespace praetor::testing {

struct InjectedEntry {
  node::WriteBatch batch;  // to write over the recovered files
  LogIndex index;          // where the entry went
  Term term;
};

// The last index and term of a stored log (the snapshot's when the log is empty).
inline Result<std::pair<LogIndex, Term>> stored_log_end(const node::StoredFiles& files) {
  auto recovered = node::RaftStorage::recover(files);
  if (!recovered) return recovered.error();
  const auto& state = recovered->state;
  if (state.entries.empty()) return std::pair{state.snapshot.meta.index, state.snapshot.meta.term};
  return std::pair{state.entries.back().index, state.entries.back().term};
}

inline Result<InjectedEntry> append_committed_entry(const node::StoredFiles& files,
                                                    const catalog::Command& command) {
  auto recovered = node::RaftStorage::recover(files);
  if (!recovered) return recovered.error();
  auto end = stored_log_end(files);
  if (!end) return end.error();
  raft::Ready ready;
  raft::Entry entry;
  entry.index = end->first.next();
  entry.term = end->second;
  entry.data = catalog::encode_command(command);
  raft::HardState hard_state = recovered->state.hard_state;
  hard_state.commit = entry.index;
  ready.hard_state = hard_state;
  ready.entries.push_back(std::move(entry));
  auto batch = recovered->storage.persist(ready);
  if (!batch) return make_error(ErrorCode::kInternal, "the injected entry made no batch");
  return InjectedEntry{std::move(*batch), end->first.next(), end->second};
}

}  // namespace praetor::testing
