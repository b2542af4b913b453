// The simulated network's model: which frames arrive, when, and how many times. It knows nodes
// by name and datacenter and decides the fate of each frame; the World does the delivering.
//
// Semantics (tests rely on these):
// - Latency per directed link: base + uniform jitter in [0, jitter].
// - FIFO per directed link unless reordering is on: a frame never overtakes an earlier one on the
//   same link, except a frame picked for reordering, which gets an extra uniform delay in
//   [0, reorder_delay_max] and skips the FIFO clamp.
// - Loss and duplication are independent per frame; a duplicate takes its own latency draw.
// - Partitions block directed pairs; a frame is checked at send and again at delivery, so a
//   partition also cuts frames already in flight. heal() removes every cut.
// - Clogging a node holds its traffic (both directions) until the clog ends, then releases it.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/instant.hpp"
#include "core/base/rng.hpp"

namespace praetor::sim {

struct LinkConfig {
  Duration latency = Duration::milliseconds(1);
  Duration jitter = Duration::zero();
  double loss = 0.0;       // 0..1
  double duplicate = 0.0;  // 0..1
  double reorder = 0.0;    // 0..1
  Duration reorder_delay_max = Duration::milliseconds(50);
};

using NodeSet = std::vector<std::string>;

class SimNetwork {
 public:
  explicit SimNetwork(Rng rng) : rng_(rng) {}

  std::size_t add_node(std::string name, std::string datacenter);
  std::size_t node_count() const { return nodes_.size(); }
  std::size_t index_of(std::string_view name) const;  // asserts the name exists
  const std::string& name_of(std::size_t index) const { return nodes_.at(index).name; }
  NodeSet nodes_in(std::string_view datacenter) const;
  NodeSet all_nodes() const;
  std::vector<std::string> datacenters() const;  // distinct, sorted

  // Link configuration: the default applies to every link without an override.
  void set_default_link(const LinkConfig& config) { default_link_ = config; }
  const LinkConfig& default_link() const { return default_link_; }
  void set_link(std::string_view from, std::string_view to, const LinkConfig& config);
  void clear_link_overrides() { links_.clear(); }
  LinkConfig link(std::size_t from, std::size_t to) const;

  // Partitions.
  void partition(const NodeSet& a, const NodeSet& b);              // both directions
  void partition_one_way(const NodeSet& from, const NodeSet& to);  // from -> to only
  void partition_datacenters(const std::vector<std::string>& a, const std::vector<std::string>& b);
  void isolate(std::string_view node);  // from everyone, both ways
  void heal();
  void heal(const NodeSet& a, const NodeSet& b);
  bool blocked(std::size_t from, std::size_t to) const { return cuts_.count({from, to}) != 0; }
  bool any_partition() const { return !cuts_.empty(); }

  // Clogging.
  void clog(std::string_view node, Instant until);
  void unclog(std::string_view node);
  void unclog_all() { clogged_until_.clear(); }

  // The fate of one frame sent at `now`: its delivery times (empty when dropped, two when
  // duplicated) or the reason it was dropped.
  struct Fate {
    std::vector<Instant> deliveries;
    std::string_view dropped;  // "partition", "loss", or empty
  };
  Fate route(std::size_t from, std::size_t to, Instant now);
  // Whether a frame in flight may still land (the delivery-time partition check).
  bool deliverable(std::size_t from, std::size_t to) const { return !blocked(from, to); }

  // "n1,n2 | n3" style description of the current cuts, for traces.
  std::string describe_cuts() const;

 private:
  struct NodeInfo {
    std::string name;
    std::string datacenter;
  };
  Instant delivery_time(std::size_t from, std::size_t to, Instant now, const LinkConfig& cfg,
                        bool& reordered);
  Instant release_time(std::size_t node, Instant t) const;
  std::vector<std::size_t> indexes(const NodeSet& names) const;

  Rng rng_;
  std::vector<NodeInfo> nodes_;
  LinkConfig default_link_;
  std::map<std::pair<std::size_t, std::size_t>, LinkConfig> links_;
  std::set<std::pair<std::size_t, std::size_t>> cuts_;
  std::map<std::size_t, Instant> clogged_until_;
  std::map<std::pair<std::size_t, std::size_t>, Instant> last_delivery_;
};

}  // namespace praetor::sim
