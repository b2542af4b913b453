// The node `consul` client's status, agent, catalog-datacenters calls against a fresh
// single-server `praetor agent -dev` (consul-compat.md §3.2, §3.7).
"use strict";

const { describe, it, after } = require("node:test");
const assert = require("node:assert/strict");
const { client, host, nodeName, uuidPattern } = require("./clienttest");

const consul = client();
const leader = `${host}:8300`;
after(() => consul.destroy());

describe("status", () => {
  it("leader is this server's RPC address", async () => {
    assert.equal(await consul.status.leader(), leader);
  });
  it("peers is exactly this server", async () => {
    assert.deepEqual(await consul.status.peers(), [leader]);
  });
});

describe("agent", () => {
  it("self describes this server", async () => {
    const self = await consul.agent.self();
    assert.equal(self.Config.NodeName, nodeName);
    assert.equal(self.Config.Datacenter, "dc1");
    assert.equal(self.Config.Server, true);
    assert.match(self.Config.NodeID, uuidPattern);
    assert.equal(self.Member.Name, nodeName);
    assert.equal(self.Member.Addr, host);
    assert.equal(self.Stats.consul.leader_addr, leader);
  });

  it("members lists this server alive with its serf port and tags", async () => {
    const members = await consul.agent.members();
    assert.equal(members.length, 1);
    const [m] = members;
    assert.equal(m.Name, nodeName);
    assert.equal(m.Addr, host);
    assert.equal(m.Port, 8301);
    assert.equal(m.Status, 1);
    assert.equal(m.Tags.role, "consul");
    assert.equal(m.Tags.dc, "dc1");
    assert.equal(m.Tags.port, "8300");
    assert.deepEqual(m, (await consul.agent.self()).Member);
  });

  it("wan members are named node.datacenter", async () => {
    const wan = await consul.agent.members({ wan: true });
    assert.deepEqual(wan.map((m) => m.Name), [`${nodeName}.dc1`]);
    assert.equal(wan[0].Port, 8302);
  });

  it("join of our own address succeeds and adds nobody", async () => {
    await consul.agent.join(host);  // resolves (200, empty body) or throws
    assert.equal((await consul.agent.members()).length, 1);
  });

  it("join of an address nobody listens on is an error", async () => {
    // 127.0.0.49 is in this suite's range and no test runs an agent there.
    await assert.rejects(consul.agent.join("127.0.0.49"), (err) => {
      assert.equal(err.statusCode, 500);
      return true;
    });
  });

  it("reload answers 200", async () => {
    await consul.agent.reload();
  });
});

describe("catalog", () => {
  it("datacenters is the local one", async () => {
    assert.deepEqual(await consul.catalog.datacenters(), ["dc1"]);
  });
});
