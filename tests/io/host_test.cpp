// UvHost on the test's own thread: completions arrive as separate Process calls, the timer
// honours replacement, signals reach stop() and the reload hook, shutdown's code is returned.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <condition_variable>
#include <csignal>
#include <ctime>
#include <mutex>

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
    env.exec.run(CheckRunId(5), node::ExecSpec::program({"/nonexistent/praetor-test-binary"},
                                                        Duration::seconds(1), 100));
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

// Holds the loop inside its first on_frame until the test opens the gate, so that the frames
// sent meanwhile are all read in the loop's next iteration.
class GatedFrameProcess : public node::Process {
 public:
  void start(node::Env& env) override { env_ = &env; }
  void on_frame(const node::Endpoint&, node::Channel, Bytes payload) override {
    frames.put(std::string(payload.begin(), payload.end()));
    std::unique_lock<std::mutex> lock(mutex_);
    gate_cv_.wait(lock, [this] { return open_; });
  }
  void open_gate() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    gate_cv_.notify_all();
  }
  void on_written(Ticket, Result<void>) override {}
  void on_wake(Instant) override {}
  void on_check_result(CheckRunId, node::ExecResult) override {}
  void on_client_request(RequestId, node::HttpRequest) override {}
  void stop(node::StopReason) override { env_->control.shutdown(0); }

  testing::Mailbox frames;

 private:
  node::Env* env_ = nullptr;
  std::mutex mutex_;
  std::condition_variable gate_cv_;
  bool open_ = false;
};

TEST(UvHost, FramesBeyondTheQueueBoundAreDroppedCountedAndLoggedOnce) {
  GatedFrameProcess process;
  testing::RecordingLogger logger;
  HostOptions options;
  options.listeners = {Listener{node::Channel::kGossipLan, {"127.0.0.1", 0}}};
  options.max_queued_frames = 4;
  // libuv reads at most 32 datagrams per poll event; a burst of 30 is read in one.
  constexpr int kBurst = 30;
  std::uint64_t dropped = 0;
  std::vector<std::string> delivered;
  {
    testing::HostThread host(process, options, &logger);
    int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(host.port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto send = [&](const std::string& text) {
      ASSERT_EQ(
          ::sendto(fd, text.data(), text.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
          static_cast<ssize_t>(text.size()));
    };
    send("first");
    process.frames.wait_for(1);  // the loop is now held inside on_frame
    for (int i = 0; i < kBurst; ++i) send(fmt::format("burst-{}", i));
    process.open_gate();
    delivered = process.frames.wait_for(1 + 4);
    ::close(fd);
    host.stop();
    dropped = host.host().frames_dropped();
    delivered = process.frames.items();
  }
  // On loopback the burst is in the socket before the gate opens, and the loop reads all of it
  // in one iteration: four frames fit in the queue, the rest are dropped, none is lost silently.
  ASSERT_EQ(delivered.size(), 5u);
  EXPECT_EQ(delivered[1], "burst-0");
  EXPECT_EQ(delivered[4], "burst-3");
  EXPECT_EQ(dropped, static_cast<std::uint64_t>(kBurst - 4));
  EXPECT_EQ(delivered.size() + dropped, static_cast<std::uint64_t>(1 + kBurst));
  std::uint64_t logged = 0;
  int lines = 0;
  for (const auto& line : logger.lines()) {
    if (line.message.rfind("dropping gossip-lan frame from 127.0.0.1:", 0) == 0) {
      EXPECT_NE(line.message.find("4 frames"), std::string::npos) << line.message;
      ++lines;
      ++logged;
    } else if (line.message.rfind("dropped ", 0) == 0) {
      ++lines;
      logged += std::stoull(line.message.substr(8));
    }
  }
  EXPECT_EQ(logged, dropped);
  EXPECT_LE(lines, 3);
}

}  // namespace
}  // namespace praetor::io
