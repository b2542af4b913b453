// Data-driven transcript tests: each file under testdata/ is a sequence of cluster commands,
// each followed by what it rendered (Ready contents, delivered messages, log lines).
// PRAETOR_REWRITE=1 (or --rewrite) regenerates the expected output.
//
// Commands (node ids are numbers; N may be "all" where noted):
//   add-nodes <n> [joining] [pre-vote=false] [check-quorum=false] [inflight=<k>]
//             [max-entries=<k>] [chunk=<bytes>] [max-pending=<k>]
//   campaign <id>                 start an election now
//   tick <id|all> [x<k>]          advance the node's clock by one heartbeat interval, k times
//   timeout <id>                  jump the node's clock to its next deadline
//   process-ready <id>            handle one Ready (persist, queue messages, apply)
//   deliver [<id>]                deliver the queued messages (to <id> only)
//   stabilize                     handle Readies and deliver until quiet
//   propose <id> <data> [x<k>]    propose a command (k copies: data-1, data-2, ...)
//   propose-conf <id> add-learner|promote|remove <node>
//   read-index <id> <read-id>
//   transfer <id> <target>
//   compact <id> <index>
//   partition <ids> | <ids>       cut both ways between the groups
//   isolate <id>, drop <a>-><b> [<Kind>], heal   (cuts until heal; Kind: only that kind)
//   drop-msgs [<a>-><b>]          discard queued messages
//   replay <a>-><b> <Kind>        deliver again the last such message (duplicate / stale)
//   crash <id>, restart <id>      restart rebuilds the node from what it persisted
//   status [<id>], log <id>, reads <id>
#include "tests/support/transcript.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <sstream>

#include "tests/core/raft/cluster.hpp"

namespace praetor::raft::test {
namespace {

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

NodeId parse_id(const std::string& s) { return NodeId(std::stoull(s)); }

MessageKind parse_kind(const std::string& s) {
  for (std::uint8_t k = 1; k <= kMessageKindMax; ++k) {
    if (message_kind_name(MessageKind{k}) == s) return MessageKind{k};
  }
  throw std::runtime_error("unknown message kind " + s);
}

std::string render_error(const Error& e) {
  return fmt::format("error {}: {}", error_code_name(e.code), e.message);
}

Config transcript_config() {
  Config c;
  c.election_timeout = Duration::milliseconds(1000);
  c.heartbeat_interval = Duration::milliseconds(100);
  return c;
}

class Driver {
 public:
  Driver() : cluster_(transcript_config(), 1, true) {}

  std::string run(std::string_view line) {
    try {
      handle(split(line));
    } catch (const std::exception& e) {
      cluster_.out() += fmt::format("exception: {}\n", e.what());
    }
    std::string out = cluster_.take_output();
    return out.empty() ? "ok" : out;
  }

 private:
  std::vector<NodeId> targets(const std::string& arg) {
    if (arg == "all") return cluster_.ids();
    return {parse_id(arg)};
  }

  static std::size_t repeat(const std::vector<std::string>& a, std::size_t pos) {
    if (a.size() > pos && a[pos].size() > 1 && a[pos][0] == 'x')
      return std::stoul(a[pos].substr(1));
    return 1;
  }

  void emit(const std::string& s) { cluster_.out() += s + "\n"; }

  void add_nodes(const std::vector<std::string>& a) {
    Config c = transcript_config();
    bool joining = false;
    for (std::size_t i = 2; i < a.size(); ++i) {
      const std::string& opt = a[i];
      auto value = [&] { return opt.substr(opt.find('=') + 1); };
      if (opt == "joining")
        joining = true;
      else if (opt == "pre-vote=false")
        c.pre_vote = false;
      else if (opt == "check-quorum=false")
        c.check_quorum = false;
      else if (opt.starts_with("inflight="))
        c.max_inflight_appends = std::stoul(value());
      else if (opt.starts_with("max-entries="))
        c.max_entries_per_append = std::stoul(value());
      else if (opt.starts_with("chunk="))
        c.snapshot_chunk_bytes = std::stoul(value());
      else if (opt.starts_with("max-pending="))
        c.max_pending_proposals = std::stoul(value());
      else
        throw std::runtime_error("unknown option " + opt);
    }
    cluster_.add_nodes(std::stoul(a.at(1)), !joining, &c);
  }

  void status(NodeId id) {
    Node& n = cluster_.node(id);
    if (!n.raft) {
      emit(fmt::format("{}: down", id));
      return;
    }
    Status s = n.raft->status();
    emit(fmt::format("{}: {} term={} vote={} leader={} log=[{}, {}] commit={} applied={} {}", id,
                     role_name(s.role), s.term, s.vote, s.leader, s.first_index, s.last_index,
                     s.commit, s.applied, s.membership));
    for (const auto& [peer, p] : s.progress) {
      emit(fmt::format("  {}: match={} next={} {}{}", peer, p.match, p.next, p.state,
                       p.learner ? " learner" : ""));
    }
  }

