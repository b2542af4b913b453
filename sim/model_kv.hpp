// ModelKv: a small reference Process speaking the subset of Consul's KV HTTP API the workload
// uses (PUT/GET/DELETE /v1/kv/<key>, ?raw, ?cas=N, GET /v1/status/leader, X-Consul-Index). It is
// the simulator's own yardstick: the workload and checkers are proven against it (and against
// its deliberately broken variants) independently of the real agent.
//
// Durable mode logs each write to storage and answers only once the write is synced, applying
// it to memory at that moment; one write is in flight at a time, so reads see exactly the
// durable state. The kAckBeforeSync bug answers first and writes without sync: a crash then
// loses acknowledged writes, which the linearizability checker must catch.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "core/node/process.hpp"

namespace praetor::sim {

class ModelKv final : public node::Process {
 public:
  enum class Mode : std::uint8_t { kMemory, kDurable, kAckBeforeSync, kStaleReads };
  explicit ModelKv(Mode mode) : mode_(mode) {}

  void start(node::Env& env) override;
  void on_frame(const node::Endpoint&, node::Channel, Bytes) override {}
  void on_written(Ticket ticket, Result<void> result) override;
  void on_wake(Instant) override {}
  void on_check_result(CheckRunId, node::ExecResult) override {}
  void on_client_request(RequestId id, node::HttpRequest request) override;
  void stop(node::StopReason reason) override;

  std::size_t size() const { return entries_.size(); }
  std::uint64_t index() const { return index_; }

 private:
  struct Entry {
    std::string value;
    std::uint64_t create_index = 0;
    std::uint64_t modify_index = 0;
  };
  struct Write {
    RequestId id;
    char op = 'P';  // 'P' put, 'D' delete
    std::string key;
    std::string value;
    std::optional<std::uint64_t> cas;
  };

  void handle_write(RequestId id, const node::HttpRequest& request, const std::string& key);
  void handle_read(RequestId id, const node::HttpRequest& request, const std::string& key);
  void pump();
  // Applies a write to memory; false when a CAS precondition fails.
  bool apply(const Write& w);
  bool cas_holds(const Write& w) const;
  void reply(RequestId id, int status, std::string body);
  // Returns the length of the log's valid prefix.
  std::size_t replay_log(const Bytes& log);

  Mode mode_;
  node::Env* env_ = nullptr;
  std::map<std::string, Entry> entries_;
  std::map<std::string, Entry> stale_;  // kStaleReads: the state before the latest write
  std::uint64_t index_ = 1;
  std::deque<Write> queue_;
  bool in_flight_ = false;
  bool truncating_ = false;  // recovery is cutting a torn tail; writes wait for it
  Ticket next_ticket_{1};
};

}  // namespace praetor::sim
