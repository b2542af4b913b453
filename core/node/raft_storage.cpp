#include "core/node/raft_storage.hpp"

#include <fmt/format.h>

#include <iterator>

#include "core/raft/codec.hpp"

namespace praetor::node {
namespace {

wal::Record record(std::uint8_t type, Bytes payload) { return wal::Record{type, std::move(payload)}; }

Bytes encode_snapshot_body(const raft::Snapshot& snapshot) {
  Bytes meta = raft::encode_snapshot_meta(snapshot.meta);
  Bytes body;
  put_u32_le(body, static_cast<std::uint32_t>(meta.size()));
  body.insert(body.end(), meta.begin(), meta.end());
  body.insert(body.end(), snapshot.data.begin(), snapshot.data.end());
  return wal::encode_snapshot_file(body);
}

Result<raft::Snapshot> decode_snapshot_body(ByteView file) {
  auto body = wal::decode_snapshot_file(file, RaftStorage::kSnapshotFile);
  if (!body) return body.error();
  if (body->size() < 4 || get_u32_le(body->data()) > body->size() - 4) {
    return make_error(ErrorCode::kCorruption, fmt::format("{}: bad meta length",
                                                          RaftStorage::kSnapshotFile));
  }
  const std::uint32_t meta_length = get_u32_le(body->data());
  auto meta = raft::decode_snapshot_meta(ByteView(body->data() + 4, meta_length));
  if (!meta) {
    return make_error(ErrorCode::kCorruption, fmt::format("{}: {}", RaftStorage::kSnapshotFile,
                                                          meta.error().message));
  }
  raft::Snapshot snapshot;
  snapshot.meta = *meta;
  snapshot.data.assign(body->begin() + 4 + meta_length, body->end());
  return snapshot;
}

Error corrupt(std::string_view what) {
  return make_error(ErrorCode::kCorruption, fmt::format("raft log: {}", what));
}

}  // namespace

RaftStorage::RaftStorage(wal::Options options, const wal::Recovered& recovered)
    : writer_(std::move(options), recovered) {}

Result<RaftStorage::Recovered> RaftStorage::recover(const StoredFiles& files,
                                                    wal::Options options) {
  auto log = wal::recover(files, options);
  if (!log) return log.error();
  Recovered out{RaftStorage(options, *log), {}, false, log->torn_tail_cut};
  RaftStorage& storage = out.storage;
  raft::PersistentState& state = out.state;
  if (auto it = files.find(std::string(kSnapshotFile)); it != files.end()) {
    auto snapshot = decode_snapshot_body(it->second);
    if (!snapshot) return snapshot.error();
    state.snapshot = std::move(*snapshot);
    out.found = true;
  }
  const std::uint64_t snapshot_index = state.snapshot.meta.index.value();
  for (std::size_t i = 0; i < log->records.size(); ++i) {
    const wal::Record& r = log->records[i];
    const std::uint64_t segment = log->record_segments[i];
    storage.segment_last_index_.try_emplace(segment, 0);
    out.found = true;
    switch (r.type) {
      case kHardState: {
        auto hs = raft::decode_hard_state(r.payload);
        if (!hs) return corrupt(hs.error().message);
        state.hard_state = *hs;
        break;
      }
      case kEntry: {
        auto entry = raft::decode_entry(r.payload);
        if (!entry) return corrupt(entry.error().message);
        const std::uint64_t index = entry->index.value();
        auto& last = storage.segment_last_index_[segment];
        last = std::max(last, index);
        if (index <= snapshot_index) break;  // covered by the snapshot
        // Suffix overwrite: drop stored entries at or after this index.
        while (!state.entries.empty() && state.entries.back().index.value() >= index) {
          state.entries.pop_back();
        }
        const std::uint64_t expected = state.entries.empty()
                                           ? snapshot_index + 1
                                           : state.entries.back().index.value() + 1;
        if (index != expected) {
          return corrupt(fmt::format("entry {} follows {} (a gap in the log)", index, expected - 1));
        }
        state.entries.push_back(std::move(*entry));
        break;
      }
      case kLogReset:
        // Entries before the reset belong to a log an installed snapshot replaced.
        state.entries.clear();
        break;
      default:
        return corrupt(fmt::format("unknown record type {}", r.type));
    }
  }
  storage.hard_state_ = state.hard_state;
  storage.written_hard_state_ = state.hard_state;
  if (state.hard_state.commit.value() > snapshot_index + state.entries.size()) {
    // Commit is advisory (Raft re-learns it); never trust it beyond the stored log.
    state.hard_state.commit = LogIndex(snapshot_index + state.entries.size());
  }
  return out;
}

std::optional<WriteBatch> RaftStorage::persist(const raft::Ready& ready) {
  // Only what a crash must not forget needs a write: a snapshot, entries, a term or a vote. A
  // commit index alone is advisory (recovery clamps it to the stored log and Raft re-learns it
  // from the leader), so it is only remembered and goes out with the next batch: a Ready that
  // just moves the commit index costs no write and no fsync (etcd's MustSync rule, minus even the
  // unsynced write).
  const bool must_sync = ready.snapshot.has_value() || !ready.entries.empty() ||
                         (ready.hard_state && (ready.hard_state->term != hard_state_.term ||
                                               ready.hard_state->vote != hard_state_.vote));
  if (ready.hard_state) hard_state_ = *ready.hard_state;
  if (!must_sync) return std::nullopt;
  WriteBatch batch;
  batch.sync = true;
  std::vector<wal::Record> entries;
  for (const auto& e : ready.entries) entries.push_back(record(kEntry, raft::encode_entry(e)));
  if (ready.snapshot) {
    // The snapshot's records (which carry the current hard state) and the entries go out in
    // one append.
    auto ops = write_snapshot_ops(*ready.snapshot, /*reset_log=*/true, std::move(entries));
    batch.ops.insert(batch.ops.end(), ops.begin(), ops.end());
  } else {
    std::vector<wal::Record> records;
    if (!(hard_state_ == written_hard_state_)) {
      written_hard_state_ = hard_state_;
      records.push_back(record(kHardState, raft::encode_hard_state(hard_state_)));
    }
    records.insert(records.end(), std::make_move_iterator(entries.begin()),
                   std::make_move_iterator(entries.end()));
    if (!records.empty()) {
      auto ops = writer_.append(records);
      batch.ops.insert(batch.ops.end(), ops.begin(), ops.end());
    }
  }
  if (!ready.entries.empty()) {
    auto& last = segment_last_index_[writer_.current_segment()];
    last = std::max(last, ready.entries.back().index.value());
  }
  PRAETOR_ASSERT(!batch.ops.empty());
  return batch;
}

std::vector<WriteOp> RaftStorage::write_snapshot_ops(const raft::Snapshot& snapshot,
                                                     bool reset_log,
                                                     std::vector<wal::Record> then) {
  std::vector<WriteOp> ops;
  ops.push_back({WriteOp::Kind::kReplace, std::string(kSnapshotFile), encode_snapshot_body(snapshot),
                 0});
  // A fresh segment opens with the hard state, so that older segments may go.
  writer_.roll();
  std::vector<wal::Record> records{record(kHardState, raft::encode_hard_state(hard_state_))};
  written_hard_state_ = hard_state_;
  if (reset_log) records.push_back(record(kLogReset, raft::encode_snapshot_meta(snapshot.meta)));
  records.insert(records.end(), std::make_move_iterator(then.begin()),
                 std::make_move_iterator(then.end()));
  auto appended = writer_.append(records);
  segment_last_index_[writer_.current_segment()] = 0;
  ops.insert(ops.end(), appended.begin(), appended.end());
  // Remove the prefix of segments whose entries the snapshot covers. After a reset every earlier
  // segment is obsolete, but removing only a prefix keeps one rule; recovery ignores the rest.
  std::uint64_t keep_from = writer_.current_segment();
  for (const auto& [segment, last_index] : segment_last_index_) {
    if (segment == writer_.current_segment()) break;
    if (!reset_log && last_index > snapshot.meta.index.value()) {
      keep_from = segment;
      break;
    }
  }
  auto removed = writer_.remove_segments_before(keep_from);
  for (auto it = segment_last_index_.begin(); it != segment_last_index_.end();) {
    it = it->first < keep_from ? segment_last_index_.erase(it) : std::next(it);
  }
  ops.insert(ops.end(), removed.begin(), removed.end());
  return ops;
}

WriteBatch RaftStorage::save_snapshot(const raft::Snapshot& snapshot) {
  WriteBatch batch;
  batch.sync = true;
  batch.ops = write_snapshot_ops(snapshot, /*reset_log=*/false);
  return batch;
}

}  // namespace praetor::node
