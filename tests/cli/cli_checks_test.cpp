// Issue 12 against real `praetor agent` processes on 127.0.0.55-59: the seed's MySQL master and
// replica found by script checks that read a flag file, reload by diff (and refused edits),
// a hanging script killed with its process group at its timeout, output capped at 4 KiB, TTL
// checks, API registrations surviving a restart, maintenance mode and `praetor services` /
// `praetor maint`. Each test starts its own agent on its own address and kills only that.
//
// Addresses: .55 seed flip and reload, .56 script timeouts and output, .57 TTL and restart (a
// one-server agent with a data_dir), .58 maintenance and `services`, .59 the HTTP check and
// the test's own HTTP server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/cli/praetor_process.hpp"

namespace praetor_cli_test {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct HttpAnswer {
  int status = 0;
  std::string body;
};

// curl with the status code: "<body>\n<code>". 0 when it could not connect.
HttpAnswer http(const std::string& method, const std::string& url, const std::string& body = "") {
  TempDir tmp;
  std::string cmd = "curl -sS -m 10 -o '" + tmp.path() + "/body' -w '%{http_code}' -X " + method +
                    " '" + url + "'";
  if (!body.empty()) cmd += " --data-binary @'" + tmp.write("req", body) + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {};
  std::string code;
  char buf[64];
  while (const std::size_t n = std::fread(buf, 1, sizeof(buf), p)) code.append(buf, n);
  ::pclose(p);
  HttpAnswer out;
  out.status = std::atoi(code.c_str());
  out.body = read_file(tmp.path() + "/body");
  return out;
}

Json get_json(const std::string& url) {
  const HttpAnswer a = http("GET", url);
  return a.status == 200 ? Json::parse(a.body, nullptr, false) : Json();
}

// One `praetor agent` with its own address, config dir and (optionally) data_dir. The
// destructor kills it (SIGKILL through BackgroundProcess) if the test did not stop it.
class Agent {
 public:
  Agent(std::string address, const TempDir& dir, std::string node, bool dev = true)
      : address_(std::move(address)), dir_(dir.path()), node_(std::move(node)), dev_(dev) {
    std::filesystem::create_directories(config_dir());
  }

  void start() {
    std::vector<std::string> args = {"agent", "-node=" + node_, "-bind=" + address_,
                                     "-client=" + address_, "-config-dir=" + config_dir()};
    if (dev_) {
      args.insert(args.begin() + 1, "-dev");
    } else {
      args.insert(args.end(), {"-server", "-bootstrap-expect=1", "-data-dir=" + dir_ + "/data",
                               "-log-level=debug"});
    }
    ++starts_;
    const std::string base = dir_ + "/agent-" + node_ + "-" + std::to_string(starts_);
    process_ = std::make_unique<BackgroundProcess>(args, base + ".out", base + ".log");
  }

  // Ready: there is a leader and the agent's node is in the catalog (anti-entropy ran).
  bool wait_ready() {
    return eventually(
               [this] {
                 if (!process_->running()) return true;
                 const Json node = get_json(url("/v1/catalog/node/" + node_));
                 return node.is_object() && node.contains("Node");
               },
               20s) &&
           process_->running();
  }

  // Graceful stop (SIGTERM), as an operator restarts an agent.
  std::optional<int> stop() {
    process_->signal(SIGTERM);
    return process_->wait(15s);
  }

  std::string config_dir() const { return dir_ + "/config"; }
  void write_config(const std::string& name, const std::string& text) const {
    std::ofstream(config_dir() + "/" + name) << text;
  }
  void remove_config(const std::string& name) const {
    std::filesystem::remove(config_dir() + "/" + name);
  }
  std::string http_flag() const { return "-http-addr=" + address_ + ":8500"; }
  std::string url(const std::string& path) const { return "http://" + address_ + ":8500" + path; }
  std::string log() const { return process_ ? process_->err() + process_->out() : ""; }
  const std::string& node() const { return node_; }

  ProcessResult cli(std::vector<std::string> args) const {
    args.insert(args.begin() + (args.size() > 1 && args[0] == "services" ? 2 : 1), http_flag());
    return run_praetor(args);
  }

