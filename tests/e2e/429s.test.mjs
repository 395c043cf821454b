// Failed-authentication throttling per client address (Workers Rate Limiting binding): it bounds
// guessing, counts every kind of failure at exactly the configured threshold, and cannot be
// turned against a valid key that shares the attacker's address.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, bearer, call, createKey, E, forgedKey } from "./helpers.mjs";

const LIMIT = 20; // wrangler.toml: [[ratelimits]] AUTH_FAILURES, simple = { limit = 20, period = 60 }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const address = () => `100.127.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;

/** The local limiter counts in windows aligned to the wall clock: start early in one. */
async function earlyInAWindow() {
  const into = (Date.now() / 1000) % 60;
  if (into > 45) await sleep((61 - into) * 1000);
}

describe("429: failed authentications are throttled per address", () => {
  it("every kind of failure counts, and exactly the configured threshold is allowed", async () => {
    // The single-worker instance: the operator's token is checked by the same worker.
    const url = E.urls.pinned;
    const revoked = await createKey({ url });
    assert.equal((await admin("DELETE", `/accounts/${revoked.account}/keys/${revoked.id}`, { url })).status, 200);
    const expired = await createKey({ url });
    assert.equal((await admin("POST", `/accounts/${expired.account}/keys/${expired.id}/expire`, { url })).status, 200);
    const good = await createKey({ url });
    const badChecksum = good.secret.slice(0, -1) + (good.secret.endsWith("A") ? "B" : "A");
    const kinds = [
      [{ authorization: bearer(revoked.secret) }, "/v1/x", "api_key_revoked"],
      [{ authorization: bearer(expired.secret) }, "/v1/x", "api_key_expired"],
      [{ authorization: bearer(forgedKey()) }, "/v1/x", "api_key_invalid"],
      [{ authorization: bearer(badChecksum) }, "/v1/x", "api_key_invalid"],
      [{ authorization: "Bearer sk_test_x y" }, "/v1/x", "authorization_malformed"],
      [{ authorization: `Bearer ${E.secrets.ADMIN_TOKEN}x` }, "/_keygate/v1/accounts/acct_x/keys", "admin_token_invalid"],
    ];
    await earlyInAWindow();
    const ip = address();
    // Missing credentials are not guesses: they never count.
    for (let i = 0; i < 25; i++) assertError(await call("/v1/x", { url, headers: { "cf-connecting-ip": ip } }), 401, "authentication_error", "api_key_missing");
    for (let i = 0; i < LIMIT; i++) {
      const [headers, path, code] = kinds[i % kinds.length];
      const res = await call(path, { url, headers: { ...headers, "cf-connecting-ip": ip } });
      assert.equal(res.json.error.code, code, `failure ${i + 1}: ${res.text}`);
    }
    const over = await call("/v1/x", { url, headers: { authorization: bearer(forgedKey()), "cf-connecting-ip": ip } });
    const e = assertError(over, 429, "rate_limit_error", "too_many_failed_attempts");
    assert.match(e.message, /Retry in \d+ seconds/);
    const retry = Number(over.headers["retry-after"]);
    assert.ok(retry > 0 && retry <= 60, `${retry}`);
    // Every kind is now refused at once, without a lookup.
    for (const [headers, path] of kinds) {
      assertError(await call(path, { url, headers: { ...headers, "cf-connecting-ip": ip } }), 429, "rate_limit_error", "too_many_failed_attempts");
    }
    // Answered first for a throttled address (no setting read again), and still the same
    // answer in full: status, headers and body, whatever the credential's fault.
    for (const authorization of [undefined, "Bearer", "Token x", `Bearer sk_live_${"A".repeat(38)}`]) {
      const headers = { "cf-connecting-ip": ip, ...(authorization ? { authorization } : {}) };
      const res = await call("/v1/x?a=1", { url, headers });
      const e = assertError(res, 429, "rate_limit_error", "too_many_failed_attempts");
      assert.match(e.message, /Retry in \d+ seconds/);
      assert.ok(Number(res.headers["retry-after"]) > 0, res.headers["retry-after"]);
      assert.equal(res.headers["content-type"], "application/json");
      assert.equal(res.headers["cache-control"], "no-store");
      assert.match(res.headers["keygate-request-id"], /^req_/);
    }
    // A preflight for an allowlisted route keeps its own path (browsers send no key)…
    const preflight = await call("/v1/tokens", {
      url,
      method: "OPTIONS",
      headers: { "cf-connecting-ip": ip, origin: "https://shop.example", "access-control-request-method": "POST" },
    });
    assert.equal(preflight.status, 204, preflight.text);
    // …and a request's shape is still judged before throttling.
    assertError(await call("/v1/x", { url, method: "TRACE", headers: { "cf-connecting-ip": ip } }), 405, "invalid_request_error", "method_not_allowed");
    // The right operator token still works: checking it reads nothing.
    const op = await admin("GET", `/accounts/${good.account}/keys`, { url, headers: { "cf-connecting-ip": ip } });
    assert.equal(op.status, 200, op.text);
  });

  it("a flood of bad keys from a user's own address does not lock out the user's key", async () => {
    const user = await createKey();
    const stranger = await createKey();
    await earlyInAWindow();
    const ip = address();
    const from = (key) => call("/v1/x", { headers: { authorization: bearer(key), "cf-connecting-ip": ip } });
    assert.equal((await from(user.secret)).status, 200, "the user works from this address");
    const codes = [];
    for (let i = 0; i < LIMIT + 5; i++) codes.push((await from(forgedKey())).json.error.code);
    assert.deepEqual(codes.slice(0, LIMIT), Array(LIMIT).fill("api_key_invalid"));
    assert.deepEqual(codes.slice(LIMIT), Array(5).fill("too_many_failed_attempts"), codes.join(","));
    // The user's key, seen valid here, keeps working from the throttled address…
    const res = await from(user.secret);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.headers["keygate-account"], user.account);
    // …while a key never seen valid here waits out the period, costing no lookup meanwhile;
    // from any other address it works.
    assertError(await from(stranger.secret), 429, "rate_limit_error", "too_many_failed_attempts");
    assert.equal((await call("/v1/x", { headers: { authorization: bearer(stranger.secret), "cf-connecting-ip": address() } })).status, 200);
  });
});
