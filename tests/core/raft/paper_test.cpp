// The Raft paper's claims, one test each (the list follows etcd-io/raft's raft_paper_test.go;
// the code is our own). Section numbers refer to "In Search of an Understandable Consensus
// Algorithm" (extended version). Pre-vote and CheckQuorum are off here so each claim is tested
// against the plain protocol; other files cover those extensions.
#include <gtest/gtest.h>

#include "core/raft/format.hpp"
#include "core/raft/quorum.hpp"
#include "tests/core/raft/cluster.hpp"
#include "tests/core/raft/raft_fixture.hpp"

namespace praetor::raft::test {
namespace {

const Duration kElection = Duration::milliseconds(1000);
const Duration kHeartbeat = Duration::milliseconds(100);

// Makes node 1 leader of term 1 in a cluster of `n` by granting votes by hand.
void elect(Peer& p, std::size_t n) {
  p->campaign(p.now);
  p.drain();
  for (std::uint64_t v = 2; v <= n && p->role() != Role::kLeader; ++v) {
    Message r = make_message(MessageKind::kVoteResponse, v, 1, p->term().value());
    p.step(r);
  }
  ASSERT_EQ(p->role(), Role::kLeader);
  p.drain();
}

// §5.1: a server that sees a higher term adopts it and reverts to follower, whatever its role.
TEST(RaftPaper, UpdateTermFromMessage) {
  for (int role = 0; role < 3; ++role) {
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
    if (role == 1) p->campaign(p.now);
    if (role == 2) elect(p, 3);
    p.drain();
    p.step(make_message(MessageKind::kAppend, 2, 1, 5));
    EXPECT_EQ(p->term(), Term(5)) << role;
    EXPECT_EQ(p->role(), Role::kFollower) << role;
  }
}

// §5.1: a request with a stale term is rejected (ignored, with our term in the answer).
TEST(RaftPaper, RejectStaleTermMessage) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}), {}, Term(2));
  Message m = make_message(MessageKind::kAppend, 2, 1, 1);
  m.entries = entries_with_terms({1});
  p.step(m);
  EXPECT_EQ(p->log().last_index(), LogIndex(0));
  EXPECT_EQ(p->term(), Term(2));
  EXPECT_EQ(p->leader(), kNoNode);
}

// §5.2: servers start as followers.
TEST(RaftPaper, StartAsFollower) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
  EXPECT_EQ(p->role(), Role::kFollower);
}

// §5.2: the leader sends heartbeats to all followers every heartbeat interval.
TEST(RaftPaper, LeaderBroadcastsHeartbeats) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
  elect(p, 3);
  p.elapse(kHeartbeat);
  auto hb = of_kind(p.drain(), MessageKind::kHeartbeat);
  ASSERT_EQ(hb.size(), 2u);
  EXPECT_EQ(hb[0].to, NodeId(2));
  EXPECT_EQ(hb[1].to, NodeId(3));
  EXPECT_EQ(hb[0].term, Term(1));
}

// §5.2: a follower (or candidate) that hears nothing for an election timeout starts an
// election: increments its term, votes for itself, and asks every other server for its vote.
TEST(RaftPaper, NonLeaderStartsElection) {
  for (bool candidate : {false, true}) {
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
    if (candidate) {
      p->campaign(p.now);
      p.drain();
    }
    const Term before = p->term();
    p.elapse(kElection * 2);
    EXPECT_EQ(p->role(), Role::kCandidate);
    EXPECT_EQ(p->term(), before.next());
    EXPECT_EQ(p->status().vote, NodeId(1));
    auto votes = of_kind(p.drain(), MessageKind::kVote);
    ASSERT_EQ(votes.size(), 2u);
    EXPECT_EQ(votes[0].term, before.next());
  }
}

