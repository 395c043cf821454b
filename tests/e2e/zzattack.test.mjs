// Scratch attack suite (reviewer). Records observations to /tmp/review/obs.jsonl; asserts little.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { rawRequest } from "../../scripts/lib/dev.mjs";
import { admin, bearer, call, E, MAIN, newAccount, randomClientIp, forgedKey } from "./helpers.mjs";

const OBS = "/tmp/review/obs.jsonl";
const note = (what, data) => fs.appendFileSync(OBS, JSON.stringify({ what, ...data }) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function create(body, account = newAccount()) {
  const res = await admin("POST", `/accounts/${account}/keys`, { body: { mode: "test", type: "secret", ...body } });
  assert.equal(res.status, 201, res.text);
  return res.json;
}
async function raw(method, target, headers = {}) {
  const host = new URL(MAIN).host;
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`];
  if (!Object.keys(headers).some((h) => h.toLowerCase() === "cf-connecting-ip")) lines.push(`CF-Connecting-IP: ${randomClientIp()}`);
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return rawRequest(MAIN, lines.join("\r\n"));
}
const summary = (r) => ({ status: r.status, code: r.json?.error?.code, path: r.json?.path, query: r.json?.query, method: r.json?.method });

describe.skip("inv2: overrides and paths", () => {
  it("method override variants", async () => {
    const pk = await create({ type: "publishable" });
    for (const q of ["_method=DELETE", ".method=DELETE", "[method=DELETE", "+_method=DELETE", "%20_method=DELETE", "_method[]=DELETE", "a=1;_method=DELETE", "_method%00=DELETE"]) {
      const r = await raw("POST", `/v1/tokens?${q}`, { Authorization: bearer(pk.secret), "Content-Length": "0" });
      note("query-override", { q, ...summary(r) });
    }
    for (const [h, v] of [["X_HTTP_METHOD_OVERRIDE", "DELETE"], ["X_Method_Override", "DELETE"], ["X_HTTP_Method", "DELETE"], ["X-Original-URL", "/v1/customers/cus_1"], ["X-Rewrite-URL", "/v1/customers/cus_1"], ["X-Forwarded-Prefix", "/admin"], ["X-Original-Method", "DELETE"], ["X-Forwarded-Host", "other-tenant.example"], ["Forwarded", "host=other.example;proto=http"]]) {
      const r = await raw("POST", "/v1/tokens", { Authorization: bearer(pk.secret), [h]: v, "Content-Length": "0" });
      note("header-override", { h, ...summary(r), seen: r.json?.headers?.[h.toLowerCase()] });
    }
  });

  it("unicode / windows / exotic escapes", async () => {
    const rk = await create({ type: "restricted", permissions: { charges: "read" } });
    const pk = await create({ type: "publishable" });
    const ep = await create({ allowed_endpoints: ["GET /v1/charges/{id}"] });
    const rkPaths = [
      "/v1/charges/%EF%BC%8E%EF%BC%8E%EF%BC%8Fcustomers", // fullwidth ．．／
      "/v1/charges/%EF%BC%8E%EF%BC%8E%EF%BC%BCcustomers", // fullwidth ．．＼
      "/v1/charges/%E2%80%A5%EF%BC%8Fcustomers", // two-dot leader ‥／
      "/v1/charges/..%20",
      "/v1/charges/...",
      "/v1/charges/%C2%A0..",
      "/v1/charges/ch_1%EF%BC%9Bx", // fullwidth ；
      "/v1/charges/%7E", "/v1/charges/~", "/v1/charges/%41", "/v1/charges/[x]", "/v1/charges/a|b", "/v1/charges/a^b", "/v1/charges/'", "/v1/charges/%27",
      "/v1/charges/%2b", "/v1/charges/a%40b", "/v1/charges/%E2%80%AE", "/v1/charges/%EF%BF%BD", "/v1/charges/%ED%A0%80",
      "/v1/charges/\u00e9", "/v1/charges/.%2e", "/v1/charges/%2e",
      "/v1/charges/ch_1?x=%2F..%2Fcustomers", "/v1/charges/ch_1#/../../customers",
      "/V1/charges", "/v1/charges/ch_1/", "/v1//charges", "/v1/charges\\..\\customers",
    ];
    for (const p of rkPaths) note("rk-path", { p, ...summary(await raw("GET", p, { Authorization: bearer(rk.secret) })) });
    for (const p of rkPaths) note("ep-path", { p, ...summary(await raw("GET", p, { Authorization: bearer(ep.secret) })) });
    for (const id of ["%EF%BC%8E%EF%BC%8E", "..%20", "...", "%E2%80%A5", "pi_1%EF%BC%8F..%EF%BC%8F..%EF%BC%8Fcustomers"]) {
      const p = `/v1/payment_intents/${id}/confirm`;
      note("pk-path", { p, ...summary(await raw("POST", p, { Authorization: bearer(pk.secret), "Content-Length": "0" })) });
    }
    // methods
    for (const m of ["get", "Post", "patch", "TRACE", "CONNECT", "PROPPATCH", "M-SEARCH", "QUERY"]) {
      const r = await raw(m, "/v1/charges/ch_1", { Authorization: bearer(rk.secret) }).catch((e) => ({ status: String(e) }));
      note("method", { m, ...summary(r) });
    }
  });
});

describe("inv3: throttling", () => {
  for (const [label, n, every] of [["interleaved", 150, 10], ["after-20", 40, 1]]) it(`burst ${label}`, async () => {
    const into = (Date.now() / 1000) % 60;
    if (into > 35) await sleep((61 - into) * 1000);
    const ip = `100.126.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
    const canaries = [];
    const nCan = label === "after-20" ? 30 : Math.floor(n / every);
    for (let i = 0; i < nCan; i++) canaries.push(await create({}));
    const reqs = [];
    if (label === "after-20") {
      for (let i = 0; i < 20; i++) await call("/v1/x", { headers: { authorization: bearer(forgedKey()), "cf-connecting-ip": ip } });
      reqs.push(call("/v1/x", { headers: { authorization: bearer(forgedKey()), "cf-connecting-ip": ip } }).then((r) => ({ r, kind: "forged" })));
      for (const c of canaries) reqs.push(call("/v1/x", { headers: { authorization: bearer(c.secret), "cf-connecting-ip": ip } }).then((r) => ({ r, kind: "canary" })));
    } else {
      let c = 0;
      for (let i = 0; i < n; i++) {
        const canary = i % every === every - 1 && c < canaries.length;
        const key = canary ? canaries[c++].secret : forgedKey();
        reqs.push(call("/v1/x", { headers: { authorization: bearer(key), "cf-connecting-ip": ip } }).then((r) => ({ r, kind: canary ? "canary" : "forged" })));
      }
    }
    const t0 = Date.now();
    const res = await Promise.all(reqs);
    const counts = {};
    for (const { r, kind } of res) { const k = `${kind}:${r.json?.error?.code ?? r.status}`; counts[k] = (counts[k] ?? 0) + 1; }
    note("burst2", { label, counts, ms: Date.now() - t0 });
  });
});

