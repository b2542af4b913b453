// Gossip scenarios for praetor-sim: Serf LAN pools of N nodes on the gossip driver
// (sim/gossip_cluster.hpp), for the scale figures in docs/benchmarks.md and the long runs of the
// gossip properties that do not belong in the default test run.
//
//   gossip-scale  N nodes join, converge, run steady for a minute (load), then one crashes
//                 (detection time at every member against the Lifeguard bound).
//   gossip-loss   one simulated hour (or --minutes) at each of 0, 5, 10, 20 and 30 % datagram
//                 loss: healthy members marked failed (must be 0 up to 10 %), suspicions, refutes.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/gossip/codec.hpp"
#include "core/gossip/suspicion.hpp"
#include "sim/gossip_cluster.hpp"
#include "sim/scenario.hpp"

namespace praetor::sim {
namespace {

using gossip::Serf;
using gossip::SerfConfig;
using gossip::SerfEvent;
using gossip::SerfEventKind;
using Pool = GossipCluster<Serf>;

// What a Consul client announces, minus its 36-byte node id: small but not empty.
gossip::Tags scale_tags() { return {{"role", "node"}, {"dc", "dc1"}}; }

Pool make_pool(std::size_t n, std::uint64_t seed, bool check_invariants) {
  Pool::Options o;
  o.nodes = n;
  o.seed = seed;
  o.check_invariants = check_invariants;
  return Pool(o, [](std::size_t i) {
    SerfConfig c = SerfConfig::lan(gossip_node_name(i), gossip_node_address(i));
    c.tags = scale_tags();
    return c;
  });
}

// The same pool at the memberlist layer alone (Swim, no Serf on top): the meta carries the same
// encoded tags, so packets have the sizes they have under Serf.
GossipCluster<gossip::Swim> make_swim_pool(std::size_t n, std::uint64_t seed, bool check_invariants) {
  GossipCluster<gossip::Swim>::Options o;
  o.nodes = n;
  o.seed = seed;
  o.check_invariants = check_invariants;
  return GossipCluster<gossip::Swim>(o, [](std::size_t i) {
    gossip::Config c = gossip::Config::lan(gossip_node_name(i), gossip_node_address(i));
    c.meta = gossip::encode_tags(scale_tags());
    return c;
  });
}

const gossip::Swim& swim_of(const Serf& s) { return s.swim(); }
const gossip::Swim& swim_of(const gossip::Swim& s) { return s; }

// Member events as the scale scenario counts them: joined, failed (not left), left.
enum class Seen { kOther, kJoin, kFailed, kLeft };
Seen classify(const SerfEvent& e) {
  switch (e.kind) {
    case SerfEventKind::kMemberJoin: return Seen::kJoin;
    case SerfEventKind::kMemberFailed: return Seen::kFailed;
    case SerfEventKind::kMemberLeave: return Seen::kLeft;
    default: return Seen::kOther;
  }
}
Seen classify(const gossip::MemberEvent& e) {
  switch (e.kind) {
    case gossip::MemberEventKind::kJoin: return Seen::kJoin;
    case gossip::MemberEventKind::kLeave:
      return e.member.state == gossip::MemberState::kDead ? Seen::kFailed : Seen::kLeft;
    default: return Seen::kOther;
  }
}
std::string_view event_member(const SerfEvent& e) { return e.member.name; }
std::string_view event_member(const gossip::MemberEvent& e) { return e.member.name(); }


// Alive-member counts per node kept from Serf's events, so that convergence of N nodes is known
// without walking N member maps after every step.
struct AliveCounter {
  std::vector<std::int64_t> alive;
  std::size_t complete = 0;  // nodes whose count equals the target
  std::int64_t target = 0;
  std::uint64_t false_failures = 0;
  std::size_t victim = SIZE_MAX;  // the crashed node, whose failure is expected

