// The catalog of nodes, services and checks, one behaviour per test (Consul's semantics as
// consul-compat §3.3/§3.4 describe them).
#include "core/catalog/state.hpp"

#include <gtest/gtest.h>

#include "core/base/limits.hpp"

namespace praetor::catalog {
namespace {

NodeDef node_def(std::string name, std::string address = "10.0.0.1") {
  NodeDef n;
  n.name = std::move(name);
  n.address = std::move(address);
  return n;
}

ServiceDef service_def(std::string name, std::vector<std::string> tags = {}, std::string id = "") {
  ServiceDef s;
  s.id = std::move(id);
  s.name = std::move(name);
  s.tags = std::move(tags);
  s.port = 80;
  return s;
}

CheckDef check_def(std::string name, HealthStatus status, std::string service_id = "") {
  CheckDef c;
  c.name = std::move(name);
  c.status = status;
  c.service_id = std::move(service_id);
  return c;
}

Register reg(std::string node, std::optional<ServiceDef> service = std::nullopt,
             std::vector<CheckDef> checks = {}) {
  Register r;
  r.node = node_def(std::move(node));
  r.service = std::move(service);
  r.checks = std::move(checks);
  return r;
}

// Applies at increasing indexes and checks the invariants after every write.
class StateTest : public ::testing::Test {
 protected:
  CatalogWrite apply(const Register& r) {
    auto w = state_.apply_register(++index_, r);
    state_.check_invariants();
    return w;
  }
  CatalogWrite apply(const Deregister& d) {
    auto w = state_.apply_deregister(++index_, d);
    state_.check_invariants();
    return w;
  }
  CatalogState state_;
  std::uint64_t index_ = 0;
};

TEST_F(StateTest, RegisterFillsConsulsDefaults) {
  ASSERT_EQ(
      apply(reg("n1", service_def("web"), {check_def("alive", HealthStatus::kCritical, "web")}))
          .error,
      "");
  const ServiceRecord* s = state_.service("n1", "web");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->def.id, "web");  // the id defaults to the name
  EXPECT_EQ(s->create_index, 1u);
  const auto checks = state_.node_checks("n1").value;
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0]->def.check_id, "alive");  // the check id defaults to its name
  EXPECT_EQ(checks[0]->def.node, "n1");         // and its node to the registration's
  EXPECT_EQ(checks[0]->service_name, "web");
  EXPECT_EQ(state_.nodes_index(), 1u);
  EXPECT_EQ(state_.services_index(), 1u);
  EXPECT_EQ(state_.checks_index(), 1u);
  EXPECT_EQ(state_.service_name_index("web"), 1u);
}

TEST_F(StateTest, RefusalsChangeNothing) {
  ASSERT_EQ(apply(reg("n1", service_def("web"))).error, "");
  const CatalogState before = state_;
  Register no_node = reg("");
  EXPECT_EQ(apply(no_node).error, "Must provide node");
  Register no_address = reg("n2");
  no_address.node.address = "";
  EXPECT_EQ(apply(no_address).error, "Must provide address if SkipNodeUpdate is not set");
  EXPECT_EQ(apply(reg("n1", service_def(""))).error, "Must provide service name (Service.Service)");
  EXPECT_EQ(apply(reg("n1", service_def("", {}, "some-id"))).error,
            "Must provide service name with ID");
  // A check on a service the node does not have; the node and service parts of the same
  // registration must not be applied either.
  Register bad_check =
      reg("n1", service_def("db"), {check_def("c", HealthStatus::kPassing, "nope")});
  bad_check.node.meta["changed"] = "yes";
  EXPECT_EQ(apply(bad_check).error, "Missing service registration");
  Register other_node = reg("n1", std::nullopt, {check_def("c", HealthStatus::kPassing)});
  other_node.checks[0].node = "n9";
  EXPECT_NE(apply(other_node).error.find("does not match"), std::string::npos);
  EXPECT_EQ(apply(reg("n1", std::nullopt, {check_def("", HealthStatus::kPassing)})).error,
            "Must provide check ID or name");
  Register big_meta = reg("n1");
  for (int i = 0; i < 65; ++i) big_meta.node.meta["k" + std::to_string(i)] = "v";
  EXPECT_NE(apply(big_meta).error.find("64"), std::string::npos);
  EXPECT_EQ(apply(Deregister{"", "web", ""}).error, "Must provide node");
  EXPECT_TRUE(state_ == before);
}

