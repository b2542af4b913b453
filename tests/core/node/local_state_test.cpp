// LocalState: the agent's services and checks, check scheduling and results, and the
// anti-entropy bookkeeping, driven directly (no agent, no host).
#include "core/node/local_state.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>

namespace praetor::node {
namespace {

using catalog::HealthStatus;

Instant at(std::int64_t seconds) { return Instant::zero() + Duration::seconds(seconds); }

CheckDefinition script_check(std::string id, std::string service_id = "",
                             Duration interval = Duration::seconds(10)) {
  CheckDefinition c;
  c.id = id;
  c.name = id;
  c.service_id = std::move(service_id);
  c.args = {"/bin/check", id};
  c.interval = interval;
  return c;
}

CheckDefinition ttl_check(std::string id, Duration ttl = Duration::seconds(30)) {
  CheckDefinition c;
  c.id = id;
  c.name = id;
  c.ttl = ttl;
  return c;
}

ServiceDefinition service(std::string id, std::vector<CheckDefinition> checks = {}) {
  ServiceDefinition s;
  s.id = id;
  s.name = id;
  s.port = 3306;
  s.checks = std::move(checks);
  return s;
}

ExecResult exited(int code, std::string output = "out") {
  ExecResult r;
  r.exit_code = code;
  r.output = std::move(output);
  return r;
}

class LocalStateTest : public ::testing::Test {
 protected:
  LocalStateTest() : state_(options()) {}
  static LocalState::Options options() {
    LocalState::Options o;
    o.node_name = "n1";
    o.enable_local_script_checks = true;
    o.check_update_interval = Duration::minutes(5);
    return o;
  }
  // Runs everything due at `now` with the same result; returns how many ran.
  std::size_t run_all(Instant now, const ExecResult& result) {
    auto runs = state_.take_due_runs(now);
    for (const auto& r : runs) state_.on_run_result(r.id, result, now);
    state_.check_invariants();
    return runs.size();
  }
  // Syncs until nothing is pending, every write succeeding.
  void sync_all(Instant now) {
    for (int i = 0; i < 10; ++i) {
      auto ops = state_.pending_sync(now);
      if (ops.empty()) return;
      for (const auto& op : ops) state_.sync_done(op, true, now);
    }
    FAIL() << "sync did not settle";
  }
  LocalState state_;
  Rng rng_{7};
};

TEST_F(LocalStateTest, AChecksStartsCriticalAndFirstRunsWithinOneInterval) {
  ASSERT_TRUE(state_.add_service(service("db", {script_check("", "", Duration::seconds(10))}),
                                 DefinitionSource::kConfig, at(0), rng_));
  const LocalCheck* c = state_.check("service:db");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status, HealthStatus::kCritical);
  EXPECT_EQ(c->def.name, "Service 'db' check");
  EXPECT_EQ(c->def.service_id, "db");
  EXPECT_GE(c->next_run, at(0));
  EXPECT_LE(c->next_run, at(10));
  EXPECT_EQ(run_all(at(10), exited(0)), 1U);
  EXPECT_EQ(state_.check("service:db")->status, HealthStatus::kPassing);
}

TEST_F(LocalStateTest, ExitCodesMapToStatusesAsConsulDoes) {
  ASSERT_TRUE(state_.add_check(script_check("c"), DefinitionSource::kConfig, at(0), rng_));
  state_.take_status_changes();  // whatever adding it reported
  Instant now = at(10);
  for (auto [code, want] : {std::pair{0, HealthStatus::kPassing}, std::pair{1, HealthStatus::kWarning},
                            std::pair{2, HealthStatus::kCritical},
                            std::pair{127, HealthStatus::kCritical},
                            std::pair{0, HealthStatus::kPassing}}) {
    ASSERT_EQ(run_all(now, exited(code, "hello")), 1U) << code;
    EXPECT_EQ(state_.check("c")->status, want) << code;
    EXPECT_EQ(state_.check("c")->output, "hello");
    now = now + Duration::seconds(10);
  }
  // Each change of status is reported once, for the agent's log; output-only runs are not.
  std::vector<HealthStatus> changes;
  for (const auto& change : state_.take_status_changes()) {
    EXPECT_EQ(change.check_id, "c");
    changes.push_back(change.status);
  }
  EXPECT_EQ(changes, (std::vector<HealthStatus>{HealthStatus::kPassing, HealthStatus::kWarning,
                                                HealthStatus::kCritical, HealthStatus::kPassing}));
  EXPECT_TRUE(state_.take_status_changes().empty());
  ExecResult timeout;
  timeout.timed_out = true;
  ASSERT_EQ(run_all(now, timeout), 1U);
  EXPECT_EQ(state_.check("c")->status, HealthStatus::kCritical);
  EXPECT_EQ(state_.check("c")->output, "Timed out (30s) running check");
}

TEST_F(LocalStateTest, HttpAndTcpResultsReadAsConsulReadsThem) {
  CheckDefinition h;
  h.id = h.name = "web";
  h.http = "http://127.0.0.1:8080/health";
  h.interval = Duration::seconds(5);
  ASSERT_TRUE(state_.add_check(h, DefinitionSource::kApi, at(0), rng_));
  LocalCheck check = *state_.check("web");
  ExecResult r;
  r.exit_code = 0;
  r.http_status = 200;
  r.http_reason = "OK";
  r.output = "fine";
  auto o = classify_result(check, r);
  EXPECT_EQ(o.status, HealthStatus::kPassing);
  EXPECT_EQ(o.output, "HTTP GET http://127.0.0.1:8080/health: 200 OK Output: fine");
  r.http_status = 429;
  EXPECT_EQ(classify_result(check, r).status, HealthStatus::kWarning);
  r.http_status = 500;
  EXPECT_EQ(classify_result(check, r).status, HealthStatus::kCritical);
  r.http_status = 0;
  r.exit_code = -1;
  r.output = "connection refused";
  o = classify_result(check, r);
  EXPECT_EQ(o.status, HealthStatus::kCritical);
  EXPECT_EQ(o.output, "connection refused");
  EXPECT_EQ(state_.take_due_runs(at(5)).front().spec.kind, ExecSpec::Kind::kHttp);

  CheckDefinition t;
  t.id = t.name = "port";
  t.tcp = "127.0.0.1:3306";
  t.interval = Duration::seconds(5);
  ASSERT_TRUE(state_.add_check(t, DefinitionSource::kApi, at(0), rng_));
  ExecResult ok;
  ok.exit_code = 0;
  o = classify_result(*state_.check("port"), ok);
  EXPECT_EQ(o.status, HealthStatus::kPassing);
  EXPECT_EQ(o.output, "TCP connect 127.0.0.1:3306: Success");
}

TEST_F(LocalStateTest, ACheckNeverOverlapsItselfAndKeepsItsPhase) {
  ASSERT_TRUE(state_.add_check(script_check("c", "", Duration::seconds(10)),
                               DefinitionSource::kConfig, at(0), rng_));
  const Instant due = state_.check("c")->next_run;  // jittered within the first interval
  ASSERT_LE(due, at(10));
  auto runs = state_.take_due_runs(due);
  ASSERT_EQ(runs.size(), 1U);
  // Still running 25 s later (a slow script): nothing new is started.
  EXPECT_TRUE(state_.take_due_runs(due + Duration::seconds(25)).empty());
  // It ended 30.5 s after it was due: the starts at +10, +20 and +30 were missed, and the next
  // is the next point of its phase, +40.
  state_.on_run_result(runs.front().id, exited(0), due + Duration::milliseconds(30500));
  EXPECT_EQ(state_.check("c")->next_run, due + Duration::seconds(40));
  EXPECT_TRUE(state_.take_due_runs(due + Duration::milliseconds(39999)).empty());
  runs = state_.take_due_runs(due + Duration::seconds(40));
  ASSERT_EQ(runs.size(), 1U);
  // A result reported late (the host was busy) does not shift the phase either.
  state_.on_run_result(runs.front().id, exited(0), due + Duration::seconds(47));
  EXPECT_EQ(state_.check("c")->next_run, due + Duration::seconds(50));
  // A result for a run the state does not know (a replaced check) changes nothing.
  state_.on_run_result(CheckRunId(999), exited(2), due + Duration::seconds(48));
  EXPECT_EQ(state_.check("c")->status, HealthStatus::kPassing);
}

TEST_F(LocalStateTest, StartsPerTurnAreBoundedMostOverdueFirst) {
  const std::size_t n = LocalState::kMaxStartsPerTurn * 2 + 5;
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(state_.add_check(script_check(fmt::format("c{:03}", i), "", Duration::seconds(10)),
                                 DefinitionSource::kConfig, at(0), rng_));
  }
  std::set<std::string> started;
  Instant latest_taken = Instant::zero();
  for (int turn = 0; turn < 3; ++turn) {
    auto runs = state_.take_due_runs(at(10));
    EXPECT_EQ(runs.size(), turn < 2 ? LocalState::kMaxStartsPerTurn : 5U);
    for (const auto& r : runs) {
      // Every check left behind was due no earlier than the ones taken before it.
      latest_taken = std::max(latest_taken, state_.check(r.check_id)->due);
      EXPECT_TRUE(started.insert(r.check_id).second);
    }
    for (const auto& [id, c] : state_.checks()) {
      if (!c.running) {
        EXPECT_GE(c.next_run, latest_taken) << id;
      }
    }
    // While some are still due, the state asks to be woken at once.
    if (turn < 2) {
      EXPECT_LE(state_.next_deadline(), at(10));
    }
  }
  EXPECT_EQ(started.size(), n);
}

