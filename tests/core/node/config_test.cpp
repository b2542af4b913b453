// load_config: Consul's config model (consul-compat.md §1) on the seed's own files, the merge
// rules, key matching, and that every error names its source and key.
#include "core/node/config.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/node/config_reader.hpp"

namespace praetor::node {
namespace {

std::string read_testdata(const std::string& name) {
  std::ifstream in(std::string(PRAETOR_CONFIG_TESTDATA) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << "missing fixture " << name;
  return ss.str();
}

Result<AgentConfig> load(std::vector<ConfigSource> sources, bool dev = false) {
  return load_config(sources, dev);
}

// A config that passes the whole-config checks, for tests about a single key.
const ConfigSource kBase{"base.json", R"({"data_dir": "/tmp/x", "node_name": "n1"})"};

AgentConfig load_ok(const std::string& text) {
  auto c = load({kBase, {"t.json", text}});
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return c ? *c : AgentConfig{};
}

std::string load_error(const std::string& text, bool dev = false) {
  auto c = load({kBase, {"t.json", text}}, dev);
  EXPECT_FALSE(c.has_value()) << "expected an error for " << text;
  return c ? "" : c.error().message;
}

TEST(ConfigTest, SeedServerJsonLoadsUnchanged) {
  auto c = load({{"/etc/consul.d/server.json", read_testdata("server.json")}});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->data_dir, "/data/consul");
  EXPECT_EQ(c->datacenter, "shenzhen");
  EXPECT_EQ(c->log_level, LogLevel::kInfo);
  EXPECT_TRUE(c->server);
  EXPECT_EQ(c->bootstrap_expect, 1);
  EXPECT_EQ(c->bind_addr, "10.64.58.45");
  EXPECT_EQ(c->client_addr, std::vector<std::string>{"0.0.0.0"});
  EXPECT_EQ(c->node_name, "S1");
  EXPECT_EQ(c->ports.dns, 53);
  EXPECT_EQ(c->ports.http, 8500);
  EXPECT_EQ(c->ports.serf_lan, 8301);
  EXPECT_FALSE(c->dev);
  EXPECT_FALSE(c->leave_on_terminate_effective());  // servers do not leave on SIGTERM
}

TEST(ConfigTest, SeedClientJsonAndServiceFileLoadUnchanged) {
  auto c =
      load({{"/etc/consul.d/client.json", read_testdata("client.json")},
            {"/etc/consul.d/w-3333-mysql-test.json", read_testdata("w-3333-mysql-test.json")}});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_FALSE(c->server);
  EXPECT_TRUE(c->enable_script_checks);
  EXPECT_EQ(c->node_name, "Client1");
  EXPECT_EQ(c->retry_join, (std::vector<std::string>{"10.64.58.46", "10.64.58.45"}));
  EXPECT_EQ(c->start_join, (std::vector<std::string>{"10.64.58.46", "10.64.58.45"}));
  EXPECT_EQ(c->retry_interval, Duration::seconds(30));
  EXPECT_TRUE(c->rejoin_after_leave);
  EXPECT_TRUE(c->leave_on_terminate_effective());
  ASSERT_EQ(c->services.size(), 1u);
  const auto& s = c->services[0];
  EXPECT_EQ(s.name, "w-3333-mysql-test");
  EXPECT_EQ(s.id, "w-3333-mysql-test");
  EXPECT_EQ(s.tags, std::vector<std::string>{"master-test-3333"});
  EXPECT_EQ(s.port, 3333);
  ASSERT_EQ(s.checks.size(), 1u);
  EXPECT_EQ(
      s.checks[0].args,
      (std::vector<std::string>{"/bin/sh", "-c", "/data/consul/shell/check_mysql_master.sh 3333"}));
  EXPECT_EQ(s.checks[0].interval, Duration::seconds(15));
  EXPECT_EQ(s.checks[0].service_id, "w-3333-mysql-test");
  EXPECT_EQ(s.checks[0].id, "service:w-3333-mysql-test");
  EXPECT_EQ(s.checks[0].name, "Service 'w-3333-mysql-test' check");
}

TEST(ConfigTest, ScriptCheckWithoutEnablingScriptsNamesFileAndKey) {
  auto c = load({kBase, {"svc.json", read_testdata("w-3333-mysql-test.json")}});
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("svc.json: services[0].checks[0]"), std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find("Scripts are disabled"), std::string::npos);
  // Enabling local script checks in a later file is enough: the check is judged after merging.
  EXPECT_TRUE(load({kBase,
                    {"svc.json", read_testdata("w-3333-mysql-test.json")},
                    {"z.json", R"({"enable_local_script_checks": true})"}})
                  .has_value());
}

TEST(ConfigTest, DefaultsWithoutAnyKey) {
  auto c = load_ok("{}");
  EXPECT_EQ(c.datacenter, "dc1");
  EXPECT_EQ(c.domain, "consul.");
  EXPECT_EQ(c.ports.dns, 8600);
  EXPECT_EQ(c.ports.https, -1);
  EXPECT_EQ(c.ports.server, 8300);
  EXPECT_EQ(c.client_addr, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(c.session_ttl_min, Duration::seconds(10));
  EXPECT_EQ(c.raft_multiplier, 5);
  EXPECT_TRUE(c.warnings.empty());
}

TEST(ConfigTest, ScalarsLaterSourceWins) {
  auto c = load({kBase,
                 {"a.json", R"({"datacenter": "a", "log_level": "warn"})"},
                 {"b.json", R"({"datacenter": "b"})"}});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->datacenter, "b");
  EXPECT_EQ(c->log_level, LogLevel::kWarn);  // untouched by b.json
}

TEST(ConfigTest, ListsConcatenateAcrossSources) {
  auto c = load({kBase,
                 {"a.json", R"({"retry_join": ["1.1.1.1"], "recursors": ["8.8.8.8"],
                               "services": [{"name": "a"}]})"},
                 {"b.json", R"({"retry_join": ["2.2.2.2"], "recursors": ["9.9.9.9:53"],
                               "service": {"name": "b", "port": 80}})"}});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->retry_join, (std::vector<std::string>{"1.1.1.1", "2.2.2.2"}));
  EXPECT_EQ(c->recursors, (std::vector<std::string>{"8.8.8.8", "9.9.9.9:53"}));
  ASSERT_EQ(c->services.size(), 2u);
  EXPECT_EQ(c->services[0].name, "a");
  EXPECT_EQ(c->services[1].name, "b");
  EXPECT_EQ(c->services[1].port, 80);
}

TEST(ConfigTest, MapsAndNestedObjectsMergeKeyWise) {
  auto c = load({kBase,
                 {"a.json", R"({"node_meta": {"rack": "r1", "zone": "z1"}, "ports": {"http": 1},
                               "dns_config": {"service_ttl": {"*": "5s"}}})"},
                 {"b.json", R"({"node_meta": {"zone": "z2"}, "ports": {"dns": 2},
                               "dns_config": {"service_ttl": {"web": "1s"}}})"}});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->node_meta, (std::map<std::string, std::string>{{"rack", "r1"}, {"zone", "z2"}}));
  EXPECT_EQ(c->ports.http, 1);
  EXPECT_EQ(c->ports.dns, 2);
  EXPECT_EQ(c->dns_config.service_ttl.at("*"), Duration::seconds(5));
  EXPECT_EQ(c->dns_config.service_ttl.at("web"), Duration::seconds(1));
}

TEST(ConfigTest, CommandLineSourceGoesLastAndWins) {
  auto c = load({{"server.json", read_testdata("server.json")},
                 {"command line", R"({"node_name": "flagged", "ports": {"http": 18500},
                                     "retry_join": ["127.0.0.9"]})"}});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_EQ(c->node_name, "flagged");
  EXPECT_EQ(c->ports.http, 18500);
  EXPECT_EQ(c->ports.dns, 53);  // from the file, not overridden
  EXPECT_EQ(c->retry_join, std::vector<std::string>{"127.0.0.9"});
}

TEST(ConfigTest, KeysMatchCaseInsensitivelyIgnoringUnderscores) {
  auto c = load_ok(R"({"NodeName": "Camel", "DataCenter": "DC2", "Ports": {"HTTP": 9,
                      "SerfLan": 9301}, "EnableScriptChecks": true, "retryjoin": ["x"],
                      "Services": [{"Name": "web", "ID": "web1", "EnableTagOverride": true,
                      "Checks": [{"HTTP": "http://x/", "Interval": "10s", "TLSSkipVerify": true,
                      "DeregisterCriticalServiceAfter": "90m", "CheckID": "c1"}]}]})");
  EXPECT_EQ(c.node_name, "Camel");
  EXPECT_EQ(c.datacenter, "dc2");  // lower-cased, as Consul does
  EXPECT_EQ(c.ports.http, 9);
  EXPECT_EQ(c.ports.serf_lan, 9301);
  EXPECT_TRUE(c.enable_script_checks);
  EXPECT_EQ(c.retry_join, std::vector<std::string>{"x"});
  ASSERT_EQ(c.services.size(), 1u);
  EXPECT_EQ(c.services[0].id, "web1");
  EXPECT_TRUE(c.services[0].enable_tag_override);
  ASSERT_EQ(c.services[0].checks.size(), 1u);
  const auto& check = c.services[0].checks[0];
  EXPECT_EQ(check.id, "c1");
  EXPECT_EQ(check.http, "http://x/");
  EXPECT_TRUE(check.tls_skip_verify);
  EXPECT_EQ(check.deregister_critical_service_after, Duration::minutes(90));
}

