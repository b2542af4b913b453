#include "core/raft/log.hpp"

#include <algorithm>

#include "core/base/assert.hpp"
#include "core/raft/codec.hpp"

namespace praetor::raft {
namespace {

Membership membership_of(const Entry& entry) {
  auto decoded = decode_membership(entry.data);
  // Config entries come from a leader that encoded them, and the message codec rejects any whose
  // payload does not decode, so failure here means memory or disk corruption.
  PRAETOR_ASSERT_MSG(decoded.has_value(), "config entry {} does not decode", entry.index);
  return std::move(decoded).value();
}

}  // namespace

RaftLog::RaftLog(SnapshotMeta snapshot, std::vector<Entry> entries, LogIndex committed)
    : snapshot_(std::move(snapshot)) {
  for (auto& e : entries) append(std::move(e));
  committed_ = std::max(committed, snapshot_.index);
  PRAETOR_ASSERT_MSG(committed_ <= last_index(), "commit {} beyond last {}", committed_,
                     last_index());
  applying_ = snapshot_.index;
  applied_ = snapshot_.index;
  persisted_ = last_index();
  unstable_from_ = last_index().next();
}

Term RaftLog::last_term() const { return entries_.empty() ? snapshot_.term : entries_.back().term; }

std::size_t RaftLog::offset(LogIndex index) const {
  PRAETOR_ASSERT(index > snapshot_.index);
  PRAETOR_ASSERT(index <= last_index());
  return static_cast<std::size_t>(index.value() - snapshot_.index.value() - 1);
}

std::optional<Term> RaftLog::term_at(LogIndex index) const {
  if (index == snapshot_.index) return snapshot_.term;
  if (index < snapshot_.index || index > last_index()) return std::nullopt;
  return entries_[offset(index)].term;
}

bool RaftLog::match_term(LogIndex index, Term term) const {
  auto t = term_at(index);
  return t.has_value() && *t == term;
}

bool RaftLog::is_up_to_date(LogIndex last, Term term) const {
  return term > last_term() || (term == last_term() && last >= last_index());
}

const Entry& RaftLog::at(LogIndex index) const { return entries_[offset(index)]; }

std::vector<Entry> RaftLog::slice(LogIndex lo, std::size_t max_count, std::size_t max_bytes) const {
  std::vector<Entry> out;
  std::size_t bytes = 0;
  for (LogIndex i = lo; i <= last_index() && out.size() < max_count; i = i.next()) {
    const Entry& e = at(i);
    if (!out.empty() && bytes + e.data.size() > max_bytes) break;
    bytes += e.data.size();
    out.push_back(e);
  }
  return out;
}

std::vector<Entry> RaftLog::slice_all(LogIndex lo, LogIndex hi) const {
  std::vector<Entry> out;
  for (LogIndex i = lo; i <= hi; i = i.next()) out.push_back(at(i));
  return out;
}

void RaftLog::append(Entry entry) {
  PRAETOR_ASSERT_MSG(entry.index == last_index().next(), "append {} after {}", entry.index,
                     last_index());
  PRAETOR_ASSERT_MSG(entry.term >= last_term(), "term {} after {}", entry.term, last_term());
  if (entry.type == EntryType::kConfig) configs_.emplace_back(entry.index, membership_of(entry));
  entries_.push_back(std::move(entry));
}

std::optional<LogIndex> RaftLog::maybe_append(LogIndex prev_index, Term prev_term,
                                              const std::vector<Entry>& entries) {
  if (!match_term(prev_index, prev_term)) return std::nullopt;
  const LogIndex last_new(prev_index.value() + entries.size());
  for (const Entry& e : entries) {
    if (e.index <= snapshot_.index) continue;  // already covered by our snapshot
    if (e.index <= last_index()) {
      if (at(e.index).term == e.term) continue;
      PRAETOR_ASSERT_MSG(e.index > committed_, "conflict at {} <= committed {}", e.index,
                         committed_);
      truncate_from(e.index);
    }
    append(e);
  }
  return last_new;
}

void RaftLog::truncate_from(LogIndex index) {
  entries_.resize(offset(index));
  while (!configs_.empty() && configs_.back().first >= index) configs_.pop_back();
  unstable_from_ = std::min(unstable_from_, index);
  persisted_ = std::min(persisted_, index.prev());
}

LogIndex RaftLog::find_conflict_by_term(LogIndex index, Term term) const {
  LogIndex i = std::min(index, last_index());
  while (i > snapshot_.index) {
    if (at(i).term <= term) return i;
    i = i.prev();
  }
  return i;
}

void RaftLog::commit_to(LogIndex index) {
  if (index <= committed_) return;
  PRAETOR_ASSERT_MSG(index <= last_index(), "commit {} beyond last {}", index, last_index());
  committed_ = index;
}

void RaftLog::restore(const SnapshotMeta& snapshot) {
  PRAETOR_ASSERT(snapshot.index > committed_);
  snapshot_ = snapshot;
  entries_.clear();
  configs_.clear();
  committed_ = snapshot.index;
  applying_ = snapshot.index;
  applied_ = snapshot.index;  // Ready::snapshot is installed before anything after it applies
  // The host has not persisted the snapshot yet: nothing after it is stable until advance().
  persisted_ = std::min(persisted_, snapshot.index);
  unstable_from_ = snapshot.index.next();
}

void RaftLog::compact(const SnapshotMeta& snapshot) {
  PRAETOR_ASSERT(snapshot.index > snapshot_.index);
  PRAETOR_ASSERT(snapshot.index <= applied_);
  const std::size_t drop = offset(snapshot.index) + 1;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(drop));
  std::erase_if(configs_, [&](const auto& c) { return c.first <= snapshot.index; });
  snapshot_ = snapshot;
}

