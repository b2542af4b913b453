#include "tests/core/raft/cluster.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "core/base/bytes.hpp"
#include "core/raft/codec.hpp"

namespace praetor::raft::test {
namespace {

[[noreturn]] void violation(const std::string& what) {
  throw std::runtime_error("raft safety violation: " + what);
}

}  // namespace

void CaptureLogger::log(LogLevel level, std::string_view, std::string_view message) {
  if (sink_ == nullptr) return;
  fmt::format_to(std::back_inserter(*sink_), "{} {}\n", log_level_name(level), message);
}

Bytes encode_fsm(const std::vector<Entry>& entries, LogIndex upto) {
  Bytes out;
  for (const Entry& e : entries) {
    if (e.index > upto) break;
    Bytes one = encode_entry(e);
    put_u32_le(out, static_cast<std::uint32_t>(one.size()));
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

std::vector<Entry> decode_fsm(const Bytes& data) {
  std::vector<Entry> out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::uint32_t n = get_u32_le(data.data() + pos);
    pos += 4;
    auto e = decode_entry(ByteView(data.data() + pos, n));
    if (!e) throw std::runtime_error("bad fsm snapshot: " + e.error().message);
    out.push_back(*e);
    pos += n;
  }
  return out;
}

Cluster::Cluster(Config base, std::uint64_t seed, bool render, LogLevel log_level)
    : base_(base), seed_(seed), render_(render), log_level_(log_level) {}

std::vector<NodeId> Cluster::add_nodes(std::size_t n, bool bootstrap, const Config* overrides) {
  std::vector<NodeId> added;
  const std::uint64_t first = nodes_.empty() ? 1 : nodes_.rbegin()->first.value() + 1;
  Membership membership;
  for (std::size_t i = 0; i < n; ++i) added.emplace_back(first + i);
  if (bootstrap) membership.voters.insert(added.begin(), added.end());
  for (NodeId id : added) {
    Node& node = nodes_[id];
    node.id = id;
    node.config = overrides != nullptr ? *overrides : base_;
    node.config.id = id;
    node.snapshot.meta.membership = membership;
    node.logger = std::make_unique<CaptureLogger>(render_ ? &out_ : nullptr, log_level_);
    restart(id);
  }
  return added;
}

Node& Cluster::node(NodeId id) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) throw std::runtime_error(fmt::format("no node {}", id));
  return it->second;
}

bool Cluster::is_up(NodeId id) const {
  auto it = nodes_.find(id);
  return it != nodes_.end() && it->second.raft.has_value();
}

std::vector<NodeId> Cluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, n] : nodes_) out.push_back(id);
  return out;
}

void Cluster::crash(NodeId id) {
  Node& n = node(id);
  n.raft.reset();
  n.pending_reads.clear();
}

void Cluster::restart(NodeId id) {
  Node& n = node(id);
  PersistentState state;
  state.hard_state = n.hard_state;
  state.snapshot = n.snapshot;
  state.entries = n.log;
  // The state machine restarts from the snapshot; Raft re-delivers the committed entries after it.
  n.fsm = decode_fsm(n.snapshot.data);
  n.applied = n.snapshot.meta.index;
  Rng rng(seed_ * 1000003 + id.value() * 7919 + n.restarts++);
  auto r = Raft::restore(n.config, std::move(state), rng, *n.logger);
  if (!r) throw std::runtime_error("restore failed: " + r.error().message);
  n.raft.emplace(std::move(r).value());
  n.raft->advance_time(n.now);
  after_input(id);
}

void Cluster::tick(NodeId id, std::size_t times) {
  for (std::size_t i = 0; i < times; ++i) {
    Node& n = node(id);
    n.now = n.now + tick();
    if (!n.raft) continue;
    n.raft->advance_time(n.now);
    after_input(id);
  }
}

void Cluster::fire_next_deadline(NodeId id) {
  Node& n = node(id);
  if (!n.raft) return;
  n.now = std::max(n.now, n.raft->next_deadline());
  n.raft->advance_time(n.now);
  after_input(id);
}

void Cluster::campaign(NodeId id) {
  Node& n = node(id);
  if (!n.raft) return;
  n.raft->campaign(n.now);
  after_input(id);
}

void Cluster::step(NodeId id, const Message& m) {
  Node& n = node(id);
  if (!n.raft) return;
  n.raft->step(n.now, m);
  after_input(id);
}

void Cluster::after_input(NodeId id) {
  (void)id;
  check_invariants();
}

bool Cluster::link_up(NodeId from, NodeId to) const { return cut_.count({from, to}) == 0; }

void Cluster::partition(const std::set<NodeId>& a, const std::set<NodeId>& b) {
  for (NodeId x : a) {
    for (NodeId y : b) {
      cut_.insert({x, y});
      cut_.insert({y, x});
    }
  }
}

void Cluster::isolate(NodeId id) {
  for (const auto& [other, n] : nodes_) {
    if (other == id) continue;
    cut_.insert({id, other});
    cut_.insert({other, id});
  }
}