  void bump(std::size_t i, std::int64_t delta) {
    const bool was = alive[i] == target;
    alive[i] += delta;
    const bool is = alive[i] == target;
    if (was && !is) --complete;
    if (!was && is) ++complete;
  }
  void retarget(std::int64_t t) {
    target = t;
    complete = static_cast<std::size_t>(
        std::count_if(alive.begin(), alive.end(), [&](std::int64_t a) { return a == t; }));
  }
  template <typename Event>
  void on_event(std::size_t i, const Event& e) {
    switch (classify(e)) {
      case Seen::kJoin:
        bump(i, 1);
        break;
      case Seen::kFailed:
        if (event_member(e) != gossip_node_name(victim)) ++false_failures;
        bump(i, -1);
        break;
      case Seen::kLeft:
        bump(i, -1);
        break;
      default:
        break;
    }
  }
};

bool fully_converged(Pool& c) { return serf_converged(c); }

template <typename Cluster>
std::uint64_t messages_sent(const Cluster& c) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < c.size(); ++i) total += c.traffic(i).packets + c.traffic(i).streams;
  return total;
}
template <typename Cluster>
std::uint64_t bytes_sent(const Cluster& c) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    total += c.traffic(i).packet_bytes + c.traffic(i).stream_bytes;
  }
  return total;
}

