// Scripted HTTP and TCP checks in the simulator: outcomes as set, changed during a run, timed out
// at spec.timeout, cut to output_max_bytes, and readable in the trace.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "sim/sim_exec.hpp"
#include "sim/world.hpp"
#include "tests/sim/test_processes.hpp"

namespace praetor::sim {
namespace {

using testing::Recorder;

Instant at_ms(std::int64_t ms) { return Instant::zero() + Duration::milliseconds(ms); }

node::ExecSpec http(std::string url, Duration timeout = Duration::seconds(1)) {
  node::ExecSpec spec;
  spec.kind = node::ExecSpec::Kind::kHttp;
  spec.http.url = std::move(url);
  spec.timeout = timeout;
  return spec;
}

node::ExecSpec tcp(std::string address, Duration timeout = Duration::seconds(1)) {
  node::ExecSpec spec;
  spec.kind = node::ExecSpec::Kind::kTcp;
  spec.tcp = std::move(address);
  spec.timeout = timeout;
  return spec;
}

TEST(SimExecProbeTest, HttpOutcomesResolveAsScripted) {
  SimExec exec;
  exec.set_http(
      "http://10.0.0.1:8080/health",
      ScriptedHttp::respond(503, "Service Unavailable", "draining", Duration::milliseconds(40)));
  auto r = exec.resolve(http("http://10.0.0.1:8080/health"));
  EXPECT_EQ(r.result.exit_code, 0);
  EXPECT_EQ(r.result.http_status, 503);
  EXPECT_EQ(r.result.http_reason, "Service Unavailable");
  EXPECT_EQ(r.result.output, "draining");
  EXPECT_EQ(r.after, Duration::milliseconds(40));

  // Unscripted: refused, in io/'s words.
  auto spec = http("http://10.0.0.9/x");
  spec.http.method = "POST";
  r = exec.resolve(spec);
  EXPECT_EQ(r.result.exit_code, -1);
  EXPECT_FALSE(r.result.timed_out);
  EXPECT_EQ(r.result.http_status, 0);
  EXPECT_EQ(r.result.output,
            "Post \"http://10.0.0.9/x\": dial tcp 10.0.0.9:80: connect: connection refused");

  exec.set_http("https://10.0.0.1/", ScriptedHttp::refused());
  r = exec.resolve(http("https://10.0.0.1/"));
  EXPECT_NE(r.result.output.find("dial tcp 10.0.0.1:443: connect: connection refused"),
            std::string::npos)
      << r.result.output;

  // The body is cut to its first output_max_bytes.
  exec.set_http("http://10.0.0.1/big", ScriptedHttp::respond(200, "OK", "0123456789"));
  spec = http("http://10.0.0.1/big");
  spec.output_max_bytes = 4;
  EXPECT_EQ(exec.resolve(spec).result.output, "0123");
}

TEST(SimExecProbeTest, HttpHangAndSlowResponsesTimeOutAtTheTimeout) {
  SimExec exec;
  exec.set_http("http://10.0.0.1/hang", ScriptedHttp::hang());
  exec.set_http("http://10.0.0.1/slow",
                ScriptedHttp::respond(200, "OK", "late", Duration::seconds(5)));
  for (const char* url : {"http://10.0.0.1/hang", "http://10.0.0.1/slow"}) {
    auto r = exec.resolve(http(url, Duration::milliseconds(700)));
    EXPECT_EQ(r.result.exit_code, -1) << url;
    EXPECT_TRUE(r.result.timed_out) << url;
    EXPECT_EQ(r.result.http_status, 0) << url;
    EXPECT_EQ(r.after, Duration::milliseconds(700)) << url;
    EXPECT_NE(r.result.output.find("Client.Timeout exceeded"), std::string::npos) << url;
  }
}

TEST(SimExecProbeTest, TcpUpDownHang) {
  SimExec exec;
  exec.set_tcp("10.0.0.1:5432", ScriptedTcp::State::kUp);
  exec.set_tcp("10.0.0.2:5432", ScriptedTcp::State::kDown);
  exec.set_tcp("10.0.0.3:5432", ScriptedTcp::State::kHang);
  auto up = exec.resolve(tcp("10.0.0.1:5432"));
  EXPECT_EQ(up.result.exit_code, 0);
  EXPECT_FALSE(up.result.timed_out);
  auto down = exec.resolve(tcp("10.0.0.2:5432"));
  EXPECT_EQ(down.result.exit_code, -1);
  EXPECT_FALSE(down.result.timed_out);
  EXPECT_EQ(down.result.output, "dial tcp 10.0.0.2:5432: connect: connection refused");
  auto hang = exec.resolve(tcp("10.0.0.3:5432", Duration::milliseconds(250)));
  EXPECT_EQ(hang.result.exit_code, -1);
  EXPECT_TRUE(hang.result.timed_out);
  EXPECT_EQ(hang.after, Duration::milliseconds(250));
  // Unscripted is refused; clearing returns an address to that.
  EXPECT_EQ(exec.resolve(tcp("10.0.0.4:1")).result.exit_code, -1);
  exec.clear_tcp("10.0.0.1:5432");
  EXPECT_EQ(exec.resolve(tcp("10.0.0.1:5432")).result.exit_code, -1);
  // The argv table is untouched by the others.
  EXPECT_TRUE(exec.resolve(node::ExecSpec::program({"/bin/x"}, Duration::seconds(1), 10))
                  .result.spawn_failed);
}

TEST(SimExecProbeTest, WorldDeliversProbesLaterAndTheTableChangesDuringARun) {
  World world(11);
  world.trace().set_keep(true);
  NodeOptions o;
  o.name = "n1";
  o.datacenter = "dc1";
  o.addresses = {"10.0.0.1"};
  world.add_process(o, [] { return std::make_unique<Recorder>(); });
  auto& exec = world.exec("n1");
  exec.set_http("http://10.0.0.5:8080/health",
                ScriptedHttp::respond(200, "OK", "fine", Duration::milliseconds(20)));
  exec.set_tcp("10.0.0.5:5432", ScriptedTcp{ScriptedTcp::State::kHang, Duration::zero()});
  world.run_until(at_ms(1));
  auto* p = world.process_as<Recorder>("n1");

  p->env().exec.run(CheckRunId(1), http("http://10.0.0.5:8080/health"));
  p->env().exec.run(CheckRunId(2), tcp("10.0.0.5:5432", Duration::milliseconds(300)));
  EXPECT_TRUE(p->checks.empty());  // never synchronously
  world.run_until(at_ms(30));
  ASSERT_EQ(p->checks.size(), 1u);
  EXPECT_EQ(p->checks[0].http_status, 200);
  EXPECT_EQ(p->checks[0].output, "fine");
  world.run_until(at_ms(302));
  ASSERT_EQ(p->checks.size(), 2u);
  EXPECT_TRUE(p->checks[1].timed_out);

  // The service goes down, the database comes back.
  exec.set_http("http://10.0.0.5:8080/health",
                ScriptedHttp::respond(500, "Internal Server Error", "db gone"));
  exec.set_tcp("10.0.0.5:5432", ScriptedTcp::State::kUp);
  p->env().exec.run(CheckRunId(3), http("http://10.0.0.5:8080/health"));
  p->env().exec.run(CheckRunId(4), tcp("10.0.0.5:5432"));
  world.run_until(at_ms(400));
  ASSERT_EQ(p->checks.size(), 4u);
  EXPECT_EQ(p->checks[2].exit_code, 0);  // TCP (1 ms) first, then HTTP (10 ms)
  EXPECT_EQ(p->checks[2].output, "TCP connect 10.0.0.5:5432: Success");
  EXPECT_EQ(p->checks[3].http_status, 500);
  EXPECT_EQ(p->checks[3].output, "db gone");

  const auto& lines = world.trace().kept();
  auto has = [&](std::string_view text) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  EXPECT_TRUE(has("-> exec id=1 http GET http://10.0.0.5:8080/health"));
  EXPECT_TRUE(has("-> exec id=2 tcp 10.0.0.5:5432"));
}

}  // namespace
}  // namespace praetor::sim
