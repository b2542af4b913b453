// Issue 13's DNS interface from the outside: `dig` (bind9-dnsutils) against real `praetor agent`
// processes on 127.0.0.92-99, asserting on dig's own output. The seed's query (NOERROR, `aa`,
// one A record, TTL 0) on a -dev agent and on a client agent joined to a server, SRV with the
// target's address in ADDITIONAL, truncation with 50 instances and dig's fallback to TCP,
// recursors (a dnsmasq started by the test behind a dead one; SERVFAIL with none alive; REFUSED
// without recursors; a refusing recursor passed over) and script check flips that take an
// address out of the next answer and put it back. Each test starts its own processes and kills
// only those, by pid; tests run one after another, so an address is reused by later tests.
//
// Addresses: .92 the -dev seed and SRV tests; .93 the seed's server, then the truncation agent;
// .94 the seed's client, then the agents with recursors; .95 dnsmasq (ports 5353 and 5354);
// .96 the dead recursor (nothing listens on it); .97 an agent whose only recursor is dead or
// refusing; .98 an agent without recursors; .99 the check flip.
#include <spawn.h>

#include <algorithm>
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

// ---- Running dig and reading its output -------------------------------------------------------

struct Rr {
  std::string name;
  long ttl = -1;
  std::string type;
  std::string data;  // the rest of the line, fields joined by one space
};

struct DigAnswer {
  int exit_code = -1;
  std::string status;           // from ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: ..."
  std::set<std::string> flags;  // from ";; flags: qr aa rd; QUERY: 1, ..."
  std::vector<Rr> answer, authority, additional;
  std::string text;  // the whole output, for failure messages and the plain-text checks

  std::vector<std::string> data_of(const std::string& type) const {
    std::vector<std::string> out;
    for (const Rr& r : answer) {
      if (r.type == type) out.push_back(r.data);
    }
    return out;
  }
  bool has(const std::string& s) const { return text.find(s) != std::string::npos; }
};

// dig's default output: the header comments, then one record per line in each section.
DigAnswer parse_dig(const std::string& text) {
  DigAnswer d;
  d.text = text;
  std::vector<Rr>* section = nullptr;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("->>HEADER<<-") != std::string::npos) {
      const auto at = line.find("status: ");
      if (at != std::string::npos) d.status = line.substr(at + 8, line.find(',', at) - at - 8);
    } else if (line.starts_with(";; flags:")) {
      std::istringstream words(line.substr(9, line.find(';', 9) - 9));
      for (std::string w; words >> w;) d.flags.insert(w);
    } else if (line.starts_with(";; ANSWER SECTION:")) {
      section = &d.answer;
    } else if (line.starts_with(";; AUTHORITY SECTION:")) {
      section = &d.authority;
    } else if (line.starts_with(";; ADDITIONAL SECTION:")) {
      section = &d.additional;
    } else if (line.empty() || line[0] == ';') {
      if (line.empty()) section = nullptr;
    } else if (section != nullptr) {
      std::istringstream fields(line);
      Rr r;
      std::string klass;
      fields >> r.name >> r.ttl >> klass >> r.type;
      for (std::string w; fields >> w;) r.data += (r.data.empty() ? "" : " ") + w;
      section->push_back(std::move(r));
    }
  }
  return d;
}

// `dig @server -p port <args...>`, with short timeouts so a missing answer fails fast.
DigAnswer dig(const std::string& server, const std::string& args, int port = 8600,
              const std::string& timing = "+time=2 +tries=1") {
  const std::string cmd =
      "dig @" + server + " -p " + std::to_string(port) + " " + timing + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {};
  std::string out;
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  const int status = ::pclose(p);
  DigAnswer d = parse_dig(out);
  d.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  d.text = "$ " + cmd + "\n" + out;
  return d;
}

// ---- Processes ----------------------------------------------------------------------------------

// The HTTP status of a request (the body is not needed); 0 when curl could not connect.
int http(const std::string& method, const std::string& url, const std::string& body = "") {
  TempDir tmp;
  std::string cmd = "curl -sS -m 10 -o /dev/null -w '%{http_code}' -X " + method + " '" + url + "'";
  if (!body.empty()) cmd += " --data-binary @'" + tmp.write("req", body) + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return 0;
  std::string code;
  char buf[64];
  while (const std::size_t n = std::fread(buf, 1, sizeof(buf), p)) code.append(buf, n);
  ::pclose(p);
  return std::atoi(code.c_str());
}