std::vector<Entry> RaftLog::take_unstable() {
  std::vector<Entry> out;
  if (has_unstable()) out = slice_all(unstable_from_, last_index());
  unstable_from_ = last_index().next();
  return out;
}

void RaftLog::persisted_to(LogIndex index, Term term) {
  if (index > persisted_ && match_term(index, term)) persisted_ = index;
}

void RaftLog::snapshot_persisted(const SnapshotMeta& snapshot) {
  if (snapshot_.index == snapshot.index && snapshot_.term == snapshot.term) {
    persisted_ = std::max(persisted_, snapshot.index);
  }
}

std::vector<Entry> RaftLog::take_committed(std::size_t max_count) {
  std::vector<Entry> out;
  while (applying_ < committed_ && out.size() < max_count) {
    applying_ = applying_.next();
    out.push_back(at(applying_));
  }
  return out;
}

void RaftLog::applied_to(LogIndex index) {
  PRAETOR_ASSERT(index <= applying_);
  applied_ = std::max(applied_, index);
}

void RaftLog::skip_applying_to(LogIndex index) {
  applying_ = std::max(applying_, index);
  applied_ = std::max(applied_, index);
}

const Membership& RaftLog::membership() const {
  return configs_.empty() ? snapshot_.membership : configs_.back().second;
}

LogIndex RaftLog::membership_index() const {
  return configs_.empty() ? snapshot_.index : configs_.back().first;
}

Membership RaftLog::membership_at(LogIndex index) const {
  for (auto it = configs_.rbegin(); it != configs_.rend(); ++it) {
    if (it->first <= index) return it->second;
  }
  return snapshot_.membership;
}

void RaftLog::check_invariants() const {
  PRAETOR_ASSERT_MSG(snapshot_.index <= applied_, "snapshot {} > applied {}", snapshot_.index,
                     applied_);
  PRAETOR_ASSERT_MSG(applied_ <= applying_, "applied {} > applying {}", applied_, applying_);
  PRAETOR_ASSERT_MSG(applying_ <= committed_, "applying {} > commit {}", applying_, committed_);
  PRAETOR_ASSERT_MSG(committed_ <= last_index(), "commit {} > last {}", committed_, last_index());
  PRAETOR_ASSERT(persisted_ <= last_index());
  PRAETOR_ASSERT(unstable_from_ >= first_index());
  PRAETOR_ASSERT(unstable_from_ <= last_index().next());
  Term prev = snapshot_.term;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    PRAETOR_ASSERT_MSG(entries_[i].index.value() == snapshot_.index.value() + 1 + i,
                       "gap at offset {}", i);
    PRAETOR_ASSERT_MSG(entries_[i].term >= prev, "term decreases at {}", entries_[i].index);
    prev = entries_[i].term;
  }
  for (const auto& [index, membership] : configs_) {
    PRAETOR_ASSERT(at(index).type == EntryType::kConfig);
  }
}

}  // namespace praetor::raft
