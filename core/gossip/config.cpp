#include "core/gossip/config.hpp"

#include <utility>

namespace praetor::gossip {

Config Config::lan(std::string name, Address address) {
  Config c;
  c.name = std::move(name);
  c.address = std::move(address);
  return c;  // the member initialisers are memberlist's LAN values
}

Config Config::wan(std::string name, Address address) {
  Config c = lan(std::move(name), std::move(address));
  c.stream_timeout = Duration::seconds(30);
  c.suspicion_mult = 6;
  c.push_pull_interval = Duration::seconds(60);
  c.probe_timeout = Duration::seconds(3);
  c.probe_interval = Duration::seconds(5);
  c.gossip_nodes = 4;
  c.gossip_interval = Duration::milliseconds(500);
  c.gossip_to_the_dead_time = Duration::seconds(60);
  return c;
}

Config Config::local(std::string name, Address address) {
  Config c = lan(std::move(name), std::move(address));
  c.stream_timeout = Duration::seconds(1);
  c.indirect_checks = 1;
  c.retransmit_mult = 2;
  c.suspicion_mult = 3;
  c.push_pull_interval = Duration::seconds(15);
  c.probe_timeout = Duration::milliseconds(200);
  c.probe_interval = Duration::seconds(1);
  c.gossip_interval = Duration::milliseconds(100);
  c.gossip_to_the_dead_time = Duration::seconds(15);
  return c;
}

SerfConfig SerfConfig::lan(std::string name, Address address) {
  SerfConfig c;
  c.swim = Config::lan(std::move(name), std::move(address));
  return c;
}

SerfConfig SerfConfig::wan(std::string name, Address address) {
  SerfConfig c;
  c.swim = Config::wan(std::move(name), std::move(address));
  return c;
}

SerfConfig SerfConfig::local(std::string name, Address address) {
  SerfConfig c;
  c.swim = Config::local(std::move(name), std::move(address));
  c.reap_interval = Duration::seconds(1);
  c.reconnect_interval = Duration::seconds(5);
  c.reconnect_timeout = Duration::minutes(10);
  c.tombstone_timeout = Duration::minutes(10);
  c.leave_propagate_delay = Duration::milliseconds(500);
  return c;
}

}  // namespace praetor::gossip