 private:
  std::string address_, dir_, node_;
  bool dev_;
  int starts_ = 0;
  std::unique_ptr<BackgroundProcess> process_;
};

// The service IDs `GET /v1/health/service/NAME?passing` returns.
std::set<std::string> passing_ids(const Agent& agent, const std::string& name) {
  std::set<std::string> out;
  const Json doc = get_json(agent.url("/v1/health/service/" + name + "?passing"));
  if (!doc.is_array()) return {"<error>"};
  for (const auto& e : doc) {
    const Json service = e.is_object() ? e.value("Service", Json()) : Json();
    out.insert(service.is_object() ? service.value("ID", std::string("<no id>")) : "<no service>");
  }
  return out;
}

Json agent_check(const Agent& agent, const std::string& id) {
  const Json checks = get_json(agent.url("/v1/agent/checks"));
  return checks.is_object() && checks.contains(id) ? checks[id] : Json();
}

std::string status_of(const Json& check) {
  return check.is_object() ? check.value("Status", std::string()) : std::string("<absent>");
}

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// ---- The seed: MySQL master and replica ---------------------------------------------------

// The seed's two service files with their check scripts adapted: instead of asking MySQL for
// read_only, the script compares a flag file with the role the service stands for (the
// operator's "flag table written by an automation platform"). Like the seed's scripts, a wrong
// role exits 2 (critical), not 1 (warning).
std::string seed_service_file(const std::string& name, const std::string& tag,
                              const std::string& role, const std::string& flag,
                              const std::string& interval) {
  // The w-3333 file is the seed's own (tests/core/node/testdata); r-3333 is its twin with the
  // replica's name and tag, as in the seed.
  Json doc = Json::parse(read_file(testdata("w-3333-mysql-test.json")));
  Json& svc = doc["services"][0];
  svc["name"] = name;
  svc["tags"] = {tag};
  svc["checks"][0]["script"] = "test \"$(cat '" + flag + "')\" = " + role + " || exit 2";
  svc["checks"][0]["interval"] = interval;
  return doc.dump(2);
}

constexpr const char* kScriptsOn = R"({"enable_local_script_checks": true})";
const std::string kMaster = "w-3333-mysql-test";
const std::string kReplica = "r-3333-mysql-test";

TEST(ChecksProcessTest, SeedMasterFlipMovesThePassingInstanceWithinAnInterval) {
  TempDir tmp;
  const std::string flag = tmp.write("role", "master\n");
  Agent agent("127.0.0.55", tmp, "seed-client");
  agent.write_config("00-scripts.json", kScriptsOn);
  agent.write_config("w-3333-mysql-test.json",
                     seed_service_file(kMaster, "master-test-3333", "master", flag, "1s"));
  agent.write_config("r-3333-mysql-test.json",
                     seed_service_file(kReplica, "slave-test-3333", "replica", flag, "1s"));
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();

  // The first runs come within one interval of the start.
  ASSERT_TRUE(
      eventually([&] { return passing_ids(agent, kMaster) == std::set<std::string>{kMaster}; }, 5s))
      << agent.log();
  EXPECT_TRUE(passing_ids(agent, kReplica).empty());
  const Json entry = get_json(agent.url("/v1/health/service/" + kMaster + "?passing"))[0];
  EXPECT_EQ(entry["Service"]["Address"], "10.64.50.129");
  EXPECT_EQ(entry["Service"]["Port"], 3333);
  EXPECT_EQ(entry["Service"]["Tags"], Json::array({"master-test-3333"}));

  // The switchover: one write to the flag, and discovery follows within one interval + sync.
  for (const std::string role : {"replica", "master", "replica"}) {
    std::ofstream(flag) << role << "\n";
    const auto flipped = Clock::now();
    const std::string now_passing = role == "master" ? kMaster : kReplica;
    const std::string now_failing = role == "master" ? kReplica : kMaster;
    ASSERT_TRUE(eventually(
        [&] {
          return passing_ids(agent, now_passing) == std::set<std::string>{now_passing} &&
                 passing_ids(agent, now_failing).empty();
        },
        5s))
        << "flag " << role << ": " << agent.log();
    // The bound is the poll's (5 s): one interval (1 s) for the next run, the run, then the
    // sync, with room for a loaded machine and the sanitizers. A status change that waited
    // for check_update_interval (5 min) or the full sync (1 min) would miss it.
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - flipped);
    std::cout << "[ flip ] " << role << " visible in ?passing after " << took.count() << " ms\n";
  }
  // The master's check is the one failing now, as a script check in the catalog's terms.
  const Json master_check = agent_check(agent, "service:" + kMaster);
  EXPECT_EQ(status_of(master_check), "critical");
  EXPECT_EQ(master_check["Type"], "script");
  EXPECT_EQ(master_check["Interval"], "1s");
}

