#include "core/raft/format.hpp"

#include <fmt/ranges.h>

#include "core/raft/codec.hpp"

namespace praetor::raft {
namespace {

std::string render_data(const Bytes& data) {
  bool printable = true;
  for (std::uint8_t c : data) printable = printable && c >= 0x20 && c < 0x7f && c != '"';
  if (printable && data.size() <= 64)
    return fmt::format("\"{}\"", praetor::to_string(ByteView(data)));
  return fmt::format("<{} bytes>", data.size());
}

std::string render_ids(const std::set<NodeId>& ids) {
  std::vector<std::uint64_t> v;
  for (NodeId id : ids) v.push_back(id.value());
  return fmt::format("[{}]", fmt::join(v, " "));
}

std::string render_entries(const std::vector<Entry>& entries) {
  std::vector<std::string> parts;
  for (const Entry& e : entries) parts.push_back(to_string(e));
  return fmt::format("[{}]", fmt::join(parts, ", "));
}

}  // namespace

std::string to_string(const Entry& e) {
  switch (e.type) {
    case EntryType::kNoop:
      return fmt::format("{}@{} noop", e.index, e.term);
    case EntryType::kConfig: {
      auto m = decode_membership(e.data);
      return fmt::format("{}@{} config {}", e.index, e.term,
                         m ? to_string(*m) : std::string("<undecodable>"));
    }
    case EntryType::kNormal:
      break;
  }
  return fmt::format("{}@{} {}", e.index, e.term, render_data(e.data));
}

std::string to_string(const Membership& m) {
  if (m.learners.empty()) return fmt::format("voters={}", render_ids(m.voters));
  return fmt::format("voters={} learners={}", render_ids(m.voters), render_ids(m.learners));
}

std::string to_string(const SnapshotMeta& meta) {
  return fmt::format("{}@{} {}", meta.index, meta.term, to_string(meta.membership));
}

std::string to_string(const Message& m) {
  std::string s = fmt::format("{}->{} {} term={}", m.from, m.to, message_kind_name(m.kind), m.term);
  auto out = std::back_inserter(s);
  switch (m.kind) {
    case MessageKind::kPreVote:
    case MessageKind::kVote:
      fmt::format_to(out, " last={}@{}{}", m.index, m.log_term, m.transfer ? " transfer" : "");
      break;
    case MessageKind::kPreVoteResponse:
    case MessageKind::kVoteResponse:
      fmt::format_to(out, " {}", m.reject ? "rejected" : "granted");
      break;
    case MessageKind::kAppend:
      fmt::format_to(out, " prev={}@{} commit={}", m.index, m.log_term, m.commit);
      if (!m.entries.empty()) fmt::format_to(out, " entries={}", render_entries(m.entries));
      break;
    case MessageKind::kAppendResponse:
      if (m.reject) {
        fmt::format_to(out, " rejected index={} hint={}@{}", m.index, m.hint_index, m.hint_term);
      } else {
        fmt::format_to(out, " index={}", m.index);
      }
      break;
    case MessageKind::kHeartbeat:
      fmt::format_to(out, " commit={} round={}", m.commit, m.read_round);
      break;
    case MessageKind::kHeartbeatResponse:
      fmt::format_to(out, " round={}", m.read_round);
      break;
    case MessageKind::kInstallSnapshot:
      fmt::format_to(out, " snapshot={} offset={} len={}{}", to_string(m.snapshot), m.offset,
                     m.chunk.size(), m.done ? " done" : "");
      break;
    case MessageKind::kInstallSnapshotResponse:
      fmt::format_to(out, " snapshot={}@{} offset={}{}", m.snapshot.index, m.snapshot.term,
                     m.offset, m.reject ? " rejected" : "");
      if (m.done) fmt::format_to(out, " done index={}", m.index);
      break;
    case MessageKind::kTimeoutNow:
      break;
  }
  return s;
}

std::string to_string(const HardState& h) {
  return fmt::format("term={} vote={} commit={}", h.term, h.vote, h.commit);
}

std::string to_string(const SoftState& s) {
  return fmt::format("{} term={} leader={}", role_name(s.role), s.term, s.leader);
}

std::string to_string(const ReadState& r) {
  return fmt::format("read {} at index {}", r.id, r.index);
}

std::string to_string(const Ready& r, std::string_view indent) {
  std::string s;
  auto out = std::back_inserter(s);
  if (r.role) fmt::format_to(out, "{}role: {}\n", indent, to_string(*r.role));
  if (r.hard_state) fmt::format_to(out, "{}hard_state: {}\n", indent, to_string(*r.hard_state));
  if (r.snapshot) {
    fmt::format_to(out, "{}snapshot: {} ({} bytes)\n", indent, to_string(r.snapshot->meta),
                   r.snapshot->data.size());
  }
  if (!r.entries.empty()) fmt::format_to(out, "{}entries: {}\n", indent, render_entries(r.entries));
  if (!r.messages.empty()) {
    fmt::format_to(out, "{}messages:\n", indent);
    for (const Message& m : r.messages) fmt::format_to(out, "{}  {}\n", indent, to_string(m));
  }
  if (!r.committed.empty()) {
    fmt::format_to(out, "{}committed: {}\n", indent, render_entries(r.committed));
  }
  for (const ReadState& rs : r.reads) fmt::format_to(out, "{}{}\n", indent, to_string(rs));
  for (ReadId id : r.reads_aborted) fmt::format_to(out, "{}read {} aborted\n", indent, id);
  return s;
}

}  // namespace praetor::raft
