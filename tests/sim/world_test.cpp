// The World's event loop, crash/restart, clocks, timers, exec and determinism.
#include "sim/world.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <functional>
#include <memory>

#include "sim/model_kv.hpp"
#include "tests/sim/test_processes.hpp"

namespace praetor::sim {
namespace {

using testing::Recorder;

NodeOptions node_at(std::string name, std::string address, std::string dc = "dc1") {
  NodeOptions o;
  o.name = std::move(name);
  o.datacenter = std::move(dc);
  o.addresses = {std::move(address)};
  return o;
}

Instant at_ms(std::int64_t ms) { return Instant::zero() + Duration::milliseconds(ms); }

TEST(WorldTest, EventsRunInTimeThenSequenceOrder) {
  World world(7);
  std::vector<std::string> order;
  world.schedule(at_ms(5), "e5", [&](World&) { order.push_back("e5"); });
  world.schedule(at_ms(1), "e1", [&](World&) { order.push_back("e1"); });
  world.schedule(at_ms(2), "e2a", [&](World& w) {
    order.push_back("e2a");
    // Scheduled "now" from inside an event: runs after everything already queued for now.
    w.schedule(w.now(), "e2c", [&](World&) { order.push_back("e2c"); });
  });
  world.schedule(at_ms(2), "e2b", [&](World&) { order.push_back("e2b"); });
  world.schedule(at_ms(3), "e3", [&](World&) { order.push_back("e3"); });
  world.run_until(at_ms(4));
  EXPECT_EQ(order, (std::vector<std::string>{"e1", "e2a", "e2b", "e2c", "e3"}));
  EXPECT_EQ(world.now(), at_ms(4));
  world.run_until(at_ms(10));
  EXPECT_EQ(order.back(), "e5");
  EXPECT_FALSE(world.step());
}

TEST(WorldTest, PingPongTakesLinkLatencyEachWay) {
  World world(1);
  LinkConfig link;
  link.latency = Duration::milliseconds(10);
  world.network().set_default_link(link);
  world.add_process(node_at("n1", "10.0.0.1"), [] {
    Recorder::Options o;
    o.send_to = "10.0.0.2";
    return std::make_unique<Recorder>(o);
  });
  world.add_process(node_at("n2", "10.0.0.2"), [] { return std::make_unique<Recorder>(); });
  world.run_until(at_ms(15));
  auto* n1 = world.process_as<Recorder>("n1");
  auto* n2 = world.process_as<Recorder>("n2");
  ASSERT_NE(n1, nullptr);
  ASSERT_NE(n2, nullptr);
  EXPECT_EQ(n2->frames, std::vector<std::string>{"ping 0"});
  EXPECT_TRUE(n1->frames.empty());
  world.run_until(at_ms(20));
  EXPECT_EQ(n1->frames, std::vector<std::string>{"pong 0"});
  EXPECT_EQ(n2->log.back(), "frame ping 0 from 10.0.0.1:8300");
}

TEST(WorldTest, ClientRequestsAreAnsweredAfterClientLatency) {
  WorldOptions opts;
  opts.client_latency_min = Duration::milliseconds(2);
  opts.client_latency_max = Duration::milliseconds(2);
  World world(3, opts);
  world.add_process(node_at("n1", "10.0.0.1"), [] { return std::make_unique<Recorder>(); });
  node::HttpRequest req;
  req.method = "GET";
  req.path = "/hello";
  RequestId id = world.submit("n1", req);
  world.run_until(at_ms(3));
  ASSERT_EQ(world.reply(id)->status, ClientReply::Status::kPending);
  world.run_until(at_ms(4));
  const ClientReply* r = world.reply(id);
  ASSERT_EQ(r->status, ClientReply::Status::kAnswered);
  EXPECT_EQ(r->response.body, "ok /hello");
  EXPECT_EQ(r->answered, at_ms(4));
}

// A DNS client or server as the simulator sees it: sends `queries` at start (to `server`, on kDns
// and kDnsStream), answers every frame it gets on the same channel to its sender, and records
// what it got.
class DnsPeer final : public node::Process {
 public:
  explicit DnsPeer(std::string server = "") : server_(std::move(server)) {}
  void start(node::Env& env) override {
    env_ = &env;
    if (server_.empty()) return;
    env.network.send(node::Endpoint{server_, 8600}, node::Channel::kDns, to_bytes("udp-query"));
    env.network.send(node::Endpoint{server_, 8600}, node::Channel::kDnsStream,
                     to_bytes("tcp-query"));
  }
  void on_frame(const node::Endpoint& from, node::Channel channel, Bytes payload) override {
    std::string text = to_string(payload);
    got.push_back(fmt::format("{} {} {}", node::channel_name(channel), from, text));
    if (text.ends_with("-query")) {
      env_->network.send(from, channel, to_bytes(text.substr(0, 3) + "-answer"));
    }
  }
  void on_written(Ticket, Result<void>) override {}
  void on_wake(Instant) override {}
  void on_check_result(CheckRunId, node::ExecResult) override {}
  void on_client_request(RequestId, node::HttpRequest) override {}
  void stop(node::StopReason) override { env_->control.shutdown(0); }

