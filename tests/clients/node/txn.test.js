// The node `consul` client's transactions over KV against praetor (consul-compat.md §3.7).
"use strict";

const { describe, it, before, after, afterEach } = require("node:test");
const assert = require("node:assert/strict");
const { client, prefix } = require("./clienttest");

const consul = client();
let p;
before(() => {
  p = prefix("txn");
});
afterEach(async () => {
  await consul.kv.del({ key: p, recurse: true });
});
after(() => consul.destroy());

const b64 = (s) => Buffer.from(s).toString("base64");

describe("txn", () => {
  it("sets and gets in one transaction", async () => {
    const result = await consul.transaction.create([
      { KV: { Verb: "set", Key: p + "a", Value: b64("1") } },
      { KV: { Verb: "set", Key: p + "b", Value: b64("2"), Flags: 7 } },
    ]);
    assert.equal(result.Errors, null);
    assert.equal(result.Results.length, 2);
    assert.equal(result.Results[0].KV.Key, p + "a");
    assert.equal(result.Results[0].KV.Value, null);  // set results carry no value
    assert.equal((await consul.kv.get(p + "b")).Flags, 7);
    const read = await consul.transaction.create([
      { KV: { Verb: "get", Key: p + "a" } },
      { KV: { Verb: "get-tree", Key: p } },
    ]);
    assert.deepEqual(read.Results.map((r) => r.KV.Key), [p + "a", p + "a", p + "b"]);
    assert.equal(Buffer.from(read.Results[0].KV.Value, "base64").toString(), "1");
  });

  it("a failed check rolls everything back with a 409 and the failing op's index", async () => {
    await consul.kv.set(p + "a", "old");
    await assert.rejects(consul.transaction.create([
      { KV: { Verb: "set", Key: p + "a", Value: b64("new") } },
      { KV: { Verb: "check-not-exists", Key: p + "a" } },
    ]), (err) => {
      assert.equal(err.statusCode, 409);
      assert.equal(err.response.body.Errors[0].OpIndex, 1);
      return true;
    });
    assert.equal((await consul.kv.get(p + "a")).Value, "old");
  });

  it("cas and delete-cas use the ModifyIndex", async () => {
    await consul.kv.set(p + "c", "1");
    const { ModifyIndex: index } = await consul.kv.get(p + "c");
    const result = await consul.transaction.create([
      { KV: { Verb: "cas", Key: p + "c", Value: b64("2"), Index: index } },
    ]);
    assert.equal(result.Errors, null);
    const moved = (await consul.kv.get(p + "c")).ModifyIndex;
    await consul.transaction.create([{ KV: { Verb: "delete-cas", Key: p + "c", Index: moved } }]);
    assert.equal(await consul.kv.get(p + "c"), undefined);
  });
});
