// The render cache (render_cache.hpp, D43): bounded, keyed by everything that changes the
// answer, and never serving an answer after the index it was rendered at has moved.
#include "core/node/render_cache.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/node/agent.hpp"
#include "tests/support/recording_env.hpp"

namespace praetor::node {
namespace {

HttpRequest get(std::string target) {
  auto parsed = parse_target(target);
  EXPECT_TRUE(parsed) << target;
  HttpRequest r;
  r.method = "GET";
  r.path = parsed->path;
  r.raw_path = parsed->raw_path;
  r.query = parsed->query;
  return r;
}

HttpResponse body_of(std::size_t size, char c = 'x') {
  return HttpResponse::json(200, std::string(size, c));
}

TEST(RenderCache, KeyIgnoresOnlyWhatDoesNotChangeTheAnswer) {
  const auto key = [](std::string target) { return RenderCache::key(get(target), "dc1"); };
  EXPECT_EQ(key("/v1/health/service/web?passing"),
            key("/v1/health/service/web?passing&index=7&wait=1s&stale"));
  EXPECT_EQ(key("/v1/health/service/web"), key("/v1/health/service/web?consistent"));
  EXPECT_NE(key("/v1/health/service/web"), key("/v1/health/service/web?passing"));
  EXPECT_NE(key("/v1/health/service/web?tag=a"), key("/v1/health/service/web?tag=b"));
  EXPECT_NE(key("/v1/health/service/web?tag=a&tag=b"), key("/v1/health/service/web?tag=ab"));
  EXPECT_NE(key("/v1/health/service/web"), key("/v1/health/service/db"));
  EXPECT_NE(RenderCache::key(get("/v1/health/service/web"), "dc1"),
            RenderCache::key(get("/v1/health/service/web"), "dc2"));
}

TEST(RenderCache, HitOnlyAtTheSameIndex) {
  RenderCache cache;
  cache.store("k", 5, body_of(RenderCache::kMinBytes));
  ASSERT_NE(cache.find("k", 5), nullptr);
  EXPECT_EQ(cache.find("k", 5)->body.size(), RenderCache::kMinBytes);
  EXPECT_EQ(cache.find("k", 6), nullptr);
  EXPECT_EQ(cache.find("k", 5), nullptr);  // a moved index dropped the entry
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(RenderCache, KeepsOnlyLargeSuccessfulAnswers) {
  RenderCache cache;
  cache.store("small", 1, body_of(RenderCache::kMinBytes - 1));
  cache.store("error", 1, HttpResponse::text(500, std::string(RenderCache::kMinBytes, 'e')));
  EXPECT_EQ(cache.entries(), 0u);
}

TEST(RenderCache, BoundedByEntriesAndBytesLeastRecentFirst) {
  RenderCache cache;
  for (std::size_t i = 0; i < RenderCache::kMaxEntries + 10; ++i) {
    cache.store(fmt::format("k{}", i), 1, body_of(RenderCache::kMinBytes));
    ASSERT_NE(cache.find("k0", 1), nullptr) << i;  // used each time: k0 stays
  }
  EXPECT_EQ(cache.entries(), RenderCache::kMaxEntries);
  EXPECT_NE(cache.find("k0", 1), nullptr);
  EXPECT_EQ(cache.find("k1", 1), nullptr);
  const std::size_t big = RenderCache::kMaxBytes / 3 + 1;
  cache.store("big1", 1, body_of(big));
  cache.store("big2", 1, body_of(big));
  cache.store("big3", 1, body_of(big));
  EXPECT_LE(cache.bytes(), RenderCache::kMaxBytes);
  EXPECT_EQ(cache.find("big1", 1), nullptr);
  EXPECT_NE(cache.find("big3", 1), nullptr);
}

// Through the agent: 60 instances make a health answer of ~40 KB, over kMinBytes.
class RenderCacheAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AgentConfig config = dev_defaults();
    config.check_invariants_each_input = true;
    agent_ = std::make_unique<Agent>(std::move(config));
    env_ = std::make_unique<Env>(rec_.env());
    agent_->start(*env_);
    for (int i = 0; i < 60; ++i) register_instance(i, "passing", "ok");
  }

  void register_instance(int i, std::string_view status, std::string_view output) {
    HttpRequest r;
    r.method = "PUT";
    r.path = "/v1/catalog/register";
    r.body = fmt::format(
        R"({{"Node":"n{0:02d}","Address":"10.0.0.{0}","Service":{{"ID":"web-{0}","Service":"web",)"
        R"("Tags":["v1"],"Port":80}},"Check":{{"CheckID":"c{0}","ServiceID":"web-{0}",)"
        R"("Status":"{1}","Output":"{2}"}}}})",
        i, status, output);
    ASSERT_EQ(call(std::move(r)).status, 200);
  }

  HttpResponse call(HttpRequest r) {
    RequestId id(next_id_++);
    agent_->on_client_request(id, std::move(r));
    agent_->check_invariants();
    auto it = rec_.responses.find(id);
    return it == rec_.responses.end() ? HttpResponse{} : it->second;
  }

  RecordingEnv rec_;
  std::unique_ptr<Env> env_;
  std::unique_ptr<Agent> agent_;
  std::uint64_t next_id_ = 1;
};

TEST_F(RenderCacheAgentTest, CachedAnswerEqualsAFreshRenderAndFollowsChanges) {
  const auto first = call(get("/v1/health/service/web"));
  ASSERT_EQ(first.status, 200);
  ASSERT_GE(first.body.size(), RenderCache::kMinBytes);
  const auto again = call(get("/v1/health/service/web"));
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("X-Consul-Index"), first.header("X-Consul-Index"));
  // A parameter the handler ignores makes another key: a fresh render, byte for byte the same.
  EXPECT_EQ(call(get("/v1/health/service/web?unused=1")).body, first.body);

  register_instance(7, "passing", "changed output");
  const auto after = call(get("/v1/health/service/web"));
  EXPECT_NE(after.body.find("changed output"), std::string::npos);
  EXPECT_NE(after.header("X-Consul-Index"), first.header("X-Consul-Index"));

  // ?passing is its own key, and follows a check going critical.
  const auto passing = call(get("/v1/health/service/web?passing"));
  EXPECT_EQ(passing.body, after.body);
  register_instance(8, "critical", "down");
  const auto fewer = call(get("/v1/health/service/web?passing"));
  EXPECT_EQ(fewer.body.find("\"n08\""), std::string::npos);
  EXPECT_NE(call(get("/v1/health/service/web")).body.find("\"n08\""), std::string::npos);
}

TEST_F(RenderCacheAgentTest, WokenWatchersSeeTheNewAnswer) {
  const auto first = call(get("/v1/health/service/web"));
  const std::string index = first.header("X-Consul-Index").value_or("");
  std::vector<RequestId> watchers;
  for (int i = 0; i < 3; ++i) {
    RequestId id(next_id_++);
    watchers.push_back(id);
    agent_->on_client_request(id, get("/v1/health/service/web?index=" + index + "&wait=1m"));
  }
  for (RequestId id : watchers) EXPECT_FALSE(rec_.responses.contains(id));
  register_instance(3, "warning", "slow");
  for (RequestId id : watchers) {
    ASSERT_TRUE(rec_.responses.contains(id));
    EXPECT_NE(rec_.responses.at(id).body.find("slow"), std::string::npos);
    EXPECT_NE(rec_.responses.at(id).header("X-Consul-Index"), index);
  }
}

}  // namespace
}  // namespace praetor::node