TEST(ChecksProcessTest, ReloadFollowsTheConfigDirKeepsUnchangedChecksAndRefusesBadEdits) {
  TempDir tmp;
  const std::string flag = tmp.write("role", "master\n");
  Agent agent("127.0.0.55", tmp, "seed-reload");
  agent.write_config("00-scripts.json", kScriptsOn);
  agent.write_config("w-3333-mysql-test.json",
                     seed_service_file(kMaster, "master-test-3333", "master", flag, "1s"));
  agent.write_config("r-3333-mysql-test.json",
                     seed_service_file(kReplica, "slave-test-3333", "replica", flag, "1s"));
  // An unchanging service whose TTL check the test passes by hand: if a reload replaced it, it
  // would be back to critical with no output.
  agent.write_config("app.json",
                     R"({"service": {"name": "app", "port": 8080,
                         "check": {"id": "heartbeat", "name": "heartbeat", "ttl": "1h"}}})");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  ASSERT_EQ(http("PUT", agent.url("/v1/agent/check/pass/heartbeat?note=alive")).status, 200);
  ASSERT_TRUE(eventually([&] { return passing_ids(agent, kMaster).size() == 1; }, 5s))
      << agent.log();
  ASSERT_TRUE(eventually([&] { return passing_ids(agent, "app").size() == 1; }, 5s));

  // The edit: add a service, remove one, change a check's interval.
  agent.write_config("redis-6379.json",
                     R"({"service": {"name": "redis-6379", "port": 6379,
                         "check": {"id": "redis-alive", "args": ["/bin/true"], "interval": "1s"}}})");
  agent.remove_config("r-3333-mysql-test.json");
  agent.write_config("w-3333-mysql-test.json",
                     seed_service_file(kMaster, "master-test-3333", "master", flag, "2s"));
  ProcessResult r = agent.cli({"reload"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Configuration reload triggered\n");

  auto agent_services = [&] {
    std::set<std::string> out;
    const Json doc = get_json(agent.url("/v1/agent/services"));
    if (doc.is_object()) {
      for (const auto& [id, s] : doc.items()) out.insert(id);
    }
    return out;
  };
  auto catalog_services = [&] {
    std::set<std::string> out;
    const Json doc = get_json(agent.url("/v1/catalog/services"));
    if (doc.is_object()) {
      for (const auto& [name, tags] : doc.items()) out.insert(name);
    }
    return out;
  };
  const std::set<std::string> after_edit = {"app", kMaster, "redis-6379"};
  ASSERT_TRUE(eventually([&] { return agent_services() == after_edit; }, 5s)) << agent.log();
  // The heartbeat was not touched: still passing with its note, at the moment the reload shows.
  const Json heartbeat = agent_check(agent, "heartbeat");
  EXPECT_EQ(status_of(heartbeat), "passing");
  EXPECT_EQ(heartbeat["Output"], "alive");
  EXPECT_EQ(agent_check(agent, "service:" + kMaster)["Interval"], "2s");
  // The catalog follows: redis in, the replica out (the dev server's own `consul` stays), the
  // new interval, and the changed check passing again after its first run.
  std::set<std::string> in_catalog = after_edit;
  in_catalog.insert("consul");
  EXPECT_TRUE(eventually([&] { return catalog_services() == in_catalog; }, 5s))
      << Json(catalog_services()).dump();
  EXPECT_TRUE(eventually(
      [&] {
        const Json checks = get_json(agent.url("/v1/health/checks/" + kMaster));
        return checks.is_array() && checks.size() == 1 && checks[0]["Interval"] == "2s" &&
               checks[0]["Status"] == "passing";
      },
      6s))
      << get_json(agent.url("/v1/health/checks/" + kMaster)).dump();
  EXPECT_TRUE(eventually([&] { return passing_ids(agent, "redis-6379").size() == 1; }, 5s));
  EXPECT_EQ(passing_ids(agent, "app").size(), 1u);

  // A refused edit: a check naming a service that does not exist, in the same reload as a new
  // service. The whole set is refused; what ran before stays. praetor reload waits for the
  // outcome: it exits 1 with the reason, and the agent logs it too (decisions.md D46).
  const std::string refused = "Failed to reload configs";
  ASSERT_EQ(count(agent.log(), refused), 0);
  agent.write_config("extra.json", R"({"service": {"name": "extra"}})");
  agent.write_config(
      "orphan.json",
      R"({"check": {"id": "orphan", "name": "orphan", "service_id": "nope", "ttl": "10s"}})");
  r = agent.cli({"reload"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("Error reloading"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ServiceID \"nope\" does not exist"), std::string::npos) << r.err;
  EXPECT_TRUE(eventually([&] { return count(agent.log(), refused) == 1; }, 5s)) << agent.log();
  EXPECT_EQ(agent_services(), after_edit);
  EXPECT_EQ(status_of(agent_check(agent, "orphan")), "<absent>");

  // Malformed JSON: refused before anything reaches the agent's state, the file named.
  agent.remove_config("orphan.json");
  agent.write_config("broken.json", R"({"service": {"name": )");
  r = agent.cli({"reload"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.err.find("broken.json"), std::string::npos) << r.err;
  EXPECT_TRUE(eventually([&] { return count(agent.log(), refused) == 2; }, 5s)) << agent.log();
  EXPECT_EQ(agent_services(), after_edit);
  EXPECT_EQ(status_of(agent_check(agent, "heartbeat")), "passing");

  // Fixed, the next reload applies (extra.json is still there).
  agent.remove_config("broken.json");
  r = agent.cli({"reload"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> with_extra = after_edit;
  with_extra.insert("extra");
  EXPECT_TRUE(eventually([&] { return agent_services() == with_extra; }, 5s)) << agent.log();
  EXPECT_EQ(count(agent.log(), refused), 2);
}

// ---- Script checks: timeout and output cap ------------------------------------------------

// Whether any process is left in process group `pgid`.
bool group_alive(pid_t pgid) { return ::kill(-pgid, 0) == 0 || errno != ESRCH; }

TEST(ChecksProcessTest, AHangingScriptIsKilledWithItsProcessGroupAtItsTimeout) {
  TempDir tmp;
  const std::string pids = tmp.path() + "/hang.pids";
  Agent agent("127.0.0.56", tmp, "hang");
  agent.write_config("00-scripts.json", kScriptsOn);
  // sh records its pid (the group's leader: checks run in a process group of their own), then
  // waits on a `sleep 60` child; both must go at the 1 s timeout.
  agent.write_config("hang.json",
                     R"({"check": {"id": "hang", "name": "hang", "args": ["/bin/sh", "-c",
                     "echo $$ >> ')" +
                         pids + R"('; sleep 60; true"], "interval": "1s", "timeout": "1s"}})");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto recorded = [&] {
    std::set<pid_t> out;
    std::istringstream in(read_file(pids));
    for (pid_t p = 0; in >> p;) out.insert(p);
    return out;
  };
  // While a run hangs, its group exists (so the check below, that groups are gone, means
  // something: the pid is a group leader, not a process in the agent's own group).
  EXPECT_TRUE(eventually(
      [&] {
        for (pid_t p : recorded()) {
          if (group_alive(p)) return true;
        }
        return false;
      },
      5s));
  ASSERT_TRUE(eventually(
      [&] {
        const Json c = agent_check(agent, "hang");
        return status_of(c) == "critical" && c["Output"] == "Timed out (1s) running check";
      },
      8s))
      << agent_check(agent, "hang").dump() << agent.log();
  // Stop the schedule so no new run starts, then every group that ran must be gone (a run in
  // flight at the deregistration is still killed at its timeout).
  ASSERT_EQ(http("PUT", agent.url("/v1/agent/check/deregister/hang")).status, 200);
  std::set<pid_t> groups;
  const bool all_gone = eventually(
      [&] {
        groups = recorded();
        for (pid_t p : groups) {
          if (group_alive(p)) return false;
        }
        return !groups.empty();
      },
      5s);
  std::string alive;
  for (pid_t p : groups) {
    if (group_alive(p)) alive += " " + std::to_string(p);
  }
  EXPECT_TRUE(all_gone) << "process groups still alive:" << alive;
  // The group leaders were sh processes of this agent: at least one run, each killed.
  EXPECT_GE(groups.size(), 1u);
}

TEST(ChecksProcessTest, AMegabyteOfOutputIsCappedAtOutputMaxSize) {
  TempDir tmp;
  Agent agent("127.0.0.56", tmp, "chatty");
  agent.write_config("00-scripts.json", kScriptsOn);
  agent.write_config("chatty.json",
                     R"({"check": {"id": "chatty", "name": "chatty", "args": ["/bin/sh", "-c",
                     "head -c 1048576 /dev/zero | tr '\\000' x"], "interval": "1s"}})");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  ASSERT_TRUE(eventually([&] { return status_of(agent_check(agent, "chatty")) == "passing"; }, 8s))
      << agent.log();
  const std::string output = agent_check(agent, "chatty")["Output"].get<std::string>();
  // output_max_size's default is 4 KiB: a whole megabyte ran, 4,096 bytes of it are kept.
  EXPECT_LE(output.size(), 4096u);
  EXPECT_GT(output.size(), 0u);
  EXPECT_EQ(output.find_first_not_of('x'), std::string::npos);
  // The catalog's copy is capped alike.
  EXPECT_TRUE(eventually(
      [&] {
        const Json node = get_json(agent.url("/v1/health/node/chatty"));
        if (!node.is_array()) return false;
        for (const auto& c : node) {
          if (c["CheckID"] == "chatty") {
            return c["Status"] == "passing" && c["Output"].get<std::string>().size() <= 4096 &&
                   !c["Output"].get<std::string>().empty();
          }
        }
        return false;
      },
      5s));
}

