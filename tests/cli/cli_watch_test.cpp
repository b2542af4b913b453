// `praetor event`, `praetor watch` and `praetor catalog` against a running `praetor agent -dev`
// on 127.0.0.50 (the CLI tests' range, 127.0.0.50-59): Consul's outputs and refusals, handlers
// fed JSON on stdin with CONSUL_INDEX, woken by changes and not by unrelated writes, SIGINT, and
// the index-reset and retry rules of Consul's watch plans against a scripted server.
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>

#include "tests/cli/praetor_process.hpp"

namespace praetor_cli_test {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

class WatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    agent_ = new DevAgent("127.0.0.50", tmp_->path(), "cli-watch");
    if (!agent_->wait_ready()) FAIL() << "agent on 127.0.0.50 never answered:\n" << agent_->log();
  }
  static void TearDownTestSuite() {
    delete agent_;
    agent_ = nullptr;
    delete tmp_;
    tmp_ = nullptr;
  }

  // run({"watch", "-type=key"}) runs `praetor watch -http-addr=127.0.0.50:8500 -type=key`.
  static ProcessResult run(std::vector<std::string> args) {
    args.insert(args.begin() + command_words(args), agent_->http_flag());
    return run_praetor(args);
  }
  static void put(const std::string& key, const std::string& value) {
    const ProcessResult r = run({"kv", "put", key, value});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static std::unique_ptr<BackgroundProcess> start(std::vector<std::string> args,
                                                  const std::string& name) {
    args.insert(args.begin() + command_words(args), agent_->http_flag());
    return std::make_unique<BackgroundProcess>(args, tmp_->path() + "/" + name + ".out",
                                               tmp_->path() + "/" + name + ".err");
  }
  static Json kv_entry(const std::string& key) {
    const Json doc = Json::parse(curl("GET", agent_->url("/v1/kv/" + key)), nullptr, false);
    return doc.is_array() && !doc.empty() ? doc[0] : Json();
  }
  // A handler that appends "index=<CONSUL_INDEX>" and its stdin to a log, one run per block.
  static std::string logging_handler(const std::string& log) {
    return "{ echo \"index=$CONSUL_INDEX\"; cat; echo ---; } >> '" + log + "'";
  }
  static std::vector<std::string> runs(const std::string& log) {
    std::vector<std::string> out;
    const std::string text = read_file(log);
    std::size_t start = 0;
    while (true) {
      const auto end = text.find("---\n", start);
      if (end == std::string::npos) break;
      out.push_back(text.substr(start, end - start));
      start = end + 4;
    }
    return out;
  }

  static TempDir* tmp_;
  static DevAgent* agent_;
};

TempDir* WatchTest::tmp_ = nullptr;
DevAgent* WatchTest::agent_ = nullptr;

// ---- event -------------------------------------------------------------------------------------

TEST_F(WatchTest, EventFiresAndPrintsItsId) {
  const ProcessResult r = run({"event", "-name=deploy-cli", "v1.2.3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  const std::regex line(
      "^Event ID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\n$");
  ASSERT_TRUE(std::regex_match(r.out, m, line)) << r.out;
  EXPECT_EQ(r.err, "");
  const Json events =
      Json::parse(curl("GET", agent_->url("/v1/event/list?name=deploy-cli")), nullptr, false);
  ASSERT_TRUE(events.is_array()) << events;
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["ID"], m[1].str());
  EXPECT_EQ(events.back()["Payload"], "djEuMi4z");  // base64("v1.2.3")
}

