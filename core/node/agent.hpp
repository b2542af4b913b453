// The agent: the deterministic node that a host runs. It owns the catalog state machine and the
// commit path, routes HTTP requests, and parks blocking queries until an index moves or their
// wait expires. All effects go through the Env given at start().
//
// Commit path. Writes become catalog::Command entries handed to commit(), which proposes them to
// Raft (server_role.cpp). The Ready loop persists through RaftStorage (the WAL), sends, applies
// committed entries to the catalog FSM and answers the request that proposed each one. A -dev
// agent keeps its log in memory and handles each Ready at once; a server with a data_dir answers
// only after the host reports the batch durable (on_written).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/base/rng.hpp"
#include "core/catalog/fsm.hpp"
#include "core/catalog/session_timers.hpp"
#include "core/dns/resolver.hpp"
#include "core/gossip/serf.hpp"
#include "core/node/config.hpp"
#include "core/node/dns_cache.hpp"
#include "core/node/forwarder.hpp"
#include "core/node/local_state.hpp"
#include "core/node/process.hpp"
#include "core/node/raft_log_names.hpp"
#include "core/node/raft_storage.hpp"
#include "core/node/render_cache.hpp"
#include "core/node/rpc.hpp"
#include "core/raft/raft.hpp"

namespace praetor::node {

inline constexpr std::string_view kVersion = "0.1.0";

// Raft knows servers by 64-bit ids; agents are known by UUIDs. A server's Raft id is a stable
// hash of its node id (never 0, which Raft reserves for "nobody").
NodeId raft_node_id(std::string_view node_uuid);

// A random (version 4) UUID from the agent's seeded Rng: node ids, session ids, event ids.
std::string make_uuid(Rng& rng);

// A server as the agent knows it: from its LAN gossip tags, or from the peers file a server
// keeps so that Raft can reach its peers before gossip has found them again after a restart.
struct ServerInfo {
  std::string name;
  std::string node_id;      // UUID
  std::string datacenter;
  std::string address;      // "ip:port" of its server RPC
  std::uint64_t raft_id = 0;
  std::uint32_t bootstrap_expect = 0;
  bool bootstrapped = false;  // has Raft state (the raft_state gossip tag)
  friend bool operator==(const ServerInfo&, const ServerInfo&) = default;
};

class Agent final : public Process {
 public:
  // A user event as this agent keeps it (/v1/event/list).
  struct UserEventRecord {
    std::string id;
    std::string name;
    Bytes payload;
    std::string node_filter;
    std::string service_filter;
    std::string tag_filter;
    std::uint64_t ltime = 0;
    std::uint64_t index = 0;  // folded from id
  };
  static constexpr std::size_t kMaxUserEvents = 256;  // Consul keeps the last 256

  explicit Agent(AgentConfig config);

  void start(Env& env) override;
  void on_frame(const Endpoint& from, Channel channel, Bytes payload) override;
  void on_written(Ticket ticket, Result<void> result) override;
  void on_wake(Instant now) override;
  void on_check_result(CheckRunId id, ExecResult result) override;
  void on_client_request(RequestId id, HttpRequest request) override;
  void stop(StopReason reason) override;

  // SIGHUP / PUT /v1/agent/reload with a freshly loaded configuration. An error means the new
  // configuration was refused and the old one stays in force. Either way, every PUT
  // /v1/agent/reload waiting for the outcome is answered (200, or 500 with the reason).
  Result<void> reload(AgentConfig config);
  // The host could not load the configuration sources (the file and key are in `message`).
  void reload_failed(const std::string& message);