TEST(ConfigTest, NodeAndNodeNameAreTheSameKey) {
  EXPECT_EQ(load_ok(R"({"node": "seed"})").node_name, "seed");
  EXPECT_EQ(load_ok(R"({"node_name": "documented"})").node_name, "documented");
  EXPECT_EQ(load_ok(R"({"node_name": "  padded  "})").node_name, "padded");
}

TEST(ConfigTest, PortsMinusOneDisablesAListener) {
  auto c = load_ok(R"({"ports": {"dns": -1, "http": 0, "grpc": 8502, "serf_wan": -1}})");
  EXPECT_EQ(c.ports.dns, -1);
  EXPECT_EQ(c.ports.http, -1);
  EXPECT_EQ(c.ports.grpc, 8502);
  EXPECT_EQ(c.ports.serf_wan, -1);
  EXPECT_NE(load_error(R"({"ports": {"http": 70000}})").find("t.json: ports.http: invalid port"),
            std::string::npos);
  EXPECT_NE(load_error(R"({"ports": {"server": -1}})").find("t.json: ports.server:"),
            std::string::npos);
}

TEST(ConfigTest, GoDurations) {
  auto c = load_ok(R"({"retry_interval": "15s", "session_ttl_min": "1.5m",
                      "dns_config": {"node_ttl": "0.001s", "max_stale": "1h30m"},
                      "check": {"name": "t", "ttl": "9.87s"}})");
  EXPECT_EQ(c.retry_interval, Duration::seconds(15));
  EXPECT_EQ(c.session_ttl_min, Duration::seconds(90));
  EXPECT_EQ(c.dns_config.node_ttl, Duration::milliseconds(1));
  EXPECT_EQ(c.dns_config.max_stale, Duration::minutes(90));
  ASSERT_EQ(c.checks.size(), 1u);
  EXPECT_EQ(c.checks[0].ttl, Duration::milliseconds(9870));
  EXPECT_EQ(c.checks[0].id, "t");  // a standalone check's id defaults to its name
}

