// The gossip tests drive their clusters with the simulator's gossip driver (sim/gossip_cluster.hpp),
// the same code the praetor-sim gossip scenarios run, so a failing seed replays either way.
#pragma once

#include "sim/gossip_cluster.hpp"

namespace praetor::gossip::testing {

template <typename Core>
using Cluster = sim::GossipCluster<Core>;

inline Address node_address(std::size_t i) { return sim::gossip_node_address(i); }
inline std::string node_name(std::size_t i) { return sim::gossip_node_name(i); }

}  // namespace praetor::gossip::testing