TEST_F(WatchTest, EventRefusesWhatConsulRefuses) {
  struct Case {
    std::vector<std::string> args;
    std::string err_prefix;
  };
  const std::vector<Case> cases = {
      {{"event"}, "Event name must be specified\n\nUsage: praetor event"},
      {{"event", "-name=x", "-tag=t"}, "Cannot provide tag filter without service filter.\n"},
      {{"event", "-name=x", "-node=("}, "Failed to compile node filter regexp: "},
      {{"event", "-name=x", "-service=web", "-tag=[z"}, "Failed to compile tag filter regexp: "},
      {{"event", "-name=x", "one", "two"}, "Too many command line arguments.\n"},
      {{"event", "-name=x", "-bogus"}, "flag provided but not defined: -bogus\n"},
  };
  for (const auto& c : cases) {
    const ProcessResult r = run(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args.back();
    EXPECT_EQ(r.err.substr(0, c.err_prefix.size()), c.err_prefix) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(WatchUnreachableTest, EventWatchAndCatalogReportAnUnreachableAgent) {
  const std::string addr = "-http-addr=127.0.0.1:" + std::to_string(free_port());
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"event", addr, "-name=x"},
                                             {"watch", addr, "-type=key", "-key=k"},
                                             {"lock", addr, "p", "true"}}) {
    const ProcessResult r = run_praetor(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_TRUE(r.err.starts_with("Error querying agent: dial tcp")) << r.err;
    EXPECT_NE(r.err.find("connection refused"), std::string::npos) << r.err;
  }
  const ProcessResult dc = run_praetor({"catalog", "datacenters", addr});
  EXPECT_EQ(dc.exit_code, 1);
  EXPECT_TRUE(dc.err.starts_with("Error listing datacenters: dial tcp")) << dc.err;
}

// ---- catalog datacenters ---------------------------------------------------------------------

TEST_F(WatchTest, CatalogDatacentersPrintsOnePerLine) {
  const ProcessResult r = run({"catalog", "datacenters"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "dc1\n");
  const ProcessResult extra = run({"catalog", "datacenters", "x"});
  EXPECT_EQ(extra.exit_code, 1);
  EXPECT_EQ(extra.err, "Too many arguments (expected 0, got 1)\n");
  const ProcessResult none = run_praetor({"catalog"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("datacenters"), std::string::npos);
}

// ---- watch without a handler: one dump, Consul's layout ---------------------------------------

TEST_F(WatchTest, WatchKeyDumpsTheKeyOnceAsConsulsApiStructAndExits) {
  put("dump/k", "a<b>&c");
  const Json e = kv_entry("dump/k");
  const ProcessResult r = run({"watch", "-type=key", "-key=dump/k"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Four-space indentation, the api.KVPair field order, Session present though empty, and the
  // value base64 (no HTML escapes needed there).
  EXPECT_EQ(r.out,
            "{\n"
            "    \"Key\": \"dump/k\",\n"
            "    \"CreateIndex\": " +
                e["CreateIndex"].dump() +
                ",\n"
                "    \"ModifyIndex\": " +
                e["ModifyIndex"].dump() +
                ",\n"
                "    \"LockIndex\": 0,\n"
                "    \"Flags\": 0,\n"
                "    \"Value\": \"YTxiPiZj\",\n"
                "    \"Session\": \"\"\n"
                "}\n");
  const ProcessResult missing = run({"watch", "-type=key", "-key=dump/none"});
  EXPECT_EQ(missing.exit_code, 0) << missing.err;
  EXPECT_EQ(missing.out, "null\n");
}

TEST_F(WatchTest, WatchKeyprefixDumpsAnArrayOrNull) {
  put("dumpp/<a>", "1");
  put("dumpp/b", "2");
  const ProcessResult r = run({"watch", "-type=keyprefix", "-prefix=dumpp/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const Json doc = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(doc.is_array()) << r.out;
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[0]["Key"], "dumpp/<a>");
  // Go's encoder escapes <, > and & in strings.
  EXPECT_NE(r.out.find("\"Key\": \"dumpp/\\u003ca\\u003e\""), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.starts_with("[\n    {\n        \"Key\": ")) << r.out;
  EXPECT_EQ(run({"watch", "-type=keyprefix", "-prefix=dumpp-none/"}).out, "null\n");
}

TEST_F(WatchTest, WatchEventDumpsTheAgentsEvents) {
  const ProcessResult fired = run({"event", "-name=dump-event", "hello"});
  ASSERT_EQ(fired.exit_code, 0) << fired.err;
  const std::string id = fired.out.substr(10, 36);
  const ProcessResult r = run({"watch", "-type=event", "-name=dump-event"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("[\n    {\n        \"ID\": \"" + id +
                                "\",\n"
                                "        \"Name\": \"dump-event\",\n"
                                "        \"Payload\": \"aGVsbG8=\",\n"
                                "        \"NodeFilter\": \"\",\n"))
      << r.out;
}

TEST_F(WatchTest, WatchRefusesParametersAsConsulsParserDoes) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"watch"}, "Watch type must be specified\n"},
      {{"watch", "-type=bogus"}, "Unsupported watch type: bogus\n"},
      {{"watch", "-type=key"}, "Must specify a single key to watch\n"},
      {{"watch", "-type=keyprefix", "-key=x"}, "Must specify a single prefix to watch\n"},
      {{"watch", "-type=key", "-key=a", "-name=n", "-prefix=p"},
       "Invalid parameters: [name prefix]\n"},
      {{"watch", "-type=service"}, "Must specify a single service to watch\n"},
      {{"watch", "-type=checks", "-service=a", "-state=passing"},
       "Cannot specify service and state\n"},
      {{"watch", "-type=event", "-stale"}, "Invalid parameters: [stale]\n"},
      {{"watch", "-type=service", "-service=a", "-passingonly=maybe"},
       "Failed to parse passingonly flag: strconv.ParseBool: parsing \"maybe\": invalid syntax\n"},
  };
  for (const auto& c : cases) {
    const ProcessResult r = run(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.err;
    EXPECT_EQ(r.err.substr(0, c.err.size()), c.err) << r.err;
  }
}

// ---- watch with a handler --------------------------------------------------------------------

TEST_F(WatchTest, WatchKeyHandlerRunsAtStartAndOnEachChangeWithJsonOnStdin) {
  const std::string log = tmp_->path() + "/key-handler.log";
  auto watch = start({"watch", "-type=key", "-key=h/k", logging_handler(log)}, "key-handler");
  // Consul runs the handler once at start, here with the key missing: null.
  ASSERT_TRUE(eventually([&] { return runs(log).size() == 1; })) << watch->err();
  EXPECT_TRUE(runs(log)[0].ends_with("\nnull\n")) << runs(log)[0];

  put("h/k", "v1");
  ASSERT_TRUE(eventually([&] { return runs(log).size() == 2; })) << watch->err();
  const Json e1 = kv_entry("h/k");
  EXPECT_EQ(runs(log)[1],
            "index=" + e1["ModifyIndex"].dump() + "\n" + "{\"Key\":\"h/k\",\"CreateIndex\":" +
                e1["CreateIndex"].dump() + ",\"ModifyIndex\":" + e1["ModifyIndex"].dump() +
                ",\"LockIndex\":0,\"Flags\":0,\"Value\":\"djE=\",\"Session\":\"\"}\n");

  // A write elsewhere may wake the query but changes nothing here: no run. The next change of
  // the key is the third run, and nothing came between.
  put("h/other", "x");
  put("h/k", "v2");
  ASSERT_TRUE(eventually([&] { return runs(log).size() >= 3; })) << watch->err();
  const auto all = runs(log);
  ASSERT_EQ(all.size(), 3u) << read_file(log);
  EXPECT_NE(all[2].find("\"Value\":\"djI=\""), std::string::npos) << all[2];
  EXPECT_TRUE(watch->running());

  watch->signal(SIGINT);
  EXPECT_EQ(watch->wait(10s), 0) << watch->err();
  EXPECT_EQ(watch->err(), "");
}

TEST_F(WatchTest, WatchKeyprefixHandlerSeesEveryKeyUnderThePrefix) {
  const std::string log = tmp_->path() + "/prefix-handler.log";
  put("hp/a", "1");
  auto watch =
      start({"watch", "-type=keyprefix", "-prefix=hp/", logging_handler(log)}, "prefix-handler");
  ASSERT_TRUE(eventually([&] { return runs(log).size() == 1; })) << watch->err();
  put("hp/b", "2");
  ASSERT_TRUE(eventually([&] { return runs(log).size() == 2; })) << watch->err();
  const std::string second = runs(log)[1];
  const Json doc = Json::parse(second.substr(second.find('\n') + 1), nullptr, false);
  ASSERT_TRUE(doc.is_array()) << second;
  ASSERT_EQ(doc.size(), 2u);
  EXPECT_EQ(doc[1]["Key"], "hp/b");
  watch->signal(SIGTERM);
  EXPECT_EQ(watch->wait(10s), 0);
}

TEST_F(WatchTest, WatchEventHandlerGetsOnlyTheEventsItHasNotSeen) {
  const std::string log = tmp_->path() + "/event-handler.log";
  ASSERT_EQ(run({"event", "-name=seen-once", "first"}).exit_code, 0);
  auto watch =
      start({"watch", "-type=event", "-name=seen-once", logging_handler(log)}, "event-handler");
  ASSERT_TRUE(eventually([&] { return runs(log).size() == 1; })) << watch->err();
  EXPECT_NE(runs(log)[0].find("\"Payload\":\"Zmlyc3Q=\""), std::string::npos) << runs(log)[0];

  ASSERT_EQ(run({"event", "-name=seen-once", "second"}).exit_code, 0);
  ASSERT_TRUE(eventually([&] { return runs(log).size() == 2; })) << watch->err();
  const std::string second = runs(log)[1];
  const Json doc = Json::parse(second.substr(second.find('\n') + 1), nullptr, false);
  ASSERT_TRUE(doc.is_array()) << second;
  ASSERT_EQ(doc.size(), 1u) << second;  // pruned to what is new
  EXPECT_EQ(doc[0]["Payload"], "c2Vjb25k");
  watch->signal(SIGINT);
  EXPECT_EQ(watch->wait(10s), 0);
}

TEST_F(WatchTest, AFailingHandlerStopsTheWatchWithExitOne) {
  auto watch = start({"watch", "-type=key", "-key=fail/k", "exit 3"}, "failing-handler");
  EXPECT_EQ(watch->wait(20s), 1);
  EXPECT_EQ(watch->err(), "Error executing handler: exit status 3\n");
}

TEST_F(WatchTest, HandlerWithoutShellRunsTheArgumentsDirectly) {
  const std::string out = tmp_->path() + "/noshell.out";
  // With -shell=false "$CONSUL_INDEX" is not expanded: the words reach printf as they are.
  auto watch = start(
      {"watch", "-type=key", "-key=noshell/k", "-shell=false", "printf", "%s|", "$CONSUL_INDEX"},
      "noshell");
  ASSERT_TRUE(eventually([&] { return watch->out() == "$CONSUL_INDEX|"; })) << watch->out();
  watch->signal(SIGINT);
  EXPECT_EQ(watch->wait(10s), 0);
}

// ---- catalog and the catalog watches ----------------------------------------------------------

class CatalogTest : public WatchTest {
 protected:
  static void SetUpTestSuite() {
    WatchTest::SetUpTestSuite();
    const std::string web = R"({"Node": "web-1", "ID": "1b662d97-8b5c-3cc2-0ac0-96f55ad423b5",
        "Address": "10.4.5.31", "TaggedAddresses": {"wan": "1.2.3.4", "lan": "10.4.5.31"},
        "NodeMeta": {"rack": "r1", "os": "linux"},
        "Service": {"Service": "web", "Tags": ["v1", "primary"], "Port": 80},
        "Check": {"Name": "web-ok", "ServiceID": "web", "Status": "passing"}})";
    const std::string db = R"({"Node": "db-1", "Address": "10.4.5.32",
        "Service": {"Service": "postgresql", "Tags": ["leader"], "Port": 5432},
        "Check": {"Name": "pg-ok", "ServiceID": "postgresql", "Status": "critical"}})";
    ASSERT_EQ(curl("PUT", agent_->url("/v1/catalog/register"), web), "true");
    ASSERT_EQ(curl("PUT", agent_->url("/v1/catalog/register"), db), "true");
  }
};