TEST_F(LocalStateTest, IntervalsBelowOneSecondAreRaisedToOne) {
  ASSERT_TRUE(state_.add_check(script_check("fast", "", Duration::milliseconds(10)),
                               DefinitionSource::kConfig, at(0), rng_));
  const Instant due = state_.check("fast")->next_run;
  EXPECT_LE(due, at(1));  // the first run is jittered within the raised interval
  auto runs = state_.take_due_runs(due);
  ASSERT_EQ(runs.size(), 1U);
  state_.on_run_result(runs.front().id, exited(0), due + Duration::milliseconds(20));
  EXPECT_EQ(state_.check("fast")->next_run, due + Duration::seconds(1));
}

TEST_F(LocalStateTest, CountersHoldBackStatusChanges) {
  CheckDefinition c = script_check("c");
  c.success_before_passing = 2;
  c.failures_before_warning = 1;
  c.failures_before_critical = 3;
  ASSERT_TRUE(state_.add_check(c, DefinitionSource::kConfig, at(0), rng_));
  Instant now = at(10);
  auto step = [&](int code) {
    EXPECT_EQ(run_all(now, exited(code)), 1U);
    now = now + Duration::seconds(10);
    return state_.check("c")->status;
  };
  EXPECT_EQ(step(0), HealthStatus::kCritical);  // one success of two
  EXPECT_EQ(step(0), HealthStatus::kPassing);
  EXPECT_EQ(step(2), HealthStatus::kWarning);   // first failure: warning
  EXPECT_EQ(step(2), HealthStatus::kWarning);
  EXPECT_EQ(step(2), HealthStatus::kCritical);  // third: critical
  EXPECT_EQ(step(0), HealthStatus::kCritical);  // a success resets, but two are needed
  // The failure count starts again after that success: Consul's handler turns the check warning
  // at the first failure, even from critical.
  EXPECT_EQ(step(2), HealthStatus::kWarning);
}