  std::vector<std::string> got;

 private:
  std::string server_;
  node::Env* env_ = nullptr;
};

// DNS frames ride the simulated network like every other channel: from the sender's address and
// DNS port, answered back to it, and subject to partitions and loss.
TEST(WorldTest, DnsFramesAreCarriedAndFaultedLikeOtherChannels) {
  auto run = [](const std::function<void(World&)>& fault) {
    World world(5);
    world.add_process(node_at("agent", "10.0.0.1"), [] { return std::make_unique<DnsPeer>(); });
    world.add_process(node_at("client", "10.0.0.9"),
                      [] { return std::make_unique<DnsPeer>("10.0.0.1"); });
    fault(world);  // before anything runs: the processes start at time zero
    world.run_until(at_ms(50));
    return std::pair{world.process_as<DnsPeer>("agent")->got,
                     world.process_as<DnsPeer>("client")->got};
  };
  auto [agent, client] = run([](World&) {});
  EXPECT_EQ(agent, (std::vector<std::string>{"dns 10.0.0.9:8600 udp-query",
                                             "dns-stream 10.0.0.9:8600 tcp-query"}));
  EXPECT_EQ(client, (std::vector<std::string>{"dns 10.0.0.1:8600 udp-answer",
                                              "dns-stream 10.0.0.1:8600 tcp-answer"}));

  auto partitioned = run([](World& w) { w.network().partition({"agent"}, {"client"}); });
  EXPECT_TRUE(partitioned.first.empty());
  EXPECT_TRUE(partitioned.second.empty());

  auto lossy = run([](World& w) {
    LinkConfig link;
    link.loss = 1.0;
    w.network().set_default_link(link);
  });
  EXPECT_TRUE(lossy.first.empty());
  EXPECT_TRUE(lossy.second.empty());
}

TEST(WorldTest, CrashRestartRebuildsProcessOverSurvivingStorage) {
  World world(11);
  int built = 0;
  world.add_process(node_at("n1", "10.0.0.1"), [&built] {
    ++built;
    return std::make_unique<ModelKv>(ModelKv::Mode::kDurable);
  });
  node::HttpRequest put;
  put.method = "PUT";
  put.path = "/v1/kv/a";
  put.body = "one";
  RequestId id = world.submit("n1", put);
  world.run_until(at_ms(100));
  ASSERT_EQ(world.reply(id)->status, ClientReply::Status::kAnswered);
  ASSERT_EQ(world.reply(id)->response.body, "true");

  world.crash("n1");
  EXPECT_FALSE(world.is_up("n1"));
  EXPECT_EQ(world.process("n1"), nullptr);
  node::HttpRequest get;
  get.method = "GET";
  get.path = "/v1/kv/a";
  get.query.emplace_back("raw", "");
  RequestId refused = world.submit("n1", get);
  world.run_until(at_ms(200));
  EXPECT_EQ(world.reply(refused)->status, ClientReply::Status::kRefused);

  world.restart("n1");
  world.run_until(at_ms(300));
  EXPECT_EQ(built, 2);
  EXPECT_EQ(world.incarnation("n1"), 2u);
  EXPECT_NE(world.process("n1"), nullptr);
  RequestId read = world.submit("n1", get);
  world.run_until(at_ms(400));
  ASSERT_EQ(world.reply(read)->status, ClientReply::Status::kAnswered);
  EXPECT_EQ(world.reply(read)->response.body, "one");
}

TEST(WorldTest, CrashLosesOutstandingRequestsAndInFlightInputs) {
  WorldOptions opts;
  opts.sync_write_min = Duration::milliseconds(50);
  opts.sync_write_max = Duration::milliseconds(50);
  World world(12, opts);
  world.trace().set_keep(true);
  world.add_process(node_at("n1", "10.0.0.1"),
                    [] { return std::make_unique<ModelKv>(ModelKv::Mode::kDurable); });
  world.add_process(node_at("n2", "10.0.0.2"), [] { return std::make_unique<Recorder>(); });
  LinkConfig link;
  link.latency = Duration::milliseconds(30);
  world.network().set_default_link(link);
  node::HttpRequest put;
  put.method = "PUT";
  put.path = "/v1/kv/a";
  put.body = "one";
  RequestId id = world.submit("n1", put);
  world.run_until(at_ms(10));  // the write is in flight (50 ms to sync)
  world.inject_frame("n1", node::Endpoint{"10.0.0.2", 8300}, node::Channel::kRpc,
                     to_bytes("to n2"));
  world.inject_frame("n2", node::Endpoint{"10.0.0.1", 8300}, node::Channel::kRpc,
                     to_bytes("to n1"));
  world.crash("n1");
  EXPECT_EQ(world.reply(id)->status, ClientReply::Status::kLost);
  EXPECT_EQ(world.storage("n1").pending_ops(), 0u);  // unsynced ops resolved by the crash
  world.restart("n1");
  world.run_until(at_ms(100));
  // The frame to n1 was addressed to the dead incarnation; the frame n1 "sent" still lands.
  EXPECT_EQ(world.process_as<Recorder>("n2")->frames, std::vector<std::string>{"to n2"});
  bool dropped = false;
  for (const auto& line : world.trace().kept()) {
    if (line.find("n1 <- frame rpc from n2 len=5 dropped (down)") != std::string::npos) {
      dropped = true;
    }
    EXPECT_FALSE(line.ends_with("n1 <- frame rpc from n2 len=5")) << line;
  }
  EXPECT_TRUE(dropped);
}

TEST(WorldTest, SkewedClockReadsAndTimersUseLocalTime) {
  World world(5);
  world.add_process(node_at("n1", "10.0.0.1"), [] {
    Recorder::Options o;
    o.wake_at = Instant::zero() + Duration::seconds(6);  // local time
    return std::make_unique<Recorder>(o);
  });
  ClockModel clock;
  clock.offset = Duration::seconds(5);
  clock.drift_ppm = 1000;  // 1 ms fast per second
  clock.wall_skew = Duration::minutes(-3);
  world.set_clock("n1", clock);
  world.run_until(at_ms(1));
  auto* p = world.process_as<Recorder>("n1");
  EXPECT_EQ(p->start_local, Instant::zero() + Duration::seconds(5));
  // Local 6 s is global 1 s / 1.001 = 999.000999 ms: the wake fires then, not at global 1 s.
  world.run_until(Instant::from_ns(999'000'998));
  EXPECT_TRUE(p->wakes.empty());
  world.run_until(Instant::from_ns(999'001'000));
  ASSERT_EQ(p->wakes.size(), 1u);
  EXPECT_GE(p->wakes[0], Instant::zero() + Duration::seconds(6));
  EXPECT_LT(p->wakes[0] - (Instant::zero() + Duration::seconds(6)), Duration::microseconds(1));
  WallTime wall = p->env().clock.wall();
  EXPECT_EQ(wall.unix_ns, kSimWallEpochNs + world.now().ns() + world.now().ns() / 1000 -
                              Duration::minutes(3).count_ns());
}

TEST(WorldTest, TimerLatenessDelaysButNeverAdvancesWakes) {
  World world(9);
  world.add_process(node_at("n1", "10.0.0.1"), [] {
    Recorder::Options o;
    o.wake_at = Instant::zero() + Duration::milliseconds(100);
    return std::make_unique<Recorder>(o);
  });
  world.set_timer_lateness("n1", Duration::milliseconds(50));
  world.run_until(at_ms(99));
  EXPECT_TRUE(world.process_as<Recorder>("n1")->wakes.empty());
  world.run_until(at_ms(151));
  auto& wakes = world.process_as<Recorder>("n1")->wakes;
  ASSERT_EQ(wakes.size(), 1u);
  EXPECT_GE(wakes[0], at_ms(100));
  EXPECT_LE(wakes[0], at_ms(150));
}

TEST(WorldTest, ExecRunsScriptedOutcomes) {
  World world(4);
  world.add_process(node_at("n1", "10.0.0.1"), [] { return std::make_unique<Recorder>(); });
  world.exec("n1").set({"/bin/check-db"},
                       ScriptedOutcome{2, "db down", Duration::milliseconds(20)});
  world.exec("n1").set({"/bin/slow"}, ScriptedOutcome{0, "late", Duration::seconds(60)});
  world.run_until(at_ms(1));
  auto* p = world.process_as<Recorder>("n1");
  node::ExecSpec db;
  db.args = {"/bin/check-db"};
  node::ExecSpec slow;
  slow.args = {"/bin/slow"};
  slow.timeout = Duration::seconds(1);
  node::ExecSpec missing;
  missing.args = {"/bin/nope"};
  p->env().exec.run(CheckRunId(1), db);
  p->env().exec.run(CheckRunId(2), slow);
  p->env().exec.run(CheckRunId(3), missing);
  EXPECT_TRUE(p->checks.empty());  // never synchronously
  world.run_until(at_ms(15));
  ASSERT_EQ(p->checks.size(), 1u);  // only the spawn failure (1 ms) so far
  EXPECT_TRUE(p->checks[0].spawn_failed);
  world.run_until(at_ms(30));
  ASSERT_EQ(p->checks.size(), 2u);
  EXPECT_EQ(p->checks[1].exit_code, 2);
  EXPECT_EQ(p->checks[1].output, "db down");
  world.run_until(at_ms(1100));
  ASSERT_EQ(p->checks.size(), 3u);
  EXPECT_TRUE(p->checks[2].timed_out);
  // The table can change during a run.
  world.exec("n1").set({"/bin/check-db"}, ScriptedOutcome{0, "ok", Duration::milliseconds(5)});
  p->env().exec.run(CheckRunId(4), db);
  world.run_until(at_ms(1200));
  ASSERT_EQ(p->checks.size(), 4u);
  EXPECT_EQ(p->checks[3].exit_code, 0);
}

// A small busy world whose trace depends on every random draw.
std::uint64_t noisy_run(std::uint64_t seed) {
  World world(seed);
  LinkConfig link;
  link.latency = Duration::milliseconds(2);
  link.jitter = Duration::milliseconds(8);
  link.loss = 0.2;
  link.duplicate = 0.2;
  link.reorder = 0.2;
  world.network().set_default_link(link);
  for (int i = 1; i <= 3; ++i) {
    world.add_process(node_at(fmt::format("n{}", i), fmt::format("10.0.0.{}", i)), [i] {
      Recorder::Options o;
      o.send_to = fmt::format("10.0.0.{}", i % 3 + 1);
      return std::make_unique<Recorder>(o);
    });
  }
  for (int k = 0; k < 50; ++k) {
    world.schedule(at_ms(k * 3), "burst", [k](World& w) {
      w.inject_frame(fmt::format("n{}", k % 3 + 1),
                     node::Endpoint{fmt::format("10.0.0.{}", (k + 1) % 3 + 1), 8300},
                     node::Channel::kRpc, to_bytes(fmt::format("ping {}", k)));
    });
  }
  world.run_until(at_ms(1000));
  return world.trace_hash();
}

TEST(WorldTest, SameSeedSameTraceDifferentSeedDifferentTrace) {
  EXPECT_EQ(noisy_run(42), noisy_run(42));
  EXPECT_EQ(noisy_run(43), noisy_run(43));
  EXPECT_NE(noisy_run(42), noisy_run(43));
}

RC_GTEST_PROP(ClockModelProp, GlobalForIsTheFirstInstantReachingLocal, ()) {
  ClockModel m;
  m.offset = Duration::nanoseconds(*rc::gen::inRange<std::int64_t>(0, 100'000'000'000));
  m.drift_ppm = *rc::gen::inRange<std::int64_t>(-5000, 5000);
  std::int64_t local = *rc::gen::inRange<std::int64_t>(0, 1'000'000'000'000);
  Instant target = Instant::from_ns(local);
  Instant g = m.global_for(target);
  if (m.local(Instant::zero()) >= target) {
    RC_ASSERT(g == Instant::zero());
  } else {
    RC_ASSERT(m.local(g) >= target);
    RC_ASSERT(m.local(g - Duration::nanoseconds(1)) < target);
  }
}

}  // namespace
}  // namespace praetor::sim
