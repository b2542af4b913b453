// The node `consul` client's event calls against /v1/event/fire and /v1/event/list
// (consul-compat.md §3.7).
"use strict";

const { describe, it, after } = require("node:test");
const assert = require("node:assert/strict");
const { client } = require("./clienttest");

const consul = client();
after(() => consul.destroy());

describe("events", () => {
  it("fire returns the event and list finds it by name", async () => {
    const event = await consul.event.fire("deploy", "53");
    assert.equal(event.Name, "deploy");
    assert.equal(event.Payload, "53");  // the client decodes the base64 payload
    assert.equal(event.Version, 1);
    assert.equal(typeof event.LTime, "number");
    const other = await consul.event.fire("other", "x");
    const deploys = await consul.event.list("deploy");
    assert.ok(deploys.some((e) => e.ID === event.ID && e.Payload === "53"));
    assert.equal(deploys.some((e) => e.ID === other.ID), false);
  });

  it("filters are echoed", async () => {
    const event = await consul.event.fire({ name: "f", payload: "p", node: "web.*",
      service: "api", tag: "v1" });
    assert.equal(event.NodeFilter, "web.*");
    assert.equal(event.ServiceFilter, "api");
    assert.equal(event.TagFilter, "v1");
  });
});