  const AgentConfig& config() const { return config_; }
  const catalog::Fsm& fsm() const { return fsm_; }
  const DnsAnswerCache& dns_cache() const { return dns_cache_; }
  const std::string& node_id() const { return node_id_; }
  std::optional<std::string> leader_address() const;
  std::size_t parked_requests() const { return parked_.size(); }
  // Raft's view, for tests and the simulator's checkers (kFollower / term 0 on clients).
  raft::Role raft_role() const { return raft_ ? raft_->role() : raft::Role::kFollower; }
  Term raft_term() const { return raft_ ? raft_->term() : Term(0); }
  // The Raft core, read-only (nullptr on client agents).
  const raft::Raft* raft() const { return raft_ ? &*raft_ : nullptr; }
  // Whether the server with this node id (UUID) is in the Raft configuration.
  bool raft_has_member(std::string_view node_uuid) const;
  // The gossip pools (nullptr when not running: the WAN pool runs on servers only).
  const gossip::Serf* lan() const { return lan_.serf ? &*lan_.serf : nullptr; }
  const gossip::Serf* wan() const { return wan_.serf ? &*wan_.serf : nullptr; }
  // The agent's own services and checks (from config files and /v1/agent/*).
  const LocalState& local() const { return local_; }
  void check_invariants() const;

 private:
  // The index a read reflects and a blocking query waits on (a table's, a key's, a prefix's):
  // computed from the catalog as it is, so a parked query can ask again after every apply.
  using Watch = std::function<std::uint64_t(const catalog::Fsm&)>;
  // Builds a read's response from the catalog as it is; serve_read adds the index headers.
  using Render = std::function<HttpResponse()>;
  // Turns a committed command's result into the client's answer (default: `true`/`false`, or
  // 500 with the refusal's text).
  using Answer = std::function<HttpResponse(const catalog::ApplyResult&)>;
  // Opaque indexes (user events: an index derived from the last event's id) are not ordered: the
  // query waits while the index equals ?index and wakes when it differs.
  enum class IndexOrder { kMonotonic, kOpaque };

  // A blocking query waiting for its watched index to pass min_index, or for its deadline.
  struct Parked {
    HttpRequest request;
    std::uint64_t min_index = 0;
    Instant deadline;
    Watch watch;
    IndexOrder order = IndexOrder::kMonotonic;
    std::string group;  // its WatchGroup's key (blocking.cpp)
    static bool waiting(std::uint64_t index, std::uint64_t min_index, IndexOrder order) {
      return order == IndexOrder::kOpaque ? index == min_index : index <= min_index;
    }
    bool waiting(const catalog::Fsm& fsm) const { return waiting(watch(fsm), min_index, order); }
  };
  // A proposal waiting for its entry to commit.
  struct Pending {
    RequestId request;
    Term term;
    Answer answer;  // empty: the default answer
  };

  // agent.cpp: control flow.
  void commit(RequestId id, catalog::Command command, Answer answer = {});
  // Every read handler ends here: parses ?index/?wait (400 when malformed), parks the request
  // while watch() has not passed ?index (it is routed again when it moves or its wait ends),
  // else responds with render() and the X-Consul-* headers for watch()'s index. `cacheable`
  // reuses an answer rendered at the same index (render_cache.hpp says which reads may).
  void serve_read(RequestId id, HttpRequest& request, const Watch& watch, const Render& render,
                  IndexOrder order = IndexOrder::kMonotonic, bool cacheable = false);
  void wake_parked(Instant now, bool expired_only);
  void unpark(RequestId id, Parked& parked);
  void arm_timer();
  void respond(RequestId id, HttpResponse response);
  void decorate(HttpResponse& response, std::uint64_t index) const;
  std::string server_address() const;
  std::string advertise_address() const;
  void restore_identity(const StoredFiles& files);

  // server_role.cpp: Raft.
  void start_server(const StoredFiles& files);
  void drive_raft();
  void finish_ready(raft::Ready ready);
  // Before a Ready's batch is durable (syncing) or without one: what need not wait for it.
  void start_ready(raft::Ready& ready, bool syncing, const raft::HardState& durable);
  void take_reads(raft::Ready& ready);
  void send_raft_message(const raft::Message& m);
  void apply_committed(const raft::Entry& entry);
  void on_role_change(const raft::SoftState& soft);
  void maybe_compact();
  bool is_leader() const;
  std::size_t raft_peer_count() const;
  void restore_raft(raft::PersistentState state);