TEST(ConfigTest, ScriptBecomesShellArgsAndArgsAreKept) {
  auto c = load_ok(R"({"enable_local_script_checks": true, "checks": [
      {"name": "a", "script": "echo hi", "interval": "1s"},
      {"name": "b", "args": ["/bin/true", "x"], "interval": "1s", "timeout": "2s"}]})");
  ASSERT_EQ(c.checks.size(), 2u);
  EXPECT_EQ(c.checks[0].args, (std::vector<std::string>{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(c.checks[1].args, (std::vector<std::string>{"/bin/true", "x"}));
  EXPECT_EQ(c.checks[1].timeout, Duration::seconds(2));
}

TEST(ConfigTest, ServiceWithSeveralChecksGetsNumberedIds) {
  auto c = load_ok(R"({"service": {"name": "web", "check": {"tcp": "127.0.0.1:80",
      "interval": "5s"}, "checks": [{"ttl": "30s", "status": "passing", "notes": "n"}]}})");
  ASSERT_EQ(c.services.size(), 1u);
  ASSERT_EQ(c.services[0].checks.size(), 2u);
  EXPECT_EQ(c.services[0].checks[0].id, "service:web:1");
  EXPECT_EQ(c.services[0].checks[1].id, "service:web:2");
  EXPECT_EQ(c.services[0].checks[1].status, "passing");
  EXPECT_EQ(c.services[0].checks[1].notes, "n");
}

TEST(ConfigTest, HttpCheckFields) {
  auto c = load_ok(R"({"check": {"id": "h", "name": "h", "http": "http://127.0.0.1:1/health",
      "method": "POST", "header": {"X-A": ["1", "2"]}, "body": "{}", "interval": "10s",
      "timeout": "1s", "service_id": "web", "failures_before_critical": 3}})");
  ASSERT_EQ(c.checks.size(), 1u);
  const auto& h = c.checks[0];
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.header.at("X-A"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(h.body, "{}");
  EXPECT_EQ(h.service_id, "web");
  EXPECT_EQ(h.failures_before_critical, 3);
  EXPECT_EQ(h.failures_before_warning, 3);  // Consul's default: same as critical
}

TEST(ConfigTest, DevDefaults) {
  const AgentConfig d = dev_defaults();
  EXPECT_TRUE(d.dev);
  EXPECT_TRUE(d.server);
  EXPECT_TRUE(d.bootstrap);
  EXPECT_EQ(d.bind_addr, "127.0.0.1");
  EXPECT_EQ(d.client_addr, std::vector<std::string>{"127.0.0.1"});
  EXPECT_TRUE(d.ui_enabled);
  EXPECT_EQ(d.log_level, LogLevel::kDebug);
  EXPECT_EQ(d.raft_multiplier, 1);
  EXPECT_EQ(d.ports.grpc, 8502);
  EXPECT_FALSE(d.node_name.empty());
  // -dev needs no data_dir, and config files still apply on top of it.
  auto c = load({{"dev.json", R"({"node_name": "host1", "ports": {"dns": -1}})"}}, /*dev=*/true);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  EXPECT_TRUE(c->dev);
  EXPECT_TRUE(c->server);
  EXPECT_EQ(c->node_name, "host1");
  EXPECT_EQ(c->ports.dns, -1);
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
}

TEST(ConfigTest, AddressesAndClientAddrList) {
  auto c = load_ok(R"({"bind_addr": "::", "client_addr": "127.0.0.1 ::1  10.0.0.1",
      "advertise_addr": "fe80::1%eth0", "addresses": {"http": "unix:///tmp/p.sock 127.0.0.2",
      "dns": "0.0.0.0"}})");
  EXPECT_EQ(c.bind_addr, "::");
  EXPECT_EQ(c.client_addr, (std::vector<std::string>{"127.0.0.1", "::1", "10.0.0.1"}));
  EXPECT_EQ(c.advertise_addr, "fe80::1%eth0");
  EXPECT_EQ(c.addresses_http, "unix:///tmp/p.sock 127.0.0.2");
  EXPECT_EQ(c.addresses_dns, "0.0.0.0");
  EXPECT_EQ(load_ok(R"({"bind_addr": "[::]"})").bind_addr, "[::]");
  EXPECT_EQ(load_ok(R"({"bind_addr": "::ffff:10.1.2.3"})").bind_addr, "::ffff:10.1.2.3");
  EXPECT_EQ(load_ok(R"({"bind_addr": "1:2:3:4:5:6:7:8"})").bind_addr, "1:2:3:4:5:6:7:8");
}

// --- every error class names the file and the key ---------------------------------------------

struct ErrorCase {
  const char* text;
  const char* must_contain;
};

class ConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrorTest, NamesFileAndKey) {
  const std::string message = load_error(GetParam().text);
  EXPECT_NE(message.find(GetParam().must_contain), std::string::npos) << "message: " << message;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ConfigErrorTest,
    ::testing::Values(
        ErrorCase{R"({"ports": {"http": "8500"}})", "t.json: ports.http: expected a number"},
        ErrorCase{R"({"server": "yes"})", "t.json: server: expected a boolean"},
        ErrorCase{R"({"retry_join": [1]})", "t.json: retry_join[0]: expected a string"},
        ErrorCase{R"({"node_meta": {"a": 1}})", "t.json: node_meta.a: expected a string"},
        ErrorCase{R"({"ports": 5})", "t.json: ports: expected an object"},
        ErrorCase{R"([1, 2])", "t.json: (top level): expected an object"},
        ErrorCase{R"({"retry_interval": "30 seconds"})",
                  "t.json: retry_interval: invalid duration"},
        ErrorCase{R"({"retry_interval": "xyz"})", "\"xyz\""},
        ErrorCase{R"({"retry_interval": 30})", "t.json: retry_interval: expected a duration"},
        ErrorCase{R"({"dns_config": {"service_ttl": {"web": "5"}}})",
                  "t.json: dns_config.service_ttl[\"web\"]: invalid duration"},
        ErrorCase{R"({"bind_addr": "10.0.0.256"})", "t.json: bind_addr: invalid ip address"},
        ErrorCase{R"({"bind_addr": "010.0.0.1"})", "t.json: bind_addr: invalid ip address"},
        ErrorCase{R"({"bind_addr": "1:2:3:4:5:6:7:8:9"})", "t.json: bind_addr: invalid ip"},
        ErrorCase{R"({"bind_addr": "1::2::3"})", "t.json: bind_addr: invalid ip"},
        ErrorCase{R"({"bind_addr": "10.0.0.1 10.0.0.2"})", "t.json: bind_addr: cannot contain"},
        ErrorCase{R"({"bind_addr": "{{ GetPrivateIP }}"})", "t.json: bind_addr: go-sockaddr"},
        ErrorCase{R"({"client_addr": "127.0.0.1 localhost"})",
                  "t.json: client_addr: invalid ip address: localhost"},
        ErrorCase{R"({"advertise_addr": "0.0.0.0"})", "t.json: advertise_addr: Advertise address"},
        ErrorCase{R"({"advertise_addr": "nope"})", "t.json: advertise_addr: invalid ip"},
        ErrorCase{R"({"datacenter": "east coast"})", "t.json: datacenter: Invalid datacenter"},
        ErrorCase{R"({"log_level": "loud"})", "t.json: log_level: invalid log level"},
        ErrorCase{R"({"node_id": "not-a-uuid"})", "t.json: node_id: invalid node ID"},
        ErrorCase{R"({"encrypt": "c2hvcnQ="})", "t.json: encrypt: invalid key"},
        ErrorCase{R"({"performance": {"raft_multiplier": 11}})",
                  "t.json: performance.raft_multiplier: expected a number between 1 and 10"},
        ErrorCase{R"({"reconnect_timeout": "1h"})", "t.json: reconnect_timeout: must be >="},
        ErrorCase{R"({"limits": {"http_max_conns_per_client": 0}})",
                  "t.json: limits.http_max_conns_per_client: expected a number between 1 and "
                  "2147483647, got 0"},
        ErrorCase{R"({"limits": {"http_max_conns_per_client": -5}})",
                  "t.json: limits.http_max_conns_per_client: expected a number between 1"},
        ErrorCase{R"({"limits": {"http_max_conns_per_client": "200"}})",
                  "t.json: limits.http_max_conns_per_client: expected a number"},
        ErrorCase{R"({"limits": {"rpc_max_conns_per_client": 0}})",
                  "t.json: limits.rpc_max_conns_per_client: expected a number between 1"},
        ErrorCase{R"({"bootstrap": true, "bootstrap_expect": 3, "server": true})",
                  "t.json: bootstrap_expect: 'bootstrap_expect > 0' and 'bootstrap = true' are "
                  "mutually exclusive"},
        ErrorCase{R"({"bootstrap_expect": 3})",
                  "t.json: bootstrap_expect: 'bootstrap_expect > 0' requires 'server = true'"},
        ErrorCase{R"({"bootstrap": true})", "t.json: bootstrap: 'bootstrap = true' requires"},
        ErrorCase{R"({"data_dir": ""})", "t.json: data_dir: cannot be empty"},
        ErrorCase{R"({"services": [{"port": 80}]})", "t.json: services[0].name: missing service"},
        ErrorCase{R"({"services": [{"name": "w", "port": 70000}]})",
                  "t.json: services[0].port: expected a number between 0 and 65535"},
        ErrorCase{R"({"checks": [{"name": "c", "interval": "10s"}]})",
                  "t.json: checks[0]: Must provide TTL or Script/DockerContainerID/HTTP/TCP and "
                  "Interval"},
        ErrorCase{R"({"checks": [{"name": "c", "http": "http://x"}]})",
                  "t.json: checks[0].interval: Interval must be > 0"},
        ErrorCase{R"({"checks": [{"name": "c", "ttl": "5s", "tcp": "a:1", "interval": "1s"}]})",
                  "t.json: checks[0]: expected exactly one of"},
        ErrorCase{R"({"check": {"name": "c", "ttl": "5s", "status": "ok"}})",
                  "t.json: check.status: expected"},
        ErrorCase{R"({"check": {"ttl": "5s"}})", "t.json: check.name: missing check name"},
        ErrorCase{R"({"check": {"name": "g", "grpc": "x:1", "interval": "1s"}})",
                  "t.json: check.grpc: this check type is not supported"},
        ErrorCase{R"({"verify_incoming": true})", "t.json: verify_incoming: TLS is not supported"},
        ErrorCase{R"({"ports": {"http": 1.5}})", "t.json: ports.http: expected a whole number"},
        ErrorCase{R"({"data_dir": "/x",)", "t.json: invalid JSON: parse error at line 1, column"},
        ErrorCase{"{\n  \"server\": tru\n}", "t.json: invalid JSON: parse error at line 3"}));

