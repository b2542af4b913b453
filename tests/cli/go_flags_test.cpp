// The CLI's Go-style flag parser and HTTP address handling.
#include "cmd/praetor/go_flags.hpp"

#include <gtest/gtest.h>

#include "cmd/praetor/http_client.hpp"

namespace praetor::cmd {
namespace {

struct Parsed {
  std::string dir;
  std::vector<std::string> joins;
  bool server = false;
  std::uint64_t index = 0;
};

Result<std::vector<std::string>> parse(Parsed& p, std::vector<std::string> args) {
  FlagSet flags("t");
  flags.add_string("config-dir", &p.dir, "");
  flags.add_strings("join", &p.joins, "");
  flags.add_bool("server", &p.server, "");
  flags.add_uint64("modify-index", &p.index, "");
  return flags.parse(args);
}

TEST(GoFlagsTest, AllSpellingsOfAValueFlag) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"-config-dir=/etc/p.d"},
                                                                {"-config-dir", "/etc/p.d"},
                                                                {"--config-dir=/etc/p.d"},
                                                                {"--config-dir", "/etc/p.d"}}) {
    Parsed p;
    auto rest = parse(p, args);
    ASSERT_TRUE(rest.has_value()) << rest.error().message;
    EXPECT_EQ(p.dir, "/etc/p.d");
    EXPECT_TRUE(rest->empty());
  }
}

TEST(GoFlagsTest, BoolFlagsNeverTakeTheNextArgument) {
  Parsed p;
  auto rest = parse(p, {"-server", "false"});
  ASSERT_TRUE(rest.has_value());
  EXPECT_TRUE(p.server);
  EXPECT_EQ(*rest, std::vector<std::string>{"false"});
  Parsed q;
  ASSERT_TRUE(parse(q, {"-server=true", "-server=false"}).has_value());
  EXPECT_FALSE(q.server);
  Parsed r;
  auto bad = parse(r, {"-server=maybe"});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message, "invalid value \"maybe\" for flag -server: parse error");
}

TEST(GoFlagsTest, RepeatedFlagsAccumulateAndParsingStopsAtPositionals) {
  Parsed p;
  auto rest = parse(p, {"-join", "a", "-join=b", "key", "-server"});
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(p.joins, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(p.server);  // after the first positional everything is positional, as in Go
  EXPECT_EQ(*rest, (std::vector<std::string>{"key", "-server"}));
  Parsed q;
  auto dashdash = parse(q, {"--", "-server"});
  ASSERT_TRUE(dashdash.has_value());
  EXPECT_EQ(*dashdash, std::vector<std::string>{"-server"});
  EXPECT_FALSE(q.server);
}

TEST(GoFlagsTest, GoErrorTexts) {
  Parsed p;
  EXPECT_EQ(parse(p, {"-nope"}).error().message, "flag provided but not defined: -nope");
  EXPECT_EQ(parse(p, {"-config-dir"}).error().message, "flag needs an argument: -config-dir");
  EXPECT_EQ(parse(p, {"-modify-index=-1"}).error().message,
            "invalid value \"-1\" for flag -modify-index: parse error");
  EXPECT_EQ(parse(p, {"-h"}).error().message, "help");
  EXPECT_EQ(parse(p, {"---x"}).error().message, "bad flag syntax: ---x");
}

TEST(HttpAddrTest, Forms) {
  auto a = parse_http_addr("127.0.0.1:8500");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8500);
  auto b = parse_http_addr("http://localhost:18500/");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->host, "localhost");
  EXPECT_EQ(b->port, 18500);
  auto c = parse_http_addr("[::1]:8501");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 8501);
  auto d = parse_http_addr("unix:///tmp/agent.sock");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->unix_path, "/tmp/agent.sock");
  EXPECT_EQ(parse_http_addr("127.0.0.1")->port, 8500);
  EXPECT_FALSE(parse_http_addr("127.0.0.1:99999").has_value());
  EXPECT_FALSE(parse_http_addr("https://x:1").has_value());
}

TEST(HttpAddrTest, EscapeKeepsSlashes) {
  EXPECT_EQ(escape_path("a/b c#d?e%"), "a/b%20c%23d%3Fe%25");
  EXPECT_EQ(escape_path("127.0.0.1:8301"), "127.0.0.1:8301");  // Go leaves ':' in paths
  EXPECT_EQ(escape_query("a/b"), "a%2Fb");
}

}  // namespace
}  // namespace praetor::cmd