// §5.2: a candidate wins with votes from a majority, loses to a majority of rejections, and
// otherwise keeps waiting.
TEST(RaftPaper, LeaderElectionInOneRound) {
  struct Case {
    std::uint64_t size;
    std::map<std::uint64_t, bool> votes;
    Role want;
  };
  const std::vector<Case> cases = {
      {1, {}, Role::kLeader},
      {3, {{2, true}, {3, true}}, Role::kLeader},
      {3, {{2, true}}, Role::kLeader},
      {5, {{2, true}, {3, true}, {4, true}, {5, true}}, Role::kLeader},
      {5, {{2, true}, {3, true}}, Role::kLeader},
      {3, {{2, false}, {3, false}}, Role::kFollower},
      {5, {{2, false}, {3, false}, {4, false}, {5, false}}, Role::kFollower},
      {5, {{2, true}, {3, false}, {4, false}, {5, false}}, Role::kFollower},
      {3, {}, Role::kCandidate},
      {5, {{2, true}}, Role::kCandidate},
      {5, {{2, false}, {3, false}}, Role::kCandidate},
  };
  for (const Case& c : cases) {
    Membership m;
    for (std::uint64_t i = 1; i <= c.size; ++i) m.voters.insert(NodeId(i));
    Peer p(unit_config(NodeId(1)), m);
    p->campaign(p.now);
    for (const auto& [from, granted] : c.votes) {
      Message r = make_message(MessageKind::kVoteResponse, from, 1, 1);
      r.reject = !granted;
      p.step(r);
    }
    EXPECT_EQ(p->role(), c.want) << c.size << " voters";
  }
}

// §5.2: each server votes for at most one candidate per term, first come first served.
TEST(RaftPaper, FollowerVotesOncePerTerm) {
  struct Case {
    std::uint64_t vote;
    std::uint64_t from;
    bool reject;
  };
  for (const Case& c : std::vector<Case>{{0, 2, false},
                                         {0, 3, false},
                                         {2, 2, false},
                                         {3, 3, false},
                                         {2, 3, true},
                                         {3, 2, true}}) {
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}), {}, Term(1), NodeId(c.vote));
    p.step(make_message(MessageKind::kVote, c.from, 1, 1));
    auto r = of_kind(p.drain(), MessageKind::kVoteResponse);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].reject, c.reject) << "vote " << c.vote << " from " << c.from;
  }
}

// §5.2: a candidate that hears from a leader of its term (or later) steps down.
TEST(RaftPaper, CandidateFallsBack) {
  for (std::uint64_t term : {1, 2}) {
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
    p->campaign(p.now);
    ASSERT_EQ(p->role(), Role::kCandidate);
    p.step(make_message(MessageKind::kAppend, 2, 1, term));
    EXPECT_EQ(p->role(), Role::kFollower);
    EXPECT_EQ(p->term(), Term(term));
    EXPECT_EQ(p->leader(), NodeId(2));
  }
}

// §5.2: election timeouts are randomized in [T, 2T) and differ between servers.
TEST(RaftPaper, ElectionTimeoutRandomized) {
  std::set<std::int64_t> seen;
  for (std::uint64_t id = 1; id <= 50; ++id) {
    Peer p(unit_config(NodeId(id)), voters({id, id + 1000, id + 2000}));
    const Duration t = p->next_deadline() - p.now;
    EXPECT_GE(t, kElection);
    EXPECT_LT(t, kElection * 2);
    seen.insert(t.count_ms());
  }
  EXPECT_GT(seen.size(), 30u);
}

// §5.3: the leader appends a proposal to its log and sends it to every follower.
TEST(RaftPaper, LeaderStartsReplication) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
  elect(p, 3);
  for (std::uint64_t f : {2, 3}) {
    Message ack = make_message(MessageKind::kAppendResponse, f, 1, 1);
    ack.index = LogIndex(1);
    p.step(ack);
  }
  p.drain();
  auto index = p->propose(p.now, to_bytes("x"));
  ASSERT_TRUE(index.has_value());
  EXPECT_EQ(*index, LogIndex(2));
  auto apps = of_kind(p.drain(), MessageKind::kAppend);
  ASSERT_EQ(apps.size(), 2u);
  for (const auto& m : apps) {
    EXPECT_EQ(m.index, LogIndex(1));
    EXPECT_EQ(m.log_term, Term(1));
    ASSERT_EQ(m.entries.size(), 1u);
    EXPECT_EQ(m.entries[0].data, to_bytes("x"));
  }
}

// §5.3: an entry is committed once a majority stores it; the leader applies it and tells
// followers the commit index in later messages. Table over acknowledgement sets.
TEST(RaftPaper, LeaderAcknowledgesCommit) {
  struct Case {
    std::uint64_t size;
    std::set<std::uint64_t> acks;
    bool committed;
  };
  const std::vector<Case> cases = {{1, {}, true},     {3, {}, false},         {3, {2}, true},
                                   {3, {2, 3}, true}, {5, {}, false},         {5, {2}, false},
                                   {5, {2, 3}, true}, {5, {2, 3, 4, 5}, true}};
  for (const Case& c : cases) {
    Membership m;
    for (std::uint64_t i = 1; i <= c.size; ++i) m.voters.insert(NodeId(i));
    Peer p(unit_config(NodeId(1)), m);
    elect(p, c.size);
    auto index = p->propose(p.now, to_bytes("x"));
    ASSERT_TRUE(index.has_value());
    p.drain();
    for (std::uint64_t a : c.acks) {
      Message ack = make_message(MessageKind::kAppendResponse, a, 1, 1);
      ack.index = *index;
      p.step(ack);
    }
    p.drain();
    EXPECT_EQ(p->log().committed() == *index, c.committed) << c.size << " " << c.acks.size();
  }
}

