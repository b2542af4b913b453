"""python-consul's session calls and KV locks against praetor, expected as Consul documents them
(consul-compat.md §3.5, §3.6)."""

import re
import urllib.error
import urllib.request

import consul

from clienttest import AGENT_ADDR, NODE_NAME, ClientTestCase, main

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Sessions(ClientTestCase):
    def create(self, **kwargs):
        session_id = self.c.session.create(**kwargs)
        self.addCleanup(self.c.session.destroy, session_id)
        return session_id

    def test_create_with_defaults_then_info(self):
        sid = self.create()
        self.assertRegex(sid, UUID)
        index, info = self.c.session.info(sid)
        self.assertGreaterEqual(int(index), 1)
        self.assertEqual(info["ID"], sid)
        self.assertEqual(info["Node"], NODE_NAME)
        self.assertEqual(info["Behavior"], "release")
        self.assertEqual(info["LockDelay"], 15 * 10**9)  # the client sends "15s"
        self.assertEqual(info["NodeChecks"], ["serfHealth"])

    def test_create_with_name_ttl_and_delete_behavior(self):
        sid = self.create(name="worker", ttl=20, behavior="delete")
        _, info = self.c.session.info(sid)
        self.assertEqual(info["Name"], "worker")
        self.assertEqual(info["TTL"], "20s")
        self.assertEqual(info["Behavior"], "delete")

    def test_a_ttl_below_the_minimum_is_refused(self):
        # python-consul 0.7.1 refuses a TTL under 10 s itself (an assert) before sending, so
        # the server's answer is checked with a request of our own.
        with self.assertRaises(AssertionError):
            self.c.session.create(ttl=5)
        request = urllib.request.Request(f"http://{AGENT_ADDR}/v1/session/create",
                                         data=b'{"TTL": "5s"}', method="PUT")
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request)
        self.assertEqual(raised.exception.code, 500)
        self.assertIn("Invalid Session TTL", raised.exception.read().decode())

    def test_a_session_on_an_unknown_node_is_refused(self):
        with self.assertRaises(consul.ConsulException):
            self.c.session.create(node="no-such-node")

    def test_list_and_node(self):
        a, b = self.create(name="a"), self.create(name="b")
        _, sessions = self.c.session.list()
        self.assertLessEqual({a, b}, {s["ID"] for s in sessions})
        _, on_node = self.c.session.node(NODE_NAME)
        self.assertLessEqual({a, b}, {s["ID"] for s in on_node})
        self.assertEqual(self.c.session.node("no-such-node")[1], [])

    def test_renew_returns_the_session_and_an_unknown_one_is_not_found(self):
        sid = self.create(ttl=15)
        renewed = self.c.session.renew(sid)
        self.assertEqual(renewed["ID"], sid)
        self.assertEqual(renewed["TTL"], "15s")
        with self.assertRaises(consul.NotFound):
            self.c.session.renew("00000000-0000-0000-0000-000000000000")

    def test_destroy_removes_it(self):
        sid = self.c.session.create()
        self.assertIs(self.c.session.destroy(sid), True)
        self.assertIsNone(self.c.session.info(sid)[1])
        self.assertNotIn(sid, [s["ID"] for s in self.c.session.list()[1]])


class Locks(ClientTestCase):
    def session(self, **kwargs):
        sid = self.c.session.create(**kwargs)
        self.addCleanup(self.c.session.destroy, sid)
        return sid

    def test_acquire_and_release(self):
        s1, s2 = self.session(lock_delay=0), self.session(lock_delay=0)
        k = self.key("lock")
        self.assertIs(self.c.kv.put(k, "held by s1", acquire=s1), True)
        _, data = self.c.kv.get(k)
        self.assertEqual(data["Session"], s1)
        self.assertEqual(data["LockIndex"], 1)
        self.assertEqual(data["Value"], b"held by s1")
        self.assertIs(self.c.kv.put(k, "s2 wants it", acquire=s2), False)
        self.assertIs(self.c.kv.put(k, "again", acquire=s1), True)   # the holder may rewrite
        self.assertEqual(self.c.kv.get(k)[1]["LockIndex"], 1)         # not a new acquisition
        self.assertIs(self.c.kv.put(k, "x", release=s2), False)       # not s2's to release
        self.assertIs(self.c.kv.put(k, "released", release=s1), True)
        _, data = self.c.kv.get(k)
        self.assertNotIn("Session", data)
        self.assertEqual(data["LockIndex"], 1)
        self.assertIs(self.c.kv.put(k, "s2 now", acquire=s2), True)
        self.assertEqual(self.c.kv.get(k)[1]["LockIndex"], 2)

    def test_acquire_with_an_unknown_session_is_an_error(self):
        with self.assertRaises(consul.ConsulException) as raised:
            self.c.kv.put(self.key("l"), "v", acquire="00000000-0000-0000-0000-000000000000")
        self.assertIn("invalid session", str(raised.exception))

    def test_destroying_a_release_session_unlocks_its_keys(self):
        sid = self.c.session.create(lock_delay=0)
        self.c.kv.put(self.key("l"), "v", acquire=sid)
        self.c.session.destroy(sid)
        _, data = self.c.kv.get(self.key("l"))
        self.assertNotIn("Session", data)
        self.assertEqual(data["Value"], b"v")

    def test_destroying_a_delete_session_deletes_its_keys(self):
        sid = self.c.session.create(behavior="delete", lock_delay=0)
        self.c.kv.put(self.key("l"), "v", acquire=sid)
        self.c.session.destroy(sid)
        self.assertIsNone(self.c.kv.get(self.key("l"))[1])

    def test_lock_delay_holds_a_key_after_its_session_is_invalidated(self):
        s1 = self.c.session.create(lock_delay=15)
        s2 = self.session()
        self.c.kv.put(self.key("l"), "v", acquire=s1)
        self.c.session.destroy(s1)  # an invalidation, not a release: the delay applies
        self.assertIs(self.c.kv.put(self.key("l"), "v", acquire=s2), False)

    def test_a_blocked_get_wakes_when_the_lock_is_released(self):
        sid = self.session(lock_delay=0)
        self.c.kv.put(self.key("l"), "v", acquire=sid)
        index, _ = self.c.kv.get(self.key("l"))
        self.c.kv.put(self.key("l"), "v", release=sid)
        new_index, data = self.c.kv.get(self.key("l"), index=index, wait="30s")
        self.assertGreater(int(new_index), int(index))
        self.assertNotIn("Session", data)


if __name__ == "__main__":
    main()
