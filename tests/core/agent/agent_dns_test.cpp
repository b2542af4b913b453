// The agent's DNS side (core/node/dns.cpp) on a RecordingEnv: queries arrive as frames, answers
// leave as frames to the sender on the same channel; a server answers from its catalog, a
// client with no server SERVFAILs, and names outside the domain go to the recursors in turn.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/dns/message.hpp"
#include "core/node/agent.hpp"
#include "tests/support/agent_harness.hpp"

namespace praetor::node {
namespace {

const Endpoint kClient{"127.0.0.200", 40000};

Bytes query(std::string_view name, std::uint16_t qtype, std::uint16_t id = 0x1234) {
  dns::Message m;
  m.header.id = id;
  m.header.rd = true;
  m.questions.push_back(dns::Question{dns::name_from_text(name), qtype, dns::klass::kIn});
  return dns::encode(m);
}

HttpRequest put(std::string path, std::string body) {
  HttpRequest r;
  r.method = "PUT";
  r.path = path;
  r.raw_path = std::move(path);
  r.body = std::move(body);
  return r;
}

AgentConfig checked(AgentConfig c) {
  c.check_invariants_each_input = true;
  return c;
}

class AgentDnsTest : public ::testing::Test {
 protected:
  explicit AgentDnsTest(AgentConfig config = checked(dev_defaults())) : h_(std::move(config)) {}

  // Sends one frame and returns the frames the agent sent in response (all channels recorded:
  // DNS only).
  std::vector<RecordingEnv::Frame> exchange(const Endpoint& from, Channel channel, Bytes packet) {
    auto& frames = h_.recorder().dns_frames;
    const std::size_t before = frames.size();
    h_.agent().on_frame(from, channel, std::move(packet));
    return {frames.begin() + static_cast<std::ptrdiff_t>(before), frames.end()};
  }

  static dns::Message decoded(const RecordingEnv::Frame& f) {
    auto m = dns::decode(f.payload);
    EXPECT_TRUE(m) << (m ? "" : m.error().message);
    return m ? *m : dns::Message{};
  }

  void register_web(std::string node, std::string address) {
    auto id = h_.send(put("/v1/catalog/register",
                          R"({"Node":")" + node + R"(","Address":")" + address +
                              R"(","Service":{"Service":"web","Port":80}})"));
    h_.recorder().sync_all(h_.agent());
    ASSERT_TRUE(h_.advance_until_answered(id, Duration::seconds(5)));
    ASSERT_EQ(h_.take(id)->status, 200);
  }

  AgentHarness h_;
};

TEST_F(AgentDnsTest, AServerAnswersFromItsCatalogOnTheChannelTheQueryCameOn) {
  register_web("n1", "10.0.0.1");
  register_web("n2", "10.0.0.2");
  for (Channel channel : {Channel::kDns, Channel::kDnsStream}) {
    auto out = exchange(kClient, channel, query("WEB.service.consul.", dns::type::kA));
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].to, kClient);
    EXPECT_EQ(out[0].channel, channel);
    dns::Message m = decoded(out[0]);
    EXPECT_EQ(m.header.id, 0x1234);
    EXPECT_TRUE(m.header.qr);
    EXPECT_TRUE(m.header.aa);
    EXPECT_EQ(m.header.rcode, dns::rcode::kNoError);
    EXPECT_EQ(m.answers.size(), 2U);
    for (const auto& rr : m.answers) {
      EXPECT_EQ(dns::to_text(rr.name), "WEB.service.consul.");  // the query's case kept
      EXPECT_EQ(rr.ttl, 0U);
    }
  }
  // An unknown service: NXDOMAIN with the SOA.
  auto out = exchange(kClient, Channel::kDns, query("nope.service.consul.", dns::type::kA));
  ASSERT_EQ(out.size(), 1U);
  dns::Message m = decoded(out[0]);
  EXPECT_EQ(m.header.rcode, dns::rcode::kNxDomain);
  ASSERT_EQ(m.authority.size(), 1U);
  EXPECT_EQ(m.authority[0].rrtype, dns::type::kSoa);
}

