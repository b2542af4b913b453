// A deterministic cluster driver for the gossip cores (Swim or Serf): N instances on one virtual
// clock, a delivery queue ordered by (time, sequence) with per-packet latency, datagram loss,
// directional link blocks, partitions, crashes and loop stalls. Everything random comes from one
// seeded Rng, so a seed replays a run exactly. The gossip tests and the praetor-sim gossip
// scenarios share it.
//
// It scales to thousands of nodes: node wake-ups sit in a heap (lazily invalidated), so one step
// costs O(log N) rather than a scan of every node. Within one instant the order is fixed: every
// delivery due (by time, then send order), then every node whose timer is due, by index.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/base/log.hpp"
#include "core/base/rng.hpp"
#include "core/gossip/serf.hpp"
#include "core/gossip/swim.hpp"

namespace praetor::sim {

// fmt rather than std::string operator+: g++ 12 at -O2/-O3 warns (-Wrestrict) on the latter.
inline gossip::Address gossip_node_address(std::size_t i) {
  return gossip::Address{fmt::format("10.{}.{}.{}", i / 62500, i / 250 % 250, i % 250 + 1), 8301};
}
inline std::string gossip_node_name(std::size_t i) { return fmt::format("n{}", i); }

// Traffic one node sent, for load figures.
struct GossipTraffic {
  std::uint64_t packets = 0;  // datagrams
  std::uint64_t packet_bytes = 0;
  std::uint64_t streams = 0;  // push/pull messages
  std::uint64_t stream_bytes = 0;
};

template <typename Core>
class GossipCluster {
 public:
  using Event = typename decltype(std::declval<Core&>().take_output().events)::value_type;
  using CoreConfig =
      std::conditional_t<std::is_same_v<Core, gossip::Serf>, gossip::SerfConfig, gossip::Config>;
  using ConfigFor = std::function<CoreConfig(std::size_t)>;

  struct Options {
    std::size_t nodes = 3;
    std::uint64_t seed = 1;
    Duration latency_min = Duration::milliseconds(1);
    Duration latency_max = Duration::milliseconds(5);
    double loss = 0.0;  // datagrams are dropped; streams (TCP) are delayed by retransmissions
    Logger* logger = nullptr;       // where the cores log; nothing when null
    bool check_invariants = true;   // after every input (O(members): off for the big runs)
  };

  GossipCluster(Options options, ConfigFor config_for)
      : options_(options), config_for_(std::move(config_for)), rng_(options.seed) {
    nodes_.reserve(options_.nodes);
    for (std::size_t i = 0; i < options_.nodes; ++i) {
      Slot slot;
      slot.core = std::make_unique<Core>(config(i), rng_.fork(), logger());
      nodes_.push_back(std::move(slot));
      addresses_.push_back(gossip_node_address(i));
      index_[addresses_.back()] = i;
    }
    traffic_.resize(nodes_.size());
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      drain(i);
      reschedule(i);
    }
  }

  Core& node(std::size_t i) { return *nodes_.at(i).core; }
  const Core& node(std::size_t i) const { return *nodes_.at(i).core; }
  std::size_t size() const { return nodes_.size(); }
  Instant now() const { return now_; }
  Rng& rng() { return rng_; }

  // Hooks for checkers.
  std::function<void(std::size_t node, Instant at, const Event& event)> on_event;
  std::function<void(std::size_t node)> after_input;
  // Every packet handed to the network (before loss and blocks): sender, receiver, packet.
  std::function<void(std::size_t from, std::size_t to, const gossip::OutboundPacket&)> on_send;

