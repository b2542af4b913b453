// Five real agents on 127.0.0.2-6 — three servers and two clients — with Consul's LAN gossip
// defaults. The servers know only one address (retry_join 127.0.0.2) and bootstrap_expect 3:
// they must find each other through gossip and elect a leader. Then:
//   - every agent lists all five alive; `members -wan` on a server lists the three servers as
//     name.dc (flood join);
//   - a client forwards KV writes and reads to the servers;
//   - kill -9 of a client: every other agent marks it failed within memberlist's suspicion
//     bound (max = 6 x SuspicionMult x max(1, log10 N) x ProbeInterval) plus a probe round;
//   - restarted, it is alive again everywhere;
//   - `praetor leave` (and SIGTERM, which clients turn into a leave by default): left;
//   - force-leave turns a failed member into left.
// Only processes this test started are signalled, by pid.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tests/process/agent_process.hpp"

namespace praetor {
namespace {

using testing::AgentProcess;
using testing::wait_until;
using namespace std::chrono_literals;

constexpr int kAlive = 1, kLeft = 3, kFailed = 4;

std::string address(int n) { return "127.0.0." + std::to_string(n + 1); }

class GossipProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::make_test_root("praetor-gossip");
    ASSERT_FALSE(root_.empty());
    for (int n = 1; n <= 5; ++n) {
      const bool server = n <= 3;
      nlohmann::json config = {{"datacenter", "shenzhen"},
                               {"server", server},
                               {"retry_join", {address(1)}},
                               {"retry_interval", "1s"},
                               {"log_level", "DEBUG"},
                               {"ports", {{"dns", -1}}},
                               {"performance", {{"raft_multiplier", 1}}}};
      if (server) config["bootstrap_expect"] = 3;
      agents_.push_back(std::make_unique<AgentProcess>((server ? "s" : "c") + std::to_string(n),
                                                       address(n), root_, config));
    }
  }
  void TearDown() override {
    const bool failed = HasFailure();
    for (auto& a : agents_) {
      if (failed) std::cerr << "---- " << a->dir() << "/agent.log (tail)\n" << a->log_tail();
      a->kill(SIGKILL);
    }
    agents_.clear();
    if (!failed && std::getenv("PRAETOR_KEEP") == nullptr) testing::fs::remove_all(root_);
  }

  AgentProcess& agent(int n) { return *agents_[static_cast<std::size_t>(n - 1)]; }

  // Whether every running agent other than `about` sees `about` with `status`.
  bool all_see(const std::string& about, int status) {
    for (auto& a : agents_) {
      if (!a->running() || a->name() == about) continue;
      if (a->members()[about] != status) return false;
    }
    return true;
  }

  std::string run_cli(const std::string& args) {
    const std::string cmd = std::string(PRAETOR_BIN) + " " + args + " 2>&1";
    std::string output;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[512];
      while (fgets(buf, sizeof buf, p) != nullptr) output += buf;
      cli_status_ = pclose(p);
    }
    return output;
  }

  testing::fs::path root_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
  int cli_status_ = -1;
};