  // gossip_role.cpp: the LAN and WAN Serf pools, joins, leave, member events.
  struct Pool {
    bool wan = false;
    std::optional<gossip::Serf> serf;
    Channel packets = Channel::kGossipLan;
    Channel streams = Channel::kGossipLanStream;
    std::vector<gossip::Address> retry_join;  // retried until one join succeeds
    Duration retry_interval = Duration::seconds(30);
    int retry_max = 0;      // 0: forever
    int retry_attempts = 0;
    Instant next_retry = Instant::never();
    std::size_t retry_members = 0;  // alive members when the last attempt started
    // PUT /v1/agent/join waits for the joined address to show up alive.
    struct JoinWait {
      RequestId request;
      gossip::Address address;
      Instant deadline;
    };
    std::vector<JoinWait> join_waits;
    Instant snapshot_due = Instant::never();  // the member snapshot is rewritten then
    gossip::Tags tags;                        // as last announced
  };
  void start_gossip(const StoredFiles& files);
  void start_pool(Pool& pool, const StoredFiles& files, Instant now);
  void on_gossip_frame(const Endpoint& from, Channel channel, Bytes payload);
  void drive_gossip(Pool& pool, Instant now);
  void on_serf_event(Pool& pool, const gossip::SerfEvent& event, Instant now);
  gossip::Tags gossip_tags(bool wan) const;
  bool has_raft_state() const;
  void refresh_gossip_tags(Instant now);
  void attempt_retry_join(Pool& pool, Instant now);
  std::vector<gossip::Address> join_addresses(const std::vector<std::string>& list,
                                              int default_port) const;
  void answer_join_waits(Pool& pool, Instant now);
  void save_member_snapshot(Pool& pool);
  std::optional<ServerInfo> server_from_member(const gossip::SerfMember& m) const;
  bool server_alive(NodeId id) const;
  void handle_join(RequestId id, HttpRequest& request);
  void handle_force_leave(RequestId id, HttpRequest& request);
  std::string members_json(bool wan) const;
  std::vector<std::string> known_datacenters() const;
  void gossip_wake(Instant now);
  Instant gossip_deadline() const;
  void begin_leave(Instant now);
  void finish_stop();

  // cluster.cpp: servers finding each other, Raft transport, forwarding to the leader.
  void on_rpc(const Endpoint& from, RpcFrame frame);
  void send_rpc(const std::string& address, const RpcFrame& frame);
  void log_no_leader(Instant now);
  void merge_server(const ServerInfo& info);
  void maybe_bootstrap_expect();
  void save_servers();
  void load_servers(const StoredFiles& files);
  void forward_to_leader(RequestId id, HttpRequest request);
  void forward_to_server(RequestId id, HttpRequest request);
  // A request naming another datacenter (`?dc=`), on a server: to an alive server of that
  // datacenter from the WAN pool, or 500 "No path to datacenter".
  void forward_to_datacenter(RequestId id, const std::string& datacenter, HttpRequest request);
  void forward(RequestId id, HttpRequest request, const std::string& to, bool from_client,
               std::string datacenter = {});
  void fail_forwards(std::string_view why);
  void expire_forwards(Instant now);
  void start_consistent_read(RequestId id, HttpRequest request);
  bool start_read_batch();
  void serve_ready_reads();
  void raft_configuration(RequestId id, HttpRequest& request);
  void raft_remove_peer(RequestId id, HttpRequest& request);
  std::optional<std::string> address_of(NodeId id) const;

