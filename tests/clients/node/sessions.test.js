// The node `consul` client's session calls and KV locks against praetor (consul-compat.md §3.5,
// §3.6).
"use strict";

const { describe, it, before, after, afterEach } = require("node:test");
const assert = require("node:assert/strict");
const { client, prefix, nodeName, uuidPattern } = require("./clienttest");

const consul = client();
let p;
const sessions = [];
before(() => {
  p = prefix("locks");
});
afterEach(async () => {
  while (sessions.length) await consul.session.destroy(sessions.pop());
  await consul.kv.del({ key: p, recurse: true });
});
after(() => consul.destroy());

async function create(opts = {}) {
  const { ID } = await consul.session.create(opts);
  sessions.push(ID);
  return ID;
}

describe("sessions", () => {
  it("create, info, list, node", async () => {
    const id = await create({ name: "web-lock", ttl: "20s", behavior: "delete" });
    assert.match(id, uuidPattern);
    const info = await consul.session.info(id);
    for (const field of ["CreateIndex", "ID", "Name", "Node", "NodeChecks", "LockDelay",
      "Behavior", "TTL"]) assert.ok(field in info, field);
    assert.equal(info.Name, "web-lock");
    assert.equal(info.Node, nodeName);
    assert.equal(info.TTL, "20s");
    assert.equal(info.Behavior, "delete");
    assert.deepEqual(info.NodeChecks, ["serfHealth"]);
    assert.equal(info.LockDelay, 15e9);
    assert.ok((await consul.session.list()).some((s) => s.ID === id));
    assert.ok((await consul.session.node(nodeName)).some((s) => s.ID === id));
    assert.deepEqual(await consul.session.node("no-such-node"), []);
  });

  it("renew returns the session; an unknown one is a 404", async () => {
    const id = await create({ ttl: "15s" });
    const renewed = await consul.session.renew(id);
    assert.equal(renewed[0].ID, id);
    await assert.rejects(consul.session.renew("00000000-0000-0000-0000-000000000000"),
      (err) => err.statusCode === 404);
  });

  it("destroy removes it; info of an unknown session is undefined", async () => {
    const { ID: id } = await consul.session.create();
    await consul.session.destroy(id);
    assert.equal(await consul.session.info(id), undefined);
  });

  it("a TTL below session_ttl_min is a 500 starting 'Invalid Session TTL'", async () => {
    await assert.rejects(consul.session.create({ ttl: "1s" }), (err) => {
      assert.equal(err.statusCode, 500);
      assert.match(err.message, /^Invalid Session TTL/);
      return true;
    });
  });
});

describe("locks", () => {
  it("acquire, contend, release, re-acquire", async () => {
    const s1 = await create({ lockdelay: "0s" });
    const s2 = await create({ lockdelay: "0s" });
    const k = p + "leader";
    assert.equal(await consul.kv.set({ key: k, value: "s1", acquire: s1 }), true);
    let item = await consul.kv.get(k);
    assert.equal(item.Session, s1);
    assert.equal(item.LockIndex, 1);
    const contended = await consul.kv.set({ key: k, value: "s2", acquire: s2 });
    assert.ok(contended !== true && !contended);  // `false`, which node-consul resolves falsy
    assert.equal((await consul.kv.get(k)).Value, "s1");
    assert.equal(await consul.kv.set({ key: k, value: "done", release: s1 }), true);
    item = await consul.kv.get(k);
    assert.equal("Session" in item, false);
    assert.equal(await consul.kv.set({ key: k, value: "s2", acquire: s2 }), true);
    assert.equal((await consul.kv.get(k)).LockIndex, 2);
  });

  it("acquire with an unknown session is a 500 'invalid session'", async () => {
    await assert.rejects(
      consul.kv.set({ key: p + "x", value: "v", acquire: "00000000-0000-0000-0000-000000000000" }),
      (err) => err.statusCode === 500 && /invalid session/.test(err.message));
  });

  it("destroying the holder releases the key", async () => {
    const { ID: s } = await consul.session.create({ lockdelay: "0s" });
    await consul.kv.set({ key: p + "held", value: "v", acquire: s });
    await consul.session.destroy(s);
    const item = await consul.kv.get(p + "held");
    assert.equal(item.Value, "v");
    assert.equal("Session" in item, false);
  });
});