TEST_F(CatalogTest, NodesTableShortensIdsAndDetailedAddsAddressesAndMeta) {
  // The agent registers its own node, as Consul's does; its ID is random.
  const Json self =
      Json::parse(curl("GET", agent_->url("/v1/catalog/node/cli-watch")), nullptr, false);
  ASSERT_TRUE(self.is_object()) << self;
  const std::string id = self["Node"]["ID"];
  ASSERT_EQ(id.size(), 36u) << id;
  const ProcessResult r = run({"catalog", "nodes"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Node       ID        Address     DC\n"
            "cli-watch  " +
                id.substr(0, 8) +
                "  127.0.0.50  dc1\n"
                "db-1                 10.4.5.32   dc1\n"
                "web-1      1b662d97  10.4.5.31   dc1\n");
  const ProcessResult d = run({"catalog", "nodes", "-detailed"});
  EXPECT_EQ(d.out,
            "Node       ID                                    Address     DC   TaggedAddresses"
            "                                                           Meta\n"
            "cli-watch  " +
                id +
                // Anti-entropy registers the agent's node with its tagged addresses (issue 12).
                "  127.0.0.50  dc1  lan=127.0.0.50, lan_ipv4=127.0.0.50, wan=127.0.0.50, "
                "wan_ipv4=127.0.0.50\n"
                "db-1                                             10.4.5.32   dc1\n"
                "web-1      1b662d97-8b5c-3cc2-0ac0-96f55ad423b5  10.4.5.31   dc1  lan=10.4.5.31, "
                "wan=1.2.3.4                                                os=linux, rack=r1\n");
}

TEST_F(CatalogTest, NodesFilterByServiceAndMeta) {
  EXPECT_EQ(run({"catalog", "nodes", "-service=postgresql"}).out,
            "Node  ID  Address    DC\ndb-1      10.4.5.32  dc1\n");
  EXPECT_EQ(run({"catalog", "nodes", "-node-meta=rack=r1"}).out,
            "Node   ID        Address    DC\nweb-1  1b662d97  10.4.5.31  dc1\n");
  const ProcessResult none = run({"catalog", "nodes", "-service=nothing"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "");
  EXPECT_EQ(none.err, "No nodes match the given query - try expanding your search.\n");
  const ProcessResult bad = run({"catalog", "nodes", "-node-meta=rack"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(bad.err.starts_with(
      "invalid value \"rack\" for flag -node-meta: missing \"=\" value in argument: rack\n"))
      << bad.err;
}

TEST_F(CatalogTest, ServicesListsNamesAndTagsAlignedAsGosTabwriter) {
  // `consul` is the agent's own (a -dev agent is a server).
  EXPECT_EQ(run({"catalog", "services"}).out, "consul\npostgresql\nweb\n");
  // Names padded to the longest plus six; tags sorted and joined with commas; Go's tabwriter
  // keeps the padding of a line without tags, only the end of the whole text is trimmed.
  EXPECT_EQ(run({"catalog", "services", "-tags"}).out,
            "consul          \n"
            "postgresql      leader\n"
            "web             primary,v1\n");
  EXPECT_EQ(run({"catalog", "services", "-node=web-1", "-tags"}).out, "web      primary,v1\n");
  const ProcessResult unknown = run({"catalog", "services", "-node=nobody"});
  EXPECT_EQ(unknown.exit_code, 0);
  EXPECT_EQ(unknown.err, "No services match the given query - try expanding your search.\n");
}

TEST_F(CatalogTest, WatchServicesAndNodesDumpGoShapedJson) {
  const ProcessResult s = run({"watch", "-type=services"});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("    \"web\": [\n        \"primary\",\n        \"v1\"\n    ]"),
            std::string::npos)
      << s.out;
  const ProcessResult n = run({"watch", "-type=nodes"});
  EXPECT_EQ(n.exit_code, 0) << n.err;
  const Json nodes = Json::parse(n.out, nullptr, false);
  ASSERT_TRUE(nodes.is_array()) << n.out;
  // api.Node's field order; maps sorted.
  EXPECT_NE(n.out.find("\"ID\": \"1b662d97-8b5c-3cc2-0ac0-96f55ad423b5\",\n"
                       "        \"Node\": \"web-1\",\n"
                       "        \"Address\": \"10.4.5.31\",\n"
                       "        \"Datacenter\": \"dc1\",\n"
                       "        \"TaggedAddresses\": {\n"
                       "            \"lan\": \"10.4.5.31\",\n"
                       "            \"wan\": \"1.2.3.4\"\n"
                       "        },\n"
                       "        \"Meta\": {\n"
                       "            \"os\": \"linux\",\n"
                       "            \"rack\": \"r1\"\n"
                       "        },\n"),
            std::string::npos)
      << n.out;
}

TEST_F(CatalogTest, WatchServiceAndChecksFilterAsConsulDoes) {
  const ProcessResult all = run({"watch", "-type=service", "-service=postgresql"});
  const Json entries = Json::parse(all.out, nullptr, false);
  ASSERT_TRUE(entries.is_array()) << all.out;
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0]["Service"]["Service"], "postgresql");
  // Its check is critical: -passingonly drops it.
  EXPECT_EQ(run({"watch", "-type=service", "-service=postgresql", "-passingonly=true"}).out,
            "[]\n");
  const ProcessResult checks = run({"watch", "-type=checks", "-state=critical"});
  const Json critical = Json::parse(checks.out, nullptr, false);
  ASSERT_TRUE(critical.is_array()) << checks.out;
  ASSERT_EQ(critical.size(), 1u) << checks.out;
  EXPECT_EQ(critical[0]["CheckID"], "pg-ok");
  // api.HealthCheck's fields only: praetor's extra Interval/Timeout are not Consul's output.
  EXPECT_FALSE(critical[0].contains("Interval")) << checks.out;
  EXPECT_TRUE(checks.out.find("\"Node\": \"db-1\",\n        \"CheckID\": \"pg-ok\"") !=
              std::string::npos)
      << checks.out;
  const ProcessResult by_service = run({"watch", "-type=checks", "-service=web"});
  const Json web = Json::parse(by_service.out, nullptr, false);
  ASSERT_TRUE(web.is_array()) << by_service.out;
  ASSERT_EQ(web.size(), 1u);
  EXPECT_EQ(web[0]["Status"], "passing");
}

TEST_F(CatalogTest, WatchServiceHandlerWakesOnANewInstance) {
  const std::string log = tmp_->path() + "/service-handler.log";
  auto watch =
      start({"watch", "-type=service", "-service=api", logging_handler(log)}, "service-handler");
  ASSERT_TRUE(eventually([&] { return runs(log).size() == 1; })) << watch->err();
  EXPECT_TRUE(runs(log)[0].ends_with("\n[]\n")) << runs(log)[0];
  ASSERT_EQ(curl("PUT", agent_->url("/v1/catalog/register"),
                 R"({"Node": "api-1", "Address": "10.4.5.40",
                     "Service": {"Service": "api", "Port": 8080}})"),
            "true");
  ASSERT_TRUE(eventually([&] { return runs(log).size() == 2; })) << watch->err();
  EXPECT_NE(runs(log)[1].find("\"Node\":{\"ID\":\"\",\"Node\":\"api-1\""), std::string::npos)
      << runs(log)[1];
  watch->signal(SIGINT);
  EXPECT_EQ(watch->wait(10s), 0);
}