// --- hostile input: negative and absurd numbers (issue 10, item 5) ---------------------------

// Every refused value names the file and the key, and says what was wrong with the value.
INSTANTIATE_TEST_SUITE_P(
    HostileNumbers, ConfigErrorTest,
    ::testing::Values(
        ErrorCase{R"({"ports": {"http": -5}})", "t.json: ports.http: invalid port: -5"},
        ErrorCase{R"({"ports": {"dns": -2}})", "t.json: ports.dns: invalid port: -2"},
        ErrorCase{R"({"ports": {"https": -3}})", "t.json: ports.https: invalid port: -3"},
        ErrorCase{R"({"ports": {"grpc": -100}})", "t.json: ports.grpc: invalid port: -100"},
        ErrorCase{R"({"ports": {"serf_wan": -2}})", "t.json: ports.serf_wan: invalid port: -2"},
        ErrorCase{R"({"ports": {"serf_lan": -5}})", "t.json: ports.serf_lan: invalid port: -5"},
        ErrorCase{R"({"bootstrap_expect": -1})",
                  "t.json: bootstrap_expect: bootstrap_expect cannot be -1. Must be greater "
                  "than or equal to zero"},
        ErrorCase{R"({"retry_max": -1})", "t.json: retry_max: expected a number between 0"},
        ErrorCase{R"({"retry_max_wan": -1})", "t.json: retry_max_wan: expected a number between 0"},
        ErrorCase{R"({"retry_interval": "-30s"})",
                  "t.json: retry_interval: invalid duration \"-30s\": must not be negative"},
        ErrorCase{R"({"retry_interval_wan": "-1m"})",
                  "t.json: retry_interval_wan: invalid duration \"-1m\": must not be negative"},
        ErrorCase{R"({"retry_interval": "0s"})", "t.json: retry_interval: must be greater"},
        ErrorCase{R"({"session_ttl_min": "-10s"})",
                  "t.json: session_ttl_min: invalid duration \"-10s\": must not be negative"},
        ErrorCase{R"({"check_update_interval": "-5m"})",
                  "t.json: check_update_interval: invalid duration"},
        ErrorCase{R"({"reconnect_timeout": "-72h"})",
                  "t.json: reconnect_timeout: invalid duration \"-72h\": must not be negative"},
        ErrorCase{R"({"dns_config": {"max_stale": "-1s"}})",
                  "t.json: dns_config.max_stale: invalid duration \"-1s\": must not be negative"},
        ErrorCase{R"({"dns_config": {"node_ttl": "-1s"}})",
                  "t.json: dns_config.node_ttl: invalid duration"},
        ErrorCase{R"({"dns_config": {"recursor_timeout": "-2s"}})",
                  "t.json: dns_config.recursor_timeout: invalid duration"},
        ErrorCase{R"({"dns_config": {"service_ttl": {"web": "-5s"}}})",
                  "t.json: dns_config.service_ttl[\"web\"]: invalid duration \"-5s\": must not "
                  "be negative"},
        ErrorCase{R"({"dns_config": {"udp_answer_limit": -1}})",
                  "t.json: dns_config.udp_answer_limit: expected a number between 0"},
        ErrorCase{R"({"dns_config": {"a_record_limit": -1}})",
                  "t.json: dns_config.a_record_limit: expected a number between 0"},
        ErrorCase{R"({"dns_config": {"soa": {"retry": -600}}})",
                  "t.json: dns_config.soa.retry: expected a number between 0"},
        ErrorCase{R"({"gossip_lan": {"probe_interval": "-1s"}})",
                  "t.json: gossip_lan.probe_interval: invalid duration"},
        ErrorCase{R"({"gossip_wan": {"gossip_interval": "0s"}})",
                  "t.json: gossip_wan.gossip_interval: must be greater than zero"},
        ErrorCase{R"({"gossip_lan": {"probe_timeout": "0ms"}})",
                  "t.json: gossip_lan.probe_timeout: must be greater than zero"},
        ErrorCase{R"({"gossip_lan": {"gossip_nodes": -3}})",
                  "t.json: gossip_lan.gossip_nodes: expected a number between 1"},
        ErrorCase{R"({"performance": {"raft_multiplier": -1}})",
                  "t.json: performance.raft_multiplier: expected a number between 1 and 10"},
        ErrorCase{R"({"check": {"name": "c", "ttl": "-5s"}})",
                  "t.json: check.ttl: invalid duration \"-5s\": must not be negative"},
        ErrorCase{R"({"check": {"name": "c", "tcp": "a:1", "interval": "-10s"}})",
                  "t.json: check.interval: invalid duration"},
        ErrorCase{R"({"check": {"name": "c", "tcp": "a:1", "interval": "1s", "timeout": "-1s"}})",
                  "t.json: check.timeout: invalid duration \"-1s\": must not be negative"},
        ErrorCase{R"({"check": {"name": "c", "ttl": "5s",
                                "deregister_critical_service_after": "-1m"}})",
                  "t.json: check.deregister_critical_service_after: invalid duration"},
        ErrorCase{R"({"check": {"name": "c", "ttl": "5s", "failures_before_critical": -1}})",
                  "t.json: check.failures_before_critical: expected a number between 0"},
        ErrorCase{R"({"check": {"name": "c", "ttl": "5s", "output_max_size": -1}})",
                  "t.json: check.output_max_size: expected a size between 1"},
        ErrorCase{R"({"services": [{"name": "w", "port": -80}]})",
                  "t.json: services[0].port: expected a number between 0 and 65535"},
        ErrorCase{R"({"services": [{"name": "w", "weights": {"passing": -1}}]})",
                  "t.json: services[0].weights.passing: expected a number between 1"}));