describe("inv1: self-service", () => {
  const ss = (k, path, { method = "GET", body, ip = randomClientIp(), headers = {} } = {}) =>
    call(`/_keygate/v1/keys${path}`, {
      method,
      headers: { authorization: bearer(k.secret), "cf-connecting-ip": ip, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  it("probes", async () => {
    const account = newAccount();
    // rolling caller vs its successor
    const c = await create({}, account);
    const rolled = await admin("POST", `/accounts/${account}/keys/${c.id}/roll`, { body: { expires_in: 3600 } });
    const s = rolled.json;
    note("ss-rolling-caller-roll-successor", summary(await ss(c, `/${s.id}/roll`, { method: "POST", body: { expires_in: 0 } })));
    note("ss-rolling-caller-get-successor", summary(await ss(c, `/${s.id}`)));
    // expiry-restricted caller rolls itself
    const exp = Math.floor(Date.now() / 1000) + 7200;
    const e = await create({ expires_at: exp }, account);
    const r = await ss(e, `/${e.id}/roll`, { method: "POST", body: { expires_in: 604800 } });
    note("ss-expiring-self-roll", { status: r.status, succ_exp: r.json?.expires_at, exp });
    // trailing slash / case / HEAD on management with endpoint-restricted caller
    const ep = await create({ allowed_endpoints: ["GET /_keygate/v1/keys/{id}", "GET /v1/**"] }, account);
    for (const [m, p] of [["GET", `/${ep.id}`], ["GET", `/${ep.id}/`], ["DELETE", `/${ep.id}`], ["PATCH", `/${ep.id}/`], ["GET", ""], ]) {
      const res = await ss(ep, p, { method: m, body: m === "PATCH" ? { allowed_endpoints: ["GET /v1/**"] } : undefined });
      note("ss-ep", { m, p, ...summary(res) });
    }
    // ip-restricted caller: IPv4-mapped v6 client ip
    const ipk = await create({ allowed_ips: ["203.0.113.0/24"] }, account);
    note("ss-ip-mapped", summary(await ss(ipk, "", { ip: "::ffff:203.0.113.5" })));
    note("ss-ip-ws", summary(await ss(ipk, "", { ip: " 203.0.113.5 " })));
    // endpoint-restricted caller targets an endpoint-restricted key whose set is equal-but-spelled-differently
    const c2 = await create({ allowed_endpoints: ["* /_keygate/v1/keys/**", "GET /v1/charges/*"] }, account);
    const t2 = await create({ allowed_endpoints: ["GET /v1/charges/{id}"] }, account);
    note("ss-ep-scope", summary(await ss(c2, `/${t2.id}/roll`, { method: "POST", body: {} })));
    const t3 = await create({ allowed_endpoints: ["GET /v1/charges"] }, account);
    note("ss-ep-scope-out", summary(await ss(c2, `/${t3.id}/roll`, { method: "POST", body: {} })));
  });
});