// A `praetor agent` (-dev unless told otherwise) on its own address with a config dir (DNS on
// <address>:8600, HTTP on :8500). The destructor kills it by pid (BackgroundProcess).
class Agent {
 public:
  // `mode`: {"-dev"} (the default), or a server's/client's flags with a data_dir of their own.
  Agent(std::string address, const TempDir& dir, std::string node,
        std::vector<std::string> mode = {"-dev"})
      : address_(std::move(address)),
        dir_(dir.path()),
        node_(std::move(node)),
        mode_(std::move(mode)) {
    std::filesystem::create_directories(config_dir());
  }
  void write_config(const std::string& name, const std::string& text) const {
    std::ofstream(config_dir() + "/" + name) << text;
  }
  void start() {
    std::vector<std::string> args = {"agent", "-node=" + node_, "-bind=" + address_,
                                     "-client=" + address_, "-config-dir=" + config_dir()};
    args.insert(args.end(), mode_.begin(), mode_.end());
    process_ = std::make_unique<BackgroundProcess>(args, dir_ + "/agent-" + node_ + ".out",
                                                   dir_ + "/agent-" + node_ + ".log");
  }
  // Ready: the agent's own node answers over DNS (so the DNS listener is up and the catalog
  // has synced). Our process must still be running: another agent on the address would answer.
  bool wait_ready() {
    return eventually(
               [this] {
                 if (!process_->running()) return true;
                 const DigAnswer d = dig(address_, node_ + ".node.consul A");
                 return d.status == "NOERROR" && d.answer.size() == 1;
               },
               20s) &&
           process_->running();
  }
  std::string url(const std::string& path) const { return "http://" + address_ + ":8500" + path; }
  std::string log() const { return process_ ? process_->err() + process_->out() : ""; }
  const std::string& address() const { return address_; }
  const std::string& node() const { return node_; }

 private:
  std::string config_dir() const { return dir_ + "/config"; }
  std::string address_, dir_, node_;
  std::vector<std::string> mode_;
  std::unique_ptr<BackgroundProcess> process_;
};