  // reconcile.cpp: the leader's reconciliation (autopilot), on events, not per packet.
  void schedule_reconcile(Instant at);
  void reconcile_if_due(Instant now);
  void reconcile_servers(Instant now);
  void reconcile_catalog(Instant now);

  // http_routes.cpp: the route table and the funnel every request goes through.
  enum class RunsOn;
  struct Route;
  static std::span<const Route> routes();
  void route(RequestId id, HttpRequest request);  // catches what a handler throws
  void dispatch(RequestId id, HttpRequest request);

  // http_api.cpp: handlers, one per route.
  void handle_kv(RequestId id, HttpRequest& request);
  void handle_kv_write(RequestId id, const HttpRequest& request, const std::string& key);
  void handle_kv_delete(RequestId id, const HttpRequest& request, const std::string& key);
  HttpResponse read_kv(const HttpRequest& request, const std::string& key) const;
  void status_leader(RequestId id, HttpRequest& request);
  void status_peers(RequestId id, HttpRequest& request);
  void agent_self(RequestId id, HttpRequest& request);
  void agent_members(RequestId id, HttpRequest& request);
  void agent_reload(RequestId id, HttpRequest& request);
  void answer_reload_waiters(const Result<void>& outcome);
  void agent_leave(RequestId id, HttpRequest& request);
  void catalog_datacenters(RequestId id, HttpRequest& request);
  void coordinate_datacenters(RequestId id, HttpRequest& request);
  void coordinate_nodes(RequestId id, HttpRequest& request);
  void coordinate_node(RequestId id, HttpRequest& request);
  std::string agent_self_json() const;

  // events.cpp: user events over LAN gossip.
  void event_fire(RequestId id, HttpRequest& request);
  void event_list(RequestId id, HttpRequest& request);
  void on_user_event(const gossip::UserEvent& event);
  std::string member_json() const;

