// The node `consul` client's KV API against praetor, written from the client's README and
// Consul's documented KV behaviour (consul-compat.md §3.5).
"use strict";

const { describe, it, before, after, afterEach } = require("node:test");
const assert = require("node:assert/strict");
const { client, prefix, nthChange } = require("./clienttest");

const consul = client();

// Consul answers a refused CAS with the JSON body `false`; node-consul 2.0.1 resolves that as
// undefined (papi drops a falsy result), so "refused" is "not true, and falsy". The tests then
// read the key back to check that nothing was written.
function assertRefused(result) {
  assert.ok(result !== true && !result, `expected a refusal, got ${result}`);
}
let p;

before(() => {
  p = prefix("kv");
});
afterEach(async () => {
  await consul.kv.del({ key: p, recurse: true });
});
after(() => consul.destroy());

describe("values", () => {
  it("set then get returns the value and its indexes", async () => {
    assert.equal(await consul.kv.set(p + "a", "hello"), true);
    const item = await consul.kv.get(p + "a");
    assert.equal(item.Key, p + "a");
    assert.equal(item.Value, "hello");
    assert.equal(item.Flags, 0);
    assert.equal(item.LockIndex, 0);
    assert.equal(item.CreateIndex, item.ModifyIndex);
    assert.equal("Session" in item, false);
  });

  it("a missing key is undefined", async () => {
    assert.equal(await consul.kv.get(p + "missing"), undefined);
  });

  it("an empty value reads back as null", async () => {
    assert.equal(await consul.kv.set(p + "e", ""), true);
    assert.equal((await consul.kv.get(p + "e")).Value, null);
  });

  it("binary values round trip as buffers and raw bytes", async () => {
    const blob = Buffer.from([0, 255, 1, 128, 13, 10, 0]);
    assert.equal(await consul.kv.set(p + "bin", blob), true);
    const item = await consul.kv.get({ key: p + "bin", buffer: true });
    assert.deepEqual(item.Value, blob);
    const raw = await consul.kv.get({ key: p + "bin", raw: true });
    assert.deepEqual(raw, blob);
  });

  it("unicode keys and values round trip", async () => {
    assert.equal(await consul.kv.set(p + "ключ/♥", "☃ snow"), true);
    const item = await consul.kv.get(p + "ключ/♥");
    assert.equal(item.Key, p + "ключ/♥");
    assert.equal(item.Value, "☃ snow");
  });

  it("keys with reserved characters are decoded by the server", async () => {
    // The client percent-encodes path parameters (a/b travels as a%2Fb).
    for (const name of ["with space", "q?mark", "hash#tag", "pct%41", "a:b=c&d"]) {
      assert.equal(await consul.kv.set(p + name, name), true);
      const item = await consul.kv.get(p + name);
      assert.equal(item.Key, p + name);
      assert.equal(item.Value, name);
    }
  });

  it("flags are stored and reset by a later set without them", async () => {
    assert.equal(await consul.kv.set({ key: p + "f", value: "v", flags: 4294967295 }), true);
    assert.equal((await consul.kv.get(p + "f")).Flags, 4294967295);
    await consul.kv.set(p + "f", "w");
    assert.equal((await consul.kv.get(p + "f")).Flags, 0);
  });

  it("consistency modes and a token are accepted", async () => {
    const withToken = client({ defaults: { token: "no-such-token" } });
    try {
      await withToken.kv.set(p + "c", "v");
      for (const mode of [{ consistent: true }, { stale: true }, {}]) {
        assert.equal((await withToken.kv.get({ key: p + "c", ...mode })).Value, "v");
      }
    } finally {
      withToken.destroy();
    }
  });

  it("an unknown datacenter is a 500 naming it", async () => {
    await assert.rejects(consul.kv.get({ key: p + "a", dc: "dc2" }), (err) => {
      assert.equal(err.statusCode, 500);
      assert.match(err.message, /No path to datacenter/);
      return true;
    });
  });
});

describe("check-and-set", () => {
  it("cas 0 creates only when absent", async () => {
    assert.equal(await consul.kv.set({ key: p + "c", value: "1", cas: 0 }), true);
    assertRefused(await consul.kv.set({ key: p + "c", value: "2", cas: 0 }));
    assert.equal((await consul.kv.get(p + "c")).Value, "1");
  });

  it("cas with the ModifyIndex writes once", async () => {
    await consul.kv.set(p + "c", "1");
    const { ModifyIndex: index } = await consul.kv.get(p + "c");
    assertRefused(await consul.kv.set({ key: p + "c", value: "x", cas: index + 7 }));
    assert.equal(await consul.kv.set({ key: p + "c", value: "2", cas: index }), true);
    assertRefused(await consul.kv.set({ key: p + "c", value: "3", cas: index }));
    assert.equal((await consul.kv.get(p + "c")).Value, "2");
  });

  it("delete with cas needs the current ModifyIndex", async () => {
    await consul.kv.set(p + "d", "v");
    const { ModifyIndex: index } = await consul.kv.get(p + "d");
    assertRefused(await consul.kv.del({ key: p + "d", cas: index + 1 }));
    assert.notEqual(await consul.kv.get(p + "d"), undefined);
    assert.equal(await consul.kv.del({ key: p + "d", cas: index }), true);
    assert.equal(await consul.kv.get(p + "d"), undefined);
  });
});