// §5.3: committing an entry commits all preceding entries, including those from earlier
// leaders (indirectly, through an entry of the current term).
TEST(RaftPaper, LeaderCommitsPrecedingEntries) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}), entries_with_terms({1, 1, 2}), Term(2));
  elect(p, 3);  // term 3, no-op at index 4
  Message ack = make_message(MessageKind::kAppendResponse, 2, 1, 3);
  ack.index = LogIndex(4);
  p.step(ack);
  p.drain();
  EXPECT_EQ(p->log().committed(), LogIndex(4));
  ASSERT_EQ(p.applied.size(), 4u);
  EXPECT_EQ(p.applied[3].type, EntryType::kNoop);
}

// §5.3: a follower learns the commit index from the leader and applies up to it, in order.
TEST(RaftPaper, FollowerCommitsEntries) {
  for (std::size_t commit : {1, 2}) {
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
    Message m = make_message(MessageKind::kAppend, 2, 1, 1);
    m.entries = entries_with_terms({1, 1});
    m.commit = LogIndex(commit);
    p.step(m);
    p.drain();
    EXPECT_EQ(p->log().committed(), LogIndex(commit));
    ASSERT_EQ(p.applied.size(), commit);
    EXPECT_EQ(p.applied.back().index, LogIndex(commit));
  }
}

// §5.3: a follower rejects an append whose previous entry it does not hold.
TEST(RaftPaper, FollowerChecksPreviousEntry) {
  struct Case {
    std::uint64_t prev_term, prev_index;
    bool reject;
  };
  for (const Case& c : std::vector<Case>{
           {0, 0, false}, {1, 1, false}, {2, 2, false}, {1, 2, true}, {3, 3, true}, {2, 4, true}}) {
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}), entries_with_terms({1, 2}), Term(2));
    Message m = make_message(MessageKind::kAppend, 2, 1, 2);
    m.log_term = Term(c.prev_term);
    m.index = LogIndex(c.prev_index);
    p.step(m);
    auto r = of_kind(p.drain(), MessageKind::kAppendResponse);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].reject, c.reject) << c.prev_index << "@" << c.prev_term;
  }
}

// §5.3: on a conflict the follower deletes the conflicting entry and all that follow, then
// appends the leader's; entries it already has are kept.
TEST(RaftPaper, FollowerAppendsAndTruncates) {
  struct Case {
    std::uint64_t prev_index, prev_term;
    std::vector<std::uint64_t> new_terms;  // terms of entries at prev_index+1..
    std::vector<std::uint64_t> want;
  };
  const std::vector<Case> cases = {
      {2, 2, {3}, {1, 2, 3}},
      {1, 1, {3, 4}, {1, 3, 4}},
      {0, 0, {1}, {1, 2}},
      {0, 0, {3}, {3}},
  };
  for (const Case& c : cases) {
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}), entries_with_terms({1, 2}), Term(4));
    Message m = make_message(MessageKind::kAppend, 2, 1, 4);
    m.index = LogIndex(c.prev_index);
    m.log_term = Term(c.prev_term);
    for (std::size_t i = 0; i < c.new_terms.size(); ++i) {
      Entry e;
      e.index = LogIndex(c.prev_index + 1 + i);
      e.term = Term(c.new_terms[i]);
      m.entries.push_back(e);
    }
    p.step(m);
    std::vector<std::uint64_t> got;
    for (LogIndex i(1); i <= p->log().last_index(); i = i.next()) {
      got.push_back(p->log().at(i).term.value());
    }
    EXPECT_EQ(got, c.want);
  }
}