  void handle(const std::vector<std::string>& a) {
    if (a.empty()) throw std::runtime_error("empty command");
    const std::string& cmd = a[0];
    if (cmd == "add-nodes") {
      add_nodes(a);
    } else if (cmd == "campaign") {
      cluster_.campaign(parse_id(a.at(1)));
    } else if (cmd == "tick") {
      for (NodeId id : targets(a.at(1))) cluster_.tick(id, repeat(a, 2));
    } else if (cmd == "timeout") {
      cluster_.fire_next_deadline(parse_id(a.at(1)));
    } else if (cmd == "process-ready") {
      for (NodeId id : targets(a.at(1))) cluster_.process_ready(id);
    } else if (cmd == "deliver") {
      cluster_.deliver(a.size() > 1 ? std::optional(parse_id(a[1])) : std::nullopt);
    } else if (cmd == "stabilize") {
      cluster_.stabilize();
    } else if (cmd == "propose") {
      propose(a);
    } else if (cmd == "propose-conf") {
      propose_conf(a);
    } else if (cmd == "read-index") {
      Node& n = cluster_.node(parse_id(a.at(1)));
      auto r = n.raft->read_index(n.now, ReadId(std::stoull(a.at(2))));
      if (!r) emit(render_error(r.error()));
      cluster_.check_invariants();
    } else if (cmd == "transfer") {
      Node& n = cluster_.node(parse_id(a.at(1)));
      auto r = n.raft->transfer_leadership(n.now, parse_id(a.at(2)));
      if (!r) emit(render_error(r.error()));
      cluster_.check_invariants();
    } else if (cmd == "compact") {
      auto r = cluster_.compact(parse_id(a.at(1)), LogIndex(std::stoull(a.at(2))));
      if (!r) emit(render_error(r.error()));
    } else if (cmd == "partition") {
      std::set<NodeId> left, right;
      bool bar = false;
      for (std::size_t i = 1; i < a.size(); ++i) {
        if (a[i] == "|")
          bar = true;
        else
          (bar ? right : left).insert(parse_id(a[i]));
      }
      cluster_.partition(left, right);
    } else if (cmd == "isolate") {
      cluster_.isolate(parse_id(a.at(1)));
    } else if (cmd == "drop") {
      const auto arrow = a.at(1).find("->");
      const NodeId from = parse_id(a[1].substr(0, arrow));
      const NodeId to = parse_id(a[1].substr(arrow + 2));
      if (a.size() > 2) {
        cluster_.cut_kind(from, to, parse_kind(a[2]));
      } else {
        cluster_.cut(from, to);
      }
    } else if (cmd == "heal") {
      cluster_.heal();
    } else if (cmd == "drop-msgs") {
      if (a.size() > 1) {
        const auto arrow = a[1].find("->");
        cluster_.drop_queued(
            std::pair(parse_id(a[1].substr(0, arrow)), parse_id(a[1].substr(arrow + 2))));
      } else {
        cluster_.drop_queued(std::nullopt);
      }
    } else if (cmd == "replay") {
      const auto arrow = a.at(1).find("->");
      if (!cluster_.replay(parse_id(a[1].substr(0, arrow)), parse_id(a[1].substr(arrow + 2)),
                           parse_kind(a.at(2)))) {
        emit("nothing to replay");
      }
    } else if (cmd == "crash") {
      cluster_.crash(parse_id(a.at(1)));
    } else if (cmd == "restart") {
      cluster_.restart(parse_id(a.at(1)));
    } else if (cmd == "status") {
      for (NodeId id : a.size() > 1 ? targets(a[1]) : cluster_.ids()) status(id);
    } else if (cmd == "log") {
      Node& n = cluster_.node(parse_id(a.at(1)));
      const RaftLog& log = n.raft->log();
      emit(fmt::format("snapshot: {}", log.snapshot()));
      for (LogIndex i = log.first_index(); i <= log.last_index(); i = i.next()) {
        emit(fmt::format("{}", log.at(i)));
      }
    } else if (cmd == "reads") {
      Node& n = cluster_.node(parse_id(a.at(1)));
      for (const ReadState& r : n.served_reads) emit(fmt::format("served {}", r));
      for (const ReadState& r : n.pending_reads) emit(fmt::format("waiting {}", r));
    } else {
      throw std::runtime_error("unknown command " + cmd);
    }
  }

  void propose(const std::vector<std::string>& a) {
    Node& n = cluster_.node(parse_id(a.at(1)));
    const std::size_t k = repeat(a, 3);
    for (std::size_t i = 0; i < k; ++i) {
      const std::string data = k == 1 ? a.at(2) : fmt::format("{}-{}", a.at(2), i + 1);
      auto r = n.raft->propose(n.now, to_bytes(data));
      emit(r ? fmt::format("index {}", *r) : render_error(r.error()));
      cluster_.check_invariants();
    }
  }

  void propose_conf(const std::vector<std::string>& a) {
    Node& n = cluster_.node(parse_id(a.at(1)));
    MembershipChange c;
    const std::string& kind = a.at(2);
    if (kind == "add-learner")
      c.kind = MembershipChange::Kind::kAddLearner;
    else if (kind == "promote")
      c.kind = MembershipChange::Kind::kPromote;
    else if (kind == "remove")
      c.kind = MembershipChange::Kind::kRemove;
    else
      throw std::runtime_error("unknown change " + kind);
    c.node = parse_id(a.at(3));
    auto r = n.raft->propose_membership(n.now, c);
    emit(r ? fmt::format("index {}", *r) : render_error(r.error()));
    cluster_.check_invariants();
  }

  Cluster cluster_;
};

class RaftTranscript : public ::testing::TestWithParam<std::string> {};

TEST_P(RaftTranscript, Matches) {
  Driver driver;
  praetor::test::expect_transcript(
      "tests/core/raft/testdata/" + GetParam() + ".txt", [&](std::string_view command) {
        std::string out = driver.run(command);
        // A safety violation or harness error is never an acceptable expected output.
        EXPECT_EQ(out.find("exception:"), std::string::npos) << command << "\n" << out;
        return out;
      });
}

INSTANTIATE_TEST_SUITE_P(Raft, RaftTranscript,
                         ::testing::Values("election", "prevote_checkquorum", "figure8",
                                           "read_index", "replication", "fast_backtracking",
                                           "leadership_transfer", "membership", "snapshot",
                                           "persist_before_send", "restart",
                                           "disruption_without_prevote"),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
}  // namespace praetor::raft::test