// ---- the plan's index rules, against a scripted agent -----------------------------------------

// Answers each connection with the next scripted response and records the request lines; once
// the script is used up it holds connections open, like a blocking query with nothing new.
class ScriptedAgent {
 public:
  explicit ScriptedAgent(std::vector<std::string> replies) : replies_(std::move(replies)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listener_, 16), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedAgent() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
    for (int fd : held_) ::close(fd);
  }
  int port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

  static std::string reply(const std::string& body, int index, int status = 200) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
           "X-Consul-Index: " + std::to_string(index) +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
           body;
  }

 private:
  void serve() {
    std::size_t next = 0;
    while (!stop_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        requests_.push_back(head.substr(0, head.find("\r\n")));
      }
      if (next < replies_.size()) {
        const std::string& r = replies_[next++];
        (void)!::write(fd, r.data(), r.size());
        ::close(fd);
      } else {
        held_.push_back(fd);
      }
    }
  }

  std::vector<std::string> replies_;
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::vector<int> held_;
};

std::string kv_body(const std::string& value_b64, int index) {
  return R"([{"Key":"k","CreateIndex":1,"ModifyIndex":)" + std::to_string(index) +
         R"(,"LockIndex":0,"Flags":0,"Value":")" + value_b64 + R"("}])";
}