  void join(std::size_t i, std::size_t seed) { join(i, std::vector<std::size_t>{seed}); }
  void join(std::size_t i, const std::vector<std::size_t>& seeds) {
    std::vector<gossip::Address> addresses;
    for (std::size_t s : seeds) addresses.push_back(gossip_node_address(s));
    node(i).join(now_, addresses);
    after(i);
  }
  void join_all_to(std::size_t seed) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (i != seed) join(i, seed);
    }
  }
  void crash(std::size_t i) { nodes_.at(i).crashed = true; }
  // A crashed node comes back as a fresh process (same name and address, no memory).
  void restart(std::size_t i) {
    Slot& s = nodes_.at(i);
    s.core = std::make_unique<Core>(config(i), rng_.fork(), logger());
    s.crashed = false;
    s.backlog.clear();
    drain(i);
    reschedule(i);
  }
  // Runs a local command on node i (leave, user event, tags) and drains what it produced.
  template <typename F>
  auto act(std::size_t i, F f) {
    if constexpr (std::is_void_v<decltype(f(node(i)))>) {
      f(node(i));
      after(i);
    } else {
      auto result = f(node(i));
      after(i);
      return result;
    }
  }
  // Hands node i a packet as if it came from `from`, outside the simulated network.
  void inject(std::size_t i, const gossip::Address& from, const Bytes& packet,
              gossip::Transport transport = gossip::Transport::kPacket) {
    node(i).step(now_, from, packet, transport);
    after(i);
  }
  bool crashed(std::size_t i) const { return nodes_.at(i).crashed; }
  // Stops processing at node i until `until`; its packets wait in its socket buffer.
  void stall(std::size_t i, Instant until) {
    nodes_.at(i).stalled_until = until;
    reschedule(i);
  }
  bool stalled(std::size_t i) const { return nodes_[i].stalled_until > now_; }
  void block(std::size_t from, std::size_t to) { blocked_.insert({from, to}); }
  void unblock(std::size_t from, std::size_t to) { blocked_.erase({from, to}); }
  void partition(const std::vector<std::size_t>& a, const std::vector<std::size_t>& b) {
    for (std::size_t x : a) {
      for (std::size_t y : b) {
        block(x, y);
        block(y, x);
      }
    }
  }
  void heal() { blocked_.clear(); }
  void set_loss(double loss) { options_.loss = loss; }

  void run_for(Duration d) { run_until(now_ + d); }

  void run_until(Instant until) {
    for (;;) {
      const Instant next = next_time();
      if (next > until) break;
      step_to(next);
    }
    now_ = until;
  }

  // Runs until pred() holds (checked after each time step) or until `limit`; returns success.
  template <typename Pred>
  bool run_until_true(Instant limit, Pred pred) {
    for (;;) {
      if (pred()) return true;
      const Instant next = next_time();
      if (next > limit) {
        now_ = limit;
        return pred();
      }
      step_to(next);
    }
  }

  std::uint64_t delivered() const { return delivered_; }
  std::uint64_t dropped() const { return dropped_; }
  const GossipTraffic& traffic(std::size_t i) const { return traffic_.at(i); }
  // A running hash of every delivery (time, endpoints, bytes): equal seeds give equal traces.
  std::uint64_t trace_hash() const { return trace_hash_; }

 private:
  // Node i's configuration, with the identity pool every node of this cluster shares: one
  // process holds N nodes' views of N members, and each member's name, address and meta are
  // then stored once instead of N times.
  CoreConfig config(std::size_t i) const {
    CoreConfig c = config_for_(i);
    if constexpr (std::is_same_v<Core, gossip::Serf>) {
      if (!c.swim.identities) c.swim.identities = identities_;
    } else {
      if (!c.identities) c.identities = identities_;
    }
    return c;
  }

  struct Slot {
    std::unique_ptr<Core> core;
    bool crashed = false;
    Instant stalled_until = Instant::zero();
    Instant scheduled = Instant::never();  // the live wake-up entry in timers_
    std::vector<std::pair<gossip::Address, gossip::OutboundPacket>> backlog;  // while stalled
  };
  struct Delivery {
    Instant at;
    std::uint64_t seq = 0;
    std::size_t to = 0;
    std::size_t from = 0;
    gossip::OutboundPacket packet;
    bool operator>(const Delivery& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  using Wake = std::pair<Instant, std::size_t>;

  Logger& logger() { return options_.logger != nullptr ? *options_.logger : null_logger_; }

  // When node i next needs the loop: its stall's end, else its core's earliest deadline.
  Instant wake_time(std::size_t i) const {
    const Slot& s = nodes_[i];
    if (s.stalled_until > now_) return s.stalled_until;
    return s.core->next_deadline();
  }

  void reschedule(std::size_t i) {
    Slot& s = nodes_[i];
    const Instant at = wake_time(i);
    if (at == s.scheduled) return;
    s.scheduled = at;
    if (at != Instant::never()) timers_.push({at, i});
  }

  // Drops heap entries that no longer match their node's schedule.
  void prune_timers() {
    while (!timers_.empty()) {
      const auto& [at, i] = timers_.top();
      const Slot& s = nodes_[i];
      if (s.scheduled == at && !s.crashed) return;
      timers_.pop();
    }
  }

  Instant next_time() {
    prune_timers();
    Instant next = queue_.empty() ? Instant::never() : queue_.front().at;
    if (!timers_.empty()) next = std::min(next, timers_.top().first);
    return next;
  }

  void step_to(Instant next) {
    now_ = std::max(now_, next);
    deliver_due();
    fire_timers();
  }

  void deliver_due() {
    while (!queue_.empty() && queue_.front().at <= now_) {
      // Moved out, not copied: the heap's top is const, so pop it to the back first.
      std::pop_heap(queue_.begin(), queue_.end(), std::greater<Delivery>());
      Delivery d = std::move(queue_.back());
      queue_.pop_back();
      Slot& s = nodes_[d.to];
      if (s.crashed) continue;
      if (stalled(d.to)) {
        s.backlog.emplace_back(addresses_[d.from], std::move(d.packet));
        continue;
      }
      ++delivered_;
      trace(d.to, d.packet.bytes);
      s.core->step(now_, addresses_[d.from], d.packet.bytes, d.packet.transport);
      after(d.to);
    }
  }

  void fire_timers() {
    due_.clear();
    for (;;) {
      prune_timers();
      if (timers_.empty() || timers_.top().first > now_) break;
      due_.push_back(timers_.top().second);
      nodes_[timers_.top().second].scheduled = Instant::never();
      timers_.pop();
    }
    std::sort(due_.begin(), due_.end());
    for (std::size_t i : due_) {
      Slot& s = nodes_[i];
      if (s.crashed) continue;
      if (stalled(i)) {
        reschedule(i);
        continue;
      }
      if (!s.backlog.empty() || s.core->next_deadline() <= now_) {
        // A resumed loop first runs its overdue timers, then reads its socket buffer: the order
        // in which a starved process notices the world (Lifeguard's motivating case).
        s.core->advance_time(now_);
        after(i);
        auto backlog = std::exchange(s.backlog, {});
        for (auto& [from, packet] : backlog) {
          ++delivered_;
          s.core->step(now_, from, packet.bytes, packet.transport);
          after(i);
        }
      }
      reschedule(i);
    }
  }

  void trace(std::size_t to, const Bytes& bytes) {
    std::array<std::uint8_t, 16> header{};
    const auto at = static_cast<std::uint64_t>(now_.ns());
    const auto node = static_cast<std::uint64_t>(to);
    for (std::size_t b = 0; b < 8; ++b) {
      header[b] = static_cast<std::uint8_t>(at >> (8 * b));
      header[8 + b] = static_cast<std::uint8_t>(node >> (8 * b));
    }
    trace_hash_ = fnv1a64(header, trace_hash_);
    trace_hash_ = fnv1a64(bytes, trace_hash_);
  }

  void after(std::size_t i) {
    if (options_.check_invariants) nodes_[i].core->check_invariants();
    drain(i);
    if (after_input) after_input(i);
    reschedule(i);
  }

  void drain(std::size_t i) {
    auto out = nodes_[i].core->take_output();
    if (on_event) {
      for (const Event& e : out.events) on_event(i, now_, e);
    }
    for (gossip::OutboundPacket& p : out.packets) send(i, std::move(p));
  }

  void send(std::size_t from, gossip::OutboundPacket packet) {
    GossipTraffic& t = traffic_[from];
    if (packet.transport == gossip::Transport::kPacket) {
      ++t.packets;
      t.packet_bytes += packet.bytes.size();
    } else {
      ++t.streams;
      t.stream_bytes += packet.bytes.size();
    }
    auto it = index_.find(packet.to);
    if (it != index_.end() && on_send) on_send(from, it->second, packet);
    if (it == index_.end() || blocked_.contains({from, it->second})) {
      ++dropped_;
      return;
    }
    if (packet.transport == gossip::Transport::kPacket && options_.loss > 0 &&
        rng_.chance(options_.loss)) {
      ++dropped_;
      return;
    }
    Duration latency = rng_.between(options_.latency_min, options_.latency_max);
    if (packet.transport == gossip::Transport::kStream && options_.loss > 0) {
      // A stream is TCP: a lost segment arrives after a retransmission timeout (200 ms,
      // doubling), so loss delays streams instead of dropping them.
      Duration rto = Duration::milliseconds(200);
      for (int attempt = 0; attempt < 8 && rng_.chance(options_.loss); ++attempt) {
        latency = latency + rto;
        rto = rto * 2;
      }
    }
    queue_.push_back(Delivery{now_ + latency, next_seq_++, it->second, from, std::move(packet)});
    std::push_heap(queue_.begin(), queue_.end(), std::greater<Delivery>());
  }

  Options options_;
  ConfigFor config_for_;
  std::shared_ptr<gossip::IdentityPool> identities_ = std::make_shared<gossip::IdentityPool>();
  Rng rng_;
  NullLogger null_logger_;
  std::vector<Slot> nodes_;
  std::vector<GossipTraffic> traffic_;
  std::map<gossip::Address, std::size_t> index_;
  std::vector<gossip::Address> addresses_;  // node index -> address
  std::set<std::pair<std::size_t, std::size_t>> blocked_;
  std::vector<Delivery> queue_;  // a min-heap on (at, seq) through std::push_heap / pop_heap
  std::priority_queue<Wake, std::vector<Wake>, std::greater<Wake>> timers_;
  std::vector<std::size_t> due_;
  Instant now_ = Instant::zero();
  std::uint64_t next_seq_ = 0;
  std::uint64_t delivered_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t trace_hash_ = 0xcbf29ce484222325ULL;
};

// How many nodes are not crashed.
template <typename Core>
std::size_t live_count(const GossipCluster<Core>& c) {
  std::size_t live = 0;
  for (std::size_t i = 0; i < c.size(); ++i) live += !c.crashed(i);
  return live;
}

// Every live node lists exactly the live nodes as alive (walks every member table: O(N^2)).
template <typename Core>
bool all_list_the_live(GossipCluster<Core>& c) {
  const std::size_t live = live_count(c);
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c.crashed(i)) continue;
    std::size_t alive = 0;
    for (const auto& [name, m] : c.node(i).members()) {
      if constexpr (std::is_same_v<Core, gossip::Serf>) {
        alive += m.status == gossip::SerfStatus::kAlive;
      } else {
        alive += m.state == gossip::MemberState::kAlive;
      }
    }
    if (alive != live) return false;
  }
  return true;
}
inline bool serf_converged(GossipCluster<gossip::Serf>& c) {
  return all_list_the_live(c);
}

}  // namespace praetor::sim