// dnsmasq on <address>:<port> answering what `records` give ("--address=/example.test/192.0.2.7",
// "--host-record=...") and nothing else: no upstream, no /etc/hosts, so any other name is
// REFUSED. Killed by pid in the destructor.
class Dnsmasq {
 public:
  Dnsmasq(const std::string& address, int port, const std::vector<std::string>& records,
          const TempDir& dir)
      : log_(dir.path() + "/dnsmasq-" + std::to_string(port) + ".log") {
    const std::string base = dir.path() + "/dnsmasq-" + std::to_string(port);
    std::vector<std::string> args = {"/usr/sbin/dnsmasq",
                                     "--keep-in-foreground",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--no-poll",
                                     "--bind-interfaces",
                                     "--listen-address=" + address,
                                     "--port=" + std::to_string(port),
                                     "--pid-file=" + base + ".pid",
                                     "--log-facility=" + log_,
                                     "--log-queries"};
    args.insert(args.end(), records.begin(), records.end());
    if (::geteuid() == 0) args.insert(args.end(), {"--user=root", "--group=root"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const std::string out = base + ".out";
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    EXPECT_EQ(::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Dnsmasq() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;
  std::string log() const { return read_file(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
};

// The dev agent's datacenter, as /v1/catalog/datacenters names it.
std::string datacenter_of(const Agent& agent) {
  const Json doc = Json::parse(curl("GET", agent.url("/v1/catalog/datacenters")), nullptr, false);
  return doc.is_array() && !doc.empty() && doc[0].is_string() ? doc[0].get<std::string>()
                                                              : "<none>";
}

const std::string kSeedName = "w-3333-mysql-test";
const std::string kSeedAddress = "10.64.50.129";  // the seed's service file

// ---- 1. The seed's query -----------------------------------------------------------------------

TEST(DnsDigTest, SeedQueryIsAuthoritativeOneARecordTtlZero) {
  TempDir tmp;
  Agent agent("127.0.0.92", tmp, "seed-dns");
  // The seed's own service file, its check turned into one that passes (the script check of the
  // seed asks MySQL; cli_checks_test covers the flip).
  Json doc = Json::parse(read_file(testdata("w-3333-mysql-test.json")));
  doc["services"][0]["checks"][0]["script"] = "true";
  doc["services"][0]["checks"][0]["interval"] = "1s";
  agent.write_config("00-scripts.json", R"({"enable_local_script_checks": true})");
  agent.write_config("w-3333-mysql-test.json", doc.dump(2));
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();

  // Critical until its first run, then passing: wait for the answer, then read it closely.
  const std::string query = kSeedName + ".service.consul";
  ASSERT_TRUE(eventually([&] { return dig(agent.address(), query).status == "NOERROR"; }, 10s))
      << dig(agent.address(), query).text << agent.log();
  const DigAnswer d = dig(agent.address(), query);
  EXPECT_EQ(d.exit_code, 0) << d.text;
  EXPECT_EQ(d.status, "NOERROR") << d.text;
  EXPECT_TRUE(d.flags.contains("qr")) << d.text;
  EXPECT_TRUE(d.flags.contains("aa")) << d.text;
  ASSERT_EQ(d.answer.size(), 1u) << d.text;
  EXPECT_EQ(d.answer[0].name, query + ".");
  EXPECT_EQ(d.answer[0].type, "A");
  EXPECT_EQ(d.answer[0].ttl, 0);
  EXPECT_EQ(d.answer[0].data, kSeedAddress);
  // No recursors: RA clear, and dig says so (the seed's dig shows this warning).
  EXPECT_FALSE(d.flags.contains("ra")) << d.text;
  EXPECT_TRUE(d.has("recursion requested but not available")) << d.text;

  // The same over TCP, and case-insensitively with the query's case kept.
  const DigAnswer t = dig(agent.address(), "+tcp " + query);
  EXPECT_EQ(t.status, "NOERROR") << t.text;
  EXPECT_TRUE(t.flags.contains("aa")) << t.text;
  EXPECT_EQ(t.data_of("A"), std::vector<std::string>{kSeedAddress}) << t.text;
  EXPECT_TRUE(t.has("(TCP)")) << t.text;
  const DigAnswer upper = dig(agent.address(), "W-3333-MySQL-Test.Service.Consul");
  EXPECT_EQ(upper.data_of("A"), std::vector<std::string>{kSeedAddress}) << upper.text;
  ASSERT_EQ(upper.answer.size(), 1u) << upper.text;
  EXPECT_EQ(upper.answer[0].name, "W-3333-MySQL-Test.Service.Consul.") << upper.text;

  // An unknown service in the domain: NXDOMAIN with the SOA in AUTHORITY.
  const DigAnswer missing = dig(agent.address(), "no-such-service.service.consul");
  EXPECT_EQ(missing.status, "NXDOMAIN") << missing.text;
  EXPECT_TRUE(missing.answer.empty()) << missing.text;
  ASSERT_EQ(missing.authority.size(), 1u) << missing.text;
  EXPECT_EQ(missing.authority[0].type, "SOA") << missing.text;
}

// The seed's topology: the application asks its local client agent, which has the catalog only
// through the servers. The master flip of the seed (a flag file its check reads) moves the name.
TEST(DnsDigTest, SeedClientAgentAnswersFromTheServerAndFollowsTheMasterFlip) {
  TempDir tmp_server, tmp_client;
  Agent server("127.0.0.93", tmp_server, "seed-server",
               {"-server", "-bootstrap-expect=1", "-data-dir=" + tmp_server.path() + "/data"});
  Agent client(
      "127.0.0.94", tmp_client, "seed-client",
      {"-data-dir=" + tmp_client.path() + "/data", "-retry-join=127.0.0.93", "-retry-interval=1s"});
  const std::string flag = tmp_client.write("role", "master\n");
  auto seed_file = [&](const std::string& name, const std::string& tag, const std::string& role) {
    Json doc = Json::parse(read_file(testdata("w-3333-mysql-test.json")));
    doc["services"][0]["name"] = name;
    doc["services"][0]["tags"] = {tag};
    doc["services"][0]["checks"][0]["script"] =
        "test \"$(cat '" + flag + "')\" = " + role + " || exit 2";
    doc["services"][0]["checks"][0]["interval"] = "1s";
    return doc.dump(2);
  };
  client.write_config("00-scripts.json", R"({"enable_local_script_checks": true})");
  client.write_config("w.json", seed_file(kSeedName, "master-test-3333", "master"));
  client.write_config("r.json", seed_file("r-3333-mysql-test", "slave-test-3333", "replica"));
  server.start();
  client.start();
  ASSERT_TRUE(server.wait_ready()) << server.log();
  ASSERT_TRUE(client.wait_ready()) << client.log() << server.log();

  const std::string query = kSeedName + ".service.consul";
  ASSERT_TRUE(
      eventually([&] { return dig(client.address(), query).data_of("A").size() == 1; }, 10s))
      << dig(client.address(), query).text << client.log();
  const DigAnswer d = dig(client.address(), query);
  EXPECT_EQ(d.status, "NOERROR") << d.text;
  EXPECT_TRUE(d.flags.contains("aa")) << d.text;
  ASSERT_EQ(d.answer.size(), 1u) << d.text;
  EXPECT_EQ(d.answer[0].ttl, 0) << d.text;
  EXPECT_EQ(d.answer[0].data, kSeedAddress) << d.text;
  EXPECT_TRUE(d.has("recursion requested but not available")) << d.text;
  // The replica's check fails (exit 2): no healthy instance is NXDOMAIN with the SOA (Consul).
  const DigAnswer r = dig(client.address(), "r-3333-mysql-test.service.consul");
  EXPECT_EQ(r.status, "NXDOMAIN") << r.text;
  EXPECT_EQ(r.authority.size(), 1u) << r.text;
  // By tag, and the server itself as `consul`.
  EXPECT_EQ(dig(client.address(), "master-test-3333." + query).data_of("A"),
            std::vector<std::string>{kSeedAddress});
  EXPECT_EQ(dig(client.address(), "consul.service.consul").data_of("A"),
            std::vector<std::string>{"127.0.0.93"});

  // The switchover: the names follow within an interval and a sync.
  std::ofstream(flag) << "replica\n";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually(
      [&] {
        return dig(client.address(), query).status == "NXDOMAIN" &&
               dig(client.address(), "r-3333-mysql-test.service.consul").data_of("A") ==
                   std::vector<std::string>{kSeedAddress};
      },
      5s))
      << dig(client.address(), query).text << client.log();
  std::printf("the flip reached the client's DNS after %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - start)
                                         .count()));
}

// ---- 2. SRV ------------------------------------------------------------------------------------

TEST(DnsDigTest, SrvNamesTheNodeAndCarriesItsAddressInAdditional) {
  TempDir tmp;
  Agent agent("127.0.0.92", tmp, "srv-dns");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const std::string dc = datacenter_of(agent);
  // A node of its own with the service on it, no service address: the SRV target is the node.
  ASSERT_EQ(http("PUT", agent.url("/v1/catalog/register"),
                 R"({"Node":"mysql-1","Address":"10.64.58.45",
                     "Service":{"Service":"w-3333-mysql-test","Port":3306}})"),
            200);

  const std::string target = "mysql-1.node." + dc + ".consul.";
  for (const std::string& name :
       {kSeedName + ".service.consul", "_" + kSeedName + "._tcp.service.consul"}) {
    const DigAnswer d = dig(agent.address(), name + " SRV");
    EXPECT_EQ(d.status, "NOERROR") << d.text;
    EXPECT_TRUE(d.flags.contains("aa")) << d.text;
    ASSERT_EQ(d.answer.size(), 1u) << d.text;
    EXPECT_EQ(d.answer[0].name, name + ".");
    EXPECT_EQ(d.answer[0].type, "SRV");
    EXPECT_EQ(d.answer[0].ttl, 0);
    // priority weight port target
    EXPECT_EQ(d.answer[0].data, "1 1 3306 " + target) << d.text;
    bool glue = false;
    for (const Rr& r : d.additional) {
      if (r.name == target && r.type == "A") {
        glue = true;
        EXPECT_EQ(r.data, "10.64.58.45") << d.text;
        EXPECT_EQ(r.ttl, 0) << d.text;
      }
    }
    EXPECT_TRUE(glue) << "the target's A record in ADDITIONAL:\n" << d.text;
  }
  // The target resolves on its own too.
  const DigAnswer node = dig(agent.address(), target + " A");
  EXPECT_EQ(node.data_of("A"), std::vector<std::string>{"10.64.58.45"}) << node.text;
}

// ---- 3. Truncation and the TCP fallback --------------------------------------------------------

TEST(DnsDigTest, FiftyInstancesTruncateOverUdpAndArriveWholeOverTcp) {
  TempDir tmp;
  Agent agent("127.0.0.93", tmp, "trunc-dns");
  agent.write_config("dns.json", R"({"dns_config": {"enable_truncate": true}})");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  std::set<std::string> all;
  for (int i = 1; i <= 50; ++i) {
    const std::string address = "10.77.0." + std::to_string(i);
    all.insert(address);
    ASSERT_EQ(http("PUT", agent.url("/v1/catalog/register"),
                   R"({"Node":"web-)" + std::to_string(i) + R"(","Address":")" + address +
                       R"(","Service":{"Service":"web","Port":80}})"),
              200);
  }
  auto as_set = [](const std::vector<std::string>& v) {
    return std::set<std::string>(v.begin(), v.end());
  };

  // UDP without EDNS, TC ignored: Consul's rule (D52) is udp_answer_limit (3) answers of a
  // 512-octet UDP answer, TC set because enable_truncate is on and answers were dropped.
  const DigAnswer udp = dig(agent.address(), "+noedns +ignore web.service.consul A");
  EXPECT_EQ(udp.status, "NOERROR") << udp.text;
  EXPECT_TRUE(udp.flags.contains("tc")) << udp.text;
  EXPECT_TRUE(udp.flags.contains("aa")) << udp.text;
  EXPECT_EQ(udp.answer.size(), 3u) << udp.text;
  for (const std::string& a : udp.data_of("A")) EXPECT_TRUE(all.contains(a)) << a;
  EXPECT_EQ(as_set(udp.data_of("A")).size(), udp.answer.size()) << "distinct addresses";
  // Random order per query: the three are not always the same ones.
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) {
    for (const auto& a :
         dig(agent.address(), "+noedns +ignore web.service.consul A").data_of("A")) {
      seen.insert(a);
    }
  }
  EXPECT_GT(seen.size(), 3u) << "ten truncated answers all named the same instances";