// Cold (warm = false): the nodes join one by one and the cluster forms by gossip. Warm: nodes
// 0..N-2 start with each other's full member list (Swim::assume_members) and no news to spread, so
// the run measures a large steady cluster without paying for its formation; after the steady
// window the last node joins it for real (the time until all N list all N), then the crash.
template <typename Core>
ScenarioResult run_scale(const ScenarioOptions& o, bool warm) {
  using Event = typename GossipCluster<Core>::Event;
  constexpr bool kSerf = std::is_same_v<Core, Serf>;
  const std::size_t n = o.nodes == 0 ? 100 : static_cast<std::size_t>(o.nodes);
  ScenarioResult result;
  GossipCluster<Core> c = [&] {
    if constexpr (kSerf) {
      return make_pool(n, o.seed, n <= 200);
    } else {
      return make_swim_pool(n, o.seed, n <= 200);
    }
  }();
  Rng rng(o.seed ^ 0x5ca1e);
  AliveCounter counter;
  counter.alive.assign(n, 0);
  counter.retarget(static_cast<std::int64_t>(n));
  c.on_event = [&](std::size_t i, Instant, const Event& e) { counter.on_event(i, e); };
  // The local member's own join event came out of the constructor before the hook was set.
  for (std::size_t i = 0; i < n; ++i) counter.bump(i, 1);

  // Joins: each node joins a random node that joined before it, at a steady rate of 50 per
  // second (at least two seconds), as agents of a large datacenter come up.
  const Duration join_window =
      warm ? Duration::zero()
           : std::max(Duration::seconds(2),
                      Duration::milliseconds(static_cast<std::int64_t>(n) * 20));
  std::vector<Instant> at;
  for (std::size_t i = 1; i < n; ++i) {
    at.push_back(Instant::zero() + join_window * static_cast<std::int64_t>(i) /
                                       static_cast<std::int64_t>(n));
  }
  // Big runs take a long time: progress to stderr every 10 simulated seconds (no effect on
  // the run).
  Instant next_report = Instant::zero() + Duration::seconds(10);
  auto report = [&](const char* phase) {
    if (n < 2000 || c.now() < next_report) return;
    next_report = c.now() + Duration::seconds(10);
    fmt::print(stderr, "  {} {}: {} of {} nodes list all {} alive\n", c.now(), phase,
               counter.complete, n, counter.target);
  };
  if (warm) {
    std::vector<gossip::PushNodeState> everyone;
    everyone.reserve(n - 1);
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const gossip::Member& self = swim_of(c.node(i)).self();
      everyone.push_back(gossip::PushNodeState{self.name(), self.address(), self.meta(),
                                               self.incarnation, gossip::MemberState::kAlive});
    }
    for (std::size_t i = 0; i + 1 < n; ++i) {
      c.act(i, [&](Core& core) { core.assume_members(c.now(), everyone); });
    }
    counter.retarget(static_cast<std::int64_t>(n - 1));
  } else {
    for (std::size_t i = 1; i < n; ++i) {
      c.run_until(at[i - 1]);
      c.join(i, static_cast<std::size_t>(rng.uniform(i)));
      report("joining");
    }
  }
  const Instant joined = c.now();
  const Duration converge_limit = Duration::minutes(30);
  const bool converged = c.run_until_true(joined + converge_limit, [&] {
    report("converging");
    return counter.complete == (warm ? n - 1 : n);
  });
  const Duration convergence = c.now() - joined;
  if (!converged) {
    result.failures.push_back(fmt::format("no convergence within {} after the last join ({} of {} "
                                          "nodes list everyone)",
                                          converge_limit, counter.complete, n));
  } else if (!warm && !all_list_the_live(c)) {  // warm: checked after the late join
    result.failures.push_back("event counts say converged, member lists disagree");
  }

  // Steady state: once the news of the joins has been retransmitted out of every broadcast
  // queue (or after five minutes), load with nothing happening.
  const Instant settled_by = c.now() + Duration::minutes(5);
  // A warm run's held-back node keeps its own announcement until it joins: not counted.
  const std::size_t active = warm ? n - 1 : n;
  auto with_news = [&] {
    std::size_t k = 0;
    for (std::size_t i = 0; i < active; ++i) k += swim_of(c.node(i)).broadcast_queue_size() != 0;
    return k;
  };
  const bool drained = c.run_until_true(settled_by, [&] {
    if (n >= 2000 && c.now() >= next_report) {
      next_report = c.now() + Duration::seconds(10);
      fmt::print(stderr, "  {} settling: {} of {} nodes still have news to spread\n", c.now(),
                 with_news(), n);
    }
    for (std::size_t i = 0; i < active; ++i) {
      if (swim_of(c.node(i)).broadcast_queue_size() != 0) return false;
    }
    return true;
  });
  const std::size_t undrained = drained ? 0 : with_news();
  const Duration settle = c.now() - joined - convergence;
  const std::uint64_t msgs_before = messages_sent(c);
  const std::uint64_t bytes_before = bytes_sent(c);
  // Long enough to include every node's periodic push/pull (its interval grows with log N).
  const Duration steady = std::max(
      Duration::seconds(60),
      gossip::push_pull_scale(swim_of(c.node(0)).config().push_pull_interval, n) * 2);
  // In steps of 10 s for the progress lines (the same run as one step).
  for (const Instant end = c.now() + steady; c.now() < end;) {
    c.run_until(std::min(end, c.now() + Duration::seconds(10)));
    if (n >= 2000) {
      fmt::print(stderr, "  {} steady: {} messages sent so far\n", c.now(),
                 messages_sent(c) - msgs_before);
    }
  }
  // A warm run's last node is idle (it knows nobody) until it joins after this window.
  const double node_seconds = static_cast<double>(active) * steady.seconds_f();
  const double msgs_per_node_s = static_cast<double>(messages_sent(c) - msgs_before) / node_seconds;
  const double bytes_per_node_s = static_cast<double>(bytes_sent(c) - bytes_before) / node_seconds;

  // Crash detection: one node dies; every other member must mark it failed within the maximum
  // suspicion timeout plus one pass of round-robin probing.
  // Warm runs: the held-back node joins the steady cluster through a random member; every node
  // must come to list all N alive.
  Duration late_join = Duration::zero();
  if (warm) {
    counter.retarget(static_cast<std::int64_t>(n));
    const Instant join_at = c.now();
    c.join(n - 1, static_cast<std::size_t>(rng.uniform(n - 1)));
    if (!c.run_until_true(join_at + converge_limit, [&] { return counter.complete == n; })) {
      result.failures.push_back(fmt::format("{} of {} nodes list all after a late join",
                                            counter.complete, n));
    } else if (!all_list_the_live(c)) {
      result.failures.push_back("event counts say converged after the late join, lists disagree");
    }
    late_join = c.now() - join_at;
  }

  const std::size_t victim = 1 + static_cast<std::size_t>(rng.uniform(n - 1));
  counter.victim = victim;
  std::vector<Instant> failed_at(n, Instant::never());
  c.on_event = [&](std::size_t i, Instant t, const Event& e) {
    counter.on_event(i, e);
    if (classify(e) == Seen::kFailed && event_member(e) == gossip_node_name(victim) &&
        failed_at[i] == Instant::never()) {
      failed_at[i] = t;
    }
  };
  counter.retarget(static_cast<std::int64_t>(n - 1));
  const Instant crash = c.now();
  c.crash(victim);
  const gossip::Config& cfg = swim_of(c.node(0)).config();
  const Duration min_timeout =
      gossip::suspicion_timeout(cfg.suspicion_mult, n, cfg.probe_interval);
  const Duration max_timeout = min_timeout * cfg.suspicion_max_timeout_mult;
  const Duration bound = max_timeout + cfg.probe_interval * static_cast<std::int64_t>(n);
  c.run_until_true(crash + bound, [&] { return counter.complete == n - 1; });
  std::vector<double> detect;
  for (std::size_t i = 0; i < n; ++i) {
    if (i == victim) continue;
    if (failed_at[i] == Instant::never()) continue;
    detect.push_back((failed_at[i] - crash).seconds_f());
  }
  std::sort(detect.begin(), detect.end());
  if (detect.size() != n - 1) {
    result.failures.push_back(fmt::format("{} of {} members marked the crashed node failed within {}",
                                          detect.size(), n - 1, bound));
  }
  if (counter.false_failures != 0) {
    result.failures.push_back(
        fmt::format("{} failure marks of healthy members", counter.false_failures));
  }
  auto pct = [&](double q) {
    if (detect.empty()) return -1.0;
    return detect[std::min(detect.size() - 1, static_cast<std::size_t>(q * detect.size()))];
  };
  result.summary = fmt::format(
      "{} nodes={} {}; "
      "queues {} {:.1f}s later; steady load over {:.0f}s {:.2f} msgs/node/s, {:.0f} bytes/node/s; crash detected by all {} members: "
      "first {:.1f}s median {:.1f}s last {:.1f}s (suspicion min {:.1f}s max {:.1f}s, bound {:.1f}s){}",
      warm ? (kSerf ? "gossip-steady" : "memberlist-steady")
           : (kSerf ? "gossip-scale" : "memberlist-scale"),
      n,
      warm ? fmt::format("warm start (N-1 nodes list each other at t=0)")
           : fmt::format("joins over {:.1f}s; convergence {:.1f}s after the last join",
                         join_window.seconds_f(), convergence.seconds_f()),
      drained ? std::string("drained")
              : fmt::format("not drained ({} nodes still had news)", undrained),
      settle.seconds_f(), steady.seconds_f(), msgs_per_node_s, bytes_per_node_s,
      detect.size(), pct(0), pct(0.5), detect.empty() ? -1.0 : detect.back(),
      min_timeout.seconds_f(), max_timeout.seconds_f(), bound.seconds_f(),
      warm ? fmt::format("; a late join was listed by all {} nodes within {:.1f}s", n,
                         late_join.seconds_f())
           : std::string());
  result.pass = result.failures.empty();
  result.end = c.now();
  result.steps = c.delivered();
  result.trace_hash = c.trace_hash();
  return result;
}