TEST_F(LocalStateTest, TtlChecksExpireAndRecover) {
  ASSERT_TRUE(state_.add_check(ttl_check("t", Duration::seconds(30)), DefinitionSource::kApi,
                               at(0), rng_));
  EXPECT_EQ(state_.next_deadline(), at(0));  // unsynced: the sync is due now
  sync_all(at(0));
  EXPECT_EQ(state_.next_deadline(), at(30));
  ASSERT_TRUE(state_.update_ttl("t", HealthStatus::kPassing, "ok", at(20)));
  EXPECT_EQ(state_.check("t")->status, HealthStatus::kPassing);
  EXPECT_TRUE(state_.expire(at(49)).empty());
  EXPECT_EQ(state_.check("t")->status, HealthStatus::kPassing);
  state_.expire(at(50));
  EXPECT_EQ(state_.check("t")->status, HealthStatus::kCritical);
  EXPECT_EQ(state_.check("t")->output, "TTL expired");
  ASSERT_TRUE(state_.update_ttl("t", HealthStatus::kWarning, "meh", at(60)));
  EXPECT_EQ(state_.check("t")->status, HealthStatus::kWarning);

  auto unknown = state_.update_ttl("nope", HealthStatus::kPassing, "", at(60));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(state_.add_check(script_check("s"), DefinitionSource::kConfig, at(0), rng_));
  auto not_ttl = state_.update_ttl("s", HealthStatus::kPassing, "", at(60));
  ASSERT_FALSE(not_ttl);
  EXPECT_EQ(not_ttl.error().message, "CheckID \"s\" does not have associated TTL");
}