// §5.3/Figure 7: the leader brings every kind of divergent follower log in line with its own.
TEST(RaftPaper, LeaderSyncsFollowerLogs) {
  const std::vector<std::uint64_t> leader = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const std::vector<std::vector<std::uint64_t>> followers = {{1, 1, 1, 4, 4, 5, 5, 6, 6},
                                                             {1, 1, 1, 4},
                                                             {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},
                                                             {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},
                                                             {1, 1, 1, 4, 4, 4, 4},
                                                             {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}};
  for (const auto& follower : followers) {
    Config cfg;
    cfg.pre_vote = false;
    cfg.check_quorum = false;
    Cluster c(cfg, 7, false);
    c.add_nodes(3, true);
    // Install the logs as if persisted, then restart: 1 (leader-to-be), 2 (divergent), 3
    // (empty, votes for 1).
    auto install = [&](NodeId id, const std::vector<std::uint64_t>& terms) {
      c.crash(id);
      c.node(id).log = entries_with_terms(terms);
      c.node(id).hard_state = HardState{Term(8), NodeId(0), LogIndex(0)};
      c.restart(id);
    };
    install(NodeId(1), leader);
    install(NodeId(2), follower);
    install(NodeId(3), {});
    c.campaign(NodeId(1));
    c.stabilize();
    ASSERT_EQ(c.node(NodeId(1)).raft->role(), Role::kLeader);
    const RaftLog& l1 = c.node(NodeId(1)).raft->log();
    const RaftLog& l2 = c.node(NodeId(2)).raft->log();
    ASSERT_EQ(l1.last_index(), l2.last_index());
    for (LogIndex i(1); i <= l1.last_index(); i = i.next()) EXPECT_EQ(l1.at(i), l2.at(i));
  }
}

// §5.4.1: a vote request carries the candidate's last log index and term.
TEST(RaftPaper, VoteRequestCarriesLastEntry) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}), entries_with_terms({1, 2}), Term(3));
  p->campaign(p.now);
  auto votes = of_kind(p.drain(), MessageKind::kVote);
  ASSERT_EQ(votes.size(), 2u);
  EXPECT_EQ(votes[0].index, LogIndex(2));
  EXPECT_EQ(votes[0].log_term, Term(2));
  EXPECT_EQ(votes[0].term, Term(4));
}

// §5.4.1: a voter denies its vote to a candidate whose log is less up to date than its own.
TEST(RaftPaper, VoterGrantsOnlyToUpToDateLogs) {
  struct Case {
    std::uint64_t index, term;
    bool reject;
  };
  // Voter's log: 1@2, 2@2.
  for (const Case& c : std::vector<Case>{
           {3, 1, true}, {3, 2, false}, {2, 2, false}, {1, 2, true}, {1, 3, false}, {0, 0, true}}) {
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}), entries_with_terms({2, 2}), Term(2));
    Message m = make_message(MessageKind::kVote, 2, 1, 3);
    m.index = LogIndex(c.index);
    m.log_term = Term(c.term);
    p.step(m);
    auto r = of_kind(p.drain(), MessageKind::kVoteResponse);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].reject, c.reject) << c.index << "@" << c.term;
  }
}

// §5.4.2: a leader commits by counting replicas only entries of its current term.
TEST(RaftPaper, LeaderOnlyCommitsCurrentTermByCounting) {
  for (std::uint64_t acked : {1, 2, 3}) {
    // Log 1@1, 2@2 from earlier terms; the leader of term 3 appends its no-op at 3.
    Peer p(unit_config(NodeId(1)), voters({1, 2, 3}), entries_with_terms({1, 2}), Term(2));
    elect(p, 3);
    Message ack = make_message(MessageKind::kAppendResponse, 2, 1, 3);
    ack.index = LogIndex(acked);
    p.step(ack);
    p.drain();
    EXPECT_EQ(p->log().committed(), LogIndex(acked == 3 ? 3 : 0)) << acked;
  }
}

// The Ready contract: a vote is handed out for persistence in the same Ready as the messages
// that depend on it, and a leader does not count its own unpersisted entries.
TEST(RaftReady, VoteIsPersistedWithTheResponse) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
  p.step(make_message(MessageKind::kVote, 2, 1, 1));
  ASSERT_TRUE(p->has_ready());
  Ready r = p->take_ready();
  ASSERT_TRUE(r.hard_state.has_value());
  EXPECT_EQ(r.hard_state->vote, NodeId(2));
  EXPECT_EQ(r.hard_state->term, Term(1));
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_FALSE(r.messages[0].reject);
  p->advance(r);
}