ScenarioResult run_gossip_scale(const ScenarioOptions& o) { return run_scale<Serf>(o, false); }
ScenarioResult run_memberlist_scale(const ScenarioOptions& o) {
  return run_scale<gossip::Swim>(o, false);
}
ScenarioResult run_gossip_steady(const ScenarioOptions& o) { return run_scale<Serf>(o, true); }
ScenarioResult run_memberlist_steady(const ScenarioOptions& o) {
  return run_scale<gossip::Swim>(o, true);
}

// Runs until fully converged, checking every 250 ms of simulated time (a check walks N member
// maps, too costly after every event at hundreds of nodes); false at `limit`.
bool run_until_converged(Pool& c, Instant limit) {
  for (;;) {
    if (fully_converged(c)) return true;
    if (c.now() >= limit) return false;
    c.run_until(std::min(limit, c.now() + Duration::milliseconds(250)));
  }
}

ScenarioResult run_gossip_loss(const ScenarioOptions& o) {
  const std::size_t n = o.nodes == 0 ? 50 : static_cast<std::size_t>(o.nodes);
  const std::int64_t minutes = o.minutes == 0 ? 60 : static_cast<std::int64_t>(o.minutes);
  ScenarioResult result;
  std::string lines;
  std::uint64_t hash = 0;
  for (double loss : {0.0, 0.05, 0.10, 0.20, 0.30}) {
    Pool c = make_pool(n, o.seed, n <= 50);
    for (std::size_t i = 1; i < n; ++i) {
      c.run_until(Instant::zero() + Duration::milliseconds(20) * static_cast<std::int64_t>(i));
      c.join(i, static_cast<std::size_t>(c.rng().uniform(i)));
    }
    if (!run_until_converged(c, c.now() + Duration::minutes(10))) {
      result.failures.push_back(fmt::format("loss={:.2f}: no convergence before the loss", loss));
      continue;
    }
    std::uint64_t failed = 0;
    std::uint64_t flaps = 0;  // a member that had been marked failed comes back
    c.on_event = [&](std::size_t, Instant, const SerfEvent& e) {
      failed += e.kind == SerfEventKind::kMemberFailed;
      flaps += e.kind == SerfEventKind::kMemberJoin;
    };
    std::vector<std::uint64_t> suspicions0(n), refutes0(n);
    for (std::size_t i = 0; i < n; ++i) {
      suspicions0[i] = c.node(i).swim().stats().suspicions_raised;
      refutes0[i] = c.node(i).swim().stats().refutes;
    }
    c.set_loss(loss);
    c.run_for(Duration::minutes(minutes));
    c.set_loss(0);
    std::uint64_t suspicions = 0, refutes = 0;
    for (std::size_t i = 0; i < n; ++i) {
      suspicions += c.node(i).swim().stats().suspicions_raised - suspicions0[i];
      refutes += c.node(i).swim().stats().refutes - refutes0[i];
    }
    const bool healed = run_until_converged(c, c.now() + Duration::minutes(5));
    const double hours = static_cast<double>(minutes) / 60.0;
    lines += fmt::format(
        "\n  n={} loss={:2.0f}%: healthy members marked failed {:.1f}/h (rejoined {}), "
        "suspicions {:.1f}/h, refutes {:.1f}/h{}",
        n, loss * 100, static_cast<double>(failed) / hours, flaps,
        static_cast<double>(suspicions) / hours, static_cast<double>(refutes) / hours,
        healed ? "" : " (not converged 5 min after the loss stopped)");
    // Long runs: each level as it finishes (the summary comes at the end).
    fmt::print(stderr, "gossip-loss{}\n", lines.substr(lines.rfind('\n')));
    if (loss <= 0.10 + 1e-9 && failed != 0) {
      result.failures.push_back(
          fmt::format("loss={:.2f}: {} healthy members marked failed", loss, failed));
    }
    if (!healed) {
      result.failures.push_back(fmt::format("loss={:.2f}: no convergence after the loss", loss));
    }
    hash ^= c.trace_hash() + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
  }
  result.summary = fmt::format("gossip-loss nodes={} minutes={} per loss level{}", n, minutes, lines);
  result.pass = result.failures.empty();
  result.trace_hash = hash;
  return result;
}

}  // namespace

Scenario gossip_scale_scenario() {
  return {"gossip-scale",
          "Serf LAN pool of --nodes N (default 100): join, convergence, load, crash detection",
          false, run_gossip_scale};
}

Scenario memberlist_scale_scenario() {
  return {"memberlist-scale",
          "gossip-scale at the memberlist layer alone (SWIM + Lifeguard, no Serf on top): "
          "--nodes N (default 100)",
          false, run_memberlist_scale};
}

Scenario gossip_steady_scenario() {
  return {"gossip-steady",
          "gossip-scale from a warm start: every node begins with the full member list, so the "
          "run measures steady load and crash detection at --nodes N without forming the cluster",
          false, run_gossip_steady};
}

Scenario memberlist_steady_scenario() {
  return {"memberlist-steady", "gossip-steady at the memberlist layer alone (no Serf on top)",
          false, run_memberlist_steady};
}

Scenario gossip_loss_scenario() {
  return {"gossip-loss",
          "Serf LAN pool of --nodes N (default 50), --minutes M (default 60) at each of 0-30 % "
          "loss: no healthy member marked failed up to 10 %",
          false, run_gossip_loss};
}

}  // namespace praetor::sim