TEST_F(GossipProcessTest, JoinDetectFailureRestartLeaveAndForceLeave) {
  for (auto& a : agents_) a->start();

  // Everyone alive everywhere, and the servers elected a leader through gossip discovery.
  ASSERT_TRUE(wait_until(30s, [&] {
    for (auto& a : agents_) {
      auto m = a->members();
      if (m.size() != 5) return false;
      for (const auto& [name, status] : m) {
        if (status != kAlive) return false;
      }
    }
    return true;
  })) << "the five agents did not all see each other alive";
  ASSERT_TRUE(wait_until(30s, [&] { return !agent(1).leader().empty(); })) << "no leader";
  const std::string members = run_cli("members -http-addr=" + address(4) + ":8500");
  EXPECT_EQ(cli_status_, 0) << members;
  EXPECT_NE(members.find("c5    127.0.0.6:8301  alive   client"), std::string::npos) << members;
  EXPECT_NE(members.find("s1    127.0.0.2:8301  alive   server"), std::string::npos) << members;

  // An explicit join of members it already knows answers at once.
  const std::string joined = run_cli("join -http-addr=" + address(4) + ":8500 " + address(2) +
                                     " " + address(3));
  EXPECT_EQ(cli_status_, 0) << joined;
  EXPECT_NE(joined.find("Successfully joined cluster by contacting 2 nodes."), std::string::npos)
      << joined;
  const std::string refused = run_cli("join -http-addr=" + address(4) + ":8500 not-an-address");
  EXPECT_NE(cli_status_, 0) << refused;

  // Flood join: the WAN pool holds every server as name.dc.
  ASSERT_TRUE(wait_until(20s, [&] { return agent(2).members(true).size() == 3; }));
  const std::string wan = run_cli("members -wan -http-addr=" + address(1) + ":8500");
  EXPECT_NE(wan.find("s3.shenzhen  127.0.0.4:8302  alive   server"), std::string::npos) << wan;

  // A client forwards to the servers.
  ASSERT_TRUE(wait_until(20s, [&] {
    auto r = agent(4).call("PUT", "/v1/kv/through-client", "yes");
    return r && r->status == 200 && r->body == "true";
  }));
  auto got = agent(5).call("GET", "/v1/kv/through-client?raw");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "yes");

  // kill -9 of c5: failed on every other agent within the suspicion bound plus a probe round.
  const double min_timeout = 4.0 * std::max(1.0, std::log10(5.0)) * 1.0;  // LAN defaults
  const auto bound = std::chrono::milliseconds(static_cast<int>((6 * min_timeout + 2.0) * 1000));
  agent(5).kill(SIGKILL);
  const auto killed_at = testing::Clock::now();
  ASSERT_TRUE(wait_until(bound + 2s, [&] { return all_see("c5", kFailed); }))
      << "c5 not marked failed everywhere";
  const auto detected = testing::Clock::now() - killed_at;
  EXPECT_LE(detected, bound);
  std::cerr << "c5 marked failed everywhere after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(detected).count() << " ms\n";

  // Restarted, it rejoins (retry_join and its member snapshot).
  agent(5).start();
  ASSERT_TRUE(wait_until(30s, [&] { return all_see("c5", kAlive); })) << "c5 did not come back";

  // `praetor leave` on c4: the process exits 0 and every other agent records a graceful leave.
  const std::string leave = run_cli("leave -http-addr=" + address(4) + ":8500");
  EXPECT_EQ(cli_status_, 0) << leave;
  EXPECT_NE(leave.find("Graceful leave complete"), std::string::npos) << leave;
  EXPECT_EQ(agent(4).wait_exit(20s), 0);
  ASSERT_TRUE(wait_until(20s, [&] { return all_see("c4", kLeft); })) << "c4 not left everywhere";

  // SIGTERM on a client leaves too (leave_on_terminate defaults to true on clients).
  agent(5).signal(SIGTERM);
  EXPECT_EQ(agent(5).wait_exit(20s), 0);
  ASSERT_TRUE(wait_until(20s, [&] { return all_see("c5", kLeft); })) << "c5 not left after TERM";

  // force-leave: c5 comes back, dies hard, is failed; the operator forces it out.
  agent(5).start();
  ASSERT_TRUE(wait_until(30s, [&] { return all_see("c5", kAlive); })) << "c5 did not rejoin";
  agent(5).kill(SIGKILL);
  ASSERT_TRUE(wait_until(bound + 2s, [&] { return all_see("c5", kFailed); }));
  const std::string forced = run_cli("force-leave -http-addr=" + address(1) + ":8500 c5");
  EXPECT_EQ(cli_status_, 0) << forced;
  ASSERT_TRUE(wait_until(20s, [&] { return all_see("c5", kLeft); })) << "force-leave did not spread";
}

}  // namespace
}  // namespace praetor