TEST_F(StateTest, SkipNodeUpdateLeavesAnExistingNodeAlone) {
  Register first = reg("n1");
  first.node.meta["rack"] = "a";
  ASSERT_EQ(apply(first).error, "");
  Register skip = reg("n1", service_def("web"));
  skip.node.address = "";
  skip.skip_node_update = true;
  ASSERT_EQ(apply(skip).error, "");
  EXPECT_EQ(state_.node("n1")->def.meta.at("rack"), "a");
  EXPECT_EQ(state_.node("n1")->def.address, "10.0.0.1");
  EXPECT_EQ(state_.nodes_index(), 1u);
}

TEST_F(StateTest, ARegisterThatChangesNothingMovesNoIndex) {
  const Register r =
      reg("n1", service_def("web", {"a"}), {check_def("serfHealth", HealthStatus::kPassing)});
  ASSERT_EQ(apply(r).error, "");
  const CatalogState before = state_;
  const auto w = apply(r);
  EXPECT_EQ(w.error, "");
  EXPECT_EQ(w.effects, CatalogEffects{});
  EXPECT_TRUE(state_ == before);
  EXPECT_EQ(state_.max_index(), 1u);
}

TEST_F(StateTest, AChangedNodeMovesTheNodesIndexAndItsServicesNames) {
  ASSERT_EQ(apply(reg("n1", service_def("web"))).error, "");
  ASSERT_EQ(apply(reg("n2", service_def("db"))).error, "");
  Register moved = reg("n1");
  moved.node.address = "10.0.0.9";
  ASSERT_EQ(apply(moved).error, "");
  EXPECT_EQ(state_.nodes_index(), 3u);
  EXPECT_EQ(state_.node("n1")->create_index, 1u);
  EXPECT_EQ(state_.node("n1")->modify_index, 3u);
  EXPECT_EQ(state_.service_name_index("web"), 3u);  // its entries show the node's address
  EXPECT_EQ(state_.service_name_index("db"), 2u);   // untouched
  EXPECT_EQ(state_.services_index(), 2u);
}

TEST_F(StateTest, ServiceNameIndexesAreIndependent) {
  ASSERT_EQ(apply(reg("n1", service_def("web"))).error, "");
  ASSERT_EQ(apply(reg("n2", service_def("db"))).error, "");
  ASSERT_EQ(
      apply(reg("n2", std::nullopt, {check_def("db-ok", HealthStatus::kPassing, "db")})).error, "");
  EXPECT_EQ(state_.service_name_index("web"), 1u);
  EXPECT_EQ(state_.service_name_index("db"), 3u);
  // A node-level check moves every service on its node: their health depends on it.
  ASSERT_EQ(apply(reg("n1", std::nullopt, {check_def("serfHealth", HealthStatus::kPassing)})).error,
            "");
  EXPECT_EQ(state_.service_name_index("web"), 4u);
  EXPECT_EQ(state_.service_name_index("db"), 3u);
}

TEST_F(StateTest, DeregisteringAServiceRemovesItsChecksAndReportsThem) {
  ASSERT_EQ(apply(reg("n1", service_def("web"),
                      {check_def("serfHealth", HealthStatus::kPassing),
                       check_def("web-ok", HealthStatus::kPassing, "web")}))
                .error,
            "");
  const auto w = apply(Deregister{"n1", "web", ""});
  ASSERT_EQ(w.error, "");
  EXPECT_EQ(w.effects.checks_down, (std::vector<CheckRef>{{"n1", "web-ok"}}));
  EXPECT_EQ(state_.service("n1", "web"), nullptr);
  EXPECT_EQ(state_.node_checks("n1").value.size(), 1u);  // serfHealth stays
  // The name has no instance left: its watchers fall back to the services table's index,
  // which moved with the removal.
  EXPECT_EQ(state_.service_name_index("web"), 2u);
  EXPECT_TRUE(state_.service_name_indexes().empty());
  // Deregistering what is not there succeeds and changes nothing.
  const CatalogState before = state_;
  EXPECT_EQ(apply(Deregister{"n1", "web", ""}).error, "");
  EXPECT_EQ(apply(Deregister{"n1", "", "nope"}).error, "");
  EXPECT_EQ(apply(Deregister{"nobody", "", ""}).error, "");
  EXPECT_TRUE(state_ == before);
}

