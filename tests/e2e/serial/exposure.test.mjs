// A real key sent over plain HTTP is refused at once, and recorded as exposed.
// Serial: the same local state is served first over HTTPS, then over plain HTTP, then over HTTPS
// again, by instances started one after another (two workerd processes must never share a
// state directory at the same time). Each is the two-worker layout: the lean edge refuses the
// request and reports the exposure to the full worker's Durable Object.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { freePort, splitConfigs, startWrangler } from "../../../scripts/lib/dev.mjs";
import { checkedAdmin as admin, checkedRequest as request } from "../openapi.mjs";
import { forgedKey } from "../helpers.mjs";
import { startEchoOrigin } from "../../../scripts/echo-origin.mjs";

const E = JSON.parse(fs.readFileSync(process.env.KEYGATE_E2E, "utf8"));
const state = path.join(E.runDir, "state-exposure");
const token = E.secrets.ADMIN_TOKEN;
const config = splitConfigs(path.join(E.runDir, "split-exposure"), {
  suffix: "exposure",
  fullVars: { ...E.secrets, ORIGIN_TEST: "http://127.0.0.1:9", ORIGIN_LIVE: "http://127.0.0.1:9" },
});

async function withInstance(protocol, vars, fn) {
  const origin = await startEchoOrigin("test");
  const w = await startWrangler({
    // A port the OS says is free: a random pick can collide with another process's
    // (wrangler's own inspector takes an ephemeral port too).
    port: await freePort(),
    protocol,
    envFile: E.secretsFile,
    persistTo: state,
    logFile: path.join(E.runDir, `wrangler-exposure-${protocol}.log`),
    vars: { ORIGIN_TEST: origin.url, ORIGIN_LIVE: origin.url, ...vars },
    config,
  });
  try {
    return await fn(w.url);
  } finally {
    await w.stop();
    origin.server.close();
  }
}

describe("exposure over plain HTTP", () => {
  it("is refused with https_required, recorded as key.exposed, and ON_EXPOSURE=expire ends the key", async () => {
    const [flagged, doomed, bystander] = await withInstance("https", {}, async (url) => {
      const make = async () => (await admin(url, token, "POST", "/accounts/acct_exposure/keys", { type: "secret", mode: "test" })).json;
      return [await make(), await make(), await make()];
    });
    await withInstance("http", { ON_EXPOSURE: "flag" }, async (url) => {
      const res = await request(`${url}/v1/charges`, { headers: { authorization: `Bearer ${flagged.secret}` } });
      assert.equal(res.status, 403);
      assert.equal(res.json.error.code, "https_required");
      await new Promise((r) => setTimeout(r, 1500)); // the report runs after the response (waitUntil)
    });
    await withInstance("http", { ON_EXPOSURE: "expire" }, async (url) => {
      const res = await request(`${url}/v1/charges`, { headers: { authorization: `Basic ${Buffer.from(`${doomed.secret}:`).toString("base64")}` } });
      assert.equal(res.json.error.code, "https_required");
      await new Promise((r) => setTimeout(r, 1500));
    });
    await withInstance("https", {}, async (url) => {
      const get = async (k) => (await admin(url, token, "GET", `/accounts/acct_exposure/keys/${k.id}`)).json;
      const f = await get(flagged);
      assert.equal(f.exposed?.reason, "plain_http");
      assert.equal(f.status, "active", "flag only");
      const d = await get(doomed);
      assert.equal(d.exposed?.reason, "plain_http");
      assert.equal(d.status, "expired");
      const dead = await request(`${url}/v1/charges`, { headers: { authorization: `Bearer ${doomed.secret}` } });
      assert.equal(dead.json.error.code, "api_key_expired");
      assert.equal((await get(bystander)).exposed, null);
      const events = (await admin(url, token, "GET", "/accounts/acct_exposure/events?mode=test&limit=100")).json.data;
      assert.deepEqual(
        events.filter((e) => e.type === "key.exposed").map((e) => [e.key_id, e.data.reason]).sort(),
        [[doomed.id, "plain_http"], [flagged.id, "plain_http"]].sort(),
      );
    });
  });

  it("looks keys up under the same throttling as every other lookup", async () => {
    const [late, control] = await withInstance("https", {}, async (url) => {
      const make = async () => (await admin(url, token, "POST", "/accounts/acct_exposure2/keys", { type: "secret", mode: "test" })).json;
      return [await make(), await make()];
    });
    await withInstance("http", { ON_EXPOSURE: "flag" }, async (url) => {
      const from = (key, ip) => request(`${url}/v1/charges`, { headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": ip } });
      // Forged keys with valid checksums, each a lookup, from one address: past the limit, the
      // address is throttled (enough of them that one window of the local limiter holds 21).
      for (let i = 0; i < 45; i++) {
        assert.equal((await from(forgedKey(), "100.66.6.6")).json.error.code, "https_required");
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 1500));
      // A real key from the throttled address gets no lookup (so it is not found to be exposed);
      // the same kind of key from another address is.
      assert.equal((await from(late.secret, "100.66.6.6")).json.error.code, "https_required");
      assert.equal((await from(control.secret, "100.66.7.7")).json.error.code, "https_required");
      await new Promise((r) => setTimeout(r, 1500));
    });
    await withInstance("https", {}, async (url) => {
      const get = async (k) => (await admin(url, token, "GET", `/accounts/acct_exposure2/keys/${k.id}`)).json;
      assert.equal((await get(control)).exposed?.reason, "plain_http", "lookups happen");
      assert.equal((await get(late)).exposed, null, "but not for a throttled address");
    });
  });
});
