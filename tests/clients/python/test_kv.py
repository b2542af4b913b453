"""python-consul's KV API against praetor, written from the client's docstrings and Consul's
documented KV behaviour (consul-compat.md §3.5): values, flags, check-and-set, recursion, key
listings, deletes and blocking queries."""

import concurrent.futures
import time

import consul

from clienttest import ClientTestCase, main


class KvValues(ClientTestCase):
    def test_put_then_get_returns_the_value_and_its_indexes(self):
        self.assertIs(self.c.kv.put(self.key("a"), "hello"), True)
        index, data = self.c.kv.get(self.key("a"))
        self.assertEqual(data["Key"], self.key("a"))
        self.assertEqual(data["Value"], b"hello")
        self.assertEqual(data["Flags"], 0)
        self.assertEqual(data["LockIndex"], 0)
        self.assertEqual(data["CreateIndex"], data["ModifyIndex"])
        self.assertNotIn("Session", data)  # omitted when no session holds the key
        # The index of a single-key read is that key's ModifyIndex (blocking on it means
        # "wake me when this key changes").
        self.assertEqual(int(index), data["ModifyIndex"])

    def test_a_missing_key_is_none_with_an_index_to_block_on(self):
        index, data = self.c.kv.get(self.key("missing"))
        self.assertIsNone(data)
        self.assertGreaterEqual(int(index), 1)

    def test_none_and_empty_values_read_back_as_none(self):
        self.assertTrue(self.c.kv.put(self.key("none"), None))
        self.assertIsNone(self.c.kv.get(self.key("none"))[1]["Value"])
        self.assertTrue(self.c.kv.put(self.key("empty"), ""))
        self.assertIsNone(self.c.kv.get(self.key("empty"))[1]["Value"])

    def test_overwrite_keeps_create_index_and_moves_modify_index(self):
        self.c.kv.put(self.key("a"), "1")
        _, first = self.c.kv.get(self.key("a"))
        self.c.kv.put(self.key("a"), "2")
        _, second = self.c.kv.get(self.key("a"))
        self.assertEqual(second["Value"], b"2")
        self.assertEqual(second["CreateIndex"], first["CreateIndex"])
        self.assertGreater(second["ModifyIndex"], first["ModifyIndex"])

    def test_unicode_keys_and_values_and_binary_values_round_trip(self):
        # Python's http.client sends a str body as Latin-1, so text beyond it goes as bytes.
        self.assertTrue(self.c.kv.put(self.key("ключ/♥"), "☃ snow".encode("utf-8")))
        _, data = self.c.kv.get(self.key("ключ/♥"))
        self.assertEqual(data["Key"], self.key("ключ/♥"))
        self.assertEqual(data["Value"].decode("utf-8"), "☃ snow")
        blob = bytes(range(256)) + b"\x00\r\n\x00"
        self.assertTrue(self.c.kv.put(self.key("blob"), blob))
        self.assertEqual(self.c.kv.get(self.key("blob"))[1]["Value"], blob)

    def test_keys_with_spaces_and_reserved_characters(self):
        # python-consul percent-encodes the path; the server must decode it back.
        for name in ["with space", "q?mark", "hash#tag", "pct%41", "plus+sign", "a:b=c&d"]:
            with self.subTest(name=name):
                self.assertTrue(self.c.kv.put(self.key(name), name))
                _, data = self.c.kv.get(self.key(name))
                self.assertEqual(data["Key"], self.key(name))
                self.assertEqual(data["Value"], name.encode())

    def test_flags_are_stored_up_to_uint64_max(self):
        self.assertTrue(self.c.kv.put(self.key("f"), "v", flags=50))
        self.assertEqual(self.c.kv.get(self.key("f"))[1]["Flags"], 50)
        self.assertTrue(self.c.kv.put(self.key("max"), "v", flags=2**64 - 1))
        self.assertEqual(self.c.kv.get(self.key("max"))[1]["Flags"], 2**64 - 1)
        # A later put without flags resets them to 0, as in Consul.
        self.assertTrue(self.c.kv.put(self.key("f"), "w"))
        self.assertEqual(self.c.kv.get(self.key("f"))[1]["Flags"], 0)

    def test_token_is_ignored_while_acls_are_disabled(self):
        c = consul.Consul(token="no-such-token")
        self.assertTrue(c.kv.put(self.key("t"), "v"))
        self.assertEqual(c.kv.get(self.key("t"))[1]["Value"], b"v")

    def test_consistency_modes_read_the_value(self):
        self.c.kv.put(self.key("a"), "v")
        for mode in ("default", "consistent", "stale"):
            with self.subTest(mode=mode):
                _, data = self.c.kv.get(self.key("a"), consistency=mode)
                self.assertEqual(data["Value"], b"v")

    def test_an_unknown_datacenter_is_an_error(self):
        with self.assertRaises(consul.ConsulException) as raised:
            self.c.kv.get(self.key("a"), dc="dc2")
        self.assertIn("No path to datacenter", str(raised.exception))
        with self.assertRaises(consul.ConsulException):
            self.c.kv.put(self.key("a"), "v", dc="dc2")
        self.assertIsNone(self.c.kv.get(self.key("a"))[1])