// D63: a one-instance answer is kept and handed out again (with the new query's id) until the
// catalog changes; several instances are shuffled per query, so never kept.
TEST_F(AgentDnsTest, OneInstanceAnswersAreKeptUntilTheCatalogChanges) {
  register_web("n1", "10.0.0.1");
  auto address_of = [&](std::string_view name, std::uint16_t id) {
    auto out = exchange(kClient, Channel::kDns, query(name, dns::type::kA, id));
    EXPECT_EQ(out.size(), 1U);
    if (out.empty()) return std::string();
    dns::Message m = decoded(out[0]);
    EXPECT_EQ(m.header.id, id);
    EXPECT_EQ(m.questions.size(), 1U);
    if (m.questions.size() == 1) {
      EXPECT_EQ(dns::to_text(m.questions[0].name), name);
    }
    std::string addresses;
    for (const auto& rr : m.answers) {
      EXPECT_EQ(dns::to_text(rr.name), name);
      if (const auto* a = std::get_if<dns::RdataA>(&rr.rdata)) {
        addresses += fmt::format("{}{}.{}.{}.{}", addresses.empty() ? "" : ",", a->address[0],
                                 a->address[1], a->address[2], a->address[3]);
      }
    }
    return addresses;
  };
  EXPECT_EQ(address_of("web.service.consul.", 1), "10.0.0.1");
  EXPECT_EQ(h_.agent().dns_cache().entries(), 1U);
  EXPECT_EQ(address_of("web.service.consul.", 2), "10.0.0.1");  // kept, with id 2
  EXPECT_EQ(address_of("Web.Service.Consul.", 3), "10.0.0.1");  // another entry: its case kept
  EXPECT_EQ(h_.agent().dns_cache().entries(), 2U);
  // Not kept: an unknown name (NXDOMAIN carries the SOA and its time-based serial).
  address_of("nope.service.consul.", 4);
  EXPECT_EQ(h_.agent().dns_cache().entries(), 2U);
  // The node moves: the next answer has its new address.
  register_web("n1", "10.0.0.9");
  EXPECT_EQ(address_of("web.service.consul.", 5), "10.0.0.9");
  // A second instance: answers are shuffled per query, so nothing is kept.
  register_web("n2", "10.0.0.2");
  std::string both = address_of("web.service.consul.", 6);
  EXPECT_TRUE(both == "10.0.0.9,10.0.0.2" || both == "10.0.0.2,10.0.0.9") << both;
  EXPECT_EQ(h_.agent().dns_cache().entries(), 0U);
}

TEST_F(AgentDnsTest, MalformedPacketsGetFormerrOrNothing) {
  Bytes bad = query("web.service.consul.", dns::type::kA, 0x7777);
  bad.push_back(0xff);  // trailing garbage
  auto out = exchange(kClient, Channel::kDns, bad);
  ASSERT_EQ(out.size(), 1U);
  dns::Message m = decoded(out[0]);
  EXPECT_EQ(m.header.id, 0x7777);
  EXPECT_EQ(m.header.rcode, dns::rcode::kFormErr);
  EXPECT_TRUE(exchange(kClient, Channel::kDns, Bytes{1, 2, 3}).empty());
  // An answer (QR set) from someone we did not ask is dropped, not answered.
  dns::Message stray;
  stray.header.id = 9;
  stray.header.qr = true;
  EXPECT_TRUE(exchange(kClient, Channel::kDns, dns::encode(stray)).empty());
}

AgentConfig with_recursors() {
  AgentConfig c = checked(dev_defaults());
  c.recursors = {"127.0.0.9", "127.0.0.10:5353"};
  c.dns_config.recursor_timeout = Duration::seconds(2);
  return c;
}

class AgentRecursorTest : public AgentDnsTest {
 protected:
  AgentRecursorTest() : AgentDnsTest(with_recursors()) {}
};

