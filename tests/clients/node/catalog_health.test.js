// The node `consul` client's catalog and health calls against praetor, expected as Consul
// documents them (consul-compat.md §3.3-3.4). Agent registration: agent_registration.test.js.
"use strict";

const { describe, it, after, afterEach } = require("node:test");
const assert = require("node:assert/strict");
const { client, host, nodeName } = require("./clienttest");

const consul = client();
const registered = [];
afterEach(async () => {
  while (registered.length) await consul.catalog.deregister({ node: registered.pop() });
});
after(() => consul.destroy());

async function registerDb(node, id, status) {
  await consul.catalog.register({
    node, address: "10.0.0.7",
    service: { service: "db", id, port: 5432, tags: ["primary"] },
    check: { name: "db check", checkid: `db-${id}`, serviceid: id, status },
  });
  registered.push(node);
}

describe("catalog", () => {
  it("register shows up in nodes, services, service and node", async () => {
    await registerDb("n1", "db1", "passing");
    const nodes = await consul.catalog.node.list();
    assert.equal(nodes.find((n) => n.Node === nodeName).Address, host);
    assert.equal(nodes.find((n) => n.Node === "n1").Address, "10.0.0.7");
    const services = await consul.catalog.service.list();
    assert.deepEqual(services.consul, []);
    assert.deepEqual(services.db, ["primary"]);
    const instances = await consul.catalog.service.nodes("db");
    assert.deepEqual(instances.map((i) => [i.Node, i.ServiceID, i.ServicePort]),
      [["n1", "db1", 5432]]);
    assert.deepEqual(await consul.catalog.service.nodes({ service: "db", tag: "replica" }), []);
    const node = await consul.catalog.node.services("n1");
    assert.equal(node.Node.Node, "n1");
    assert.equal(node.Services.db1.Service, "db");
  });

  it("deregister a service, then the node", async () => {
    await registerDb("n2", "db2", "passing");
    await consul.catalog.deregister({ node: "n2", serviceid: "db2" });
    assert.deepEqual(await consul.catalog.service.nodes("db"), []);
    await consul.catalog.deregister({ node: "n2" });
    assert.equal((await consul.catalog.node.list()).some((n) => n.Node === "n2"), false);
  });

  it("the consul service lists this server on port 8300", async () => {
    const servers = await consul.catalog.service.nodes("consul");
    assert.deepEqual(servers.map((s) => [s.Node, s.ServicePort]), [[nodeName, 8300]]);
  });
});

describe("health", () => {
  it("service with passing drops instances whose checks are not all passing", async () => {
    await registerDb("h1", "db1", "passing");
    await registerDb("h2", "db2", "warning");
    await registerDb("h3", "db3", "critical");
    const all = await consul.health.service("db");
    assert.deepEqual(all.map((e) => e.Service.ID), ["db1", "db2", "db3"]);
    const passing = await consul.health.service({ service: "db", passing: true });
    assert.deepEqual(passing.map((e) => e.Service.ID), ["db1"]);
    assert.ok(all[0].Checks.some((c) => c.CheckID === "db-db1"));
  });

  it("checks, state and node", async () => {
    await registerDb("h4", "db4", "critical");
    const checks = await consul.health.checks("db");
    assert.deepEqual(checks.map((c) => [c.CheckID, c.Status]), [["db-db4", "critical"]]);
    const critical = await consul.health.state("critical");
    assert.ok(critical.some((c) => c.CheckID === "db-db4"));
    const passing = await consul.health.state("passing");
    assert.equal(passing.some((c) => c.CheckID === "db-db4"), false);
    const own = await consul.health.node(nodeName);
    const serf = own.find((c) => c.CheckID === "serfHealth");
    assert.equal(serf.Status, "passing");
    assert.equal(serf.Name, "Serf Health Status");
  });
});
