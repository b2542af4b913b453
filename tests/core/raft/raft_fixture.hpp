// Helpers for driving single Raft instances by hand in unit tests.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "core/base/log.hpp"
#include "core/raft/raft.hpp"

namespace praetor::raft::test {

inline Config unit_config(NodeId id) {
  Config c;
  c.id = id;
  c.election_timeout = Duration::milliseconds(1000);
  c.heartbeat_interval = Duration::milliseconds(100);
  c.pre_vote = false;
  c.check_quorum = false;
  return c;
}

// Entries at indexes 1.. with the given terms.
inline std::vector<Entry> entries_with_terms(const std::vector<std::uint64_t>& terms) {
  std::vector<Entry> out;
  for (std::size_t i = 0; i < terms.size(); ++i) {
    Entry e;
    e.index = LogIndex(i + 1);
    e.term = Term(terms[i]);
    e.data = to_bytes("e" + std::to_string(i + 1));
    out.push_back(e);
  }
  return out;
}

inline Membership voters(std::initializer_list<std::uint64_t> ids) {
  Membership m;
  for (auto id : ids) m.voters.insert(NodeId(id));
  return m;
}

// One node plus its clock; Ready handling is "persist everything, collect messages".
struct Peer {
  NullLogger logger;
  Instant now;
  std::optional<Raft> raft;
  std::vector<Message> sent;
  std::vector<Entry> applied;

  Peer(Config config, Membership membership, std::vector<Entry> log = {}, Term term = Term(0),
       NodeId vote = NodeId(0), LogIndex commit = LogIndex(0)) {
    PersistentState s = PersistentState::bootstrap(std::move(membership));
    s.entries = std::move(log);
    s.hard_state = HardState{term, vote, commit};
    auto r = Raft::restore(config, std::move(s), Rng(config.id.value()), logger);
    EXPECT_TRUE(r.has_value());
    raft.emplace(std::move(r).value());
    raft->advance_time(now);
  }
  Raft* operator->() { return &*raft; }

  // Handles all Readies; returns the messages they carried (also appended to `sent`).
  std::vector<Message> drain() {
    std::vector<Message> out;
    while (raft->has_ready()) {
      Ready r = raft->take_ready();
      out.insert(out.end(), r.messages.begin(), r.messages.end());
      applied.insert(applied.end(), r.committed.begin(), r.committed.end());
      raft->advance(r);
    }
    sent.insert(sent.end(), out.begin(), out.end());
    raft->check_invariants();
    return out;
  }
  void step(const Message& m) {
    raft->step(now, m);
    raft->check_invariants();
  }
  void elapse(Duration d) {
    now = now + d;
    raft->advance_time(now);
    raft->check_invariants();
  }
  void timeout() {
    now = std::max(now, raft->next_deadline());
    raft->advance_time(now);
    raft->check_invariants();
  }
};

inline Message make_message(MessageKind kind, std::uint64_t from, std::uint64_t to,
                            std::uint64_t term) {
  Message m;
  m.kind = kind;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.term = Term(term);
  return m;
}

inline std::vector<Message> of_kind(const std::vector<Message>& msgs, MessageKind kind) {
  std::vector<Message> out;
  for (const auto& m : msgs) {
    if (m.kind == kind) out.push_back(m);
  }
  return out;
}

}  // namespace praetor::raft::test
