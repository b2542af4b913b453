// SimNetwork semantics through the World: loss, duplication, reordering, partitions, clogs.
#include <gtest/gtest.h>

#include <memory>

#include "sim/world.hpp"
#include "tests/sim/test_processes.hpp"

namespace praetor::sim {
namespace {

using testing::Recorder;

Instant at_ms(std::int64_t ms) { return Instant::zero() + Duration::milliseconds(ms); }

class NetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dcs[] = {"shenzhen", "shenzhen", "foshan"};
    for (int i = 1; i <= 3; ++i) {
      NodeOptions o;
      o.name = fmt::format("n{}", i);
      o.datacenter = dcs[i - 1];
      o.addresses = {fmt::format("10.0.0.{}", i)};
      world_.add_process(o, [] { return std::make_unique<Recorder>(); });
    }
    world_.run_until(at_ms(1));
  }

  void send(int from, int to, const std::string& text) {
    world_.inject_frame(fmt::format("n{}", from),
                        node::Endpoint{fmt::format("10.0.0.{}", to), 8300}, node::Channel::kRpc,
                        to_bytes(text));
  }
  void send_many(int from, int to, int count) {
    for (int i = 0; i < count; ++i) send(from, to, fmt::format("m{}", i));
  }
  std::vector<std::string>& frames(int node) {
    return world_.process_as<Recorder>(fmt::format("n{}", node))->frames;
  }
  void set_link(LinkConfig link) { world_.network().set_default_link(link); }

  World world_{2024};
};

TEST_F(NetworkTest, LossDropsAboutTheConfiguredFraction) {
  LinkConfig link;
  link.loss = 0.25;
  set_link(link);
  send_many(1, 2, 2000);
  world_.run_for(Duration::seconds(1));
  EXPECT_GT(frames(2).size(), 1350u);
  EXPECT_LT(frames(2).size(), 1650u);
}

TEST_F(NetworkTest, DuplicationDeliversExtraCopies) {
  LinkConfig link;
  link.duplicate = 0.5;
  set_link(link);
  send_many(1, 2, 1000);
  world_.run_for(Duration::seconds(1));
  EXPECT_GT(frames(2).size(), 1400u);
  EXPECT_LT(frames(2).size(), 1600u);
}

TEST_F(NetworkTest, LinksAreFifoUnlessReorderingIsOn) {
  LinkConfig link;
  link.jitter = Duration::milliseconds(20);
  set_link(link);
  send_many(1, 2, 200);
  world_.run_for(Duration::seconds(1));
  ASSERT_EQ(frames(2).size(), 200u);
  for (int i = 0; i < 200; ++i)
    EXPECT_EQ(frames(2)[static_cast<std::size_t>(i)], fmt::format("m{}", i));

  link.reorder = 0.3;
  set_link(link);
  send_many(1, 3, 200);
  world_.run_for(Duration::seconds(1));
  ASSERT_EQ(frames(3).size(), 200u);
  int out_of_order = 0;
  for (int i = 0; i < 200; ++i) {
    if (frames(3)[static_cast<std::size_t>(i)] != fmt::format("m{}", i)) ++out_of_order;
  }
  EXPECT_GT(out_of_order, 10);
}

TEST_F(NetworkTest, PartitionDropsBothWaysAndHealRestores) {
  world_.network().partition({"n1"}, {"n2"});
  send(1, 2, "a");
  send(2, 1, "b");
  send(1, 3, "c");
  world_.run_for(Duration::milliseconds(100));
  EXPECT_TRUE(frames(2).empty());
  EXPECT_TRUE(frames(1).empty());
  EXPECT_EQ(frames(3), std::vector<std::string>{"c"});
  world_.network().heal();
  send(1, 2, "d");
  send(2, 1, "e");
  world_.run_for(Duration::milliseconds(100));
  EXPECT_EQ(frames(2), std::vector<std::string>{"d"});
  EXPECT_EQ(frames(1), std::vector<std::string>{"e"});
}

TEST_F(NetworkTest, OneWayPartitionBlocksOneDirection) {
  world_.network().partition_one_way({"n1"}, {"n2"});
  send(1, 2, "blocked");
  send(2, 1, "passes");
  world_.run_for(Duration::milliseconds(100));
  EXPECT_TRUE(frames(2).empty());
  EXPECT_EQ(frames(1), std::vector<std::string>{"passes"});
}

TEST_F(NetworkTest, PartitionCutsFramesAlreadyInFlight) {
  LinkConfig link;
  link.latency = Duration::milliseconds(50);
  set_link(link);
  send(1, 2, "in flight");
  world_.run_for(Duration::milliseconds(10));
  world_.network().partition({"n1"}, {"n2"});
  world_.run_for(Duration::milliseconds(100));
  EXPECT_TRUE(frames(2).empty());
}

TEST_F(NetworkTest, DatacenterPartitionSplitsByDatacenter) {
  world_.network().partition_datacenters({"shenzhen"}, {"foshan"});
  send(1, 2, "same dc");
  send(1, 3, "cross");
  send(3, 2, "cross back");
  world_.run_for(Duration::milliseconds(100));
  EXPECT_EQ(frames(2), std::vector<std::string>{"same dc"});
  EXPECT_TRUE(frames(3).empty());
}

TEST_F(NetworkTest, ClogHoldsTrafficUntilTheClogEnds) {
  world_.network().clog("n2", at_ms(500));
  send(1, 2, "to clogged");
  send(2, 3, "from clogged");
  send(1, 3, "unaffected");
  world_.run_until(at_ms(400));
  EXPECT_TRUE(frames(2).empty());
  EXPECT_EQ(frames(3), std::vector<std::string>{"unaffected"});
  world_.run_until(at_ms(600));
  EXPECT_EQ(frames(2), std::vector<std::string>{"to clogged"});
  EXPECT_EQ(frames(3).size(), 2u);
}

TEST_F(NetworkTest, UnknownAddressIsDropped) {
  world_.trace().set_keep(true);
  world_.inject_frame("n1", node::Endpoint{"10.9.9.9", 8300}, node::Channel::kRpc, to_bytes("x"));
  world_.run_for(Duration::milliseconds(10));
  ASSERT_FALSE(world_.trace().kept().empty());
  EXPECT_NE(world_.trace().kept().back().find("(no route)"), std::string::npos);
}

}  // namespace
}  // namespace praetor::sim
