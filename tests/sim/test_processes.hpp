// Small Processes for exercising the simulator itself.
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "core/node/process.hpp"

namespace praetor::sim::testing {

// Records every input it gets; answers a frame "ping N" with "pong N" to the sender; can arm
// a timer at start and send a frame at start.
class Recorder final : public node::Process {
 public:
  struct Options {
    Instant wake_at = Instant::never();  // local time
    std::string send_to;                 // host to send `greeting` to at start
    std::string greeting = "ping 0";
  };
  Recorder() = default;
  explicit Recorder(Options options) : options_(std::move(options)) {}

  void start(node::Env& env) override {
    env_ = &env;
    log.push_back(fmt::format("start at {}", env.clock.now()));
    start_local = env.clock.now();
    if (!options_.wake_at.is_never()) env.timer.wake_at(options_.wake_at);
    if (!options_.send_to.empty()) {
      env.network.send(node::Endpoint{options_.send_to, 8300}, node::Channel::kRpc,
                       to_bytes(options_.greeting));
    }
  }
  void on_frame(const node::Endpoint& from, node::Channel, Bytes payload) override {
    std::string text = to_string(payload);
    frames.push_back(text);
    log.push_back(fmt::format("frame {} from {}", text, from));
    if (text.rfind("ping ", 0) == 0) {
      env_->network.send(node::Endpoint{from.host, 8300}, node::Channel::kRpc,
                         to_bytes("pong " + text.substr(5)));
    }
  }
  void on_written(Ticket t, Result<void>) override { log.push_back(fmt::format("written {}", t)); }
  void on_wake(Instant now) override {
    wakes.push_back(now);
    log.push_back(fmt::format("wake {}", now));
  }
  void on_check_result(CheckRunId id, node::ExecResult r) override {
    checks.push_back(r);
    log.push_back(fmt::format("check {} exit={} timed_out={} spawn_failed={} output={}", id,
                              r.exit_code, r.timed_out, r.spawn_failed, r.output));
  }
  void on_client_request(RequestId id, node::HttpRequest request) override {
    log.push_back(fmt::format("request {} {}", id, request.path));
    env_->responder.respond(id, node::HttpResponse::text(200, "ok " + request.path));
  }
  void stop(node::StopReason) override { env_->control.shutdown(0); }

  node::Env& env() { return *env_; }

  std::vector<std::string> log;
  std::vector<std::string> frames;
  std::vector<Instant> wakes;
  std::vector<node::ExecResult> checks;
  Instant start_local;

 private:
  Options options_;
  node::Env* env_ = nullptr;
};

}  // namespace praetor::sim::testing