describe("trees", () => {
  const names = ["a", "b/1", "b/2", "b/sub/x", "c"];
  async function putTree() {
    for (const n of [...names].reverse()) assert.equal(await consul.kv.set(p + n, n), true);
  }

  it("recurse returns every key under the prefix in key order", async () => {
    await putTree();
    const items = await consul.kv.get({ key: p, recurse: true });
    assert.deepEqual(items.map((i) => i.Key), names.map((n) => p + n));
    assert.deepEqual(items.map((i) => i.Value), names);
    const sub = await consul.kv.get({ key: p + "b/", recurse: true });
    assert.deepEqual(sub.map((i) => i.Key), ["b/1", "b/2", "b/sub/x"].map((n) => p + n));
  });

  it("recurse on an empty prefix is undefined", async () => {
    assert.equal(await consul.kv.get({ key: p + "none/", recurse: true }), undefined);
  });

  it("keys lists names, and a separator rolls them up", async () => {
    await putTree();
    assert.deepEqual(await consul.kv.keys(p), names.map((n) => p + n));
    assert.deepEqual(await consul.kv.keys({ key: p, separator: "/" }),
      ["a", "b/", "c"].map((n) => p + n));
    assert.deepEqual(await consul.kv.keys({ key: p + "b/", separator: "/" }),
      ["b/1", "b/2", "b/sub/"].map((n) => p + n));
  });

  it("keys under a prefix with nothing is a 404 error", async () => {
    // kv.keys has no 404 special case (unlike kv.get), so Consul's 404 surfaces as an error.
    await assert.rejects(consul.kv.keys(p + "none/"), (err) => err.statusCode === 404);
  });

  it("del removes one key, del recurse the prefix and nothing else", async () => {
    await putTree();
    assert.equal(await consul.kv.del(p + "a"), true);
    assert.equal(await consul.kv.get(p + "a"), undefined);
    assert.equal(await consul.kv.del({ key: p + "b/", recurse: true }), true);
    assert.deepEqual(await consul.kv.keys(p), [p + "c"]);
  });
});

describe("blocking queries", () => {
  it("a write wakes a get blocked on the ModifyIndex", async () => {
    await consul.kv.set(p + "w", "before");
    const { ModifyIndex: index } = await consul.kv.get(p + "w");
    const started = Date.now();
    const blocked = consul.kv.get({ key: p + "w", index, wait: "30s" });
    await consul.kv.set(p + "w", "after");
    const item = await blocked;
    assert.ok(Date.now() - started < 25000, "woken by the wait, not by the write");
    assert.equal(item.Value, "after");
    assert.ok(item.ModifyIndex > index);
  });

  it("a timed-out wait returns the unchanged value", async () => {
    await consul.kv.set(p + "t", "same");
    const before = await consul.kv.get(p + "t");
    const started = Date.now();
    const item = await consul.kv.get({ key: p + "t", index: before.ModifyIndex, wait: "1s" });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 950, `returned after ${elapsed} ms, before the wait ran out`);
    assert.ok(elapsed < 10000);
    assert.deepEqual(item, before);
  });

  it("a watch sees the initial value, then the write, with a rising X-Consul-Index", async () => {
    await consul.kv.set(p + "watched", "v1");
    let firstIndex;
    const watch = consul.watch({ method: consul.kv.get, options: { key: p + "watched" } });
    const [data, res] = await nthChange(watch, 2, async (k, first, firstRes) => {
      assert.equal(first.Value, "v1");
      firstIndex = BigInt(firstRes.headers["x-consul-index"]);
      await consul.kv.set(p + "watched", "v2");
    });
    assert.equal(data.Value, "v2");
    assert.ok(BigInt(res.headers["x-consul-index"]) > firstIndex);
    assert.equal(BigInt(res.headers["x-consul-index"]), BigInt(data.ModifyIndex));
  });

  it("a watch on a missing key fires when it is created", async () => {
    const watch = consul.watch({ method: consul.kv.get, options: { key: p + "later" } });
    const [data] = await nthChange(watch, 2, async (k, first) => {
      assert.equal(first, undefined);
      await consul.kv.set(p + "later", "here");
    });
    assert.equal(data.Value, "here");
  });

  it("a watch on a prefix fires on a write under it", async () => {
    await consul.kv.set(p + "dir/a", "1");
    const watch = consul.watch({ method: consul.kv.get, options: { key: p + "dir/", recurse: true } });
    const [items] = await nthChange(watch, 2, async () => {
      await consul.kv.set(p + "dir/b", "2");
    });
    assert.deepEqual(items.map((i) => i.Key), [p + "dir/a", p + "dir/b"]);
  });
});