  // Plain dig without EDNS retries over TCP on TC and gets all 50.
  const DigAnswer retried = dig(agent.address(), "+noedns web.service.consul A");
  EXPECT_TRUE(retried.has("Truncated, retrying in TCP mode")) << retried.text;
  EXPECT_EQ(retried.status, "NOERROR") << retried.text;
  EXPECT_FALSE(retried.flags.contains("tc")) << retried.text;
  EXPECT_EQ(retried.answer.size(), 50u) << retried.text;
  EXPECT_EQ(as_set(retried.data_of("A")), all) << retried.text;

  // +tcp from the start.
  const DigAnswer tcp = dig(agent.address(), "+tcp web.service.consul A");
  EXPECT_EQ(tcp.status, "NOERROR") << tcp.text;
  EXPECT_FALSE(tcp.flags.contains("tc")) << tcp.text;
  EXPECT_TRUE(tcp.has("(TCP)")) << tcp.text;
  EXPECT_EQ(as_set(tcp.data_of("A")), all) << tcp.text;
  EXPECT_EQ(tcp.answer.size(), 50u) << tcp.text;

  // dig's default (EDNS, 1232 octets): 50 A records fit, no TC, no limit (udp_answer_limit is
  // for 512-octet answers only).
  const DigAnswer edns = dig(agent.address(), "web.service.consul A");
  EXPECT_EQ(edns.status, "NOERROR") << edns.text;
  EXPECT_FALSE(edns.flags.contains("tc")) << edns.text;
  EXPECT_EQ(as_set(edns.data_of("A")), all) << edns.text;