// ---- TTL checks and restarts ----------------------------------------------------------------

TEST(ChecksProcessTest, TtlExpiresAndRecoversAndApiRegistrationsSurviveARestart) {
  TempDir tmp;
  Agent agent("127.0.0.57", tmp, "ttl-server", /*dev=*/false);
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  ASSERT_EQ(http("PUT", agent.url("/v1/agent/service/register"),
                 R"({"Name": "billing", "ID": "billing-1", "Port": 9000, "Tags": ["v2"]})")
                .status,
            200);
  ASSERT_EQ(http("PUT", agent.url("/v1/agent/check/register"),
                 R"({"Name": "billing heartbeat", "CheckID": "billing-ttl",
                     "ServiceID": "billing-1", "TTL": "2s"})")
                .status,
            200);
  EXPECT_EQ(status_of(agent_check(agent, "billing-ttl")), "critical");  // until the first pass
  ASSERT_EQ(http("PUT", agent.url("/v1/agent/check/pass/billing-ttl?note=ok")).status, 200);
  ASSERT_TRUE(eventually([&] { return passing_ids(agent, "billing").size() == 1; }, 5s));

  // Silence: the TTL runs out, the check turns critical with Consul's text, in the catalog too.
  const auto passed = Clock::now();
  ASSERT_TRUE(eventually([&] { return passing_ids(agent, "billing").empty(); }, 6s));
  const auto expired_after = Clock::now() - passed;
  EXPECT_GE(expired_after, 1500ms);  // not before its TTL (2 s, less the poll's slack)
  const Json expired = agent_check(agent, "billing-ttl");
  EXPECT_EQ(status_of(expired), "critical");
  EXPECT_EQ(expired["Output"], "TTL expired");

  ASSERT_EQ(http("PUT", agent.url("/v1/agent/check/pass/billing-ttl?note=back")).status, 200);
  ASSERT_TRUE(eventually([&] { return passing_ids(agent, "billing").size() == 1; }, 5s));
  EXPECT_EQ(agent_check(agent, "billing-ttl")["Output"], "back");

  // Restart with the same data_dir: the API registrations come back from it.
  ASSERT_EQ(agent.stop(), std::optional<int>(0)) << agent.log();
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const Json services = get_json(agent.url("/v1/agent/services"));
  ASSERT_TRUE(services.is_object() && services.contains("billing-1")) << services.dump();
  EXPECT_EQ(services["billing-1"]["Port"], 9000);
  EXPECT_EQ(services["billing-1"]["Tags"], Json::array({"v2"}));
  const Json check = agent_check(agent, "billing-ttl");
  ASSERT_TRUE(check.is_object()) << get_json(agent.url("/v1/agent/checks")).dump();
  EXPECT_EQ(check["ServiceID"], "billing-1");
  EXPECT_EQ(check["Type"], "ttl");
  // The TTL starts afresh after the restart: pass it, and the service is found again.
  ASSERT_EQ(http("PUT", agent.url("/v1/agent/check/pass/billing-ttl")).status, 200);
  EXPECT_TRUE(eventually([&] { return passing_ids(agent, "billing").size() == 1; }, 5s))
      << agent.log();
}