TEST(ConfigTest, MinusOneAndZeroStillDisableAPort) {
  // The refusal of other negatives must not take Consul's two spellings of "off" with it.
  auto c = load_ok(R"({"ports": {"http": -1, "dns": 0, "https": -1, "grpc": 0}})");
  EXPECT_EQ(c.ports.http, -1);
  EXPECT_EQ(c.ports.dns, -1);
  EXPECT_EQ(c.ports.https, -1);
  EXPECT_EQ(c.ports.grpc, -1);
  // Zero durations stay valid where they mean something (no TTL, no staleness allowed).
  auto z = load_ok(R"({"session_ttl_min": "0s", "dns_config": {"node_ttl": "0s",
                      "max_stale": "0s"}, "check_update_interval": "0s", "bootstrap_expect": 0})");
  EXPECT_EQ(z.session_ttl_min, Duration::zero());
  EXPECT_EQ(z.dns_config.max_stale, Duration::zero());
}

// The command line is a source like a file, but its errors name the flag the operator typed.
TEST(ConfigTest, CommandLineErrorsNameTheFlag) {
  auto flags = [](std::string text, std::map<std::string, std::string> names) {
    return load({kBase, {"command line", std::move(text), std::move(names)}});
  };
  auto port = flags(R"({"ports": {"http": -5}})", {{"ports.http", "-http-port"}});
  ASSERT_FALSE(port.has_value());
  EXPECT_EQ(port.error().message,
            "command line: -http-port: invalid port: -5 (expected 1..65535, or -1 to disable "
            "the listener)");
  auto interval = flags(R"({"retry_interval": "-1s"})", {{"retry_interval", "-retry-interval"}});
  ASSERT_FALSE(interval.has_value());
  EXPECT_EQ(interval.error().message,
            "command line: -retry-interval: invalid duration \"-1s\": must not be negative");
  auto expect = flags(R"({"bootstrap_expect": -2})", {{"bootstrap_expect", "-bootstrap-expect"}});
  ASSERT_FALSE(expect.has_value());
  EXPECT_EQ(expect.error().message,
            "command line: -bootstrap-expect: bootstrap_expect cannot be -2. Must be greater "
            "than or equal to zero");
  // Errors found after the merge name the flag too.
  auto role = flags(R"({"bootstrap_expect": 3})", {{"bootstrap_expect", "-bootstrap-expect"}});
  ASSERT_FALSE(role.has_value());
  EXPECT_EQ(role.error().message,
            "command line: -bootstrap-expect: 'bootstrap_expect > 0' requires 'server = true'");
  // A list element is named by the flag that appended it.
  auto join = flags(R"({"retry_join": [5]})", {{"retry_join", "-retry-join"}});
  ASSERT_FALSE(join.has_value());
  EXPECT_EQ(join.error().message, "command line: -retry-join: expected a string, got a number");
  // Without names (a file) the key path is kept.
  auto file = flags(R"({"ports": {"http": -5}})", {});
  ASSERT_FALSE(file.has_value());
  EXPECT_NE(file.error().message.find("command line: ports.http: invalid port"), std::string::npos);
}

// --- safe defaults: an HTTP API beyond loopback without ACLs (issue 10, item 4) -------------

// Script checks over an API other hosts can reach are remote code execution (issue 12): the
// warning says so and names the addresses; on loopback the milder advice stays.
TEST(ConfigScriptChecks, EnabledOnAnExposedApiIsASecurityWarning) {
  auto count = [](const AgentConfig& c, std::string_view needle) {
    return std::count_if(c.warnings.begin(), c.warnings.end(),
                         [&](const std::string& w) { return w.find(needle) != std::string::npos; });
  };
  const AgentConfig exposed =
      load_ok(R"({"enable_script_checks": true, "client_addr": "0.0.0.0"})");
  EXPECT_EQ(count(exposed,
                  "SECURITY WARNING: enable_script_checks = true and the HTTP API "
                  "listens on 0.0.0.0"),
            1);
  const AgentConfig local = load_ok(R"({"enable_script_checks": true})");
  EXPECT_EQ(count(local, "SECURITY WARNING"), 0);
  EXPECT_EQ(count(local, "enable_script_checks = true: any client of the HTTP API"), 1);
  EXPECT_EQ(count(load_ok(R"({"enable_local_script_checks": true, "client_addr": "0.0.0.0"})"),
                  "SECURITY WARNING"),
            0);
}

bool has_exposure_warning(const AgentConfig& c) {
  for (const auto& w : c.warnings) {
    if (w.find("praetor has no ACLs") != std::string::npos) return true;
  }
  return false;
}