  // SRV over UDP without EDNS: also 3 answers with TC, and only their targets in ADDITIONAL.
  const DigAnswer srv = dig(agent.address(), "+noedns +ignore web.service.consul SRV");
  EXPECT_TRUE(srv.flags.contains("tc")) << srv.text;
  EXPECT_LE(srv.answer.size(), 3u) << srv.text;
  EXPECT_GE(srv.answer.size(), 1u) << srv.text;
  std::set<std::string> targets, glue;
  for (const Rr& r : srv.answer) targets.insert(r.data.substr(r.data.rfind(' ') + 1));
  for (const Rr& r : srv.additional) {
    if (r.type == "A") glue.insert(r.name);
  }
  EXPECT_TRUE(std::includes(targets.begin(), targets.end(), glue.begin(), glue.end())) << srv.text;
  // ... and all 50 over TCP.
  EXPECT_EQ(dig(agent.address(), "+tcp web.service.consul SRV").answer.size(), 50u);

  // Without enable_truncate (Consul's default) the UDP answer is trimmed silently: no TC, so a
  // client does not retry over TCP. dns_config follows `praetor reload`, and so does the limit.
  agent.write_config("dns.json", R"({"dns_config": {"udp_answer_limit": 5}})");
  const ProcessResult reload = run_praetor({"reload", "-http-addr=" + agent.address() + ":8500"});
  ASSERT_EQ(reload.exit_code, 0) << reload.out << reload.err;
  ASSERT_TRUE(eventually(
      [&] {
        return dig(agent.address(), "+noedns +ignore web.service.consul A").answer.size() == 5;
      },
      5s))
      << dig(agent.address(), "+noedns +ignore web.service.consul A").text << agent.log();
  const DigAnswer quiet = dig(agent.address(), "+noedns web.service.consul A");
  EXPECT_FALSE(quiet.flags.contains("tc")) << quiet.text;
  EXPECT_FALSE(quiet.has("Truncated")) << quiet.text;
  EXPECT_EQ(quiet.answer.size(), 5u) << quiet.text;
}