TEST(WatchPlanTest, AnIndexThatGoesBackwardsIsResetToZero) {
  TempDir tmp;
  const std::string log = tmp.path() + "/plan.log";
  ScriptedAgent agent({
      ScriptedAgent::reply("{}", 1),                  // GET /v1/agent/self
      ScriptedAgent::reply(kv_body("QQ==", 10), 10),  // first read: A at 10
      ScriptedAgent::reply(kv_body("Qg==", 3), 3),    // ?index=10 -> B at 3: went backwards
      ScriptedAgent::reply(kv_body("Qg==", 3), 3),    // the query from 0: B again, no run
      ScriptedAgent::reply(kv_body("Qw==", 4), 4),    // ?index=3 -> C at 4
  });
  BackgroundProcess watch(
      {"watch", "-http-addr=127.0.0.1:" + std::to_string(agent.port()), "-type=key", "-key=k",
       "{ echo \"$CONSUL_INDEX\"; cat; } >> '" + log + "'"},
      tmp.path() + "/w.out", tmp.path() + "/w.err");
  ASSERT_TRUE(eventually([&] { return agent.requests().size() >= 6; })) << watch.err();
  const auto reqs = agent.requests();
  EXPECT_EQ(reqs[0], "GET /v1/agent/self HTTP/1.1");
  EXPECT_EQ(reqs[1], "GET /v1/kv/k HTTP/1.1");
  EXPECT_EQ(reqs[2], "GET /v1/kv/k?index=10 HTTP/1.1");
  EXPECT_EQ(reqs[3], "GET /v1/kv/k HTTP/1.1");  // reset: not ?index=3 on a rebuilt agent
  EXPECT_EQ(reqs[4], "GET /v1/kv/k?index=3 HTTP/1.1");
  EXPECT_EQ(reqs[5], "GET /v1/kv/k?index=4 HTTP/1.1");
  // Runs for A, B and C; none for the repeated B.
  ASSERT_TRUE(eventually([&] {
    const std::string text = read_file(log);
    return text.find("\"Value\":\"Qw==\"") != std::string::npos;
  }));
  const std::string text = read_file(log);
  EXPECT_EQ(text.substr(0, text.find('\n')), "10");
  std::size_t runs = 0;
  for (std::size_t at = text.find("\"Key\""); at != std::string::npos;
       at = text.find("\"Key\"", at + 1)) {
    ++runs;
  }
  EXPECT_EQ(runs, 3u) << text;
  watch.signal(SIGINT);
  EXPECT_EQ(watch.wait(10s), 0);
}

TEST(WatchPlanTest, ErrorsAreRetriedWithBackoffAndReportedOnStderr) {
  TempDir tmp;
  ScriptedAgent agent({
      ScriptedAgent::reply("{}", 1),
      ScriptedAgent::reply("rpc error: no leader", 0, 500),
      ScriptedAgent::reply(kv_body("QQ==", 7), 7),
  });
  BackgroundProcess watch(
      {"watch", "-http-addr=127.0.0.1:" + std::to_string(agent.port()), "-type=key", "-key=k"},
      tmp.path() + "/w.out", tmp.path() + "/w.err");
  // The first retry comes 5 s after the error (Consul's plan), then the dump and exit 0.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(watch.wait(20s), 0) << watch.err();
  EXPECT_GE(std::chrono::steady_clock::now() - started, 4s);
  EXPECT_EQ(watch.err(),
            "[ERROR] watch: Watch errored: type=key error=\"Unexpected response code: 500 (rpc "
            "error: no leader)\" retry=5s\n");
  EXPECT_NE(watch.out().find("\"Value\": \"QQ==\""), std::string::npos) << watch.out();
}

}  // namespace
}  // namespace praetor_cli_test
