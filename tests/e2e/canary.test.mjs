// Canary keys (issue: leaks, part 3): planted where attackers look, refused exactly as an unknown
// key, never authenticating anything, hidden from self-service, and their use recorded with what
// the request showed (audit log, and a webhook where one is set).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, bearer, call, createKey, E, forgedKey, newAccount, request } from "./helpers.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function canary(account, url) {
  const res = await admin("POST", `/accounts/${account}/keys`, { url, body: { type: "secret", mode: "live", name: "old-config.yml", canary: true } });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.json.canary, true);
  return res.json;
}

/** What a response shows a client, with the per-request and per-key parts masked. */
function shape(res, secret) {
  const headers = { ...res.headers };
  for (const h of ["keygate-request-id", "date", "content-length"]) delete headers[h];
  const body = res.text.replaceAll(secret.slice(-4), "XXXX").replace(/req_[0-9A-Za-z]{24}/g, "req_");
  return { status: res.status, headers, body, length: res.text.length };
}

async function until(account, mode, cond, what, url) {
  for (let i = 0; i < 100; i++) {
    const res = await admin("GET", `/accounts/${account}/events?mode=${mode}&limit=100`, { url });
    const found = res.json.data.filter(cond);
    if (found.length) return found;
    await sleep(100);
  }
  assert.fail(what);
}

describe("canary keys", () => {
  it("are refused byte for byte as an unknown key, and their use is recorded with who and what", async () => {
    const account = newAccount();
    const c = await canary(account);
    const stranger = forgedKey("sk_live_");
    const headers = { "cf-connecting-ip": "203.0.113.77", "user-agent": "python-requests/2.31" };
    const refused = await call("/v1/charges/ch_1", { method: "POST", headers: { ...headers, authorization: bearer(c.secret) } });
    const unknown = await call("/v1/charges/ch_1", { method: "POST", headers: { ...headers, "cf-connecting-ip": "203.0.113.78", authorization: bearer(stranger) } });
    assertError(refused, 401, "authentication_error", "api_key_invalid");
    assert.deepEqual(shape(refused, c.secret), shape(unknown, stranger));
    // Recorded, with what the request showed (the query never).
    const [used] = await until(account, "live", (e) => e.type === "key.canary_used", "key.canary_used recorded");
    assert.equal(used.key_id, c.id);
    assert.deepEqual([used.data.ip, used.data.user_agent, used.data.method, used.data.path], ["203.0.113.77", "python-requests/2.31", "POST", "/v1/charges/ch_1"]);
    assert.equal(used.actor, "system");
    // Basic auth too: the same refusal.
    const basic = await call("/v1/x", { headers: { authorization: `Basic ${Buffer.from(`${c.secret}:`).toString("base64")}` } });
    assertError(basic, 401, "authentication_error", "api_key_invalid");
    // The operator sees the key, marked, and when it was last used.
    const seen = await admin("GET", `/accounts/${account}/keys/${c.id}`);
    assert.equal(seen.json.canary, true);
    assert.equal(seen.json.status, "active");
    assert.ok(seen.json.last_used > 0, seen.text);
  });

  it("never authenticates self-service, and a real key of the account cannot see or touch it", async () => {
    const account = newAccount();
    const c = await canary(account);
    const real = await createKey({ account, mode: "live" });
    assertError(await call("/_keygate/v1/keys", { headers: { authorization: bearer(c.secret) } }), 401, "authentication_error", "api_key_invalid");
    const list = await call("/_keygate/v1/keys?limit=100", { headers: { authorization: bearer(real.secret) } });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.data.every((k) => k.id !== c.id && k.canary === false), "a canary is not listed to self-service");
    const get = await call(`/_keygate/v1/keys/${c.id}`, { headers: { authorization: bearer(real.secret) } });
    assertError(get, 404, "invalid_request_error", "resource_missing");
    const revoke = await call(`/_keygate/v1/keys/${c.id}`, { method: "DELETE", headers: { authorization: bearer(real.secret) } });
    assertError(revoke, 404, "invalid_request_error", "resource_missing");
    assert.equal((await admin("GET", `/accounts/${account}/keys/${c.id}`)).json.status, "active");
    // The self-service attempt with the canary itself was recorded too.
    await until(account, "live", (e) => e.type === "key.canary_used" && e.data.path === "/_keygate/v1/keys", "self-service use recorded");
    // `canary` is set at creation only.
    assertError(await admin("PATCH", `/accounts/${account}/keys/${c.id}`, { body: { canary: false } }), 400, "invalid_request_error", "parameter_unknown", "canary");
    assertError(await admin("POST", `/accounts/${account}/keys`, { body: { type: "secret", mode: "live", canary: "yes" } }), 400, "invalid_request_error", "parameter_invalid", "canary");
  });

  it("a revoked canary is just an unknown key, and a canary's use reaches the webhook", async () => {
    const account = newAccount();
    const c = await canary(account);
    assert.equal((await admin("DELETE", `/accounts/${account}/keys/${c.id}`)).status, 200);
    assertError(await call("/v1/x", { headers: { authorization: bearer(c.secret) } }), 401, "authentication_error", "api_key_invalid");
    // The `clock` instance sends webhooks (webhooks.test.mjs): the use arrives there, verified.
    const url = E.urls.clock;
    const other = newAccount();
    const d = await canary(other, url);
    assertError(await call("/v1/y", { url, headers: { authorization: bearer(d.secret), "user-agent": "scanner/1" } }), 401, "authentication_error", "api_key_invalid");
    for (let i = 0; i < 100; i++) {
      const r = (await request(`${E.webhooks.base}/received?account=${other}`)).json.received;
      const hook = r.find((x) => x.type === "key.canary_used");
      if (hook) {
        assert.ok(hook.verified);
        assert.equal(hook.object.id, d.id);
        assert.equal(hook.detail.user_agent, "scanner/1");
        assert.ok(!hook.raw.includes(d.secret), "no secret in the webhook");
        return;
      }
      await sleep(100);
    }
    assert.fail("no key.canary_used webhook");
  });
});