// ---- 4. Recursors ------------------------------------------------------------------------------

TEST(DnsDigTest, RecursorsAreTriedInTurnAndNoneAliveIsServfail) {
  TempDir tmp;
  // example.test, and big.test with 120 A records: an answer too big for any UDP answer.
  std::vector<std::string> records = {"--address=/example.test/192.0.2.7"};
  std::set<std::string> big;
  for (int i = 1; i <= 120; ++i) {
    big.insert("10.9.0." + std::to_string(i));
    records.push_back("--host-record=big.test,10.9.0." + std::to_string(i));
  }
  Dnsmasq dnsmasq("127.0.0.95", 5353, records, tmp);
  ASSERT_TRUE(eventually(
      [&] { return dig("127.0.0.95", "example.test A", 5353).data_of("A").size() == 1; }, 10s))
      << dig("127.0.0.95", "example.test A", 5353).text << dnsmasq.log();

  // The first recursor is dead (nothing listens on .96), the second is dnsmasq.
  TempDir tmp_live;
  Agent agent("127.0.0.94", tmp_live, "recurse-dns");
  agent.write_config("dns.json", R"({"recursors": ["127.0.0.96:5353", "127.0.0.95:5353"],
                                     "dns_config": {"recursor_timeout": "1s"}})");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  {
    const auto start = std::chrono::steady_clock::now();
    const DigAnswer d = dig(agent.address(), "example.test A", 8600, "+time=5 +tries=1");
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(d.status, "NOERROR") << d.text << agent.log();
    EXPECT_TRUE(d.flags.contains("ra")) << d.text;
    EXPECT_EQ(d.data_of("A"), std::vector<std::string>{"192.0.2.7"}) << d.text;
    ASSERT_EQ(d.answer.size(), 1u) << d.text;
    EXPECT_EQ(d.answer[0].name, "example.test.");
    EXPECT_FALSE(d.has("recursion requested but not available")) << d.text;
    // The dead recursor had its second first.
    EXPECT_GE(took, 900ms) << d.text;
    std::printf("recursion past a dead recursor took %lld ms\n",
                static_cast<long long>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  }
  // Over TCP to the agent too (it asks the recursors over UDP), and its own names still
  // authoritative, now with RA.
  const DigAnswer t = dig(agent.address(), "+tcp example.test A", 8600, "+time=5 +tries=1");
  EXPECT_EQ(t.data_of("A"), std::vector<std::string>{"192.0.2.7"}) << t.text;
  const DigAnswer own = dig(agent.address(), agent.node() + ".node.consul A");
  EXPECT_TRUE(own.flags.contains("aa")) << own.text;
  EXPECT_TRUE(own.flags.contains("ra")) << own.text;
  EXPECT_TRUE(dnsmasq.log().find("example.test") != std::string::npos) << dnsmasq.log();

  // An answer too big for UDP: over TCP the agent asks the recursor over TCP (as Consul) and all
  // 120 records arrive; plain dig without EDNS gets TC over UDP and retries over TCP.
  auto as_set = [](const std::vector<std::string>& v) {
    return std::set<std::string>(v.begin(), v.end());
  };
  const DigAnswer whole = dig(agent.address(), "+tcp big.test A", 8600, "+time=5 +tries=1");
  EXPECT_EQ(whole.status, "NOERROR") << whole.text;
  EXPECT_FALSE(whole.flags.contains("tc")) << whole.text;
  EXPECT_EQ(whole.answer.size(), 120u) << whole.text;
  EXPECT_EQ(as_set(whole.data_of("A")), big) << whole.text;
  const DigAnswer retried = dig(agent.address(), "+noedns big.test A", 8600, "+time=5 +tries=1");
  EXPECT_TRUE(retried.has("Truncated, retrying in TCP mode")) << retried.text;
  EXPECT_FALSE(retried.flags.contains("tc")) << retried.text;
  EXPECT_EQ(as_set(retried.data_of("A")), big) << retried.text;
  const DigAnswer udp =
      dig(agent.address(), "+noedns +ignore big.test A", 8600, "+time=5 +tries=1");
  EXPECT_TRUE(udp.flags.contains("tc")) << udp.text;
  EXPECT_LT(udp.answer.size(), 120u) << udp.text;

  // Only the dead recursor: SERVFAIL after its timeout, RA still set.
  TempDir tmp_dead;
  Agent dead("127.0.0.97", tmp_dead, "deadrec-dns");
  dead.write_config("dns.json", R"({"recursors": ["127.0.0.96:5353"],
                                    "dns_config": {"recursor_timeout": "1s"}})");
  dead.start();
  ASSERT_TRUE(dead.wait_ready()) << dead.log();
  const DigAnswer fail = dig(dead.address(), "example.test A", 8600, "+time=5 +tries=1");
  EXPECT_EQ(fail.status, "SERVFAIL") << fail.text << dead.log();
  EXPECT_TRUE(fail.answer.empty()) << fail.text;
  EXPECT_TRUE(fail.flags.contains("ra")) << fail.text;

  // No recursors at all: REFUSED (resolver.hpp, D53), RA clear, dig's warning.
  TempDir tmp_none;
  Agent none("127.0.0.98", tmp_none, "norec-dns");
  none.start();
  ASSERT_TRUE(none.wait_ready()) << none.log();
  const DigAnswer refused = dig(none.address(), "example.test A");
  EXPECT_EQ(refused.status, "REFUSED") << refused.text;
  EXPECT_TRUE(refused.answer.empty()) << refused.text;
  EXPECT_FALSE(refused.flags.contains("ra")) << refused.text;
  EXPECT_TRUE(refused.has("recursion requested but not available")) << refused.text;
}

