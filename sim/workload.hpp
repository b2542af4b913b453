// KvWorkload: a few simulated HTTP clients doing PUT / GET (raw and JSON) / DELETE / CAS on a
// small key set, through World::submit. Each client has one request outstanding at a time and
// thinks for a random while between requests. Written values are unique ("v17"), so a read names
// the write it saw, and a CAS on an observed ModifyIndex becomes "swap if the value is still
// the one I read" for the checker.
//
// Answers are also checked against the API contract as they arrive (bodies "true"/"false",
// JSON shape, an X-Consul-Index header on every reply); breaches are protocol errors.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/rng.hpp"
#include "sim/checkers.hpp"
#include "sim/world.hpp"

namespace praetor::sim {

struct KvWorkloadOptions {
  std::vector<std::string> targets;  // node names the clients talk to
  std::size_t clients = 3;
  std::size_t keys = 3;
  std::size_t operations = 200;  // in total, over all clients
  std::string key_prefix = "sim/k";
  Duration think_max = Duration::milliseconds(20);
  // After an error, refusal or loss a client waits this much longer, so a leaderless stretch
  // does not burn the whole operation budget in a burst of fast failures.
  Duration backoff = Duration::seconds(1);
  // Added to every GET, e.g. "consistent": on a cluster, default-mode reads may be stale by
  // design (Consul's leader lease), so a linearizability check asks for ?consistent.
  std::string read_mode;
  // 5xx bodies that mean "rejected before anything was proposed" (Consul's ErrNoLeader and
  // "no servers"): such writes had no effect. Every other 5xx leaves a write's fate unknown.
  std::vector<std::string> definite_errors = {"No cluster leader", "No known Consul servers"};
};

class KvWorkload {
 public:
  KvWorkload(World& world, KvWorkloadOptions options, Rng rng);

  // Installs the reply observer and issues every client's first request.
  void start();
  bool done() const { return issued_ == options_.operations && outstanding_.empty(); }
  std::size_t outstanding() const { return outstanding_.size(); }
  const std::vector<KvOp>& history() const { return history_; }
  const std::vector<std::string>& protocol_errors() const { return protocol_errors_; }
  std::string counts() const;  // "ops=200 ok=180 fail=0 unknown=20"

 private:
  struct Known {
    std::optional<std::string> value;
    std::uint64_t modify_index = 0;  // 0 with an absent value: "cas=0" creates
  };
  struct Client {
    std::map<std::string, Known> known;  // per key, from the client's latest JSON read
  };
  struct Pending {
    std::size_t client = 0;
    std::size_t op = 0;  // index into history_
    bool json = false;
  };

  void issue(std::size_t client, Duration delay);
  void on_reply(const ClientReply& reply);
  void interpret(const Pending& p, const ClientReply& reply, KvOp& op);
  void interpret_get(const Pending& p, const node::HttpResponse& r, KvOp& op);
  void protocol_error(const KvOp& op, std::string what);

  World& world_;
  KvWorkloadOptions options_;
  Rng rng_;
  std::vector<Client> clients_;
  std::vector<KvOp> history_;
  std::map<RequestId, Pending> outstanding_;
  std::vector<std::string> protocol_errors_;
  std::size_t issued_ = 0;
  std::uint64_t next_value_ = 1;
};

}  // namespace praetor::sim
