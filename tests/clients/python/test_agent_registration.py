"""PENDING (ctest label clients-pending, DISABLED until the agent's local services and checks land,
issue 12): python-consul's agent registration calls, expected as Consul documents them
(consul-compat.md §3.2)."""

import consul

from clienttest import ClientTestCase, main


class AgentRegistration(ClientTestCase):
    def test_register_a_service_with_a_ttl_check(self):
        self.assertIs(self.c.agent.service.register(
            "api", service_id="api1", port=8080, tags=["x"],
            check=consul.Check.ttl("30s")), True)
        services = self.c.agent.services()
        self.assertEqual(services["api1"]["Service"], "api")
        self.assertEqual(services["api1"]["Port"], 8080)
        self.assertEqual(services["api1"]["Tags"], ["x"])
        checks = self.c.agent.checks()
        self.assertEqual(checks["service:api1"]["Status"], "critical")  # TTL checks start so
        self.assertEqual(checks["service:api1"]["ServiceID"], "api1")
        # Synced to the catalog before the reply (Consul syncs inside the handler).
        self.assertEqual([s["ServiceID"] for s in self.c.catalog.service("api")[1]], ["api1"])
        self.assertEqual(self.c.health.service("api", passing=True)[1], [])

    def test_register_a_check_for_an_unknown_service_is_an_error(self):
        with self.assertRaises(consul.ConsulException):
            self.c.agent.check.register("c", consul.Check.ttl("10s"), service_id="nope")

    def test_register_a_node_check_and_list_it(self):
        self.assertIs(self.c.agent.check.register("disk", consul.Check.ttl("10s"),
                                                  check_id="disk1", notes="df"), True)
        check = self.c.agent.checks()["disk1"]
        self.assertEqual(check["Name"], "disk")
        self.assertEqual(check["Notes"], "df")
        self.assertEqual(check["ServiceID"], "")

    def test_calls_this_client_sends_as_get_are_refused_as_consul_1x_does(self):
        # python-consul 0.7.1 sends service/check deregister and the TTL updates as GET;
        # Consul 1.0 and later answer 405 (PUT only), which the client reports as False.
        self.c.agent.service.register("old", service_id="old1", check=consul.Check.ttl("30s"))
        self.assertIs(self.c.agent.check.ttl_pass("service:old1"), False)
        self.assertIs(self.c.agent.service.deregister("old1"), False)
        self.assertIn("old1", self.c.agent.services())

    def test_service_maintenance_adds_a_critical_check(self):
        self.c.agent.service.register("m", service_id="m1")
        self.assertIs(self.c.agent.service.maintenance("m1", "true", reason="upgrade"), True)
        check = self.c.agent.checks()["_service_maintenance:m1"]
        self.assertEqual(check["Status"], "critical")
        self.assertEqual(check["Notes"], "upgrade")
        self.assertIs(self.c.agent.service.maintenance("m1", "false"), True)
        self.assertNotIn("_service_maintenance:m1", self.c.agent.checks())


if __name__ == "__main__":
    main()