// Consul passes over a recursor whose answer is neither NOERROR nor NXDOMAIN (SERVFAIL, REFUSED,
// ...) as over one that does not answer, and gives SERVFAIL when no recursor is left
// (agent/dns.go handleRecurse: "we move forward onto the next one"). A dnsmasq without the name
// and without upstreams answers REFUSED.
TEST(DnsDigTest, ARecursorThatRefusesIsPassedOverAsConsulDoes) {
  TempDir tmp;
  Dnsmasq live("127.0.0.95", 5353, {"--address=/example.test/192.0.2.7"}, tmp);
  // `--address=/nx.test/` (no address): NXDOMAIN for nx.test; REFUSED for everything else.
  Dnsmasq refusing("127.0.0.95", 5354, {"--address=/nx.test/"}, tmp);
  ASSERT_TRUE(eventually(
      [&] {
        return dig("127.0.0.95", "example.test A", 5353).data_of("A").size() == 1 &&
               dig("127.0.0.95", "nx.test A", 5354).status == "NXDOMAIN";
      },
      10s))
      << live.log() << refusing.log();
  ASSERT_EQ(dig("127.0.0.95", "example.test A", 5354).status, "REFUSED");

  TempDir tmp_both;
  Agent agent("127.0.0.94", tmp_both, "refused-then-live");
  agent.write_config("dns.json", R"({"recursors": ["127.0.0.95:5354", "127.0.0.95:5353"],
                                     "dns_config": {"recursor_timeout": "1s"}})");
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();
  const DigAnswer d = dig(agent.address(), "example.test A", 8600, "+time=5 +tries=1");
  EXPECT_EQ(d.status, "NOERROR") << d.text << agent.log();
  EXPECT_EQ(d.data_of("A"), std::vector<std::string>{"192.0.2.7"}) << d.text;
  EXPECT_TRUE(d.flags.contains("ra")) << d.text;
  // NXDOMAIN is an answer: the first recursor's is relayed, the second is not asked.
  const DigAnswer nx = dig(agent.address(), "nx.test A", 8600, "+time=5 +tries=1");
  EXPECT_EQ(nx.status, "NXDOMAIN") << nx.text << agent.log();

  TempDir tmp_only;
  Agent only("127.0.0.97", tmp_only, "only-refusing");
  only.write_config("dns.json", R"({"recursors": ["127.0.0.95:5354"],
                                    "dns_config": {"recursor_timeout": "1s"}})");
  only.start();
  ASSERT_TRUE(only.wait_ready()) << only.log();
  const DigAnswer f = dig(only.address(), "example.test A", 8600, "+time=5 +tries=1");
  EXPECT_EQ(f.status, "SERVFAIL") << f.text << only.log();
  EXPECT_TRUE(f.flags.contains("ra")) << f.text;
  EXPECT_EQ(dig(only.address(), "nx.test A", 8600, "+time=5 +tries=1").status, "NXDOMAIN");
}

// ---- 5. A check flip ---------------------------------------------------------------------------