TEST(ConfigTest, ClientAddrBeyondLoopbackWarnsThatThereAreNoAcls) {
  for (const char* exposed :
       {R"({"client_addr": "0.0.0.0"})", R"({"client_addr": "[::]"})",
        R"({"client_addr": "10.1.2.3"})", R"({"client_addr": "127.0.0.1 192.168.1.5"})",
        R"({"addresses": {"http": "0.0.0.0"}})"}) {
    const auto c = load_ok(exposed);
    EXPECT_TRUE(has_exposure_warning(c)) << exposed;
    EXPECT_FALSE(unprotected_api_warning(c).empty()) << exposed;
  }
  const auto c = load_ok(R"({"client_addr": "127.0.0.1 192.168.1.5", "ports": {"http": 18500}})");
  const std::string w = unprotected_api_warning(c);
  EXPECT_NE(w.find("the HTTP API listens on 192.168.1.5 (port 18500)"), std::string::npos) << w;
  // Only the exposed addresses are listed.
  EXPECT_EQ(w.find("127.0.0.1,"), std::string::npos) << w;
  EXPECT_EQ(w.find(", 127.0.0.1"), std::string::npos) << w;
  for (const char* safe :
       {R"({})", R"({"client_addr": "127.0.0.1"})", R"({"client_addr": "127.3.4.5 ::1"})",
        R"({"client_addr": "0:0:0:0:0:0:0:1 ::ffff:127.0.0.1"})",
        R"({"client_addr": "unix:///run/praetor.sock"})",
        R"({"client_addr": "0.0.0.0", "ports": {"http": -1}})",
        R"({"client_addr": "0.0.0.0", "addresses": {"http": "127.0.0.1"}})"}) {
    const auto safe_config = load_ok(safe);
    EXPECT_FALSE(has_exposure_warning(safe_config)) << safe;
    EXPECT_EQ(unprotected_api_warning(safe_config), "") << safe;
  }
}

TEST(ConfigTest, LoopbackAddresses) {
  using config_detail::is_loopback_address;
  for (const char* yes : {"127.0.0.1", "127.255.0.9", "::1", "0:0:0:0:0:0:0:1", "0::1",
                          "::ffff:127.0.0.1", "::1%lo"}) {
    EXPECT_TRUE(is_loopback_address(yes)) << yes;
  }
  for (const char* no : {"0.0.0.0", "::", "[::]", "128.0.0.1", "10.0.0.1", "::2", "1::1",
                         "::ffff:10.0.0.1", "::127.0.0.1", "fe80::1", "localhost", ""}) {
    EXPECT_FALSE(is_loopback_address(no)) << no;
  }
}

// The DNS port is served as configured; -1 (and 0) turn the listeners off, silently.
TEST(ConfigTest, DnsIsServedOnTheConfiguredPort) {
  const auto c = load_ok(R"({"ports": {"dns": 8653}})");
  EXPECT_EQ(c.ports.dns, 8653);
  EXPECT_EQ(served_dns_port(c), 8653);
  EXPECT_TRUE(c.warnings.empty());
  const auto off = load_ok(R"({"ports": {"dns": -1}})");
  EXPECT_LE(served_dns_port(off), 0);
  EXPECT_TRUE(off.warnings.empty());
}

TEST(ConfigTest, DevModeRejectsBootstrapExpect) {
  EXPECT_NE(load_error(R"({"bootstrap_expect": 3})", /*dev=*/true)
                .find("t.json: bootstrap_expect: 'bootstrap_expect > 0' not allowed in dev mode"),
            std::string::npos);
}

TEST(ConfigTest, MissingDataDirAndNodeName) {
  auto c = load({{"a.json", R"({"node_name": "n"})"}});
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().message, "data_dir cannot be empty");
  // `praetor validate` does not insist on data_dir.
  EXPECT_TRUE(load_config({{"a.json", R"({"node_name": "n"})"}},
                          LoadOptions{.dev = false, .require_data_dir = false})
                  .has_value());
  auto n = load({{"a.json", R"({"data_dir": "/d"})"}});
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().message, "node_name cannot be empty");
}

TEST(ConfigTest, UnknownKeysWarnInsteadOfFailing) {
  auto c = load_ok(R"({"no_such_key": 1, "ports": {"bogus": 2}, "disable_update_check": true,
                      "telemetry": {"statsd_address": "x"}})");
  ASSERT_EQ(c.warnings.size(), 3u);
  EXPECT_NE(c.warnings[0].find("t.json: no_such_key: unknown"), std::string::npos);
  EXPECT_NE(c.warnings[1].find("t.json: ports.bogus: unknown"), std::string::npos);
  EXPECT_NE(c.warnings[2].find("t.json: telemetry: accepted but not supported"), std::string::npos);
}

TEST(ConfigTest, AcceptedKeysFromClientHarnesses) {
  // python-consul, node-consul and Patroni harness keys (consul-compat.md §1).
  auto c = load_ok(R"({"acl": {"enabled": false, "default_policy": "allow",
      "tokens": {"initial_management": "root"}}, "primary_datacenter": "dc1",
      "performance": {"raft_multiplier": 1}, "session_ttl_min": "5s", "ui_config": {"enabled": true},
      "pid_file": "/tmp/p.pid", "log_file": "/tmp/l.log", "leave_on_terminate": true,
      "skip_leave_on_interrupt": false, "domain": "Example", "encrypt":
      "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=", "start_join_wan": ["1.2.3.4"],
      "retry_join_wan": ["5.6.7.8"], "retry_max": 3, "dns_config": {"only_passing": true,
      "enable_truncate": true, "udp_answer_limit": 5, "soa": {"min_ttl": 7}}})");
  EXPECT_FALSE(c.acl_enabled);
  EXPECT_EQ(c.primary_datacenter, "dc1");
  EXPECT_EQ(c.raft_multiplier, 1);
  EXPECT_EQ(c.session_ttl_min, Duration::seconds(5));
  EXPECT_TRUE(c.ui_enabled);
  EXPECT_EQ(c.pid_file, "/tmp/p.pid");
  EXPECT_EQ(c.leave_on_terminate, true);
  EXPECT_EQ(c.skip_leave_on_interrupt, false);
  EXPECT_EQ(c.domain, "example.");
  EXPECT_EQ(c.start_join_wan, std::vector<std::string>{"1.2.3.4"});
  EXPECT_EQ(c.retry_max, 3);
  EXPECT_TRUE(c.dns_config.only_passing);
  EXPECT_EQ(c.dns_config.udp_answer_limit, 5);
  EXPECT_EQ(c.dns_config.soa_min_ttl, 7u);
  EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();
}

