// Scenario files: a line-based text description of one simulator story (topology, joins,
// services, workload, a fault timeline and expectations) that praetor-sim runs by seed. The
// format is documented in docs/testing.md ("Scenario files"); tests/scenarios/ holds examples.
//
// Parsing is pure (text in, ScenarioFile or errors out) and never crashes on a bad file: every
// error names the file, the line and what is wrong ("x.scenario:12: unknown action 'explode'").
// Cross-references (a node named by an action exists, a kill names a datacenter with servers)
// are checked after the whole file is read, and those errors point at the line that refers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/instant.hpp"
#include "sim/scenario.hpp"

namespace praetor::sim {

struct FileNode {
  std::string name;
  std::string address;
  std::string datacenter;
  bool server = false;
  std::vector<std::string> retry_join;      // node names (resolved to addresses at run time)
  std::vector<std::string> retry_join_wan;  // node names
  int line = 0;
};

// A service carried by client agents, with a script check whose scripted outcome follows the
// scenario's database state: a "master" service passes on the master host, a "replica" service
// on every other host whose database is up.
struct FileService {
  enum class Role : std::uint8_t { kMaster, kReplica };
  std::string name;
  Role role = Role::kMaster;
  int port = 0;
  std::vector<std::string> tags;
  Duration interval = Duration::seconds(5);
  std::vector<std::string> nodes;  // client agents carrying it
  int line = 0;
};

// One simulated KV client: one request at a time through `node`'s HTTP API, every `every`.
struct FileKvClient {
  std::string node;
  Duration every = Duration::milliseconds(200);
  std::size_t keys = 3;
  int read_percent = 0;  // GET ?consistent instead of a PUT
  std::string prefix = "app/k";
  Duration timeout = Duration::seconds(5);  // the client gives up; the write's fate is unknown
  Duration from = Duration::zero();         // when it starts
  int line = 0;
};

// An application resolving `name` (A records) through `node`'s DNS port every `every`.
struct FileDnsProbe {
  std::string node;
  std::string name;
  Duration every = Duration::milliseconds(100);
  int line = 0;
};

struct FileAction {
  enum class Kind : std::uint8_t {
    kFlip,            // target: the new master host
    kDbDown,          // target: host whose database stops answering (every check critical)
    kDbUp,            // target
    kPartition,       // sides
    kHeal,            //
    kKillLeader,      // target: datacenter; optional `duration` until restart
    kCrash,           // target: node; optional `duration` until restart
    kRestart,         // target: node
    kStop,            // target: node (graceful, SIGINT)
    kSkew,            // target: node; amount: wall-clock skew
    kDrift,           // target: node; ppm
    kLoss,            // percent
    kRollingRestart,  // target: datacenter; duration: down time; every: gap between servers
    kRegister,        // target: node; service, port
    kDeregister,      // target: node; service
  };
  Kind kind = Kind::kHeal;
  Instant at;
  std::string target;
  std::vector<std::vector<std::string>> sides;  // kPartition: datacenter or node names per side
  std::optional<Duration> duration;
  Duration every = Duration::zero();
  Duration amount = Duration::zero();
  std::int64_t ppm = 0;
  double percent = 0;
  std::string service;
  int port = 0;
  bool crash = false;  // kRollingRestart: crash instead of a graceful stop
  int line = 0;
};

// A bound written as a sum of durations and the keyword `interval` (the service's check
// interval), e.g. "interval + 2s".
struct FileBound {
  Duration fixed = Duration::zero();
  int intervals = 0;
  Duration resolve(Duration interval) const {
    return fixed + Duration::nanoseconds(interval.count_ns() * intervals);
  }
};

struct FileExpectation {
  enum class Kind : std::uint8_t {
    kFailover,      // service at node within bound: DNS follows every flip
    kLinearizable,  // the KV history of each datacenter
    kNoLostWrites,  // every acknowledged PUT readable (it or a later value) at the end
    kServing,       // datacenter keeps serving its KV and DNS clients during partitions
    kLeader,        // datacenter never leaderless (after its first election) longer than bound
    kWanAlive,      // after each heal, every running server sees every server alive (WAN)
    kCrossDc,       // DNS for another datacenter's name (see docs): needs WAN forwarding
  };
  Kind kind = Kind::kLinearizable;
  std::string service;     // kFailover
  std::string name;        // kCrossDc: the DNS name asked
  std::string node;        // kFailover, kCrossDc: where DNS is asked
  std::string datacenter;  // kServing, kLeader
  FileBound bound;         // kFailover, kLeader, kWanAlive; kCrossDc: answer after heal
  Duration servfail_bound = Duration::seconds(5);  // kCrossDc: any answer while partitioned
  Duration every = Duration::milliseconds(500);    // kCrossDc: query period
  int min_percent = 80;                            // kServing
  int line = 0;
};

struct ScenarioFile {
  std::string file;  // as given to the parser, for messages
  std::string name;
  std::string description;
  Duration duration = Duration::seconds(60);
  int raft_multiplier = 1;
  Duration retry_interval = Duration::seconds(1);
  bool invariants = true;
  std::vector<FileNode> nodes;
  std::vector<FileService> services;
  std::string initial_master;
  std::vector<FileKvClient> kv;
  std::vector<FileDnsProbe> dns;
  std::vector<FileAction> actions;  // sorted by time (stable: file order at equal times)
  std::vector<FileExpectation> expectations;

  const FileNode* node(std::string_view name) const;
  std::vector<std::string> datacenters() const;  // in order of first appearance
  std::vector<const FileNode*> servers_in(std::string_view datacenter) const;
};

struct ScenarioParse {
  std::optional<ScenarioFile> scenario;
  std::vector<std::string> errors;  // "file:line: message", in line order
};

// Parses `text`; `file` names it in messages. At most 20 errors are reported.
ScenarioParse parse_scenario_file(std::string_view text, std::string file);

// What a run of a scenario file shows besides its verdict (praetor-sim prints it).
struct FileRunResult {
  ScenarioResult result;
  std::vector<std::string> timeline;      // "t=12.345 text", in time order (when kept)
  std::vector<std::string> measurements;  // failover times and other figures, one per line
  // The largest of each measured time ("failover w-3333-mysql-test at client1", "leaderless
  // shenzhen", "wan alive after heal"), for sweeps to report the worst seed.
  std::map<std::string, Duration> worst;
};

// Reads the file at `path` and parses it (an unreadable file is an error like any other).
ScenarioParse read_scenario_file(const std::string& path);

// "30s", "1.5s", "500ms", "2m", "1m30s", "100us": a non-negative duration.
std::optional<Duration> parse_scenario_duration(std::string_view text);

}  // namespace praetor::sim
