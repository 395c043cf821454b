// Publishable keys, restricted keys and per-key restrictions, decided at the edge before the
// origin sees a byte.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { rawRequest } from "../../scripts/lib/dev.mjs";
import { admin, assertError, bearer, call, createKey, E, newAccount, randomClientIp } from "./helpers.mjs";

async function create(body, account = newAccount()) {
  const res = await admin("POST", `/accounts/${account}/keys`, { body: { mode: "test", ...body } });
  assert.equal(res.status, 201, res.text);
  return res.json;
}
const withKey = (k, headers = {}) => ({ authorization: bearer(k.secret), ...headers });
const events = async (k) => (await admin("GET", `/accounts/${k.account}/events?mode=${k.mode}`)).json.data;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("publishable keys", () => {
  it("reach origin on an allowlisted route, with CORS for the calling origin", async () => {
    const pk = await create({ type: "publishable" });
    const res = await call("/v1/tokens", { method: "POST", headers: withKey(pk, { origin: "https://shop.example" }), body: "card=4242" });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.headers["keygate-key-type"], "publishable");
    assert.equal(res.headers["access-control-allow-origin"], "https://shop.example");
    assert.match(res.headers["access-control-expose-headers"], /Keygate-Request-Id/);
    assert.equal(res.headers.vary, "Accept-Encoding, Origin");
    assert.equal(res.headers["access-control-allow-credentials"], undefined, "the origin's CORS is replaced");
    const confirm = await call("/v1/payment_intents/pi_123/confirm", { method: "POST", headers: withKey(pk) });
    assert.equal(confirm.status, 200);
    assert.equal(confirm.headers["access-control-allow-origin"], undefined, "no Origin, no CORS");
  });

  it("are refused on any other route: 403 publishable_key_not_allowed", async () => {
    const pk = await create({ type: "publishable" });
    for (const [method, path] of [["GET", "/v1/charges"], ["GET", "/v1/tokens"], ["GET", "/v1/payment_intents/pi_1"], ["DELETE", "/v1/customers/cus_1"]]) {
      const e = assertError(await call(path, { method, headers: withKey(pk) }), 403, "permission_error", "publishable_key_not_allowed");
      assert.match(e.message, /publishable API key/);
    }
  });

  it("CORS preflights of allowlisted routes are answered without a key", async () => {
    const res = await call("/v1/tokens", {
      method: "OPTIONS",
      headers: { origin: "https://shop.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers["access-control-allow-origin"], "https://shop.example");
    assert.equal(res.headers["access-control-allow-methods"], "POST");
    assert.equal(res.headers["access-control-allow-headers"], "authorization, content-type");
    assert.ok(Number(res.headers["access-control-max-age"]) > 0);
    assert.equal(res.headers["x-echo-origin"], undefined, "answered at the edge");
    // Not allowlisted, or another method: no preflight answer, so the browser refuses.
    const other = await call("/v1/charges", { method: "OPTIONS", headers: { origin: "https://shop.example", "access-control-request-method": "GET" } });
    assertError(other, 401, "authentication_error", "api_key_missing");
    assert.equal(other.headers["access-control-allow-origin"], undefined);
    const wrongMethod = await call("/v1/tokens", { method: "OPTIONS", headers: { origin: "https://shop.example", "access-control-request-method": "DELETE" } });
    assert.equal(wrongMethod.headers["access-control-allow-origin"], undefined);
  });

  it("allowed_origins: only those origins (Origin, else Referer)", async () => {
    const pk = await create({ type: "publishable", allowed_origins: ["https://*.shop.example"] });
    assert.deepEqual(pk.allowed_origins, ["https://*.shop.example"]);
    const ok = await call("/v1/tokens", { method: "POST", headers: withKey(pk, { origin: "https://eu.shop.example" }) });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers["access-control-allow-origin"], "https://eu.shop.example");
    const viaReferer = await call("/v1/tokens", { method: "POST", headers: withKey(pk, { referer: "https://eu.shop.example/checkout" }) });
    assert.equal(viaReferer.status, 200);
    for (const headers of [{ origin: "https://evil.example" }, { origin: "https://shop.example" }, {}]) {
      assertError(await call("/v1/tokens", { method: "POST", headers: withKey(pk, headers) }), 403, "permission_error", "origin_not_allowed");
    }
  });
});

describe("secret keys from a browser", () => {
  it("are refused with secret_key_in_browser and recorded as exposed", async () => {
    const sk = await createKey();
    const e = assertError(await call("/v1/charges", { headers: withKey(sk, { origin: "https://app.example" }) }), 403, "permission_error", "secret_key_in_browser");
    assert.match(e.message, /exposed/);
    assertError(await call("/v1/charges", { headers: withKey(sk, { "sec-fetch-mode": "cors" }) }), 403, "permission_error", "secret_key_in_browser");
    // A navigation (a browser's Basic prompt) has no Origin, but only browsers send Sec-Fetch-*.
    assertError(await call("/v1/charges", { headers: withKey(sk, { "sec-fetch-mode": "navigate" }) }), 403, "permission_error", "secret_key_in_browser");
    let exposed;
    for (let i = 0; i < 40 && !exposed; i++) {
      exposed = (await events(sk)).find((ev) => ev.type === "key.exposed");
      if (!exposed) await sleep(250);
    }
    assert.ok(exposed, "the audit log records the exposure");
    assert.equal(exposed.data.reason, "secret_key_in_browser");
    const got = await admin("GET", `/accounts/${sk.account}/keys/${sk.id}`);
    assert.equal(got.json.exposed.reason, "secret_key_in_browser");
    // ON_EXPOSURE defaults to "flag": the key still works from a server.
    assert.equal((await call("/v1/charges", { headers: withKey(sk) })).status, 200);
  });

  it("secret and restricted keys never get CORS headers, whatever the origin sends", async () => {
    const sk = await createKey();
    const res = await call("/v1/charges", { headers: withKey(sk) });
    assert.equal(res.status, 200);
    assert.equal(res.headers["access-control-allow-origin"], undefined);
    const rk = await create({ type: "restricted", permissions: { charges: "read" } });
    const r2 = await call("/v1/charges", { headers: withKey(rk, { origin: "https://app.example" }) });
    assert.equal(r2.status, 200);
    assert.equal(r2.headers["access-control-allow-origin"], undefined);
  });
});

describe("restricted keys", () => {
  it("read permission: GET passes, POST is refused with required_permission", async () => {
    const rk = await create({ type: "restricted", permissions: { charges: "read", refunds: "write" } });
    assert.deepEqual(rk.permissions, { charges: "read", refunds: "write" });
    const get = await call("/v1/charges/ch_1", { headers: withKey(rk) });
    assert.equal(get.status, 200);
    assert.equal(get.json.headers["keygate-permissions"], "charges=read,refunds=write");
    const post = await call("/v1/charges", { method: "POST", headers: withKey(rk) });
    const e = assertError(post, 403, "permission_error", "insufficient_permissions");
    assert.equal(post.json.error.required_permission, "charges:write");
    assert.match(e.message, /charges:write/);
    assert.equal((await call("/v1/refunds", { method: "POST", headers: withKey(rk) })).status, 200);
    const none = await call("/v1/customers", { headers: withKey(rk) });
    assert.equal(none.json.error.required_permission, "customers:read");
  });

  it("PATCH changes permissions, shown in listings and enforced at once", async () => {
    const rk = await create({ type: "restricted", permissions: { charges: "read" } });
    const patched = await admin("PATCH", `/accounts/${rk.account}/keys/${rk.id}`, { body: { permissions: { charges: "write" } } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json.permissions, { charges: "write" });
    assert.equal((await call("/v1/charges", { method: "POST", headers: withKey(rk) })).status, 200);
    const list = await admin("GET", `/accounts/${rk.account}/keys?mode=test`);
    assert.deepEqual(list.json.data[0].permissions, { charges: "write" });
    assert.ok((await events(rk)).some((ev) => ev.type === "key.updated"));
    assertError(await admin("PATCH", `/accounts/${rk.account}/keys/${rk.id}`, { body: { permissions: { charges: "all" } } }), 400, "invalid_request_error", "parameter_invalid", "permissions");
    const sk = await createKey();
    assertError(await admin("PATCH", `/accounts/${sk.account}/keys/${sk.id}`, { body: { permissions: { charges: "read" } } }), 400, "invalid_request_error", "parameter_invalid", "permissions");
  });

  it("a rolled restricted key keeps its permissions and restrictions", async () => {
    const rk = await create({ type: "restricted", permissions: { charges: "read" }, allowed_ips: ["203.0.113.0/24"] });
    const r = await admin("POST", `/accounts/${rk.account}/keys/${rk.id}/roll`, { body: { expires_in: 0 } });
    assert.deepEqual(r.json.permissions, { charges: "read" });
    assert.deepEqual(r.json.allowed_ips, ["203.0.113.0/24"]);
  });
});

describe("per-key restrictions", () => {
  it("allowed_ips: CF-Connecting-IP inside the ranges passes, outside is refused naming the address", async () => {
    const sk = await create({ type: "secret", allowed_ips: ["203.0.113.0/24", "2001:db8::/32"] });
    assert.equal((await call("/v1/x", { headers: withKey(sk, { "cf-connecting-ip": "203.0.113.9" }) })).status, 200);
    assert.equal((await call("/v1/x", { headers: withKey(sk, { "cf-connecting-ip": "2001:db8::7" }) })).status, 200);
    const e = assertError(await call("/v1/x", { headers: withKey(sk, { "cf-connecting-ip": "198.51.100.4" }) }), 403, "permission_error", "ip_not_allowed");
    assert.match(e.message, /198\.51\.100\.4/);
    const cleared = await admin("PATCH", `/accounts/${sk.account}/keys/${sk.id}`, { body: { allowed_ips: null } });
    assert.equal(cleared.json.allowed_ips, null);
    assert.equal((await call("/v1/x", { headers: withKey(sk, { "cf-connecting-ip": "198.51.100.4" }) })).status, 200);
  });

  it("allowed_endpoints: only those method and path patterns", async () => {
    const sk = await create({ type: "secret", allowed_endpoints: ["GET /v1/charges/{id}", "POST /v1/refunds"] });
    assert.equal((await call("/v1/charges/ch_9", { headers: withKey(sk) })).status, 200);
    assert.equal((await call("/v1/refunds", { method: "POST", headers: withKey(sk) })).status, 200);
    assertError(await call("/v1/charges", { headers: withKey(sk) }), 403, "permission_error", "endpoint_not_allowed");
    assertError(await call("/v1/charges/ch_9", { method: "DELETE", headers: withKey(sk) }), 403, "permission_error", "endpoint_not_allowed");
  });

  it("validation names the parameter", async () => {
    const cases = [
      [{ type: "secret", allowed_ips: ["10.0.0.300"] }, "allowed_ips"],
      [{ type: "secret", allowed_origins: ["https://a.example"] }, "allowed_origins"],
      [{ type: "publishable", allowed_origins: ["a.example"] }, "allowed_origins"],
      [{ type: "secret", allowed_endpoints: ["charges"] }, "allowed_endpoints"],
      [{ type: "secret", permissions: { charges: "read" } }, "permissions"],
    ];
    for (const [body, param] of cases) {
      const res = await admin("POST", `/accounts/${newAccount()}/keys`, { body: { mode: "test", ...body } });
      assertError(res, 400, "invalid_request_error", "parameter_invalid", param);
    }
  });
});

describe("mode pinning", () => {
  it("a test key on a live-only host is refused from its prefix alone", async () => {
    // The `pinned` instance has LIVE_HOSTS=localhost; 127.0.0.1 reaches the same worker unpinned.
    const unpinned = E.urls.pinned;
    const test = await createKey({ mode: "test", url: unpinned });
    const live = await createKey({ mode: "live", url: unpinned });
    const pinned = unpinned.replace("127.0.0.1", "localhost");
    assertError(await call("/v1/x", { headers: withKey(test), url: pinned }), 403, "invalid_request_error", "test_key_on_live_host");
    assert.equal((await call("/v1/x", { headers: withKey(live), url: pinned })).status, 200);
    assert.equal((await call("/v1/x", { headers: withKey(test), url: unpinned })).status, 200, "unpinned host");
  });

  it("a live key on a test-only host is refused from its prefix alone", async () => {
    // The `pinned` instance also has TEST_HOSTS=sandbox.localhost, reached by its Host header.
    const unpinned = E.urls.pinned;
    const test = await createKey({ mode: "test", url: unpinned });
    const live = await createKey({ mode: "live", url: unpinned });
    const port = new URL(unpinned).port;
    const at = (key) =>
      rawRequest(unpinned, [`GET /v1/x HTTP/1.1`, `Host: sandbox.localhost:${port}`, `CF-Connecting-IP: ${randomClientIp()}`, `Authorization: Bearer ${key.secret}`].join("\r\n"));
    const e = assertError(await at(live), 403, "invalid_request_error", "live_key_on_test_host");
    assert.match(e.message, /test mode only/);
    const ok = await at(test);
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.headers["keygate-mode"], "test");
  });
});