TEST(ConfigTest, LimitsBlockSetsConnectionCapsPerClient) {
  auto defaults = load_ok("{}");
  EXPECT_EQ(defaults.http_max_conns_per_client, 200);  // Consul's defaults
  EXPECT_EQ(defaults.rpc_max_conns_per_client, 100);
  auto c = load_ok(R"({"limits": {"http_max_conns_per_client": 5, "RPCMaxConnsPerClient": 7,
                      "rpc_rate": 100}})");
  EXPECT_EQ(c.http_max_conns_per_client, 5);
  EXPECT_EQ(c.rpc_max_conns_per_client, 7);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("t.json: limits.rpc_rate: accepted but not supported"),
            std::string::npos)
      << c.warnings[0];
}

TEST(ConfigTest, EmptySourcesAreSkippedLikeConsul) {
  auto c = load({kBase, {"empty.json", "  \n"}});
  EXPECT_TRUE(c.has_value());
}

TEST(ConfigTest, DeepNestingIsAnErrorNotACrash) {
  std::string deep(100000, '[');
  auto c = load({{"deep.json", deep}});
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("deep.json"), std::string::npos);
  std::string nested = "{\"a\":" + std::string(200, '[') + std::string(200, ']') + "}";
  auto n = load({{"nested.json", nested}});
  ASSERT_FALSE(n.has_value());
  EXPECT_NE(n.error().message.find("nested.json: invalid JSON: nested deeper"), std::string::npos);
}

// --- properties: bad input never crashes -------------------------------------------------------

RC_GTEST_PROP(ConfigProperty, RandomBytesYieldValueOrNamedError, (const std::string& text)) {
  auto c = load_config({{"rand.json", text}}, /*dev=*/true);
  if (!c) RC_ASSERT(c.error().message.find("rand.json") != std::string::npos);
}

// Random JSON built from the agent's own key names, so the walk reaches typed handlers with
// values of every type.
rc::Gen<nlohmann::json> gen_json(int depth) {
  static const std::vector<std::string> kKeys = {"node",
                                                 "ports",
                                                 "http",
                                                 "dns",
                                                 "server",
                                                 "bootstrap",
                                                 "bootstrap_expect",
                                                 "services",
                                                 "checks",
                                                 "check",
                                                 "name",
                                                 "args",
                                                 "script",
                                                 "ttl",
                                                 "interval",
                                                 "http",
                                                 "tcp",
                                                 "retry_join",
                                                 "bind_addr",
                                                 "client_addr",
                                                 "datacenter",
                                                 "dns_config",
                                                 "service_ttl",
                                                 "soa",
                                                 "acl",
                                                 "enabled",
                                                 "node_meta",
                                                 "header",
                                                 "weights",
                                                 "passing",
                                                 "data_dir",
                                                 "advertise_addr",
                                                 "addresses",
                                                 "encrypt",
                                                 "log_level",
                                                 "performance",
                                                 "raft_multiplier"};
  auto scalar = rc::gen::oneOf(
      rc::gen::map(rc::gen::arbitrary<bool>(), [](bool b) { return nlohmann::json(b); }),
      rc::gen::map(rc::gen::arbitrary<int>(), [](int i) { return nlohmann::json(i); }),
      rc::gen::map(rc::gen::arbitrary<double>(), [](double d) { return nlohmann::json(d); }),
      rc::gen::map(rc::gen::elementOf(std::vector<std::string>{"10s", "1.5m", "x", "", "127.0.0.1",
                                                               "::", "passing"}),
                   [](std::string s) { return nlohmann::json(s); }),
      rc::gen::just(nlohmann::json(nullptr)));
  if (depth <= 0) return scalar;
  auto object = rc::gen::map(
      rc::gen::container<std::map<std::string, nlohmann::json>>(
          rc::gen::resize(5, rc::gen::elementOf(kKeys)),
          rc::gen::lazy([depth] { return gen_json(depth - 1); })),
      [](const std::map<std::string, nlohmann::json>& m) { return nlohmann::json(m); });
  auto array =
      rc::gen::map(rc::gen::resize(3, rc::gen::container<std::vector<nlohmann::json>>(
                                          rc::gen::lazy([depth] { return gen_json(depth - 1); }))),
                   [](const std::vector<nlohmann::json>& v) { return nlohmann::json(v); });
  return rc::gen::oneOf(scalar, object, array);
}

RC_GTEST_PROP(ConfigProperty, RandomJsonYieldsValueOrNamedError, ()) {
  const auto doc = *gen_json(4);
  const bool dev = *rc::gen::arbitrary<bool>();
  auto c = load_config({{"gen.json", doc.dump()}}, dev);
  if (!c)
    RC_ASSERT(c.error().message.find("gen.json") != std::string::npos ||
              c.error().message.find("cannot be empty") != std::string::npos);
}

}  // namespace
}  // namespace praetor::node