TEST(RaftReady, LeaderCountsItselfOnlyOncePersisted) {
  Peer p(unit_config(NodeId(1)), voters({1}));
  p->campaign(p.now);
  ASSERT_EQ(p->role(), Role::kLeader);
  Ready r1 = p->take_ready();
  EXPECT_EQ(r1.entries.size(), 1u);
  EXPECT_TRUE(r1.committed.empty());
  EXPECT_EQ(p->log().committed(), LogIndex(0));
  p->advance(r1);
  EXPECT_EQ(p->log().committed(), LogIndex(1));
  Ready r2 = p->take_ready();
  ASSERT_EQ(r2.committed.size(), 1u);
  p->advance(r2);
}

// Thesis §10.2.1: followers can commit what the leader is still writing. The leader sends the
// append while its own write is in flight, and hands the entry over as soon as a quorum of
// followers has it, without waiting for advance().
TEST(RaftReady, EntriesCommittedByFollowersWhileTheLeaderWritesAreHandedOverAtOnce) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
  elect(p, 3);  // the no-op (index 1) is sent, not yet acknowledged
  for (std::uint64_t from : {2, 3}) {
    Message ack = make_message(MessageKind::kAppendResponse, from, 1, 1);
    ack.index = LogIndex(1);
    p.step(ack);
  }
  p.drain();
  ASSERT_EQ(p->log().committed(), LogIndex(1));
  ASSERT_TRUE(p->propose(p.now, to_bytes("x")).has_value());
  Ready r = p->take_ready();  // its write is "in flight" from here to advance()
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(of_kind(r.messages, MessageKind::kAppend).size(), 2u);
  EXPECT_TRUE(p->take_committed_in_flight().empty());  // nobody has it yet
  Message ack = make_message(MessageKind::kAppendResponse, 2, 1, 1);
  ack.index = LogIndex(2);
  p.step(ack);
  EXPECT_TRUE(p->take_committed_in_flight().empty());  // one follower is not a quorum
  ack.from = NodeId(3);
  p.step(ack);
  auto committed = p->take_committed_in_flight();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].index, LogIndex(2));
  EXPECT_EQ(p->log().applied(), LogIndex(2));
  EXPECT_TRUE(p->take_committed_in_flight().empty());  // handed over once
  p->advance(r);
  p->check_invariants();
  Ready next = p->take_ready();
  EXPECT_TRUE(next.committed.empty());  // not again in a Ready
  p->advance(next);
  // Without a Ready in flight the ordinary path delivers.
  EXPECT_TRUE(p->take_committed_in_flight().empty());
}

TEST(RaftReady, FollowerAcknowledgesOnlyWhatItsReadyPersists) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
  Message m = make_message(MessageKind::kAppend, 2, 1, 1);
  m.entries = entries_with_terms({1, 1});
  p.step(m);
  Ready r = p->take_ready();
  ASSERT_EQ(r.messages.size(), 1u);
  ASSERT_FALSE(r.entries.empty());
  EXPECT_LE(r.messages[0].index, r.entries.back().index);
  p->advance(r);
  EXPECT_EQ(p->log().persisted(), LogIndex(2));
}

