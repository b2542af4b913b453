// Shared setup for the node `consul` tests: a client for the agent run_with_agent.py started
// (CONSUL_HTTP_ADDR), the node name it was given, and a fresh key prefix per test.
"use strict";

const crypto = require("node:crypto");
const Consul = require("consul");

const [host, port] = process.env.CONSUL_HTTP_ADDR.split(":");

function client(options = {}) {
  return new Consul({ host, port: Number(port), ...options });
}

// Keys under a random prefix so tests in one file never see each other's keys.
function prefix(name) {
  return `${name}-${crypto.randomBytes(4).toString("hex")}/`;
}

// Resolves with [data, res] of the watch's nth "change" event (1-based) and calls
// onChange(k, data, res) for each earlier one, so a test can write from inside the handler: the
// write then always happens after the watch saw the earlier state.
function nthChange(watch, n, onChange = () => {}) {
  return new Promise((resolve, reject) => {
    let seen = 0;
    watch.on("error", reject);
    watch.on("change", (data, res) => {
      seen += 1;
      if (seen === n) {
        watch.end();
        resolve([data, res]);
      } else {
        Promise.resolve(onChange(seen, data, res)).catch(reject);
      }
    });
  });
}

module.exports = {
  host,
  port: Number(port),
  nodeName: process.env.PRAETOR_TEST_NODE_NAME,
  client,
  prefix,
  nthChange,
  uuidPattern: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
};