class KvCas(ClientTestCase):
    def test_cas_zero_creates_only_when_absent(self):
        self.assertIs(self.c.kv.put(self.key("c"), "first", cas=0), True)
        self.assertIs(self.c.kv.put(self.key("c"), "second", cas=0), False)
        self.assertEqual(self.c.kv.get(self.key("c"))[1]["Value"], b"first")

    def test_cas_with_the_modify_index_writes_and_a_stale_index_does_not(self):
        self.c.kv.put(self.key("c"), "1")
        _, data = self.c.kv.get(self.key("c"))
        stale = data["ModifyIndex"]
        self.assertIs(self.c.kv.put(self.key("c"), "2", cas=stale + 1000), False)
        self.assertIs(self.c.kv.put(self.key("c"), "2", cas=stale), True)
        self.assertIs(self.c.kv.put(self.key("c"), "3", cas=stale), False)  # index moved on
        _, data = self.c.kv.get(self.key("c"))
        self.assertEqual(data["Value"], b"2")
        self.assertGreater(data["ModifyIndex"], stale)

    def test_delete_cas_needs_the_current_modify_index(self):
        self.c.kv.put(self.key("d"), "v")
        index = self.c.kv.get(self.key("d"))[1]["ModifyIndex"]
        self.assertIs(self.c.kv.delete(self.key("d"), cas=index + 1), False)
        self.assertIs(self.c.kv.delete(self.key("d"), cas=0), False)  # 0 never deletes
        self.assertIsNotNone(self.c.kv.get(self.key("d"))[1])
        self.assertIs(self.c.kv.delete(self.key("d"), cas=index), True)
        self.assertIsNone(self.c.kv.get(self.key("d"))[1])


class KvTrees(ClientTestCase):
    def put_tree(self):
        for name, value in [("", None), ("b/2", "b2"), ("a", "a"), ("b/1", "b1"),
                            ("b/sub/x", "x"), ("c", "c")]:
            self.assertTrue(self.c.kv.put(self.key(name), value))

    def test_recurse_returns_every_key_under_the_prefix_in_key_order(self):
        self.put_tree()
        _, items = self.c.kv.get(self.prefix, recurse=True)
        self.assertEqual([i["Key"] for i in items],
                         [self.key(n) for n in ["", "a", "b/1", "b/2", "b/sub/x", "c"]])
        self.assertEqual([i["Value"] for i in items], [None, b"a", b"b1", b"b2", b"x", b"c"])
        _, items = self.c.kv.get(self.key("b/"), recurse=True)
        self.assertEqual([i["Key"] for i in items],
                         [self.key(n) for n in ["b/1", "b/2", "b/sub/x"]])

    def test_recurse_on_an_empty_prefix_is_none(self):
        index, items = self.c.kv.get(self.key("nothing/"), recurse=True)
        self.assertIsNone(items)
        self.assertGreaterEqual(int(index), 1)

    def test_recurse_is_a_string_prefix_not_a_directory(self):
        self.c.kv.put(self.key("ab"), "1")
        self.c.kv.put(self.key("abc/d"), "2")
        self.c.kv.put(self.key("b"), "3")
        _, items = self.c.kv.get(self.key("ab"), recurse=True)
        self.assertEqual([i["Key"] for i in items], [self.key("ab"), self.key("abc/d")])

    def test_keys_lists_names_only(self):
        self.put_tree()
        _, keys = self.c.kv.get(self.prefix, keys=True)
        self.assertEqual(keys, [self.key(n) for n in ["", "a", "b/1", "b/2", "b/sub/x", "c"]])

    def test_keys_with_a_separator_roll_up_at_the_separator(self):
        self.put_tree()
        _, keys = self.c.kv.get(self.prefix, keys=True, separator="/")
        self.assertEqual(keys, [self.key(n) for n in ["", "a", "b/", "c"]])
        _, keys = self.c.kv.get(self.key("b/"), keys=True, separator="/")
        self.assertEqual(keys, [self.key(n) for n in ["b/1", "b/2", "b/sub/"]])
        # Any string can be the separator.
        _, keys = self.c.kv.get(self.key("b"), keys=True, separator="1")
        self.assertEqual(keys, [self.key(n) for n in ["b/1", "b/2", "b/sub/x"]])

    def test_keys_under_a_prefix_with_nothing_is_none(self):
        self.assertIsNone(self.c.kv.get(self.key("zzz/"), keys=True)[1])

    def test_delete_removes_one_key(self):
        self.put_tree()
        self.assertIs(self.c.kv.delete(self.key("b/1")), True)
        self.assertIsNone(self.c.kv.get(self.key("b/1"))[1])
        self.assertIsNotNone(self.c.kv.get(self.key("b/2"))[1])
        # Deleting a key that is not there still succeeds.
        self.assertIs(self.c.kv.delete(self.key("b/1")), True)

    def test_delete_recurse_removes_the_prefix_and_nothing_else(self):
        self.put_tree()
        self.assertIs(self.c.kv.delete(self.key("b/"), recurse=True), True)
        _, keys = self.c.kv.get(self.prefix, keys=True)
        self.assertEqual(keys, [self.key(n) for n in ["", "a", "c"]])