// ---- Maintenance and `praetor services` ---------------------------------------------------

TEST(ChecksProcessTest, MaintenanceHidesTheServiceThenTheNodeAndDisableBringsThemBack) {
  TempDir tmp;
  Agent agent("127.0.0.58", tmp, "maint-node");
  agent.write_config("web.json",
                     R"({"service": {"name": "web", "port": 80,
                         "check": {"id": "web-ttl", "ttl": "1h", "status": "passing"}}})");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  ASSERT_TRUE(eventually([&] { return passing_ids(agent, "web").size() == 1; }, 5s)) << agent.log();
  ProcessResult r = agent.cli({"maint"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");  // nothing in maintenance

  r = agent.cli({"maint", "-enable", "-service", "web", "-reason", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Service maintenance is now enabled for \"web\"\n");
  EXPECT_TRUE(eventually([&] { return passing_ids(agent, "web").empty(); }, 5s));
  r = agent.cli({"maint"});
  EXPECT_EQ(r.out, "Service:\n  ID:     web\n  Reason: x\n\n");

  r = agent.cli({"maint", "-disable", "-service", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Service maintenance is now disabled for \"web\"\n");
  EXPECT_TRUE(eventually([&] { return passing_ids(agent, "web").size() == 1; }, 5s));

  r = agent.cli({"maint", "-enable", "-reason", "kernel upgrade"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Node maintenance is now enabled\n");
  EXPECT_TRUE(eventually([&] { return passing_ids(agent, "web").empty(); }, 5s));
  r = agent.cli({"maint"});
  EXPECT_EQ(r.out, "Node:\n  Name:   maint-node\n  Reason: kernel upgrade\n\n");
  r = agent.cli({"maint", "-disable"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Node maintenance is now disabled\n");
  EXPECT_TRUE(eventually([&] { return passing_ids(agent, "web").size() == 1; }, 5s));
  EXPECT_EQ(agent.cli({"maint"}).out, "");

  // Refusals: Consul's words, exit 1, the API's message for an unknown service.
  r = agent.cli({"maint", "-enable", "-disable"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Only one of -enable or -disable may be provided\n");
  r = agent.cli({"maint", "-reason", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Reason may only be provided with -enable\n");
  r = agent.cli({"maint", "-service", "web"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Service requires either -enable or -disable\n");
  r = agent.cli({"maint", "-enable", "-service", "nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "Error enabling service maintenance: Unexpected response code: 404 (Unknown service "
            "ID \"nope\")\n");
}

TEST(ChecksProcessTest, ServicesRegisterAndDeregisterByFlagsAndFromAFile) {
  TempDir tmp;
  Agent agent("127.0.0.58", tmp, "services-cli");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  auto catalog_web = [&] { return get_json(agent.url("/v1/catalog/service/web")); };

  ProcessResult r = agent.cli(
      {"services", "register", "-name", "web", "-port", "80", "-tag", "a", "-meta", "team=edge"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Registered service: web\n");
  const Json mine = get_json(agent.url("/v1/agent/service/web"));
  EXPECT_EQ(mine["Port"], 80);
  EXPECT_EQ(mine["Tags"], Json::array({"a"}));
  EXPECT_EQ(mine["Meta"], Json({{"team", "edge"}}));
  ASSERT_TRUE(eventually([&] { return catalog_web().size() == 1; }, 5s));
  EXPECT_EQ(catalog_web()[0]["ServicePort"], 80);

  r = agent.cli({"services", "deregister", "-id", "web"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Deregistered service: web\n");
  EXPECT_TRUE(eventually([&] { return catalog_web().empty(); }, 5s));
  EXPECT_EQ(http("GET", agent.url("/v1/agent/service/web")).status, 404);

  // From a file in configuration format, with its check: registered with the agent (not the
  // agent's config dir), so the check reaches the catalog through anti-entropy.
  const std::string file = tmp.write("web.json", R"({"services": [{"name": "web", "id": "web-2",
      "port": 8080, "tags": ["b"], "checks": [{"id": "web-2-ttl", "ttl": "30s",
      "status": "passing"}]}]})");
  r = agent.cli({"services", "register", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Registered service: web\n");
  EXPECT_TRUE(
      eventually([&] { return passing_ids(agent, "web") == std::set<std::string>{"web-2"}; }, 5s));
  EXPECT_EQ(agent_check(agent, "web-2-ttl")["ServiceID"], "web-2");
  r = agent.cli({"services", "deregister", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Deregistered service: web-2\n");
  EXPECT_TRUE(eventually([&] { return catalog_web().empty(); }, 5s));

  // Errors exit 1 with Consul's words and the API's message.
  r = agent.cli({"services", "deregister", "-id", "web"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "Error deregistering service \"web\": Unexpected response code: 404 (Unknown service "
            "ID \"web\". Ensure that the service ID is passed, not the service name.)\n");
  r = agent.cli({"services", "register", "-name", "web", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Service registration requires arguments or -id, not both.\n");
  r = agent.cli({"services", "register"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "Service registration requires at least one argument or flags.\n");
  // The -dev agent does not allow script checks from the API: the agent's refusal is shown.
  const std::string scripted = tmp.write(
      "scripted.json",
      R"({"service": {"name": "s", "check": {"args": ["/bin/true"], "interval": "10s"}}})");
  r = agent.cli({"services", "register", scripted});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "Error registering service \"s\": Unexpected response code: 500 ("
            "Scripts are disabled on this agent from remote calls; to enable, configure "
            "'enable_script_checks' to true)\n");
  const std::string bad = tmp.write("bad.json", R"({"service": {"name": 7}})");
  r = agent.cli({"services", "register", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Error: " + bad + ": service.name: expected a string"), std::string::npos)
      << r.err;
  r = agent.cli({"services", "register", tmp.write("svc.hcl", "service { name = \"x\" }")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("HCL is not supported yet"), std::string::npos) << r.err;
  EXPECT_EQ(get_json(agent.url("/v1/agent/services")), Json::object());
}

// ---- HTTP checks --------------------------------------------------------------------------

// A tiny HTTP server on 127.0.0.59 (an ephemeral port) answering every request with the status
// the test sets, in a thread of its own.
class StatusServer {
 public:
  StatusServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.59", &addr.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~StatusServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  void set_status(int status) { status_ = status; }
  std::string url() const { return "http://127.0.0.59:" + std::to_string(port_) + "/health"; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      // Read the request head (bounded), then answer and close.
      std::string head;
      char buf[1024];
      while (head.find("\r\n\r\n") == std::string::npos && head.size() < 16384) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 1000) <= 0) break;
        const ssize_t n = ::read(c, buf, sizeof(buf));
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      const int status = status_;
      const std::string body = "status " + std::to_string(status);
      const std::string reply = "HTTP/1.1 " + std::to_string(status) +
                                " X\r\nContent-Length: " + std::to_string(body.size()) +
                                "\r\nConnection: close\r\n\r\n" + body;
      [[maybe_unused]] const ssize_t w = ::write(c, reply.data(), reply.size());
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> status_{200};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The io/ HTTP prober against a local server whose status the test sets: 200, 500, 429.
TEST(ChecksProcessTest, AnHttpCheckFollowsTheStatusCode) {
  TempDir tmp;
  StatusServer server;
  Agent agent("127.0.0.59", tmp, "http-check");
  agent.write_config("api.json", R"({"service": {"name": "api", "port": 80, "check": {
      "id": "api-http", "http": ")" + server.url() +
                                     R"(", "interval": "1s", "timeout": "1s"}}})");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  for (const auto& step : std::vector<std::pair<int, std::string>>{
           {200, "passing"}, {500, "critical"}, {429, "warning"}, {200, "passing"}}) {
    const int code = step.first;
    const std::string want = step.second;  // (clang 14 cannot capture structured bindings)
    server.set_status(code);
    EXPECT_TRUE(eventually(
        [&] {
          const Json node = get_json(agent.url("/v1/health/checks/api"));
          return node.is_array() && node.size() == 1 && node[0]["Status"] == want;
        },
        5s))
        << code << ": " << agent_check(agent, "api-http").dump();
    const std::string output = agent_check(agent, "api-http")["Output"].get<std::string>();
    EXPECT_NE(output.find("HTTP GET " + server.url() + ": " + std::to_string(code)),
              std::string::npos)
        << output;
  }
}

}  // namespace
}  // namespace praetor_cli_test