// The status of a check as the catalog has it (what a server's DNS reads), or "<absent>".
std::string catalog_status(const Agent& agent, const std::string& service, const std::string& id) {
  const Json doc =
      Json::parse(curl("GET", agent.url("/v1/health/checks/" + service)), nullptr, false);
  if (!doc.is_array()) return "<error>";
  for (const Json& c : doc) {
    if (c.is_object() && c.value("CheckID", "") == id) return c.value("Status", "<none>");
  }
  return "<absent>";
}

TEST(DnsDigTest, AFailingCheckTakesItsAddressOutOfTheNextAnswerAndBack) {
  TempDir tmp;
  const std::string flag_a = tmp.write("flag-a", "up\n");
  const std::string flag_b = tmp.write("flag-b", "up\n");
  Agent agent("127.0.0.99", tmp, "flip-dns");
  agent.write_config("00-scripts.json", R"({"enable_local_script_checks": true})");
  auto service = [](const std::string& id, const std::string& address, const std::string& script) {
    Json doc = {{"service",
                 {{"id", id},
                  {"name", "db"},
                  {"address", address},
                  {"port", 5432},
                  {"check", {{"args", {"sh", "-c", script}}, {"interval", "1s"}}}}}};
    return doc.dump(2);
  };
  // A script's exit 1 is warning and 2 or more critical (Consul): db-a goes critical without its
  // flag, db-b (a plain `test -e`, exit 1) only warning.
  agent.write_config("db-a.json",
                     service("db-a", "192.0.2.10", "test -e '" + flag_a + "' || exit 2"));
  agent.write_config("db-b.json", service("db-b", "192.0.2.11", "test -e '" + flag_b + "'"));
  agent.start();
  ASSERT_TRUE(agent.wait_ready()) << agent.log();

  auto addresses = [&] {
    const DigAnswer d = dig(agent.address(), "db.service.consul A");
    const auto v = d.data_of("A");
    return std::set<std::string>(v.begin(), v.end());
  };
  const std::set<std::string> both = {"192.0.2.10", "192.0.2.11"};
  const std::set<std::string> only_b = {"192.0.2.11"};
  ASSERT_TRUE(eventually([&] { return addresses() == both; }, 10s))
      << dig(agent.address(), "db.service.consul A").text << agent.log();

  auto ms_since = [](std::chrono::steady_clock::time_point t) {
    return static_cast<long long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
            .count());
  };
  for (int round = 0; round < 2; ++round) {
    std::filesystem::remove(flag_a);
    auto start = std::chrono::steady_clock::now();
    // interval (1 s) + the sync + dig: 5 s is the failure guard, not a wait.
    ASSERT_TRUE(eventually([&] { return addresses() == only_b; }, 5s))
        << dig(agent.address(), "db.service.consul A").text << agent.log();
    std::printf("round %d: db-a out of the A answer after %lld ms\n", round, ms_since(start));
    EXPECT_EQ(catalog_status(agent, "db", "service:db-a"), "critical");
    // Out of SRV too: one answer, db-b's.
    const DigAnswer srv = dig(agent.address(), "db.service.consul SRV");
    ASSERT_EQ(srv.answer.size(), 1u) << srv.text;
    EXPECT_EQ(srv.answer[0].data, "1 1 5432 c000020b.addr.dc1.consul.") << srv.text;

    std::ofstream(flag_a) << "up\n";
    start = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return addresses() == both; }, 5s))
        << dig(agent.address(), "db.service.consul A").text << agent.log();
    std::printf("round %d: db-a back in the A answer after %lld ms\n", round, ms_since(start));
  }

  // A warning instance stays in the answer (only_passing is off by default, as in Consul).
  std::filesystem::remove(flag_b);
  ASSERT_TRUE(
      eventually([&] { return catalog_status(agent, "db", "service:db-b") == "warning"; }, 5s))
      << agent.log();
  EXPECT_EQ(addresses(), both) << dig(agent.address(), "db.service.consul A").text;

  // No instance left but a warning one: still answered; with db-b back to passing as well.
  std::filesystem::remove(flag_a);
  ASSERT_TRUE(eventually([&] { return addresses() == only_b; }, 5s))
      << dig(agent.address(), "db.service.consul A").text;
  std::ofstream(flag_a) << "up\n";
  std::ofstream(flag_b) << "up\n";
  EXPECT_TRUE(eventually([&] { return addresses() == both; }, 5s))
      << dig(agent.address(), "db.service.consul A").text;
}

}  // namespace
}  // namespace praetor_cli_test