TEST_F(StateTest, DeregisteringANodeRemovesEverythingOnIt) {
  ASSERT_EQ(apply(reg("n1", service_def("web"),
                      {check_def("serfHealth", HealthStatus::kPassing),
                       check_def("web-ok", HealthStatus::kCritical, "web")}))
                .error,
            "");
  ASSERT_EQ(apply(reg("n2", service_def("web"))).error, "");
  const auto w = apply(Deregister{"n1", "", ""});
  ASSERT_EQ(w.error, "");
  EXPECT_EQ(w.effects.nodes_removed, std::vector<std::string>{"n1"});
  EXPECT_EQ(w.effects.checks_down, (std::vector<CheckRef>{{"n1", "serfHealth"}, {"n1", "web-ok"}}));
  EXPECT_EQ(state_.node("n1"), nullptr);
  EXPECT_TRUE(state_.node_checks("n1").value.empty());
  ASSERT_EQ(state_.service_instances("web", {}, {}).value.size(), 1u);
  EXPECT_EQ(state_.service_name_index("web"), 3u);  // n2's instance remains, the name moved
  EXPECT_EQ(state_.nodes_index(), 3u);
  EXPECT_EQ(state_.checks_index(), 3u);
}

TEST_F(StateTest, ReportsChecksThatBecomeCritical) {
  auto w = apply(reg("n1", std::nullopt, {check_def("c", HealthStatus::kPassing)}));
  EXPECT_TRUE(w.effects.checks_down.empty());
  w = apply(reg("n1", std::nullopt, {check_def("c", HealthStatus::kWarning)}));
  EXPECT_TRUE(w.effects.checks_down.empty());
  w = apply(reg("n1", std::nullopt, {check_def("c", HealthStatus::kCritical)}));
  EXPECT_EQ(w.effects.checks_down, (std::vector<CheckRef>{{"n1", "c"}}));
  // Still critical, with new output: not news for sessions.
  CheckDef again = check_def("c", HealthStatus::kCritical);
  again.output = "still down";
  w = apply(reg("n1", std::nullopt, {again}));
  EXPECT_TRUE(w.effects.checks_down.empty());
  EXPECT_EQ(state_.checks_index(), 4u);
}

TEST_F(StateTest, RenamingAServiceInPlaceMovesBothNames) {
  ASSERT_EQ(apply(reg("n1", service_def("web", {}, "s1"),
                      {check_def("s1-ok", HealthStatus::kPassing, "s1")}))
                .error,
            "");
  ASSERT_EQ(apply(reg("n1", service_def("api", {}, "s1"))).error, "");
  EXPECT_TRUE(state_.service_instances("web", {}, {}).value.empty());
  ASSERT_EQ(state_.service_checks("api", {}).value.size(), 1u);
  EXPECT_EQ(state_.service_checks("api", {}).value[0]->service_name, "api");
  EXPECT_EQ(state_.service_name_index("web"), 2u);
  EXPECT_EQ(state_.service_name_index("api"), 2u);
}

TEST_F(StateTest, ServicesListsDeduplicatedSortedTags) {
  ASSERT_EQ(apply(reg("n1", service_def("consul"))).error, "");
  ASSERT_EQ(apply(reg("n1", service_def("web", {"v2", "primary"}, "web1"))).error, "");
  ASSERT_EQ(apply(reg("n2", service_def("web", {"primary", "v1"}, "web1"))).error, "");
  ASSERT_EQ(apply(reg("n2", service_def("consul"))).error, "");
  const auto services = state_.services({});
  EXPECT_EQ(services.index, 4u);
  const std::map<std::string, std::vector<std::string>> expected = {
      {"consul", {}}, {"web", {"primary", "v1", "v2"}}};
  EXPECT_EQ(services.value, expected);
}

TEST_F(StateTest, ServiceInstancesFilterByEveryTagAndNodeMeta) {
  Register a = reg("b-node", service_def("web", {"primary", "v1"}, "w2"));
  a.node.meta["rack"] = "r1";
  ASSERT_EQ(apply(a).error, "");
  Register b = reg("b-node", service_def("web", {"v1"}, "w1"));
  b.node.meta["rack"] = "r1";  // a registration restates its node's meta: Consul replaces it
  ASSERT_EQ(apply(b).error, "");
  Register c = reg("a-node", service_def("web", {"primary"}));
  c.node.meta["rack"] = "r2";
  ASSERT_EQ(apply(c).error, "");
  const auto ids = [](const std::vector<ServiceInstance>& list) {
    std::vector<std::string> out;
    for (const auto& i : list) out.push_back(i.node->def.name + "/" + i.service->def.id);
    return out;
  };
  // Sorted by node name, then service id.
  EXPECT_EQ(ids(state_.service_instances("web", {}, {}).value),
            (std::vector<std::string>{"a-node/web", "b-node/w1", "b-node/w2"}));
  EXPECT_EQ(ids(state_.service_instances("web", {"primary", "v1"}, {}).value),
            (std::vector<std::string>{"b-node/w2"}));
  EXPECT_EQ(ids(state_.service_instances("web", {"primary"}, {{"rack", "r2"}}).value),
            (std::vector<std::string>{"a-node/web"}));
  EXPECT_TRUE(state_.service_instances("web", {"nope"}, {}).value.empty());
  EXPECT_TRUE(state_.service_instances("nope", {}, {}).value.empty());
  EXPECT_EQ(state_.nodes({{"rack", "r1"}}).value.size(), 1u);
  EXPECT_EQ(state_.nodes({}).value.size(), 2u);
  EXPECT_EQ(state_.services({{"rack", "r9"}}).value.size(), 0u);
}

