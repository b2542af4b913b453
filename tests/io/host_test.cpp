// UvHost on the test's own thread: completions arrive as separate Process calls, the timer
// honours replacement, signals reach stop() and the reload hook, shutdown's code is returned.
#include <gtest/gtest.h>

#include <csignal>
#include <ctime>

#include "io/uv_host.hpp"
#include "tests/io/test_util.hpp"

namespace praetor::io {
namespace {

// Records its inputs, and whether any arrived while another was still running.
class RecordingProcess : public node::Process {
 public:
  struct Scope {
    explicit Scope(RecordingProcess& p) : process(p) {
      if (process.depth_++ > 0) process.reentered = true;
    }
    ~Scope() { --process.depth_; }
    RecordingProcess& process;
  };

  void start(node::Env& env) override {
    Scope s(*this);
    env_ = &env;
    events.push_back("start");
    if (on_start) on_start(env);
    events.push_back("start-done");
  }
  void on_frame(const node::Endpoint&, node::Channel, Bytes) override { Scope s(*this); }
  void on_written(Ticket ticket, Result<void> result) override {
    Scope s(*this);
    events.push_back(fmt::format("written {} {}", ticket, result.has_value() ? "ok" : "error"));
    maybe_finish();
  }
  void on_wake(Instant now) override {
    Scope s(*this);
    ++wakes;
    wake_times.push_back(now);
    if (wakes == 1) {
      target = now + Duration::milliseconds(30);
      env_->timer.wake_at(now + Duration::hours(1));
      env_->timer.wake_at(target);  // replaces the hour
    }
    maybe_finish();
  }
  void on_check_result(CheckRunId id, node::ExecResult result) override {
    Scope s(*this);
    events.push_back(fmt::format("check {} spawn_failed={}", id, result.spawn_failed));
    maybe_finish();
  }
  void on_client_request(RequestId, node::HttpRequest) override { Scope s(*this); }
  void stop(node::StopReason) override {
    Scope s(*this);
    events.push_back("stop");
    env_->control.shutdown(3);
  }

  void maybe_finish() {
    bool written = false, checked = false;
    for (const auto& e : events) {
      written |= e == "written 1 ok";
      checked |= e.rfind("check 5", 0) == 0;
    }
    if (written && checked && wakes == 2) env_->control.shutdown(7);
  }

  std::function<void(node::Env&)> on_start;
  std::vector<std::string> events;
  std::vector<Instant> wake_times;
  Instant target;
  int wakes = 0;
  bool reentered = false;

 private:
  node::Env* env_ = nullptr;
  int depth_ = 0;
};

TEST(UvHost, CompletionsArriveLaterAsSeparateCalls) {
  NullLogger logger;
  HostOptions options;
  options.handle_signals = false;
  UvHost host(logger, options);
  RecordingProcess process;
  process.on_start = [](node::Env& env) {
    node::WriteBatch batch;
    batch.ops.push_back(node::WriteOp{node::WriteOp::Kind::kAppend, "f", to_bytes("x"), 0});
    env.storage.write(std::move(batch), Ticket(1));
    env.timer.wake_at(env.clock.now());
    env.exec.run(CheckRunId(5),
                 node::ExecSpec{{"/nonexistent/praetor-test-binary"}, Duration::seconds(1), 100});
  };
  host.start(process);
  // Nothing was delivered from inside start().
  ASSERT_EQ(process.events, (std::vector<std::string>{"start", "start-done"}));
  EXPECT_EQ(host.run(), 7);
  EXPECT_FALSE(process.reentered);
  EXPECT_EQ(process.wakes, 2);
  ASSERT_EQ(process.wake_times.size(), 2u);
  EXPECT_GE(process.wake_times[1], process.target);
  EXPECT_LT(process.wake_times[1] - process.wake_times[0], Duration::seconds(10));
  EXPECT_NE(std::find(process.events.begin(), process.events.end(), "check 5 spawn_failed=true"),
            process.events.end());
}

TEST(UvHost, SignalsStopTheProcessAndTriggerReload) {
  NullLogger logger;
  HostOptions options;
  int reloads = 0;
  options.on_reload = [&] {
    ++reloads;
    std::raise(SIGTERM);  // the reload ran; now ask for a graceful stop
  };
  UvHost host(logger, options);
  RecordingProcess process;
  process.on_start = [](node::Env&) { std::raise(SIGHUP); };
  host.start(process);
  EXPECT_EQ(host.run(), 3);
  EXPECT_EQ(reloads, 1);
  EXPECT_EQ(std::count(process.events.begin(), process.events.end(), "stop"), 1);
  EXPECT_FALSE(process.reentered);
}

TEST(UvHost, RequestReloadIsDeferred) {
  NullLogger logger;
  HostOptions options;
  options.handle_signals = false;
  bool in_start = false;
  bool reloaded_inside_start = false;
  UvHost* host_ptr = nullptr;
  options.on_reload = [&] {
    reloaded_inside_start = in_start;
    host_ptr->shutdown(0);
  };
  UvHost host(logger, options);
  host_ptr = &host;
  RecordingProcess process;
  process.on_start = [&](node::Env& env) {
    in_start = true;
    env.control.request_reload();
    in_start = false;
  };
  host.start(process);
  EXPECT_EQ(host.run(), 0);
  EXPECT_FALSE(reloaded_inside_start);
}

TEST(UvHost, ClockIsMonotonicAndWallIsUnixTime) {
  NullLogger logger;
  HostOptions options;
  options.handle_signals = false;
  UvHost host(logger, options);
  Instant a = host.now();
  Instant b = host.now();
  EXPECT_LE(a, b);
  std::int64_t wall_s = host.wall().unix_ns / 1000'000'000;
  std::int64_t now_s = static_cast<std::int64_t>(std::time(nullptr));
  EXPECT_LE(std::abs(wall_s - now_s), 2);
}

TEST(UvHost, BindsEphemeralPortsAndReportsAddressInUse) {
  NullLogger logger;
  HostOptions options;
  options.handle_signals = false;
  options.listeners = {Listener{node::Channel::kHttp, {"127.0.0.1", 0}},
                       Listener{node::Channel::kRpc, {"127.0.0.1", 0}},
                       Listener{node::Channel::kGossipLan, {"127.0.0.1", 0}}};
  UvHost host(logger, options);
  auto bound = host.open();
  ASSERT_TRUE(bound.has_value()) << bound.error().message;
  ASSERT_EQ(bound->size(), 3u);
  for (const auto& l : *bound) EXPECT_NE(l.endpoint.port, 0);

  HostOptions clash;
  clash.handle_signals = false;
  clash.listeners = {Listener{node::Channel::kHttp, (*bound)[0].endpoint}};
  UvHost second(logger, clash);
  auto failed = second.open();
  ASSERT_FALSE(failed.has_value());
  EXPECT_NE(failed.error().message.find("address already in use"), std::string::npos)
      << failed.error().message;
}

}  // namespace
}  // namespace praetor::io
