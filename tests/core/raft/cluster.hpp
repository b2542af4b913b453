// An in-test Raft cluster: N Raft cores, their "disks" and state machines, and a deterministic
// in-memory network that the test controls message by message (deliver, drop, partition). It
// plays the host's part of the Ready contract (persist, send, apply, advance) and checks the
// cluster-wide safety properties after every input: at most one leader per term, log matching,
// committed entries never change, identical applied prefixes, leader completeness.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/base/log.hpp"
#include "core/raft/format.hpp"
#include "core/raft/raft.hpp"

namespace praetor::raft::test {

// Collects log lines into the cluster's output so transcripts show them in order.
class CaptureLogger final : public Logger {
 public:
  CaptureLogger(std::string* sink, LogLevel level) : sink_(sink), level_(level) {}
  void log(LogLevel level, std::string_view, std::string_view message) override;
  bool enabled(LogLevel level) const override { return sink_ != nullptr && level >= level_; }

 private:
  std::string* sink_;
  LogLevel level_;
};

struct Node {
  NodeId id;
  Config config;
  std::unique_ptr<CaptureLogger> logger;
  std::optional<Raft> raft;  // nullopt while crashed
  Instant now;
  std::uint64_t restarts = 0;
  // The "disk": what the node has persisted.
  HardState hard_state;
  Snapshot snapshot;
  std::vector<Entry> log;
  // The state machine: every entry applied so far, in index order (from the snapshot on).
  std::vector<Entry> fsm;
  LogIndex applied;
  std::vector<ReadState> pending_reads;
  std::vector<ReadState> served_reads;
};

class Cluster {
 public:
  // `render` = false discards all output (property tests); logs go to the output at `log_level`.
  Cluster(Config base, std::uint64_t seed, bool render, LogLevel log_level = LogLevel::kInfo);

  // Adds n nodes with the next ids. With `bootstrap`, they start as voters of a fresh cluster
  // made of exactly these nodes; otherwise with an empty membership (joining later).
  std::vector<NodeId> add_nodes(std::size_t n, bool bootstrap, const Config* overrides = nullptr);

  Node& node(NodeId id);
  bool is_up(NodeId id) const;
  std::vector<NodeId> ids() const;
  Duration tick() const { return base_.heartbeat_interval; }

  // Inputs (each checks invariants afterwards).
  void tick(NodeId id, std::size_t times);
  void fire_next_deadline(NodeId id);
  void campaign(NodeId id);
  void step(NodeId id, const Message& m);

  // Ready handling and network.
  bool process_ready(NodeId id);
  // Delivers every message queued now (not those their handling produces), optionally only
  // those addressed to `to`. Returns how many were delivered or dropped.
  std::size_t deliver(std::optional<NodeId> to = std::nullopt);
  // Delivers only the queued message at `position` (mod the queue size): reordering.
  void deliver_one(std::size_t position);
  void stabilize();
  void drop_queued(std::optional<std::pair<NodeId, NodeId>> link);
  std::size_t queued() const { return queue_.size(); }
  std::deque<Message>& queue() { return queue_; }
  // Delivers again the most recent message of `kind` delivered on from->to (duplicates, stale
  // retransmissions). Returns false if there is none.
  bool replay(NodeId from, NodeId to, MessageKind kind);

  void cut(NodeId from, NodeId to) { cut_.insert({from, to}); }
  void cut_kind(NodeId from, NodeId to, MessageKind kind) { cut_kinds_.insert({from, to, kind}); }
  void partition(const std::set<NodeId>& a, const std::set<NodeId>& b);
  void isolate(NodeId id);
  void heal() {
    cut_.clear();
    cut_kinds_.clear();
  }
  bool link_up(NodeId from, NodeId to) const;

  void crash(NodeId id);
  // Crashes while handling a Ready: with nothing of it done, or after persisting but before
  // sending or applying anything.
  void crash_during_ready(NodeId id, bool persisted);
  void restart(NodeId id);
  Result<void> compact(NodeId id, LogIndex index);

  std::optional<NodeId> leader() const;  // the up leader with the highest term, if any
  void check_invariants();
  // Highest index any node applied; and the global committed history.
  const std::map<LogIndex, Entry>& committed_history() const { return committed_; }

  std::string& out() { return out_; }
  std::string take_output();
  bool rendering() const { return render_; }

 private:
  void persist_and_apply(Node& n, const Ready& r);
  void persist(Node& n, const Ready& r);
  void send_and_apply(Node& n, const Ready& r);
  void after_input(NodeId id);
  void record_applied(Node& n, const Entry& e);

  Config base_;
  std::uint64_t seed_;
  bool render_;
  LogLevel log_level_;
  std::string out_;
  std::map<NodeId, Node> nodes_;
  std::deque<Message> queue_;
  std::deque<Message> delivered_;  // the last kHistory delivered messages
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::set<std::tuple<NodeId, NodeId, MessageKind>> cut_kinds_;
  std::map<Term, NodeId> leaders_;       // every leader ever seen, by term
  std::map<LogIndex, Entry> committed_;  // every entry any node has applied
};

// The state machine snapshot format: the applied entries, length-prefixed.
Bytes encode_fsm(const std::vector<Entry>& entries, LogIndex upto);
std::vector<Entry> decode_fsm(const Bytes& data);

}  // namespace praetor::raft::test