class KvBlocking(ClientTestCase):
    """Blocking reads: a read with ?index parks until the key's index passes it or wait runs out.

    The reads run in a thread; the write runs in the test thread. Whether the write lands
    before or after the read parks, the read must return the new value: nothing here depends
    on timing except the lower bound of a timed-out wait.
    """

    def setUp(self):
        super().setUp()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        self.addCleanup(self.pool.shutdown)

    def test_a_write_wakes_a_blocked_get_with_the_new_value_and_index(self):
        self.c.kv.put(self.key("w"), "before")
        index, _ = self.c.kv.get(self.key("w"))
        started = time.monotonic()
        blocked = self.pool.submit(self.c.kv.get, self.key("w"), index=index, wait="30s")
        self.assertTrue(self.c.kv.put(self.key("w"), "after"))
        new_index, data = blocked.result(timeout=35)
        self.assertLess(time.monotonic() - started, 25, "woken by the wait, not by the write")
        self.assertEqual(data["Value"], b"after")
        self.assertGreater(int(new_index), int(index))
        self.assertEqual(int(new_index), data["ModifyIndex"])

    def test_a_timed_out_wait_returns_the_same_value_and_index(self):
        self.c.kv.put(self.key("t"), "same")
        index, _ = self.c.kv.get(self.key("t"))
        started = time.monotonic()
        again, data = self.c.kv.get(self.key("t"), index=index, wait="1s")
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(elapsed, 0.95, "returned before the wait ran out")
        self.assertLess(elapsed, 10)
        self.assertEqual(again, index)
        self.assertEqual(data["Value"], b"same")

    def test_a_blocked_get_on_a_missing_key_wakes_when_it_is_created(self):
        index, data = self.c.kv.get(self.key("later"))
        self.assertIsNone(data)
        blocked = self.pool.submit(self.c.kv.get, self.key("later"), index=index, wait="30s")
        self.assertTrue(self.c.kv.put(self.key("later"), "here"))
        _, data = blocked.result(timeout=35)
        self.assertEqual(data["Value"], b"here")

    def test_a_blocked_recurse_wakes_on_a_write_under_the_prefix(self):
        self.c.kv.put(self.key("dir/a"), "1")
        index, items = self.c.kv.get(self.key("dir/"), recurse=True)
        self.assertEqual(len(items), 1)
        blocked = self.pool.submit(self.c.kv.get, self.key("dir/"), recurse=True, index=index,
                                   wait="30s")
        self.c.kv.put(self.key("dir/b"), "2")
        new_index, items = blocked.result(timeout=35)
        self.assertEqual([i["Key"] for i in items], [self.key("dir/a"), self.key("dir/b")])
        self.assertGreater(int(new_index), int(index))

    def test_a_delete_wakes_a_blocked_get(self):
        self.c.kv.put(self.key("gone"), "v")
        index, _ = self.c.kv.get(self.key("gone"))
        blocked = self.pool.submit(self.c.kv.get, self.key("gone"), index=index, wait="30s")
        self.c.kv.delete(self.key("gone"))
        new_index, data = blocked.result(timeout=35)
        self.assertIsNone(data)
        self.assertGreater(int(new_index), int(index))


if __name__ == "__main__":
    main()