bool Cluster::process_ready(NodeId id) {
  Node& n = node(id);
  if (!n.raft || !n.raft->has_ready()) return false;
  Ready r = n.raft->take_ready();
  if (render_) fmt::format_to(std::back_inserter(out_), "> {} handling Ready\n{}", id, r);
  persist_and_apply(n, r);
  n.raft->advance(r);
  after_input(id);
  return true;
}

void Cluster::crash_during_ready(NodeId id, bool persisted) {
  Node& n = node(id);
  if (n.raft && n.raft->has_ready()) {
    Ready r = n.raft->take_ready();
    if (render_) {
      fmt::format_to(std::back_inserter(out_), "> {} crashes {} persisting its Ready\n", id,
                     persisted ? "after" : "before");
    }
    if (persisted) persist(n, r);
  }
  crash(id);
}

void Cluster::persist_and_apply(Node& n, const Ready& r) {
  persist(n, r);
  send_and_apply(n, r);
}

void Cluster::persist(Node& n, const Ready& r) {
  // 1. Snapshot: replaces the log and the state machine.
  if (r.snapshot) {
    n.snapshot = *r.snapshot;
    n.log.clear();
    n.fsm = decode_fsm(r.snapshot->data);
    for (const Entry& e : n.fsm) record_applied(n, e);
    n.applied = r.snapshot->meta.index;
  }
  // 2. Hard state and entries, durably, before any message leaves.
  if (r.hard_state) n.hard_state = *r.hard_state;
  if (!r.entries.empty()) {
    const LogIndex first = r.entries.front().index;
    const LogIndex base = n.snapshot.meta.index;
    if (first.value() > base.value() + n.log.size() + 1 || first <= base) {
      violation(fmt::format("node {}: persisting {} leaves a gap (disk base {}, {} entries)", n.id,
                            first, base, n.log.size()));
    }
    n.log.resize(first.value() - base.value() - 1);
    n.log.insert(n.log.end(), r.entries.begin(), r.entries.end());
  }
}

void Cluster::send_and_apply(Node& n, const Ready& r) {
  // 3. Messages.
  for (const Message& m : r.messages) {
    // The contract the host relies on: what a message vouches for is already durable.
    const bool future_term =
        m.kind == MessageKind::kPreVote || (m.kind == MessageKind::kPreVoteResponse && !m.reject);
    if (!future_term && m.term > n.hard_state.term) {
      violation(fmt::format("node {} sends term {} before persisting it", n.id, m.term));
    }
    const LogIndex disk_last(n.snapshot.meta.index.value() + n.log.size());
    if (m.term < n.hard_state.term) {
      violation(fmt::format("node {} sends a message of term {} after persisting term {}", n.id,
                            m.term, n.hard_state.term));
    }
    if (m.kind == MessageKind::kAppendResponse && !m.reject && m.index > disk_last) {
      violation(fmt::format("node {} acknowledges {} but persisted only up to {}", n.id, m.index,
                            disk_last));
    }
    if (m.kind == MessageKind::kVoteResponse && !m.reject &&
        (n.hard_state.term != m.term || n.hard_state.vote != m.to)) {
      violation(fmt::format("node {} grants a vote to {} it has not persisted", n.id, m.to));
    }
    // Round-trip through the codec, as a real network would.
    auto decoded = decode_message(encode_message(m));
    if (!decoded || !(*decoded == m)) violation(fmt::format("codec mangled {}", m));
    queue_.push_back(std::move(decoded).value());
  }
  // 4. Committed entries, in order, exactly once.
  for (const Entry& e : r.committed) {
    if (e.index != n.applied.next()) {
      violation(fmt::format("node {} applies {} after {}", n.id, e.index, n.applied));
    }
    n.fsm.push_back(e);
    n.applied = e.index;
    record_applied(n, e);
  }
  // 5. Reads: served once applied >= index.
  for (const ReadState& rs : r.reads) n.pending_reads.push_back(rs);
  std::erase_if(n.pending_reads, [&](const ReadState& rs) {
    if (n.applied < rs.index) return false;
    n.served_reads.push_back(rs);
    return true;
  });
}

void Cluster::record_applied(Node& n, const Entry& e) {
  auto [it, inserted] = committed_.emplace(e.index, e);
  if (!inserted && !(it->second == e)) {
    violation(fmt::format("node {} applied {} but {} was applied elsewhere", n.id, e, it->second));
  }
}

std::size_t Cluster::deliver(std::optional<NodeId> to) {
  std::deque<Message> batch;
  std::deque<Message> keep;
  for (auto& m : queue_) {
    if (to && m.to != *to) {
      keep.push_back(std::move(m));
    } else {
      batch.push_back(std::move(m));
    }
  }
  queue_ = std::move(keep);
  for (const Message& m : batch) {
    const bool up =
        is_up(m.to) && link_up(m.from, m.to) && cut_kinds_.count({m.from, m.to, m.kind}) == 0;
    if (render_) fmt::format_to(std::back_inserter(out_), "{}{}\n", up ? "" : "dropped: ", m);
    if (!up) continue;
    delivered_.push_back(m);
    if (delivered_.size() > 256) delivered_.pop_front();
    step(m.to, m);
  }
  return batch.size();
}

