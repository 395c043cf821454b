// Requests that pass: they reach their mode's origin with a verified identity and no credential.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import crypto from "node:crypto";
import { admin, basic, bearer, call, createKey, E, newAccount, verifySeen } from "./helpers.mjs";

const IDENTITY = ["keygate-account", "keygate-key-id", "keygate-key-type", "keygate-mode", "keygate-request-id", "keygate-verified"];

function assertProxied(res, key, origin) {
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers["x-echo-origin"], origin);
  const seen = res.json;
  assert.equal(seen.origin, origin);
  assert.equal(seen.headers.authorization, undefined, "the credential must be stripped");
  assert.equal(seen.headers["keygate-account"], key.account);
  assert.equal(seen.headers["keygate-key-id"], key.id);
  assert.equal(seen.headers["keygate-key-type"], key.type);
  assert.equal(seen.headers["keygate-mode"], key.mode);
  assert.match(seen.headers["keygate-request-id"], /^req_[0-9A-Za-z]{24}$/);
  assert.equal(res.headers["keygate-request-id"], seen.headers["keygate-request-id"]);
  assert.equal(seen.headers["keygate-verified"], key.strict ? "do" : "kv;max-staleness=120");
  assert.equal(res.headers.deprecation, undefined);
  assert.equal(res.headers.sunset, undefined);
  // The origin's own headers come back as it sent them, but for its CORS headers: no Origin was
  // sent, so the answer carries no CORS at all.
  assert.deepEqual(res.headers["set-cookie"], ["echo_a=1; Path=/", "echo_b=2; Path=/"]);
  assert.equal(res.headers.vary, "Accept-Encoding");
  for (const h of Object.keys(res.headers)) assert.ok(!h.startsWith("access-control-"), h);
  // Each identity header arrives exactly once.
  for (const h of IDENTITY) assert.equal(seen.raw_header_names.filter((n) => n.toLowerCase() === h).length, 1, h);
  assert.ok(!JSON.stringify(seen).includes(key.secret), "the raw key must never reach origin");
  // The origin itself verified the request before answering, with its own package: Node's
  // @keygate/verify behind test mode, Python's keygate_verify behind live mode.
  assert.equal(seen.verified_by, origin === "live" ? "python" : "node");
  assert.equal(seen.identity.account, key.account);
  assert.equal(seen.identity.request_id ?? seen.identity.requestId, seen.headers["keygate-request-id"]);
  assert.match(seen.headers["keygate-signature"], /^t=\d+,v2=[0-9a-f]{64},v2=[0-9a-f]{64}$/);
  return seen;
}