  // http_catalog.cpp: the catalog of nodes, services and checks, and its health view
  // (/v1/catalog/register, deregister, nodes, services, service/<name>, node/<node>;
  // /v1/health/node/<node>, checks/<service>, service/<name>, state/<state>).
  void catalog_register(RequestId id, HttpRequest& request);
  void catalog_deregister(RequestId id, HttpRequest& request);
  void catalog_nodes(RequestId id, HttpRequest& request);
  void catalog_services(RequestId id, HttpRequest& request);
  void catalog_service(RequestId id, HttpRequest& request);
  void catalog_node(RequestId id, HttpRequest& request);
  void health_node(RequestId id, HttpRequest& request);
  void health_checks(RequestId id, HttpRequest& request);
  void health_service(RequestId id, HttpRequest& request);
  void health_state(RequestId id, HttpRequest& request);
  // ---- Sessions, KV locks, transactions (issue 11) ---------------------------------------------
  // http_session.cpp: /v1/session/*, and ?acquire / ?release from handle_kv_write.
  void session_create(RequestId id, HttpRequest& request);
  void session_destroy(RequestId id, HttpRequest& request);
  void session_renew(RequestId id, HttpRequest& request);
  void session_info(RequestId id, HttpRequest& request);
  void session_node(RequestId id, HttpRequest& request);
  void session_list(RequestId id, HttpRequest& request);
  void handle_kv_lock(RequestId id, const HttpRequest& request, const std::string& key,
                      bool acquire, std::uint64_t flags);
  // http_txn.cpp: PUT /v1/txn.
  void handle_txn(RequestId id, HttpRequest& request);
  // ---- Snapshots (issue 11) -----------------------------------------------------------------
  // http_snapshot.cpp: GET /v1/snapshot (an archive of the state), PUT (restore one).
  void snapshot_save(RequestId id, HttpRequest& request);
  void snapshot_restore(RequestId id, HttpRequest& request);
  // session_ttl.cpp: the leader's TTL timers (catalog::SessionTimers), kept in step with the
  // sessions table after every apply, cleared on leadership changes, fired from on_wake.
  void session_ttl_role_change(bool leader);
  void sync_session_timers();
  void expire_sessions(Instant now);
  // ---- Local services and checks, anti-entropy (issue 12) ---------------------------------------
  // anti_entropy.cpp: loading (config, data_dir), running checks, syncing with the catalog.
  using InternalDone = std::function<void(const HttpResponse&)>;
  LocalState::Options local_options() const;
  catalog::NodeDef local_node_def() const;
  void start_local(const StoredFiles& files);
  void local_wake(Instant now);
  void sync_local(Instant now);
  void start_full_sync(Instant now);
  void persist_local();
  // A request the agent makes of its own API (anti-entropy's catalog writes and reads): routed
  // like a client's, its answer handed to `done` instead of the host.
  void send_internal(HttpRequest request, InternalDone done);
  bool take_internal_response(RequestId id, HttpResponse& response);
  // http_agent_local.cpp: /v1/agent/service*, /check*, /checks, /services, /health/service/*,
  // /maintenance.
  void agent_services(RequestId id, HttpRequest& request);
  void agent_service(RequestId id, HttpRequest& request);
  void agent_checks(RequestId id, HttpRequest& request);
  void agent_service_register(RequestId id, HttpRequest& request);
  void agent_service_deregister(RequestId id, HttpRequest& request);
  void agent_check_register(RequestId id, HttpRequest& request);
  void agent_check_deregister(RequestId id, HttpRequest& request);
  void agent_check_ttl(RequestId id, HttpRequest& request);
  void agent_check_update(RequestId id, HttpRequest& request);
  void agent_health_service_name(RequestId id, HttpRequest& request);
  void agent_health_service_id(RequestId id, HttpRequest& request);
  void agent_maintenance(RequestId id, HttpRequest& request);
  void agent_service_maintenance(RequestId id, HttpRequest& request);
  // After a local change made through the API: sync, persist, re-arm.
  void local_changed();
  LocalState local_{LocalState::Options{}};
  Rng local_rng_;
  struct Internal {
    InternalDone done;
    Instant deadline;
  };
  // ---- DNS (dns.cpp) ---------------------------------------------------------------------------
  struct Recursion {
    Endpoint client;
    Channel channel = Channel::kDns;
    std::uint16_t client_id = 0;
    Bytes query;  // with our id
    dns::Parsed parsed;
    std::size_t next_recursor = 0;  // how many have been asked
    Endpoint asked;                 // the one whose answer is awaited
    Instant deadline;
  };
  // Recursions in flight at once; beyond it a query gets SERVFAIL at once.
  static constexpr std::size_t kMaxDnsRecursions = 1024;
  dns::ResolverConfig resolver_config() const;
  void configure_dns();
  void on_dns_frame(const Endpoint& from, Channel channel, Bytes payload);
  bool answers_locally(const std::string& datacenter) const;
  bool may_ask_stale(const std::string& datacenter) const;
  void start_recursion(const Endpoint& client, Channel channel, Bytes query, dns::Parsed parsed);
  void ask_recursor(Recursion& r);
  void on_recursor_answer(const Endpoint& from, const dns::Header& header, Bytes answer);
  void expire_recursions(Instant now);
  // The recursor asked gave no usable answer: ask the next one, or answer SERVFAIL.
  void next_recursor_or_servfail(std::uint16_t id, std::string_view why);
  Instant recursion_deadline() const;
  dns::ResolverConfig resolver_;
  DnsAnswerCache dns_cache_;  // D63
  std::vector<Endpoint> recursors_;
  std::map<std::uint16_t, Recursion> recursions_;  // by the id the recursors see

