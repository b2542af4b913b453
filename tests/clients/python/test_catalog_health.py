"""python-consul's catalog and health calls against praetor, expected as Consul documents them
(consul-compat.md §3.3-3.4). Agent registration: test_agent_registration.py."""

import consul

from clienttest import AGENT_IP, NODE_NAME, ClientTestCase, main


def ids(entries, field):
    return sorted(e[field] for e in entries)


class Catalog(ClientTestCase):
    def register_web(self, node="ext1", service_id="web1", status="passing"):
        self.assertIs(self.c.catalog.register(
            node, "10.1.2.3",
            service={"Service": "web", "ID": service_id, "Port": 80, "Tags": ["v1", "blue"]},
            check={"Name": "web alive", "CheckID": "web-alive", "ServiceID": service_id,
                   "Status": status}), True)
        self.addCleanup(self.c.catalog.deregister, node)

    def test_nodes_include_this_agent_and_a_registered_node(self):
        self.register_web()
        index, nodes = self.c.catalog.nodes()
        self.assertGreaterEqual(int(index), 1)
        by_name = {n["Node"]: n for n in nodes}
        self.assertEqual(by_name[NODE_NAME]["Address"], AGENT_IP)
        self.assertEqual(by_name["ext1"]["Address"], "10.1.2.3")
        self.assertEqual([n["Node"] for n in nodes], sorted(by_name))  # sorted by name

    def test_services_map_names_to_their_tags_and_include_consul(self):
        self.register_web()
        _, services = self.c.catalog.services()
        self.assertEqual(services["consul"], [])
        self.assertEqual(sorted(services["web"]), ["blue", "v1"])

    def test_service_lists_its_instances(self):
        self.register_web()
        self.register_web(node="ext2", service_id="web2")
        _, instances = self.c.catalog.service("web")
        self.assertEqual(ids(instances, "ServiceID"), ["web1", "web2"])
        first = next(i for i in instances if i["ServiceID"] == "web1")
        self.assertEqual(first["Node"], "ext1")
        self.assertEqual(first["Address"], "10.1.2.3")
        self.assertEqual(first["ServiceName"], "web")
        self.assertEqual(first["ServicePort"], 80)
        self.assertEqual(sorted(first["ServiceTags"]), ["blue", "v1"])
        _, tagged = self.c.catalog.service("web", tag="blue")
        self.assertEqual(len(tagged), 2)
        self.assertEqual(self.c.catalog.service("web", tag="green")[1], [])

    def test_node_shows_its_services_and_an_unknown_node_is_none(self):
        self.register_web()
        _, node = self.c.catalog.node("ext1")
        self.assertEqual(node["Node"]["Address"], "10.1.2.3")
        self.assertEqual(node["Services"]["web1"]["Service"], "web")
        self.assertEqual(node["Services"]["web1"]["Port"], 80)
        self.assertIsNone(self.c.catalog.node("no-such-node")[1])

    def test_deregister_a_service_then_the_node(self):
        self.register_web()
        self.assertIs(self.c.catalog.deregister("ext1", service_id="web1"), True)
        self.assertEqual(self.c.catalog.service("web")[1], [])
        self.assertIn("ext1", [n["Node"] for n in self.c.catalog.nodes()[1]])
        self.assertIs(self.c.catalog.deregister("ext1"), True)
        self.assertNotIn("ext1", [n["Node"] for n in self.c.catalog.nodes()[1]])

    def test_a_blocking_nodes_query_wakes_on_a_registration(self):
        index, _ = self.c.catalog.nodes()
        self.register_web(node="late")
        new_index, nodes = self.c.catalog.nodes(index=index, wait="30s")
        self.assertGreater(int(new_index), int(index))
        self.assertIn("late", [n["Node"] for n in nodes])

    def test_an_unknown_datacenter_is_an_error(self):
        with self.assertRaises(consul.ConsulException):
            consul.Consul(dc="dc2").catalog.nodes()


class Health(ClientTestCase):
    def register(self, node, service_id, status):
        self.assertTrue(self.c.catalog.register(
            node, "10.0.0.9", service={"Service": "db", "ID": service_id, "Port": 5432},
            check={"Name": "db check", "CheckID": "db-" + service_id, "ServiceID": service_id,
                   "Status": status}))
        self.addCleanup(self.c.catalog.deregister, node)

    def test_service_returns_node_service_and_checks(self):
        self.register("h1", "db1", "passing")
        _, entries = self.c.health.service("db")
        self.assertEqual(len(entries), 1)
        entry = entries[0]
        self.assertEqual(entry["Node"]["Node"], "h1")
        self.assertEqual(entry["Service"]["ID"], "db1")
        self.assertEqual(entry["Service"]["Port"], 5432)
        self.assertIn("db-db1", [c["CheckID"] for c in entry["Checks"]])

    def test_passing_drops_instances_with_any_check_not_passing(self):
        self.register("h1", "db1", "passing")
        self.register("h2", "db2", "warning")
        self.register("h3", "db3", "critical")
        _, every = self.c.health.service("db")
        self.assertEqual([e["Service"]["ID"] for e in every], ["db1", "db2", "db3"])
        _, passing = self.c.health.service("db", passing=True)
        self.assertEqual([e["Service"]["ID"] for e in passing], ["db1"])

    def test_checks_of_a_service(self):
        self.register("h1", "db1", "warning")
        _, checks = self.c.health.checks("db")
        self.assertEqual([(c["CheckID"], c["Status"], c["ServiceID"]) for c in checks],
                         [("db-db1", "warning", "db1")])

    def test_state_lists_checks_in_that_state(self):
        self.register("h1", "db1", "critical")
        _, critical = self.c.health.state("critical")
        self.assertIn("db-db1", [c["CheckID"] for c in critical])
        _, passing = self.c.health.state("passing")
        self.assertNotIn("db-db1", [c["CheckID"] for c in passing])
        _, anything = self.c.health.state("any")
        self.assertIn("db-db1", [c["CheckID"] for c in anything])

    def test_node_health_includes_serf_health(self):
        _, checks = self.c.health.node(NODE_NAME)
        serf = [c for c in checks if c["CheckID"] == "serfHealth"]
        self.assertEqual(len(serf), 1)
        self.assertEqual(serf[0]["Status"], "passing")
        self.assertEqual(serf[0]["Name"], "Serf Health Status")


if __name__ == "__main__":
    main()
