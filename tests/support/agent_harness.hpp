// An Agent on a RecordingEnv, driven request by request with no host and no real time: the HTTP
// transcripts and the agent fuzz target both use it. Header-only and free of gtest.
#pragma once

#include <map>
#include <optional>
#include <utility>

#include "core/node/agent.hpp"
#include "tests/support/recording_env.hpp"

namespace praetor::node {

class AgentHarness {
 public:
  // A -dev agent (a single in-memory voter that leads at once) checking its invariants after
  // every input, unless another config is given.
  AgentHarness() : AgentHarness(checked_dev_config()) {}
  explicit AgentHarness(AgentConfig config) {
    agent_.emplace(std::move(config));
    env_.emplace(rec_.env());
    agent_->start(*env_);
    // What a host's timer would fire at once: the new leader's first reconcile (which registers
    // the agent's own node, serfHealth and the consul service).
    advance_to(rec_.now_);
  }
  AgentHarness(const AgentHarness&) = delete;
  AgentHarness& operator=(const AgentHarness&) = delete;

  // Hands a request to the agent; its answer, if it came at once, is then take()n.
  RequestId send(HttpRequest request) {
    const RequestId id(next_++);
    agent_->on_client_request(id, std::move(request));
    agent_->check_invariants();
    if (rec_.reloads > reloads_done_) {
      // PUT /v1/agent/reload asked the host to re-read its files: act as a host whose files did
      // not change, after the request returned (hosts never call back re-entrantly).
      reloads_done_ = rec_.reloads;
      (void)agent_->reload(agent_->config());
      agent_->check_invariants();
    }
    return id;
  }
  std::optional<HttpResponse> take(RequestId id) {
    auto it = rec_.responses.find(id);
    if (it == rec_.responses.end()) return std::nullopt;
    HttpResponse r = std::move(it->second);
    rec_.responses.erase(it);
    return r;
  }
  // Every answer not yet taken (parked requests a write or a deadline answered), by request.
  std::map<RequestId, HttpResponse> take_all() { return std::exchange(rec_.responses, {}); }
  // Moves the clock to `until`, firing every wake the agent asked for on the way, as a host's
  // timer would.
  void advance_to(Instant until) {
    while (rec_.wake <= until) {
      rec_.now_ = std::max(rec_.now_, rec_.wake);
      agent_->on_wake(rec_.now_);
    }
    rec_.now_ = std::max(rec_.now_, until);
  }
  // Fires wakes one at a time until `id` is answered or the clock would pass now + `within`;
  // says whether it was answered.
  bool advance_until_answered(RequestId id, Duration within) {
    const Instant give_up = rec_.now_ + within;
    while (!rec_.responses.contains(id) && rec_.wake <= give_up) {
      rec_.now_ = std::max(rec_.now_, rec_.wake);
      agent_->on_wake(rec_.now_);
    }
    return rec_.responses.contains(id);
  }
  Instant now() const { return rec_.now_; }

  RecordingEnv& recorder() { return rec_; }
  Agent& agent() { return *agent_; }

 private:
  static AgentConfig checked_dev_config() {
    AgentConfig config = dev_defaults();
    config.check_invariants_each_input = true;
    return config;
  }

  RecordingEnv rec_;
  std::optional<Env> env_;
  std::optional<Agent> agent_;
  std::uint64_t next_ = 1;
  int reloads_done_ = 0;
};

}  // namespace praetor::node