TEST_F(StateTest, HealthServiceJoinsNodeAndServiceChecksAndFiltersPassing) {
  ASSERT_EQ(apply(reg("n1", service_def("web"),
                      {check_def("serfHealth", HealthStatus::kPassing),
                       check_def("web-ok", HealthStatus::kPassing, "web")}))
                .error,
            "");
  ASSERT_EQ(apply(reg("n2", service_def("web"),
                      {check_def("serfHealth", HealthStatus::kWarning),
                       check_def("web-ok", HealthStatus::kPassing, "web")}))
                .error,
            "");
  ASSERT_EQ(apply(reg("n3", service_def("web"))).error, "");  // no checks: passing
  ASSERT_EQ(
      apply(reg("n3", service_def("db"), {check_def("db-bad", HealthStatus::kCritical, "db")}))
          .error,
      "");
  const auto all = state_.health_service("web", {}, {}, false).value;
  ASSERT_EQ(all.size(), 3u);
  ASSERT_EQ(all[0].checks.size(), 2u);
  EXPECT_EQ(all[0].checks[0]->def.check_id, "serfHealth");  // node checks first
  EXPECT_EQ(all[0].checks[1]->def.check_id, "web-ok");
  EXPECT_TRUE(all[2].checks.empty());  // db's critical check is not web's
  const auto passing = state_.health_service("web", {}, {}, true).value;
  ASSERT_EQ(passing.size(), 2u);  // a warning anywhere drops n2
  EXPECT_EQ(passing[0].node->def.name, "n1");
  EXPECT_EQ(passing[1].node->def.name, "n3");
  EXPECT_EQ(state_.checks_in_state(CheckStateFilter::kCritical, {}).value.size(), 1u);
  EXPECT_EQ(state_.checks_in_state(CheckStateFilter::kWarning, {}).value.size(), 1u);
  EXPECT_EQ(state_.checks_in_state(CheckStateFilter::kPassing, {}).value.size(), 3u);
  EXPECT_EQ(state_.checks_in_state(CheckStateFilter::kAny, {}).value.size(), 5u);
  EXPECT_EQ(state_.service_checks("web", {}).value.size(), 2u);
}

TEST_F(StateTest, NodeServicesOfAnUnknownNodeIsEmpty) {
  ASSERT_EQ(apply(reg("n1", service_def("web"))).error, "");
  EXPECT_FALSE(state_.node_services("nobody").value.has_value());
  const auto known = state_.node_services("n1");
  ASSERT_TRUE(known.value.has_value());
  EXPECT_EQ(known.value->services.size(), 1u);
  EXPECT_EQ(known.index, 1u);
}

TEST_F(StateTest, FromTablesRefusesBrokenInvariants) {
  ASSERT_EQ(
      apply(reg("n1", service_def("web"), {check_def("c", HealthStatus::kPassing, "web")})).error,
      "");
  CatalogState::Tables good;
  for (const auto& [k, v] : state_.node_table()) good.nodes.push_back(v);
  for (const auto& [k, v] : state_.service_table()) good.services.push_back(v);
  for (const auto& [k, v] : state_.check_table()) good.checks.push_back(v);
  good.service_name_indexes = state_.service_name_indexes();
  good.nodes_index = good.services_index = good.checks_index = 1;
  auto restored = CatalogState::from_tables(good);
  ASSERT_TRUE(restored);
  EXPECT_TRUE(*restored == state_);

  auto orphan = good;
  orphan.nodes.clear();  // a service on a missing node
  EXPECT_FALSE(CatalogState::from_tables(orphan));
  auto behind = good;
  behind.checks_index = 0;  // a check newer than its table
  EXPECT_FALSE(CatalogState::from_tables(behind));
  auto no_name_index = good;
  no_name_index.service_name_indexes.clear();
  EXPECT_FALSE(CatalogState::from_tables(no_name_index));
  auto duplicate = good;
  duplicate.nodes.push_back(duplicate.nodes[0]);
  EXPECT_FALSE(CatalogState::from_tables(duplicate));
}

}  // namespace
}  // namespace praetor::catalog
