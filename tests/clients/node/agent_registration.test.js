// PENDING (ctest label clients-pending, DISABLED until the agent's local services and checks
// land, issue 12): the node client's agent registration calls (consul-compat.md §3.2).
"use strict";

const { describe, it, after } = require("node:test");
const assert = require("node:assert/strict");
const { client } = require("./clienttest");

const consul = client();
after(() => consul.destroy());

describe("agent registration", () => {
  it("a service with a TTL check: critical, then pass, warn, fail", async () => {
    await consul.agent.service.register({ name: "api", id: "api1", port: 80, tags: ["a"],
      check: { ttl: "30s" } });
    try {
      const services = await consul.agent.service.list();
      assert.equal(services.api1.Service, "api");
      assert.deepEqual(services.api1.Tags, ["a"]);
      const checkId = "service:api1";
      assert.equal((await consul.agent.check.list())[checkId].Status, "critical");
      await consul.agent.check.pass({ id: checkId, note: "fine" });
      let check = (await consul.agent.check.list())[checkId];
      assert.equal(check.Status, "passing");
      assert.equal(check.Output, "fine");
      // Synced to the catalog before the reply, so health sees it at once.
      assert.deepEqual((await consul.health.service({ service: "api", passing: true }))
        .map((e) => e.Service.ID), ["api1"]);
      await consul.agent.check.warn(checkId);
      assert.equal((await consul.agent.check.list())[checkId].Status, "warning");
      await consul.agent.check.fail(checkId);
      assert.equal((await consul.agent.check.list())[checkId].Status, "critical");
    } finally {
      await consul.agent.service.deregister("api1");
    }
    assert.equal("api1" in (await consul.agent.service.list()), false);
    assert.equal("service:api1" in (await consul.agent.check.list()), false);
  });

  it("node checks register and deregister", async () => {
    await consul.agent.check.register({ name: "disk", id: "disk1", ttl: "10s", notes: "df" });
    const check = (await consul.agent.check.list()).disk1;
    assert.equal(check.Name, "disk");
    assert.equal(check.Notes, "df");
    assert.equal(check.Status, "critical");
    await consul.agent.check.deregister("disk1");
    assert.equal("disk1" in (await consul.agent.check.list()), false);
  });

  it("node and service maintenance add critical checks", async () => {
    await consul.agent.service.register({ name: "m", id: "m1" });
    try {
      await consul.agent.service.maintenance({ id: "m1", enable: true, reason: "upgrade" });
      const check = (await consul.agent.check.list())["_service_maintenance:m1"];
      assert.equal(check.Status, "critical");
      assert.equal(check.Notes, "upgrade");
      await consul.agent.service.maintenance({ id: "m1", enable: false });
      assert.equal("_service_maintenance:m1" in (await consul.agent.check.list()), false);
      await consul.agent.maintenance({ enable: true, reason: "rack move" });
      assert.equal((await consul.agent.check.list())._node_maintenance.Notes, "rack move");
      await consul.agent.maintenance(false);
      assert.equal("_node_maintenance" in (await consul.agent.check.list()), false);
    } finally {
      await consul.agent.service.deregister("m1");
    }
  });

  it("a service without a name is a 400", async () => {
    await assert.rejects(consul.agent.service.register({ id: "x", name: "" }),
      (err) => err.statusCode === 400 || err.isValidation === true);
  });
});