  std::map<RequestId, Internal> internal_;
  // Servers that left a request unanswered (an internal one, or a forward that timed out), until
  // when they are passed over by forward_to_server and forward_to_datacenter.
  static constexpr Duration kSuspectServerFor = Duration::seconds(30);
  std::map<std::string, Instant> suspect_servers_;
  void expire_internal(Instant now);
  Instant internal_deadline() const;
  std::uint64_t next_internal_ = 1;
  Instant next_full_sync_ = Instant::never();
  bool full_sync_running_ = false;
  std::uint64_t local_persisted_ = 0;

  catalog::SessionTimers session_timers_;
  std::uint64_t session_timers_synced_ = 0;  // the sessions table index they reflect
  bool session_timers_stale_ = true;         // resync even if that index has not moved

  AgentConfig config_;
  Env* env_ = nullptr;
  Rng rng_;
  catalog::Fsm fsm_;
  std::string node_id_;
  std::optional<RaftLogNames> raft_log_;  // outlives raft_, which logs through it
  std::optional<raft::Raft> raft_;
  std::optional<RaftStorage> raft_storage_;
  NodeId raft_id_;
  bool persist_raft_ = false;  // false for -dev: the log lives in memory only
  LogIndex snapshot_index_{0};  // the latest snapshot this server took or installed
  std::optional<raft::Ready> ready_in_flight_;
  Ticket ready_ticket_{0};
  std::map<LogIndex, Pending> pending_;
  NodeId known_leader_;

  // Servers of our datacenter known by Raft id, from LAN gossip and the persisted peers file.
  std::map<NodeId, ServerInfo> servers_;
  Instant next_no_leader_log_ = Instant::never();
  Pool lan_;
  Pool wan_;
  bool leaving_ = false;  // a graceful leave is under way: gossip runs until it is done
  bool tagged_raft_state_ = false;  // the raft_state tag as last announced
  Instant leave_deadline_ = Instant::never();
  // Requests handed to another agent and taken from one (forwarder.hpp).
  Forwarder forwarder_;
  // Linearizable reads (default and ?consistent): confirmed by a ReadIndex round, then served
  // once applied. Reads share rounds (D44): one round is in flight at a time, and the reads
  // that arrive meanwhile wait for the next, which starts when it completes.
  struct PendingRead {
    RequestId request;
    HttpRequest http;
    LogIndex index;           // 0 until Raft confirms
    std::uint64_t batch = 0;  // the round's Raft ReadId; 0 while waiting for the next round
  };
  std::map<std::uint64_t, PendingRead> reads_;
  std::uint64_t next_read_id_ = 1;
  std::uint64_t read_batch_ = 0;   // the round in flight, 0: none
  std::size_t reads_waiting_ = 0;  // reads with batch 0
  bool stopping_ = false;
  bool replaying_ = false;  // answering a parked request: never park it again
  bool serving_read_ = false;  // answering a confirmed ?consistent read: do not register again
  Instant reconcile_due_ = Instant::never();
  bool reconcile_unsettled_ = false;  // a change is in flight: run again after the next commit
  std::map<std::string, LogIndex> reconcile_inflight_;  // member -> its proposal, until applied
  // PUT /v1/agent/reload requests held until the host reports the reload's outcome.
  std::vector<RequestId> reload_waiters_;
  std::map<RequestId, Parked> parked_;
  // The parked reads indexed by deadline, and grouped by what they watch, so that neither the
  // timer nor a commit walks all of them (blocking.cpp).
  std::set<std::pair<Instant, RequestId>> parked_deadlines_;
  struct WatchGroup {
    Watch watch;  // the same for every member: the same handler on the same request
    IndexOrder order = IndexOrder::kMonotonic;
    std::set<std::pair<std::uint64_t, RequestId>> waiting;  // (min_index, id)
  };
  std::map<std::string, WatchGroup> watch_groups_;
  RenderCache render_cache_;            // large answers by request, while their watched index holds
  std::deque<UserEventRecord> events_;  // the most recent kMaxUserEvents, oldest first
  Instant armed_ = Instant::never();
  Ticket next_ticket_{1};
};

}  // namespace praetor::node
