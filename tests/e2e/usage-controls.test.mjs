// Usage controls at the edge: a key's rate limit and credits, spent from blocks leased from the
// authority, through real workerd (wrangler dev, the lean edge with its full worker).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, bearer, call, newAccount } from "./helpers.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function keyWith(account, settings) {
  const res = await admin("POST", `/accounts/${account}/keys`, { body: { type: "secret", mode: "test", ...settings } });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

describe("usage controls: rate limits and credits", () => {
  it("limit 5 per 60 s: exactly five 200s, then 429 rate_limit_exceeded with the headers; another key is unaffected", async () => {
    // Start early in a minute, so the six requests fall in one window.
    const into = (Date.now() / 1000) % 60;
    if (into > 40) await sleep((61 - into) * 1000);
    const account = newAccount();
    const limited = await keyWith(account, { rate_limit: { limit: 5, window: 60 } });
    const other = await keyWith(account, {});
    assert.deepEqual(limited.rate_limit, { limit: 5, window: 60 });
    for (let i = 0; i < 5; i++) {
      const res = await call("/v1/charges", { headers: { authorization: bearer(limited.secret) } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers["ratelimit-policy"], '"default";q=5;w=60');
      const m = /^"default";r=(\d+);t=(\d+)$/.exec(res.headers.ratelimit);
      assert.ok(m, res.headers.ratelimit);
      assert.equal(Number(m[1]), 4 - i, "what is left, as this edge knows it");
      assert.ok(Number(m[2]) >= 1 && Number(m[2]) <= 60);
    }
    const refused = await call("/v1/charges", { headers: { authorization: bearer(limited.secret) } });
    assertError(refused, 429, "rate_limit_error", "rate_limit_exceeded");
    const retry = Number(refused.headers["retry-after"]);
    assert.ok(retry >= 1 && retry <= 60, refused.headers["retry-after"]);
    assert.equal(refused.headers["ratelimit-policy"], '"default";q=5;w=60');
    assert.equal(refused.headers.ratelimit, `"default";r=0;t=${retry}`);
    // Never counted as a failed authentication: the same address keeps authenticating.
    const res = await call("/v1/charges", { headers: { authorization: bearer(other.secret) } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers["ratelimit-policy"], undefined, "an unlimited key says nothing of limits");
    // The refusal is counted per day on the key object (reported in the background).
    let refusedToday = 0;
    for (let i = 0; i < 20 && !refusedToday; i++) {
      await sleep(150);
      const got = await admin("GET", `/accounts/${account}/keys/${limited.id}`);
      refusedToday = Object.values(got.json.refused).reduce((a, b) => a + b, 0);
    }
    assert.equal(refusedToday, 1);
  });

  it("3 credits under 20 concurrent requests: exactly three 200s, then credits_exhausted; a top-up works again", async () => {
    const account = newAccount();
    const key = await keyWith(account, { credits: { remaining: 3, refill: null } });
    const all = await Promise.all(
      Array.from({ length: 20 }, () => call("/v1/charges", { headers: { authorization: bearer(key.secret) } })),
    );
    const ok = all.filter((r) => r.status === 200);
    assert.equal(ok.length, 3, all.map((r) => r.status).join(","));
    for (const r of all.filter((r) => r.status !== 200)) {
      assertError(r, 429, "rate_limit_error", "credits_exhausted");
      assert.equal(r.headers["retry-after"], undefined, "no refill is due");
      assert.equal(r.headers["keygate-credits-remaining"], "0");
    }
    const remaining = ok.map((r) => Number(r.headers["keygate-credits-remaining"])).sort();
    assert.deepEqual(remaining, [0, 1, 2]);
    const got = await admin("GET", `/accounts/${account}/keys/${key.id}`);
    assert.equal(got.json.credits.remaining, 0);
    // The operator tops it up; every edge isolate sees it within 10 s (CREDITS_RECHECK).
    const topped = await admin("POST", `/accounts/${account}/keys/${key.id}/credits`, { body: { op: "increment", amount: 2 } });
    assert.equal(topped.status, 200, topped.text);
    assert.equal(topped.json.credits.remaining, 2);
    let res;
    for (let i = 0; i < 30; i++) {
      res = await call("/v1/charges", { headers: { authorization: bearer(key.secret) } });
      if (res.status === 200) break;
      await sleep(500);
    }
    assert.equal(res.status, 200, res.text);
    const events = await admin("GET", `/accounts/${account}/events?mode=test`);
    assert.ok(events.json.data.some((e) => e.type === "key.credits_adjusted" || e.kind === "key.credits_adjusted"), events.text);
  });

  it("a publishable key's page reads its 429 like its 200s: CORS allows the origin and exposes the limits", async () => {
    const account = newAccount();
    const res0 = await admin("POST", `/accounts/${account}/keys`, { body: { type: "publishable", mode: "test", rate_limit: { limit: 1, window: 3600 }, credits: { remaining: 5, refill: null } } });
    assert.equal(res0.status, 201, res0.text);
    const pk = res0.json;
    const send = (origin) => call("/v1/tokens", { method: "POST", headers: { authorization: bearer(pk.secret), ...(origin ? { origin } : {}) }, body: "card=4242" });
    const ok = await send("https://shop.example");
    assert.equal(ok.status, 200, ok.text);
    const exposed = (r) => r.headers["access-control-expose-headers"].split(", ");
    for (const h of ["RateLimit-Policy", "RateLimit", "Keygate-Credits-Remaining", "Keygate-Request-Id"]) assert.ok(exposed(ok).includes(h), h);
    const refused = await send("https://shop.example");
    assertError(refused, 429, "rate_limit_error", "rate_limit_exceeded");
    assert.equal(refused.headers["access-control-allow-origin"], "https://shop.example");
    for (const h of ["RateLimit-Policy", "RateLimit", "Retry-After", "Keygate-Credits-Remaining", "Keygate-Request-Id"]) assert.ok(exposed(refused).includes(h), h);
    assert.match(refused.headers.vary ?? "", /Origin/);
    assert.equal(refused.headers["ratelimit-policy"], '"default";q=1;w=3600');
    // Without an Origin (a server, not a page), no CORS, as on a 200.
    const bare = await send(undefined);
    assertError(bare, 429, "rate_limit_error", "rate_limit_exceeded");
    assert.equal(bare.headers["access-control-allow-origin"], undefined);
  });

  it("a PATCHed limit takes effect at once; bad settings and changes are precise 400s", async () => {
    const account = newAccount();
    const key = await keyWith(account, { rate_limit: { limit: 1, window: 3600 } });
    assert.equal((await call("/v1/charges", { headers: { authorization: bearer(key.secret) } })).status, 200);
    assertError(await call("/v1/charges", { headers: { authorization: bearer(key.secret) } }), 429, "rate_limit_error", "rate_limit_exceeded");
    const patched = await admin("PATCH", `/accounts/${account}/keys/${key.id}`, { body: { rate_limit: { limit: 3, window: 3600 } } });
    assert.equal(patched.status, 200, patched.text);
    // EDGE_CACHE_TTL is 0 in this suite's instance: the next request reads the new record.
    const after = await call("/v1/charges", { headers: { authorization: bearer(key.secret) } });
    assert.equal(after.status, 200, after.text);
    assert.equal(after.headers["ratelimit-policy"], '"default";q=3;w=3600');
    for (const [body, param] of [
      [{ rate_limit: { limit: 0, window: 60 } }, "rate_limit.limit"],
      [{ rate_limit: { limit: 5, window: 86401 } }, "rate_limit.window"],
      [{ credits: { remaining: -1 } }, "credits.remaining"],
      [{ credits: { remaining: 1, refill: { amount: 1, interval: "hour" } } }, "credits.refill.interval"],
    ]) {
      const res = await admin("PATCH", `/accounts/${account}/keys/${key.id}`, { body });
      assertError(res, 400, "invalid_request_error", "parameter_invalid", param);
    }
    const noCredits = await admin("POST", `/accounts/${account}/keys/${key.id}/credits`, { body: { op: "set", amount: 5 } });
    assertError(noCredits, 400, "invalid_request_error", "parameter_invalid", "credits");
    const badOp = await admin("POST", `/accounts/${account}/keys/${key.id}/credits`, { body: { op: "double", amount: 5 } });
    assertError(badOp, 400, "invalid_request_error", "parameter_invalid", "op");
    // Self-service never grants itself credits, nor lifts its own limit.
    const self = await call(`/_keygate/v1/keys/${key.id}/credits`, {
      method: "POST",
      headers: { authorization: bearer(key.secret), "content-type": "application/json" },
      body: JSON.stringify({ op: "increment", amount: 1000 }),
    });
    assertError(self, 403, "permission_error", "widening_not_allowed", "credits");
    const lift = await call(`/_keygate/v1/keys/${key.id}`, {
      method: "PATCH",
      headers: { authorization: bearer(key.secret), "content-type": "application/json" },
      body: JSON.stringify({ rate_limit: null }),
    });
    assertError(lift, 403, "permission_error", "widening_not_allowed", "rate_limit");
  });
});
