"""python-consul's event calls against praetor's /v1/event/fire and /v1/event/list, expected as
Consul documents them (consul-compat.md §3.7)."""

import base64

from clienttest import ClientTestCase, main


class Events(ClientTestCase):
    def test_fire_returns_the_event(self):
        event = self.c.event.fire("deploy", "v1.2")
        self.assertEqual(event["Name"], "deploy")
        self.assertEqual(base64.b64decode(event["Payload"]), b"v1.2")
        self.assertEqual(event["Version"], 1)
        self.assertIsInstance(event["LTime"], int)
        self.assertRegex(event["ID"], r"^[0-9a-f-]{36}$")

    def test_list_returns_fired_events_filtered_by_name(self):
        a = self.c.event.fire("alpha", "1")
        b = self.c.event.fire("beta", "2")
        _, events = self.c.event.list()
        self.assertLessEqual({a["ID"], b["ID"]}, {e["ID"] for e in events})
        _, alphas = self.c.event.list(name="alpha")
        self.assertIn(a["ID"], [e["ID"] for e in alphas])
        self.assertTrue(all(e["Name"] == "alpha" for e in alphas))
        fired = next(e for e in alphas if e["ID"] == a["ID"])
        self.assertEqual(fired["Payload"], b"1")  # the client decodes the list's payloads

    def test_a_blocking_list_wakes_on_a_new_event(self):
        self.c.event.fire("tick", "0")
        index, _ = self.c.event.list(name="tick")
        fired = self.c.event.fire("tick", "1")
        new_index, events = self.c.event.list(name="tick", index=index, wait="30s")
        self.assertNotEqual(new_index, index)
        self.assertIn(fired["ID"], [e["ID"] for e in events])


if __name__ == "__main__":
    main()
