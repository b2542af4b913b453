// The agent: the deterministic node that a host runs. It owns the catalog state machine and the
// commit path, routes HTTP requests, and parks blocking queries until an index moves or their
// wait expires. All effects go through the Env given at start().
//
// Commit path. Writes become catalog::Command entries handed to commit(). Today a server agent
// commits locally, in order, at once (the -dev path: a single in-memory server that is its own
// leader). The Raft issue replaces commit() with raft.propose() + Ready handling; the HTTP
// handlers only see "propose this command, answer this request when it is applied", so they do
// not change.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/rng.hpp"
#include "core/catalog/fsm.hpp"
#include "core/node/config.hpp"
#include "core/node/process.hpp"

namespace praetor::node {

inline constexpr std::string_view kVersion = "0.1.0";

class Agent final : public Process {
 public:
  explicit Agent(AgentConfig config);

  void start(Env& env) override;
  void on_frame(const Endpoint& from, Channel channel, Bytes payload) override;
  void on_written(Ticket ticket, Result<void> result) override;
  void on_wake(Instant now) override;
  void on_check_result(CheckRunId id, ExecResult result) override;
  void on_client_request(RequestId id, HttpRequest request) override;
  void stop() override;

  // SIGHUP / PUT /v1/agent/reload with a freshly loaded configuration.
  void reload(AgentConfig config);

  const AgentConfig& config() const { return config_; }
  const catalog::Fsm& fsm() const { return fsm_; }
  const std::string& node_id() const { return node_id_; }
  std::optional<std::string> leader_address() const;
  std::size_t parked_requests() const { return parked_.size(); }
  void check_invariants() const;

 private:
  // A blocking query waiting for the KV index to pass min_index, or for its deadline.
  struct Parked {
    HttpRequest request;
    std::uint64_t min_index = 0;
    Instant deadline;
  };
  // What reading the store at one moment produced: the response, and the index it reflects.
  struct ReadOutcome {
    HttpResponse response;
    std::uint64_t index = 0;
  };

  // agent.cpp: control flow.
  void commit(RequestId id, catalog::Command command);
  void become_leader();
  void wake_parked(Instant now, bool expired_only);
  void arm_timer();
  void respond(RequestId id, HttpResponse response);
  void decorate(HttpResponse& response, std::uint64_t index) const;
  std::string server_address() const;
  std::string advertise_address() const;
  void restore_identity();

  // http_api.cpp: routing and handlers.
  void route(RequestId id, HttpRequest request);
  void handle_kv(RequestId id, HttpRequest& request);
  void handle_kv_write(RequestId id, const HttpRequest& request, const std::string& key);
  void handle_kv_delete(RequestId id, const HttpRequest& request, const std::string& key);
  ReadOutcome read_kv(const HttpRequest& request, const std::string& key) const;
  void handle_status(RequestId id, const HttpRequest& request);
  void handle_agent(RequestId id, const HttpRequest& request);
  void handle_catalog(RequestId id, const HttpRequest& request);
  std::string agent_self_json() const;
  std::string member_json() const;

  AgentConfig config_;
  Env* env_ = nullptr;
  Rng rng_;
  catalog::Fsm fsm_;
  std::string node_id_;
  bool leader_ = false;
  bool stopping_ = false;
  bool replaying_ = false;  // answering a parked request: never park it again
  std::uint64_t last_index_ = 0;  // the local log's last index
  std::map<RequestId, Parked> parked_;
  Instant armed_ = Instant::never();
  Ticket next_ticket_{1};
};

}  // namespace praetor::node