describe("authenticated requests are proxied", () => {
  it("Bearer: method, path and query reach ORIGIN_TEST with the identity", async () => {
    const key = await createKey({ mode: "test" });
    const res = await call("/v1/charges?limit=3&starting_after=ch_1", { headers: { authorization: bearer(key.secret) } });
    const seen = assertProxied(res, key, "test");
    assert.equal(seen.method, "GET");
    assert.equal(seen.path, "/v1/charges");
    assert.equal(seen.query, "limit=3&starting_after=ch_1");
  });

  it("Basic with the key as username and an empty password", async () => {
    const key = await createKey({ mode: "test" });
    const res = await call("/v1/customers", { headers: { authorization: basic(key.secret) } });
    assertProxied(res, key, "test");
  });

  it("the origin's redirect reaches the client as it is, not followed", async () => {
    const key = await createKey();
    const res = await call("/v1/redirect", { headers: { authorization: bearer(key.secret) } });
    assert.equal(res.status, 302, res.text);
    assert.equal(res.headers.location, "https://elsewhere.example/landing");
    assert.equal(res.headers["x-echo-origin"], "test");
    assert.match(res.headers["keygate-request-id"], /^req_[0-9A-Za-z]{24}$/);
  });

  it("HEAD is forwarded without a body", async () => {
    const key = await createKey();
    const res = await call("/v1/charges", { method: "HEAD", headers: { authorization: bearer(key.secret) } });
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-echo-origin"], "test");
    assert.equal(res.text, "");
  });

  it("a POST body is passed through byte for byte", async () => {
    const key = await createKey();
    const body = JSON.stringify({ amount: 2000, currency: "usd", note: "ünïcødé" });
    const res = await call("/v1/charges", {
      method: "POST",
      headers: { authorization: bearer(key.secret), "content-type": "application/json" },
      body,
    });
    const seen = assertProxied(res, key, "test");
    assert.equal(seen.method, "POST");
    assert.equal(seen.body, body);
    assert.equal(seen.headers["content-type"], "application/json");
  });

  it("a large streamed body arrives intact", async () => {
    const key = await createKey();
    const body = crypto.randomBytes(1536 * 1024).toString("base64");
    const res = await call("/v1/files", { method: "PUT", headers: { authorization: bearer(key.secret) }, body });
    const seen = assertProxied(res, key, "test");
    assert.equal(seen.body.length, body.length);
    assert.equal(crypto.createHash("sha256").update(seen.body).digest("hex"), crypto.createHash("sha256").update(body).digest("hex"));
  });

  it("test and live are isolated: each key reaches only its own mode's origin", async () => {
    const account = newAccount();
    const test = await createKey({ account, mode: "test" });
    const live = await createKey({ account, mode: "live" });
    assert.equal(assertProxied(await call("/v1/x", { headers: { authorization: bearer(test.secret) } }), test, "test").headers["keygate-mode"], "test");
    assert.equal(assertProxied(await call("/v1/x", { headers: { authorization: bearer(live.secret) } }), live, "live").headers["keygate-mode"], "live");
  });

  it("every key type authenticates (each on a route its type may call)", async () => {
    const routes = { secret: ["GET", "/v1/x"], publishable: ["POST", "/v1/tokens"], restricted: ["GET", "/v1/x"] };
    for (const type of ["secret", "publishable", "restricted"]) {
      const body = { type, mode: "live", ...(type === "restricted" ? { permissions: { x: "read" } } : {}) };
      const res = await admin("POST", `/accounts/${newAccount()}/keys`, { body });
      const key = res.json;
      assert.ok(key.secret.startsWith({ secret: "sk", publishable: "pk", restricted: "rk" }[type] + "_live_"));
      const [method, path] = routes[type];
      assertProxied(await call(path, { method, headers: { authorization: bearer(key.secret) } }), key, "live");
    }
  });

  it("spoofed identity headers never reach origin", async () => {
    const key = await createKey();
    const spoof = {
      "Keygate-Account": "acct_attacker",
      "keygate-key-id": "key_attacker",
      "KEYGATE-MODE": "live",
      "Keygate-Key-Type": "secret",
      "Keygate-Request-Id": "req_forged",
      "Keygate-Verified": "do",
      "X-Keygate-Account": "acct_attacker",
      "Keygate_Account": "acct_attacker",
      "keygate_mode": "live",
      "Keygate-Signature": "t=1,v1=00",
      "Proxy-Authorization": "Basic eA==",
    };
    const res = await call("/v1/x", { headers: { authorization: bearer(key.secret), ...spoof } });
    const seen = assertProxied(res, key, "test");
    const names = seen.raw_header_names.map((n) => n.toLowerCase().replaceAll("_", "-"));
    assert.ok(!names.includes("x-keygate-account"));
    assert.equal(names.filter((n) => n === "keygate-signature").length, 1, "only keygate's own signature");
    assert.notEqual(seen.headers["keygate-signature"], "t=1,v1=00");
    assert.ok(!names.includes("proxy-authorization"));
    assert.ok(!JSON.stringify(seen).includes("attacker"));
    assert.ok(!JSON.stringify(seen).includes("req_forged"));
  });

  it("ordinary client headers are passed on", async () => {
    const key = await createKey();
    const res = await call("/v1/x", { headers: { authorization: bearer(key.secret), "idempotency-key": "abc-123", "x-request-id": "mine", "user-agent": "e2e/1" } });
    const seen = assertProxied(res, key, "test");
    assert.equal(seen.headers["idempotency-key"], "abc-123");
    assert.equal(seen.headers["x-request-id"], "mine");
    assert.equal(seen.headers["user-agent"], "e2e/1");
  });

  it("a key with a future expiry works", async () => {
    const key = await createKey({ expires_at: Math.floor(Date.now() / 1000) + 3600 });
    assertProxied(await call("/v1/x", { headers: { authorization: bearer(key.secret) } }), key, "test");
  });
});

describe("signed identity", () => {
  it("tampering with any signed part, a wrong secret or an old t is refused by the origin's check", async () => {
    const key = await createKey();
    const res = await call("/v1/charges?limit=2", { method: "POST", headers: { authorization: bearer(key.secret) }, body: "{}" });
    const seen = res.json;
    const secret = [E.secrets.ORIGIN_SIGNING_SECRET];
    // Either secret of a rotation verifies it.
    assert.equal(await verifySeen(seen, secret), "ok");
    assert.equal(await verifySeen(seen, [E.secrets.ORIGIN_SIGNING_SECRET_PREVIOUS]), "ok");
    const tampered = [
      { ...seen, method: "GET" },
      { ...seen, path: "/v1/refunds" },
      { ...seen, query: "limit=3" },
      { ...seen, headers: { ...seen.headers, host: "evil.example" } },
      { ...seen, headers: { ...seen.headers, "keygate-account": "acct_other" } },
      { ...seen, headers: { ...seen.headers, "keygate-key-id": "key_other" } },
      { ...seen, headers: { ...seen.headers, "keygate-mode": "live" } },
      { ...seen, headers: { ...seen.headers, "keygate-key-type": "restricted" } },
      { ...seen, headers: { ...seen.headers, "keygate-permissions": "charges=write" } },
      // A replay under another request id, and a KV-checked key passed off as strict.
      { ...seen, headers: { ...seen.headers, "keygate-request-id": "req_000000000000000000000000" } },
      { ...seen, headers: { ...seen.headers, "keygate-verified": seen.headers["keygate-verified"] === "do" ? "kv;max-staleness=120" : "do" } },
    ];
    for (const t of tampered) assert.equal(await verifySeen(t, secret), "bad_signature");
    assert.equal(await verifySeen(seen, ["sig_some_other_secret_of_enough_length_000"]), "bad_signature");
    const t = Number(seen.headers["keygate-signature"].match(/t=(\d+)/)[1]);
    assert.equal(await verifySeen(seen, secret, { now: t + 301 }), "stale");
    assert.equal(await verifySeen(seen, secret, { now: t - 301 }), "future");
  });
});