TEST_F(LocalStateTest, ScriptChecksFollowTheAgentsPolicy) {
  // enable_local_script_checks: from files yes, over HTTP no.
  EXPECT_TRUE(state_.add_check(script_check("file"), DefinitionSource::kConfig, at(0), rng_));
  auto api = state_.add_check(script_check("remote"), DefinitionSource::kApi, at(0), rng_);
  ASSERT_FALSE(api);
  EXPECT_EQ(api.error().message,
            "Scripts are disabled on this agent from remote calls; to enable, configure "
            "'enable_script_checks' to true");
  EXPECT_EQ(state_.check("remote"), nullptr);
  // A service whose check is refused is not registered at all.
  auto svc = state_.add_service(service("x", {script_check("")}), DefinitionSource::kApi, at(0),
                                rng_);
  EXPECT_FALSE(svc);
  EXPECT_EQ(state_.service("x"), nullptr);
  auto orphan = state_.add_check(ttl_check("o"), DefinitionSource::kApi, at(0), rng_);
  ASSERT_TRUE(orphan);
  CheckDefinition bad = ttl_check("b");
  bad.service_id = "missing";
  auto missing = state_.add_check(bad, DefinitionSource::kApi, at(0), rng_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(LocalStateTest, StatusChangesSyncAtOnceAndOutputChangesWait) {
  ASSERT_TRUE(state_.add_service(service("db", {script_check("")}), DefinitionSource::kConfig,
                                 at(0), rng_));
  auto ops = state_.pending_sync(at(0));
  ASSERT_EQ(ops.size(), 2U);  // the node, the service with its check
  EXPECT_EQ(ops[0].kind, SyncOp::Kind::kNode);
  EXPECT_EQ(ops[1], (SyncOp{SyncOp::Kind::kService, "db", ops[1].version}));
  // In flight: not handed out twice.
  EXPECT_TRUE(state_.pending_sync(at(0)).empty());
  for (const auto& op : ops) state_.sync_done(op, true, at(1));
  EXPECT_TRUE(state_.all_in_sync());

  // Passing: a status change, synced at once.
  ASSERT_EQ(run_all(at(10), exited(0, "a")), 1U);
  ops = state_.pending_sync(at(10));
  ASSERT_EQ(ops.size(), 1U);
  state_.sync_done(ops[0], true, at(10));
  EXPECT_TRUE(state_.all_in_sync());
  // Same status, new output: waits until check_update_interval after the last sync.
  ASSERT_EQ(run_all(at(30), exited(0, "b")), 1U);
  EXPECT_FALSE(state_.all_in_sync());
  EXPECT_TRUE(state_.pending_sync(at(30)).empty());
  EXPECT_EQ(state_.next_deadline(), std::min(state_.check("service:db")->next_run, at(310)));
  EXPECT_EQ(state_.pending_sync(at(310)).size(), 1U);
}

TEST_F(LocalStateTest, AWriteThatRacedAChangeDoesNotMarkItSynced) {
  ASSERT_TRUE(state_.add_check(ttl_check("t"), DefinitionSource::kApi, at(0), rng_));
  sync_all(at(0));
  ASSERT_TRUE(state_.update_ttl("t", HealthStatus::kPassing, "", at(1)));
  auto ops = state_.pending_sync(at(1));
  ASSERT_EQ(ops.size(), 1U);
  ASSERT_TRUE(state_.update_ttl("t", HealthStatus::kCritical, "", at(2)));  // while in flight
  state_.sync_done(ops[0], true, at(3));
  EXPECT_FALSE(state_.all_in_sync());
  ops = state_.pending_sync(at(3));
  ASSERT_EQ(ops.size(), 1U);
  // A failed write is retried, but not before a second has passed.
  state_.sync_done(ops[0], false, at(3));
  EXPECT_TRUE(state_.pending_sync(at(3)).empty());
  EXPECT_EQ(state_.pending_sync(at(4)).size(), 1U);
}

TEST_F(LocalStateTest, FullSyncRepairsDriftAndLeavesWhatServersOwn) {
  ASSERT_TRUE(state_.add_service(service("db", {ttl_check("")}), DefinitionSource::kApi, at(0),
                                 rng_));
  sync_all(at(0));
  LocalNodeInfo node;
  node.def.name = "n1";
  node.def.address = "10.0.0.1";
  RemoteNodeState remote;
  remote.node = node.def;
  remote.services["db"] = state_.service_def(*state_.service("db"));
  remote.services["consul"] = catalog::ServiceDef{"consul", "consul", {}, "", 8300, {}, 1, 1, false};
  remote.services["old"] = catalog::ServiceDef{"old", "old", {}, "", 1, {}, 1, 1, false};
  remote.checks["service:db"] = state_.check_def(*state_.check("service:db"));
  remote.checks["serfHealth"] = catalog::CheckDef{"n1", "serfHealth", "Serf Health Status",
                                                  HealthStatus::kPassing, "", "", "", "serf",
                                                  "", ""};
  remote.checks["gone"] = catalog::CheckDef{"n1", "gone", "gone", HealthStatus::kPassing,
                                            "", "", "", "", "", ""};
  state_.full_sync_against(remote, node);
  auto ops = state_.pending_sync(at(1));
  std::vector<std::pair<SyncOp::Kind, std::string>> got;
  for (const auto& op : ops) got.emplace_back(op.kind, op.id);
  EXPECT_EQ(got, (std::vector<std::pair<SyncOp::Kind, std::string>>{
                     {SyncOp::Kind::kDeregisterService, "old"},
                     {SyncOp::Kind::kDeregisterCheck, "gone"}}));
  for (const auto& op : ops) state_.sync_done(op, true, at(1));
  EXPECT_TRUE(state_.all_in_sync());

  // A wiped server: the catalog lost everything; the next full sync registers it all again.
  state_.full_sync_against(RemoteNodeState{}, node);
  ops = state_.pending_sync(at(2));
  ASSERT_EQ(ops.size(), 2U);
  EXPECT_EQ(ops[0].kind, SyncOp::Kind::kNode);
  EXPECT_EQ(ops[1].kind, SyncOp::Kind::kService);
}

TEST_F(LocalStateTest, ReloadKeepsUnchangedChecksAndAppliesTheRest) {
  std::vector<ServiceDefinition> services = {service("w", {script_check("", "", Duration::seconds(5))}),
                                             service("r", {script_check("", "", Duration::seconds(5))})};
  ASSERT_TRUE(state_.apply_config(services, {}, at(0), rng_));
  ASSERT_EQ(run_all(at(5), exited(0)), 2U);
  sync_all(at(5));
  const Instant w_next = state_.check("service:w")->next_run;
  // Reload: w unchanged, r removed, m added.
  std::vector<ServiceDefinition> next = {services[0], service("m", {ttl_check("")})};
  ASSERT_TRUE(state_.apply_config(next, {}, at(6), rng_));
  EXPECT_EQ(state_.check("service:w")->status, HealthStatus::kPassing);
  EXPECT_EQ(state_.check("service:w")->next_run, w_next);
  EXPECT_EQ(state_.service("r"), nullptr);
  EXPECT_EQ(state_.check("service:r"), nullptr);
  ASSERT_NE(state_.service("m"), nullptr);
  auto ops = state_.pending_sync(at(6));
  std::vector<std::pair<SyncOp::Kind, std::string>> got;
  for (const auto& op : ops) got.emplace_back(op.kind, op.id);
  EXPECT_EQ(got, (std::vector<std::pair<SyncOp::Kind, std::string>>{
                     {SyncOp::Kind::kService, "m"}, {SyncOp::Kind::kDeregisterService, "r"}}));
  // A changed check starts over (critical, newly scheduled).
  next[0].checks[0].args = {"/bin/other"};
  ASSERT_TRUE(state_.apply_config(next, {}, at(7), rng_));
  EXPECT_EQ(state_.check("service:w")->status, HealthStatus::kCritical);
  // An invalid set changes nothing.
  CheckDefinition orphan = ttl_check("o");
  orphan.service_id = "nowhere";
  auto before = state_.persisted_json();
  ASSERT_FALSE(state_.apply_config({}, {orphan}, at(8), rng_));
  EXPECT_NE(state_.service("w"), nullptr);
  EXPECT_NE(state_.service("m"), nullptr);
  EXPECT_EQ(state_.persisted_json(), before);
}

TEST_F(LocalStateTest, ApiRegistrationsSurviveAReloadOfTheFiles) {
  ASSERT_TRUE(state_.add_service(service("api"), DefinitionSource::kApi, at(0), rng_));
  ASSERT_TRUE(state_.apply_config({service("file")}, {}, at(1), rng_));
  ASSERT_TRUE(state_.apply_config({}, {}, at(2), rng_));
  EXPECT_NE(state_.service("api"), nullptr);
  EXPECT_EQ(state_.service("file"), nullptr);
}

TEST_F(LocalStateTest, MaintenanceModeAddsACriticalCheck) {
  ASSERT_TRUE(state_.add_service(service("db", {ttl_check("")}), DefinitionSource::kApi, at(0),
                                 rng_));
  ASSERT_TRUE(state_.update_ttl("service:db", HealthStatus::kPassing, "", at(0)));
  EXPECT_EQ(state_.aggregate_status("db"), HealthStatus::kPassing);
  ASSERT_TRUE(state_.set_service_maintenance("db", true, "", at(1)));
  const LocalCheck* m = state_.check("_service_maintenance:db");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->status, HealthStatus::kCritical);
  EXPECT_EQ(state_.check_def(*m).type, "maintenance");
  EXPECT_EQ(state_.aggregate_status("db"), HealthStatus::kCritical);
  ASSERT_TRUE(state_.set_service_maintenance("db", false, "", at(2)));
  EXPECT_EQ(state_.aggregate_status("db"), HealthStatus::kPassing);
  state_.set_node_maintenance(true, "upgrading", at(3));
  EXPECT_TRUE(state_.node_in_maintenance());
  EXPECT_EQ(state_.check("_node_maintenance")->def.notes, "upgrading");
  EXPECT_EQ(state_.aggregate_status("db"), HealthStatus::kCritical);
  EXPECT_FALSE(state_.set_service_maintenance("nope", true, "", at(3)));
}

TEST_F(LocalStateTest, ServicesCriticalTooLongAreDeregistered) {
  CheckDefinition c = ttl_check("");
  c.deregister_critical_service_after = Duration::seconds(60);
  ASSERT_TRUE(state_.add_service(service("db", {c}), DefinitionSource::kApi, at(0), rng_));
  EXPECT_TRUE(state_.expire(at(59)).empty());
  EXPECT_EQ(state_.expire(at(60)), std::vector<std::string>{"db"});
  ASSERT_TRUE(state_.update_ttl("service:db", HealthStatus::kPassing, "", at(61)));
  EXPECT_TRUE(state_.expire(at(200)).empty() || state_.check("service:db")->status ==
                                                    HealthStatus::kCritical);
}

TEST_F(LocalStateTest, ApiRegistrationsAndTtlStatusRoundTripThroughTheFile) {
  CheckDefinition h;
  h.id = h.name = "web";
  h.http = "http://127.0.0.1:8080/";
  h.method = "POST";
  h.header = {{"X-A", {"1", "2"}}};
  h.interval = Duration::seconds(5);
  h.timeout = Duration::seconds(2);
  ASSERT_TRUE(state_.add_service(service("db", {ttl_check("")}), DefinitionSource::kApi, at(0),
                                 rng_));
  ASSERT_TRUE(state_.add_check(h, DefinitionSource::kApi, at(0), rng_));
  ASSERT_TRUE(state_.add_service(service("from-file"), DefinitionSource::kConfig, at(0), rng_));
  ASSERT_TRUE(state_.update_ttl("service:db", HealthStatus::kWarning, "slow", at(1)));
  ASSERT_TRUE(state_.set_service_maintenance("db", true, "why", at(1)));

  LocalState loaded(options());
  Rng rng(1);
  auto loaded_ok = loaded.load_persisted(state_.persisted_json(), at(100), rng);
  ASSERT_TRUE(loaded_ok) << loaded_ok.error().message << "\n" << state_.persisted_json();
  EXPECT_EQ(loaded.service("from-file"), nullptr);  // files are not persisted
  ASSERT_NE(loaded.service("db"), nullptr);
  EXPECT_EQ(loaded.service_def(*loaded.service("db")), state_.service_def(*state_.service("db")));
  ASSERT_NE(loaded.check("web"), nullptr);
  EXPECT_EQ(loaded.check("web")->def.header, h.header);
  EXPECT_EQ(loaded.check("web")->def.method, "POST");
  EXPECT_EQ(loaded.check("web")->def.timeout, h.timeout);
  EXPECT_EQ(loaded.check("service:db")->status, HealthStatus::kWarning);
  EXPECT_EQ(loaded.check("service:db")->output, "slow");
  EXPECT_EQ(loaded.check("service:db")->ttl_expires, at(130));
  ASSERT_NE(loaded.check("_service_maintenance:db"), nullptr);
  EXPECT_EQ(loaded.check("_service_maintenance:db")->def.notes, "why");

  EXPECT_FALSE(loaded.load_persisted("{not json", at(0), rng));
  EXPECT_FALSE(loaded.load_persisted(R"({"definitions": {"services": [{"port": "x"}]}})", at(0), rng));
}

// Any sequence of registrations, removals, results, TTL updates, expiries and syncs keeps the
// invariants, and once the changes stop and every write succeeds, everything ends in sync.
RC_GTEST_PROP(LocalStateProperty, EverythingEndsInSync, ()) {
  LocalState::Options o;
  o.node_name = "n";
  o.enable_script_checks = true;
  o.check_update_interval = Duration::seconds(30);
  LocalState state(o);
  Rng rng(*rc::gen::arbitrary<std::uint32_t>());
  Instant now = Instant::zero();
  std::vector<SyncOp> in_flight;
  std::vector<CheckRunId> running;
  const int steps = *rc::gen::inRange(1, 80);
  for (int i = 0; i < steps; ++i) {
    now = now + Duration::milliseconds(*rc::gen::inRange(0, 4000));
    const std::string sid = fmt::format("s{}", *rc::gen::inRange(0, 4));
    const std::string cid = fmt::format("c{}", *rc::gen::inRange(0, 4));
    switch (*rc::gen::inRange(0, 10)) {
      case 0: {
        ServiceDefinition s = service(sid);
        if (*rc::gen::arbitrary<bool>()) s.checks.push_back(script_check(""));
        s.port = *rc::gen::inRange(1, 3);
        static_cast<void>(state.add_service(s, DefinitionSource::kApi, now, rng));
        break;
      }
      case 1: state.remove_service(sid); break;
      case 2: {
        CheckDefinition c = *rc::gen::arbitrary<bool>() ? ttl_check(cid) : script_check(cid);
        if (*rc::gen::arbitrary<bool>()) c.service_id = sid;
        static_cast<void>(state.add_check(c, DefinitionSource::kApi, now, rng));
        break;
      }
      case 3: state.remove_check(cid); break;
      case 4:
        for (const auto& r : state.take_due_runs(now)) running.push_back(r.id);
        break;
      case 5:
        if (!running.empty()) {
          const auto k = static_cast<std::size_t>(*rc::gen::inRange<std::size_t>(0, running.size()));
          state.on_run_result(running[k], exited(*rc::gen::inRange(0, 3), fmt::format("o{}", i)),
                              now);
          running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
        }
        break;
      case 6:
        static_cast<void>(state.update_ttl(cid, HealthStatus::kPassing, fmt::format("t{}", i), now));
        break;
      case 7:
        for (const auto& s : state.expire(now)) state.remove_service(s);
        break;
      case 8:
        for (const auto& op : state.pending_sync(now)) in_flight.push_back(op);
        break;
      case 9:
        if (!in_flight.empty()) {
          const auto k = static_cast<std::size_t>(*rc::gen::inRange<std::size_t>(0, in_flight.size()));
          state.sync_done(in_flight[k], *rc::gen::arbitrary<bool>(), now);
          in_flight.erase(in_flight.begin() + static_cast<std::ptrdiff_t>(k));
        }
        break;
    }
    state.check_invariants();
  }
  // Settle: outstanding writes answer (some lost: forget them), then every write succeeds.
  for (const auto& op : in_flight) state.sync_done(op, true, now);
  state.reset_in_flight();
  now = now + Duration::minutes(1);
  for (int round = 0; round < 5 && !state.all_in_sync(); ++round) {
    for (const auto& op : state.pending_sync(now)) state.sync_done(op, true, now);
    state.check_invariants();
  }
  RC_ASSERT(state.all_in_sync());
}

}  // namespace
}  // namespace praetor::node