TEST(RaftApi, ProposeOnFollowerNamesTheLeader) {
  Peer p(unit_config(NodeId(1)), voters({1, 2, 3}));
  p.step(make_message(MessageKind::kHeartbeat, 3, 1, 1));
  auto r = p->propose(p.now, to_bytes("x"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotLeader);
  EXPECT_NE(r.error().message.find("leader: 3"), std::string::npos);
}

TEST(RaftApi, ProposeRejectsWhenTooManyPending) {
  Config cfg = unit_config(NodeId(1));
  cfg.max_pending_proposals = 3;
  Peer p(cfg, voters({1, 2, 3}));
  elect(p, 3);  // the no-op is pending too
  EXPECT_TRUE(p->propose(p.now, to_bytes("a")).has_value());
  EXPECT_TRUE(p->propose(p.now, to_bytes("b")).has_value());
  auto r = p->propose(p.now, to_bytes("c"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  auto big = p->propose(p.now, Bytes(kMaxEntryBytes + 1, 'x'));
  ASSERT_FALSE(big.has_value());
}

TEST(RaftApi, InflightAppendsAreBounded) {
  Config cfg = unit_config(NodeId(1));
  cfg.max_inflight_appends = 2;
  cfg.max_entries_per_append = 1;
  Peer p(cfg, voters({1, 2}));
  elect(p, 2);
  Message ack = make_message(MessageKind::kAppendResponse, 2, 1, 1);
  ack.index = LogIndex(1);
  p.step(ack);
  p.drain();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(p->propose(p.now, to_bytes("x")).has_value());
  auto apps = of_kind(p.drain(), MessageKind::kAppend);
  EXPECT_EQ(apps.size(), 2u);  // the pipeline is full; the rest waits for acknowledgements
  ack.index = LogIndex(2);
  p.step(ack);
  EXPECT_EQ(of_kind(p.drain(), MessageKind::kAppend).size(), 1u);
}

TEST(RaftApi, RestoreRejectsInconsistentState) {
  NullLogger logger;
  PersistentState s = PersistentState::bootstrap(voters({1}));
  s.entries = entries_with_terms({1, 1});
  s.hard_state.term = Term(1);
  s.hard_state.commit = LogIndex(5);
  EXPECT_FALSE(Raft::restore(unit_config(NodeId(1)), s, Rng(1), logger).has_value());
  s.hard_state.commit = LogIndex(2);
  s.entries[1].index = LogIndex(7);
  EXPECT_FALSE(Raft::restore(unit_config(NodeId(1)), s, Rng(1), logger).has_value());
  s.entries = entries_with_terms({3});
  EXPECT_FALSE(Raft::restore(unit_config(NodeId(1)), s, Rng(1), logger).has_value());
  Config bad = unit_config(NodeId(1));
  bad.election_timeout = Duration::milliseconds(100);
  EXPECT_FALSE(Raft::restore(bad, PersistentState::bootstrap(voters({1})), Rng(1), logger));
}

}  // namespace
}  // namespace praetor::raft::test

namespace praetor::raft::test {
namespace {

TEST(RaftMembership, LearnerIsPromotedOnlyOnceCaughtUp) {
  Config cfg;
  cfg.max_promote_lag = 2;
  Cluster c(cfg, 3, false);
  c.add_nodes(3, true);
  c.add_nodes(1, false);  // node 4, joining
  c.campaign(NodeId(1));
  c.stabilize();
  Node& leader = c.node(NodeId(1));
  ASSERT_TRUE(leader.raft->propose_membership(leader.now,
                                              {MembershipChange::Kind::kAddLearner, NodeId(4)}));
  c.stabilize();
  c.isolate(NodeId(4));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(leader.raft->propose(leader.now, to_bytes("x")));
  c.stabilize();
  auto early =
      leader.raft->propose_membership(leader.now, {MembershipChange::Kind::kPromote, NodeId(4)});
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code, ErrorCode::kUnavailable);
  c.heal();
  c.tick(NodeId(1), 1);
  c.stabilize();
  EXPECT_EQ(leader.raft->status().progress.at(NodeId(4)).match, leader.raft->log().last_index());
  auto promoted =
      leader.raft->propose_membership(leader.now, {MembershipChange::Kind::kPromote, NodeId(4)});
  ASSERT_TRUE(promoted.has_value());
  c.stabilize();
  EXPECT_TRUE(c.node(NodeId(4)).raft->status().membership.is_voter(NodeId(4)));
  EXPECT_EQ(c.node(NodeId(4)).raft->log().committed(), *promoted);
}

TEST(RaftMembership, LearnersNeverCampaign) {
  Membership m = voters({2, 3});
  m.learners.insert(NodeId(1));
  Peer p(unit_config(NodeId(1)), m);
  EXPECT_TRUE(p->next_deadline().is_never());
  p.elapse(Duration::seconds(60));
  p->campaign(p.now);
  EXPECT_EQ(p->role(), Role::kFollower);
  EXPECT_TRUE(p.drain().empty());
}

TEST(RaftMembership, QuorumFollowsTheLatestConfiguration) {
  // After 3 is removed, 1 and 2 form the quorum: 2's acknowledgement alone commits.
  Config cfg;
  Cluster c(cfg, 5, false);
  c.add_nodes(3, true);
  c.campaign(NodeId(1));
  c.stabilize();
  Node& leader = c.node(NodeId(1));
  ASSERT_TRUE(
      leader.raft->propose_membership(leader.now, {MembershipChange::Kind::kRemove, NodeId(3)}));
  c.stabilize();
  c.crash(NodeId(3));
  auto index = leader.raft->propose(leader.now, to_bytes("y"));
  ASSERT_TRUE(index.has_value());
  c.stabilize();
  EXPECT_EQ(leader.raft->log().committed(), *index);
  EXPECT_EQ(leader.raft->status().progress.count(NodeId(3)), 0u);
}

}  // namespace
}  // namespace praetor::raft::test