void Cluster::deliver_one(std::size_t position) {
  if (queue_.empty()) return;
  const auto it = queue_.begin() + static_cast<std::ptrdiff_t>(position % queue_.size());
  const Message m = std::move(*it);
  queue_.erase(it);
  if (!is_up(m.to) || !link_up(m.from, m.to) || cut_kinds_.count({m.from, m.to, m.kind}) != 0) {
    return;
  }
  step(m.to, m);
}

bool Cluster::replay(NodeId from, NodeId to, MessageKind kind) {
  for (auto it = delivered_.rbegin(); it != delivered_.rend(); ++it) {
    if (it->from == from && it->to == to && it->kind == kind) {
      const Message m = *it;
      if (render_) fmt::format_to(std::back_inserter(out_), "replayed: {}\n", m);
      step(to, m);
      return true;
    }
  }
  return false;
}

void Cluster::stabilize() {
  for (int rounds = 0; rounds < 10000; ++rounds) {
    bool any = false;
    for (NodeId id : ids()) {
      while (process_ready(id)) any = true;
    }
    if (deliver() > 0) any = true;
    if (!any) return;
  }
  violation("stabilize did not converge");
}

void Cluster::drop_queued(std::optional<std::pair<NodeId, NodeId>> link) {
  std::erase_if(queue_, [&](const Message& m) {
    const bool match = !link || (m.from == link->first && m.to == link->second);
    if (match && render_) fmt::format_to(std::back_inserter(out_), "dropped: {}\n", m);
    return match;
  });
}

Result<void> Cluster::compact(NodeId id, LogIndex index) {
  Node& n = node(id);
  if (!n.raft) return make_error(ErrorCode::kUnavailable, "node is down");
  Bytes data = encode_fsm(n.fsm, index);
  auto r = n.raft->compact(index, data);
  if (r) {
    n.snapshot = Snapshot{n.raft->log().snapshot(), std::move(data)};
    std::erase_if(n.log, [&](const Entry& e) { return e.index <= index; });
  }
  after_input(id);
  return r;
}

std::optional<NodeId> Cluster::leader() const {
  std::optional<NodeId> best;
  Term best_term;
  for (const auto& [id, n] : nodes_) {
    if (n.raft && n.raft->role() == Role::kLeader && (!best || n.raft->term() > best_term)) {
      best = id;
      best_term = n.raft->term();
    }
  }
  return best;
}

std::string Cluster::take_output() {
  std::string s = std::move(out_);
  out_.clear();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

void Cluster::check_invariants() {
  for (auto& [id, n] : nodes_) {
    if (!n.raft) continue;
    n.raft->check_invariants();
    // Election Safety (Raft §5.2): at most one leader per term.
    if (n.raft->role() == Role::kLeader) {
      auto [it, inserted] = leaders_.emplace(n.raft->term(), id);
      if (!inserted && it->second != id) {
        violation(fmt::format("two leaders in term {}: {} and {}", n.raft->term(), it->second, id));
      }
      if (!inserted) continue;
      // Leader Completeness (§5.4): when a node wins an election, every entry applied anywhere
      // so far is in its log. (A stale leader of an older term may lack later commits.)
      const RaftLog& log = n.raft->log();
      for (const auto& [index, e] : committed_) {
        if (index <= log.snapshot().index) continue;
        if (index > log.last_index() || !(log.at(index) == e)) {
          violation(
              fmt::format("leader {} (term {}) lacks committed entry {}", id, n.raft->term(), e));
        }
      }
    }
  }
  // Log Matching (§5.3): same index and term => identical prefixes. Compare each pair from the
  // highest index they share with equal terms downwards.
  for (auto a = nodes_.begin(); a != nodes_.end(); ++a) {
    if (!a->second.raft) continue;
    for (auto b = std::next(a); b != nodes_.end(); ++b) {
      if (!b->second.raft) continue;
      const RaftLog& la = a->second.raft->log();
      const RaftLog& lb = b->second.raft->log();
      const LogIndex lo = std::max(la.first_index(), lb.first_index());
      LogIndex hi = std::min(la.last_index(), lb.last_index());
      while (hi >= lo && hi > LogIndex(0) && la.at(hi).term != lb.at(hi).term) hi = hi.prev();
      for (LogIndex i = lo; i <= hi && i > LogIndex(0); i = i.next()) {
        if (!(la.at(i) == lb.at(i))) {
          violation(fmt::format("logs of {} and {} differ at {} below matching {}", a->first,
                                b->first, i, hi));
        }
      }
    }
  }
}

}  // namespace praetor::raft::test