TEST_F(AgentRecursorTest, OutsideNamesGoToTheRecursorsInTurnAndTheAnswerIsRelayed) {
  auto out = exchange(kClient, Channel::kDns, query("example.com.", dns::type::kA, 0x4242));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].to, (Endpoint{"127.0.0.9", 53}));
  EXPECT_EQ(out[0].channel, Channel::kDns);
  const std::uint16_t first_id = decoded(out[0]).header.id;
  // The first recursor says nothing: after recursor_timeout the second is asked.
  auto& frames = h_.recorder().dns_frames;
  std::size_t before = frames.size();
  h_.advance_to(h_.now() + Duration::seconds(2));
  ASSERT_EQ(frames.size(), before + 1);
  EXPECT_EQ(frames.back().to, (Endpoint{"127.0.0.10", 5353}));
  const std::uint16_t id = decoded(frames.back()).header.id;
  EXPECT_EQ(id, first_id);
  // An answer with that id from anyone but the recursor asked is ignored.
  dns::Message answer = decoded(frames.back());
  answer.header.qr = true;
  answer.header.ra = true;
  answer.answers.push_back(dns::Record{dns::name_from_text("example.com."), dns::type::kA,
                                       dns::klass::kIn, 60, dns::RdataA{{192, 0, 2, 7}}});
  EXPECT_TRUE(exchange(Endpoint{"127.0.0.9", 53}, Channel::kDns, dns::encode(answer)).empty());
  // The recursor's answer reaches the client with the client's id.
  out = exchange(Endpoint{"127.0.0.10", 5353}, Channel::kDns, dns::encode(answer));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].to, kClient);
  dns::Message relayed = decoded(out[0]);
  EXPECT_EQ(relayed.header.id, 0x4242);
  ASSERT_EQ(relayed.answers.size(), 1U);
  EXPECT_EQ(relayed.answers[0].ttl, 60U);
  // A second copy of the answer finds nothing waiting.
  EXPECT_TRUE(exchange(Endpoint{"127.0.0.10", 5353}, Channel::kDns, dns::encode(answer)).empty());
}

TEST_F(AgentRecursorTest, NoRecursorAnsweringIsServfail) {
  exchange(kClient, Channel::kDnsStream, query("example.com.", dns::type::kA, 0x5151));
  auto& frames = h_.recorder().dns_frames;
  h_.advance_to(h_.now() + Duration::seconds(4));
  ASSERT_EQ(frames.size(), 3U);  // both recursors asked, then the answer to the client
  EXPECT_EQ(frames[2].to, kClient);
  EXPECT_EQ(frames[2].channel, Channel::kDnsStream);
  dns::Message m = decoded(frames[2]);
  EXPECT_EQ(m.header.id, 0x5151);
  EXPECT_EQ(m.header.rcode, dns::rcode::kServFail);
}

AgentConfig client_without_servers() {
  AgentConfig c = checked(dev_defaults());
  c.dev = false;
  c.server = false;
  c.bootstrap = false;
  c.data_dir = "/unused";
  return c;
}

class ClientAgentDnsTest : public AgentDnsTest {
 protected:
  ClientAgentDnsTest() : AgentDnsTest(client_without_servers()) {}
};

TEST_F(ClientAgentDnsTest, AClientAsksTheServersAndSaysServfailWhenNoneIsKnown) {
  // A client holds no catalog: the lookup goes through its route table to a server, and with no
  // server known that fails at once. The client answers SERVFAIL, never a made-up NXDOMAIN.
  auto out = exchange(kClient, Channel::kDns, query("web.service.consul.", dns::type::kA, 0x6060));
  ASSERT_EQ(out.size(), 1U);
  dns::Message m = decoded(out[0]);
  EXPECT_EQ(m.header.id, 0x6060);
  EXPECT_EQ(m.header.rcode, dns::rcode::kServFail);
  out = exchange(kClient, Channel::kDns, query("n1.node.consul.", dns::type::kA, 0x6061));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(decoded(out[0]).header.rcode, dns::rcode::kServFail);
}

AgentConfig server_without_leader() {
  AgentConfig c = checked(dev_defaults());
  c.dev = false;
  c.bootstrap = false;
  c.bootstrap_expect = 3;
  c.data_dir = "/unused";
  return c;
}

class LeaderlessServerDnsTest : public AgentDnsTest {
 protected:
  LeaderlessServerDnsTest() : AgentDnsTest(server_without_leader()) {}
};

TEST_F(LeaderlessServerDnsTest, AServerThatNeverHeardFromALeaderDoesNotAnswerFromItsCatalog) {
  // allow_stale lets a follower answer only within max_stale of its leader's last contact; one
  // that has never had a leader asks for one, and with none there is SERVFAIL rather than an
  // answer from a catalog nobody vouches for.
  auto out = exchange(kClient, Channel::kDns, query("web.service.consul.", dns::type::kA, 0x7070));
  ASSERT_EQ(out.size(), 1U);
  dns::Message m = decoded(out[0]);
  EXPECT_EQ(m.header.id, 0x7070);
  EXPECT_EQ(m.header.rcode, dns::rcode::kServFail);
}

}  // namespace
}  // namespace praetor::node
