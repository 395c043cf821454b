// The integrity rules through real workerd, tried as an attacker would: a key's restrictions
// hold on the management API too, self-service never yields more power than the calling key has,
// what reaches the origin is exactly what was authorised, and concurrent changes serialise.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { rawRequest } from "../../scripts/lib/dev.mjs";
import { admin, assertError, bearer, call, createKey, E, MAIN, newAccount, randomClientIp } from "./helpers.mjs";

async function create(body, account = newAccount()) {
  const res = await admin("POST", `/accounts/${account}/keys`, { body: { mode: "test", type: "secret", ...body } });
  assert.equal(res.status, 201, res.text);
  return res.json;
}
const withKey = (k, headers = {}) => ({ authorization: bearer(k.secret), ...headers });
const selfService = (k, path, { method = "GET", body, ip = randomClientIp(), headers = {} } = {}) =>
  call(`/_keygate/v1/keys${path}`, {
    method,
    headers: { ...withKey(k), "cf-connecting-ip": ip, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const getKey = async (k) => (await admin("GET", `/accounts/${k.account}/keys/${k.id}`)).json;

describe("self-service never yields more power than the calling key has", () => {
  it("the calling key's allowed_ips and allowed_endpoints hold on the management API", async () => {
    const account = newAccount();
    const sk = await create({ allowed_ips: ["203.0.113.0/24"], allowed_endpoints: ["GET /v1/**"] }, account);
    // From outside its range: refused before anything else, and the key is unchanged.
    const outside = await selfService(sk, `/${sk.id}`, { method: "PATCH", body: { allowed_ips: null, allowed_endpoints: null }, ip: "198.51.100.7" });
    assertError(outside, 403, "permission_error", "ip_not_allowed");
    // From inside its range, the management call is not among its endpoints.
    const inside = await selfService(sk, `/${sk.id}`, { method: "PATCH", body: { allowed_ips: null }, ip: "203.0.113.5" });
    assertError(inside, 403, "permission_error", "endpoint_not_allowed");
    assertError(await selfService(sk, "", { ip: "203.0.113.5" }), 403, "permission_error", "endpoint_not_allowed");
    const after = await getKey(sk);
    assert.deepEqual([after.allowed_ips, after.allowed_endpoints], [["203.0.113.0/24"], ["GET /v1/**"]]);
    // A browser's Origin: refused, and the key is recorded as exposed.
    const browser = await selfService(sk, "", { ip: "203.0.113.5", headers: { origin: "https://evil.example" } });
    assertError(browser, 403, "permission_error", "secret_key_in_browser");
    let exposed;
    for (let i = 0; i < 40 && !exposed; i++) {
      exposed = (await getKey(sk)).exposed;
      if (!exposed) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(exposed?.reason, "secret_key_in_browser");
  });

  it("a restricted key cannot reach an unrestricted sibling, nor widen anything", async () => {
    const account = newAccount();
    const ip = "203.0.113.9";
    const sk = await create({ allowed_ips: ["203.0.113.0/24"] }, account);
    const sibling = await create({}, account);
    const rk = await create({ type: "restricted", permissions: { charges: "read" } }, account);
    // Rolling the unrestricted sibling would hand it that sibling's successor's secret.
    const roll = await selfService(sk, `/${sibling.id}/roll`, { method: "POST", body: { expires_in: 0 }, ip });
    const e = assertError(roll, 403, "permission_error", "key_out_of_scope");
    assert.ok(!("secret" in roll.json));
    assert.match(e.message, /at least as restricted/);
    assert.equal((await getKey(sibling)).status, "active");
    assertError(await selfService(sk, `/${sibling.id}`, { method: "DELETE", ip }), 403, "permission_error", "key_out_of_scope");
    assertError(await selfService(sk, `/${rk.id}`, { method: "PATCH", body: { permissions: { customers: "write" } }, ip }), 403, "permission_error", "key_out_of_scope");
    // Its own restrictions cannot be lifted by itself.
    const lift = await selfService(sk, `/${sk.id}`, { method: "PATCH", body: { allowed_ips: null }, ip });
    assertError(lift, 403, "permission_error", "widening_not_allowed", "allowed_ips");
    const grow = await selfService(sk, `/${sk.id}`, { method: "PATCH", body: { allowed_ips: ["0.0.0.0/0"] }, ip });
    assertError(grow, 403, "permission_error", "widening_not_allowed", "allowed_ips");
    // It lists only the keys in its scope: itself.
    const list = await selfService(sk, "", { ip });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.data.map((k) => k.id), [sk.id]);
    // An unrestricted secret key may act on the rk, but never raise its permissions.
    const boss = await create({}, account);
    const raise = await selfService(boss, `/${rk.id}`, { method: "PATCH", body: { permissions: { customers: "write" } } });
    assertError(raise, 403, "permission_error", "widening_not_allowed", "permissions");
    assert.deepEqual((await getKey(rk)).permissions, { charges: "read" });
    // Narrowing is self-service's to do, and is audited with the acting key.
    const narrow = await selfService(sk, `/${sk.id}`, { method: "PATCH", body: { allowed_ips: ["203.0.113.0/28"] }, ip });
    assert.equal(narrow.status, 200, narrow.text);
    assert.deepEqual(narrow.json.allowed_ips, ["203.0.113.0/28"]);
    const events = (await admin("GET", `/accounts/${account}/events?mode=test`)).json.data;
    const updated = events.find((x) => x.type === "key.updated" && x.key_id === sk.id);
    assert.equal(updated?.actor, sk.id);
    // The operator may widen.
    const op = await admin("PATCH", `/accounts/${account}/keys/${sk.id}`, { body: { allowed_ips: null } });
    assert.equal(op.status, 200, op.text);
    assert.equal(op.json.allowed_ips, null);
  });
});

/** One request written byte for byte, so that no client normalises the path first. */
async function raw(method, target, headers = {}) {
  const host = new URL(MAIN).host;
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`, `CF-Connecting-IP: ${randomClientIp()}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return rawRequest(MAIN, lines.join("\r\n"));
}

describe("what reaches the origin is exactly what was authorised", () => {
  // Paths that Tomcat, Jetty, nginx or a double-decoding framework read as another resource.
  const CATALOGUE = [
    "/v1/charges/..;/customers",
    "/v1/charges/x%2F..%2F..%2Fcustomers",
    "/v1/charges/..%5Ccustomers",
    "/v1/charges/%252e%252e/customers",
    "/v1/charges;jsessionid=1/x",
    "/v1/charges/ch_1%3B.json",
    "/v1//customers",
    "/v1/charges/%C0%AE%C0%AE/customers",
    "/v1/charges/ch_%",
  ];

  it("a catalogue of ambiguous paths is refused for every key type, before the origin", async () => {
    const rk = await create({ type: "restricted", permissions: { charges: "read" } });
    const sk = await create({ allowed_endpoints: ["GET /v1/charges/{id}", "GET /v1/charges/{id}/{sub}"] });
    const pk = await create({ type: "publishable" });
    for (const [key, method, paths] of [
      [rk, "GET", CATALOGUE],
      [sk, "GET", CATALOGUE],
      [pk, "POST", ["/v1/payment_intents/x%2F..%2F..%2Fcustomers/confirm", "/v1/payment_intents/..;/confirm", "/v1/payment_intents/%252e%252e/confirm"]],
    ]) {
      for (const path of paths) {
        const res = await raw(method, path, { Authorization: bearer(key.secret) });
        assertError(res, 400, "invalid_request_error", "path_not_canonical");
      }
    }
    // Dot segments the platform resolves itself are decided on, and forwarded as, the resolved
    // path: never the charges an rk may read.
    for (const path of ["/v1/charges/../customers", "/v1/charges/%2e%2e/customers", "/v1/charges/..\\customers"]) {
      const res = await raw("GET", path, { Authorization: bearer(rk.secret) });
      assertError(res, 403, "permission_error", "insufficient_permissions");
      assert.equal(res.json.error.required_permission, "customers:read", path);
    }
    // The plain forms pass, and the origin sees exactly the path that was decided on.
    const ok = await raw("GET", "/v1/charges/ch_1", { Authorization: bearer(rk.secret) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.path, "/v1/charges/ch_1");
  });

  it("a nested path acts on its own resource, not on its first segment", async () => {
    const rk = await create({ type: "restricted", permissions: { charges: "write" } });
    const res = await call("/v1/charges/ch_1/refunds", { method: "POST", headers: withKey(rk) });
    assert.equal(res.status, 403, res.text);
    assert.equal(res.headers["x-echo-origin"], undefined);
    assert.equal(res.json.error.code, "insufficient_permissions");
    assert.match(res.json.error.message, /RESOURCE_MAP/);
    assert.equal((await call("/v1/charges/ch_1", { method: "POST", headers: withKey(rk) })).status, 200);
  });

  it("method overrides are refused, in headers and in the query", async () => {
    const pk = await create({ type: "publishable" });
    for (const header of ["X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method"]) {
      const res = await call("/v1/tokens", { method: "POST", headers: withKey(pk, { [header]: "DELETE" }) });
      assertError(res, 400, "invalid_request_error", "method_override_not_allowed", header.toLowerCase());
    }
    const q = await call("/v1/tokens?_method=DELETE", { method: "POST", headers: withKey(pk) });
    assertError(q, 400, "invalid_request_error", "method_override_not_allowed", "_method");
    // The spellings other servers fold into the same thing: `_` for `-` in a header name (CGI,
    // Rack), and the parameter names PHP reads as `_method` (Laravel, Symfony).
    for (const header of ["X_HTTP_METHOD_OVERRIDE", "X_Method_Override", "X_HTTP_Method"]) {
      const host = new URL(MAIN).host;
      const res = await rawRequest(MAIN, [`POST /v1/tokens HTTP/1.1`, `Host: ${host}`, `CF-Connecting-IP: ${randomClientIp()}`, `Authorization: ${bearer(pk.secret)}`, `${header}: DELETE`, "Content-Length: 0"].join("\r\n"));
      assertError(res, 400, "invalid_request_error", "method_override_not_allowed", header.toLowerCase());
    }
    for (const query of [".method=DELETE", "[method=DELETE", "+_method=DELETE", "%20_method=DELETE", "_method[]=DELETE"]) {
      const res = await call(`/v1/tokens?${query}`, { method: "POST", headers: withKey(pk) });
      assertError(res, 400, "invalid_request_error", "method_override_not_allowed", "_method");
    }
    // URL-rewrite headers route some origins elsewhere; forwarding claims are dropped.
    for (const header of ["X-Original-URL", "X-Rewrite-URL"]) {
      const res = await call("/v1/tokens", { method: "POST", headers: withKey(pk, { [header]: "/v1/customers" }) });
      assertError(res, 400, "invalid_request_error", "path_not_canonical");
    }
    const forwarded = await call("/v1/tokens", {
      method: "POST",
      headers: withKey(pk, { "x-forwarded-host": "evil.example", "x-forwarded-prefix": "/admin", forwarded: "host=evil.example" }),
    });
    assert.equal(forwarded.status, 200, forwarded.text);
    for (const h of ["x-forwarded-host", "x-forwarded-prefix", "forwarded"]) assert.equal(forwarded.json.headers[h], undefined, h);
  });

  it("Unicode look-alikes and segments Windows would trim are refused", async () => {
    const rk = await create({ type: "restricted", permissions: { charges: "read" } });
    const pk = await create({ type: "publishable" });
    for (const [key, method, path] of [
      [rk, "GET", "/v1/charges/%EF%BC%8E%EF%BC%8E%EF%BC%8Fcustomers"],
      [rk, "GET", "/v1/charges/%E2%80%A5%EF%BC%8Fcustomers"],
      [rk, "GET", "/v1/charges/..%20/customers"],
      [rk, "GET", "/v1/charges/%C2%A0../customers"],
      [pk, "POST", "/v1/payment_intents/pi_1%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fcustomers/confirm"],
    ]) {
      assertError(await raw(method, path, { Authorization: bearer(key.secret) }), 400, "invalid_request_error", "path_not_canonical");
    }
  });

  it("a method the origin might read as another is answered 405, never forwarded", async () => {
    const sk = await createKey();
    for (const method of ["PROPFIND", "PURGE", "MOVE"]) {
      const res = await call("/v1/charges", { method, headers: withKey(sk) });
      assertError(res, 405, "invalid_request_error", "method_not_allowed");
      assert.equal(res.headers.allow, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    }
    // The management API too: an unknown method is not read as GET.
    const res = await admin("PROPFIND", `/accounts/${newAccount()}/keys`);
    assertError(res, 405, "invalid_request_error", "method_not_allowed");
  });

  it("the upstream request tells every cache not to store it", async () => {
    const sk = await createKey();
    const res = await call("/v1/charges", { headers: withKey(sk, { "cache-control": "max-age=600" }) });
    assert.equal(res.status, 200);
    assert.equal(res.json.headers["cache-control"], "no-store");
  });
});

describe("every command that changes state runs serialised", () => {
  it("many concurrent PATCHes around a revoke of a strict key leave it revoked everywhere", async () => {
    const account = newAccount();
    const strict = await create({ mode: "live", strict: true }, account);
    assert.equal((await call("/v1/ping", { headers: withKey(strict) })).status, 200);
    const patch = (i) => admin("PATCH", `/accounts/${account}/keys/${strict.id}`, { body: { allowed_ips: [`198.51.100.${i}`, "0.0.0.0/0"] } });
    const before = Array.from({ length: 20 }, (_, i) => patch(i));
    const revoke = admin("DELETE", `/accounts/${account}/keys/${strict.id}`);
    const after = Array.from({ length: 20 }, (_, i) => patch(100 + i));
    const results = await Promise.all([...before, revoke, ...after]);
    const revoked = results[20];
    assert.equal(revoked.status, 200, revoked.text);
    for (const r of results) assert.ok([200, 409].includes(r.status), `${r.status} ${r.text}`);
    for (const r of results.filter((r) => r.status === 409)) assert.equal(r.json.error.code, "key_not_active");
    assert.equal((await getKey(strict)).status, "revoked");
    assertError(await call("/v1/ping", { headers: withKey(strict) }), 403, "authentication_error", "api_key_revoked");
    assertError(await patch(255), 409, "invalid_request_error", "key_not_active");
    // In the audit log nothing changed the key after its revocation.
    const events = (await admin("GET", `/accounts/${account}/events?mode=live&limit=100`)).json.data.reverse();
    const at = events.findIndex((e) => e.type === "key.revoked");
    assert.ok(at >= 0);
    assert.deepEqual(events.slice(at + 1).filter((e) => e.key_id === strict.id), []);
    assert.equal(events.filter((e) => e.type === "key.updated").length, results.filter((r) => r.status === 200).length - 1);
  });
});

describe("unauthenticated work stays bounded", () => {
  it("a chunked admin body is refused as soon as it passes the limit, before it ends", async () => {
    const u = new URL(MAIN);
    const tls = await import("node:tls");
    const answer = await new Promise((resolve, reject) => {
      const socket = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
        socket.write(
          `POST /_keygate/v1/accounts/${newAccount()}/keys HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${E.secrets.ADMIN_TOKEN}\r\n` +
            `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nCF-Connecting-IP: ${randomClientIp()}\r\n\r\n`,
        );
        const chunk = "x".repeat(4096);
        // 20 KiB, over the 16 KiB limit, and the body never ends: only a reader that stops at the
        // limit can answer.
        for (let i = 0; i < 5; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      });
      let text = "";
      socket.setTimeout(15_000, () => {
        socket.destroy();
        reject(new Error("no answer while the body was still open"));
      });
      socket.on("data", (d) => {
        text += d.toString("latin1");
        if (text.includes("\r\n\r\n") && text.includes("}}")) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on("error", reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.match(answer, /"code":"body_too_large"/);
  });

  it("an empty admin token is exactly admin_token_missing", async () => {
    for (const value of ["", "Bearer", "Bearer ", "  "]) {
      const res = await call(`/_keygate/v1/accounts/${newAccount()}/keys`, { headers: { authorization: value } });
      assertError(res, 401, "authentication_error", "admin_token_missing");
    }
    assertError(await call(`/_keygate/v1/accounts/${newAccount()}/keys`, { headers: { authorization: "Bearer x" } }), 401, "authentication_error", "admin_token_invalid");
  });
});
