#include "sim/sim_network.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/base/assert.hpp"

namespace praetor::sim {

std::size_t SimNetwork::add_node(std::string name, std::string datacenter) {
  for (const auto& n : nodes_) PRAETOR_ASSERT_MSG(n.name != name, "duplicate node {}", name);
  nodes_.push_back(NodeInfo{std::move(name), std::move(datacenter)});
  return nodes_.size() - 1;
}

std::size_t SimNetwork::index_of(std::string_view name) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].name == name) return i;
  }
  PRAETOR_ASSERT_MSG(false, "unknown node {}", name);
  return 0;
}

NodeSet SimNetwork::nodes_in(std::string_view datacenter) const {
  NodeSet out;
  for (const auto& n : nodes_) {
    if (n.datacenter == datacenter) out.push_back(n.name);
  }
  return out;
}

NodeSet SimNetwork::all_nodes() const {
  NodeSet out;
  for (const auto& n : nodes_) out.push_back(n.name);
  return out;
}

std::vector<std::string> SimNetwork::datacenters() const {
  std::set<std::string> dcs;
  for (const auto& n : nodes_) dcs.insert(n.datacenter);
  return {dcs.begin(), dcs.end()};
}

void SimNetwork::set_link(std::string_view from, std::string_view to, const LinkConfig& config) {
  links_[{index_of(from), index_of(to)}] = config;
}

LinkConfig SimNetwork::link(std::size_t from, std::size_t to) const {
  auto it = links_.find({from, to});
  return it == links_.end() ? default_link_ : it->second;
}

std::vector<std::size_t> SimNetwork::indexes(const NodeSet& names) const {
  std::vector<std::size_t> out;
  out.reserve(names.size());
  for (const auto& n : names) out.push_back(index_of(n));
  return out;
}

void SimNetwork::partition(const NodeSet& a, const NodeSet& b) {
  partition_one_way(a, b);
  partition_one_way(b, a);
}

void SimNetwork::partition_one_way(const NodeSet& from, const NodeSet& to) {
  for (std::size_t f : indexes(from)) {
    for (std::size_t t : indexes(to)) {
      if (f != t) cuts_.insert({f, t});
    }
  }
}

void SimNetwork::partition_datacenters(const std::vector<std::string>& a,
                                       const std::vector<std::string>& b) {
  NodeSet left, right;
  for (const auto& dc : a) {
    for (auto& n : nodes_in(dc)) left.push_back(std::move(n));
  }
  for (const auto& dc : b) {
    for (auto& n : nodes_in(dc)) right.push_back(std::move(n));
  }
  partition(left, right);
}

void SimNetwork::isolate(std::string_view node) {
  NodeSet others;
  for (const auto& n : nodes_) {
    if (n.name != node) others.push_back(n.name);
  }
  partition({std::string(node)}, others);
}

void SimNetwork::heal() { cuts_.clear(); }

void SimNetwork::heal(const NodeSet& a, const NodeSet& b) {
  for (std::size_t x : indexes(a)) {
    for (std::size_t y : indexes(b)) {
      cuts_.erase({x, y});
      cuts_.erase({y, x});
    }
  }
}

void SimNetwork::clog(std::string_view node, Instant until) {
  Instant& slot = clogged_until_[index_of(node)];
  slot = std::max(slot, until);
}

void SimNetwork::unclog(std::string_view node) { clogged_until_.erase(index_of(node)); }

Instant SimNetwork::release_time(std::size_t node, Instant t) const {
  auto it = clogged_until_.find(node);
  if (it == clogged_until_.end()) return t;
  return std::max(t, it->second);
}

Instant SimNetwork::delivery_time(std::size_t from, std::size_t to, Instant now,
                                  const LinkConfig& cfg, bool& reordered) {
  Duration delay = cfg.latency;
  if (cfg.jitter > Duration::zero()) delay += rng_.between(Duration::zero(), cfg.jitter);
  reordered = cfg.reorder > 0 && rng_.chance(cfg.reorder);
  if (reordered) delay += rng_.between(Duration::zero(), cfg.reorder_delay_max);
  // A clogged sender holds the frame until its clog ends; a clogged receiver does not take it in
  // before its own clog ends.
  Instant at = release_time(from, now) + delay;
  at = release_time(to, at);
  if (!reordered) {
    Instant& last = last_delivery_[{from, to}];
    at = std::max(at, last);
    last = at;
  }
  return at;
}

SimNetwork::Fate SimNetwork::route(std::size_t from, std::size_t to, Instant now) {
  Fate fate;
  if (blocked(from, to)) {
    fate.dropped = "partition";
    return fate;
  }
  const LinkConfig cfg = link(from, to);
  if (cfg.loss > 0 && rng_.chance(cfg.loss)) {
    fate.dropped = "loss";
    return fate;
  }
  bool reordered = false;
  fate.deliveries.push_back(delivery_time(from, to, now, cfg, reordered));
  if (cfg.duplicate > 0 && rng_.chance(cfg.duplicate)) {
    fate.deliveries.push_back(delivery_time(from, to, now, cfg, reordered));
  }
  return fate;
}

std::string SimNetwork::describe_cuts() const {
  std::string out;
  for (const auto& [f, t] : cuts_) {
    if (!out.empty()) out += " ";
    out += fmt::format("{}->{}", nodes_[f].name, nodes_[t].name);
  }
  return out.empty() ? "none" : out;
}

}  // namespace praetor::sim
