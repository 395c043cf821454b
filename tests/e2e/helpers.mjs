// Shared by the end-to-end suites: the running instances (from run.mjs) and small helpers.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import { request as rawRequest } from "../../scripts/lib/dev.mjs";
import { checkResponse } from "./openapi.mjs";
import { verify } from "../../packages/verify-node/src/index.js";

if (!process.env.KEYGATE_E2E) throw new Error("run the end-to-end suites through tests/e2e/run.mjs (npm test)");
export const E = JSON.parse(fs.readFileSync(process.env.KEYGATE_E2E, "utf8"));
export const MAIN = E.urls.main;
/**
 * A client address of its own for each request (100.64.0.0/10, which no test restricts on), so
 * that the suites' many deliberate failures never throttle one another; tests that care about
 * the address set CF-Connecting-IP themselves. Locally the worker trusts it; in production
 * Cloudflare sets it.
 */
export function randomClientIp() {
  const r = () => Math.floor(Math.random() * 256);
  return `100.${64 + Math.floor(Math.random() * 64)}.${r()}.${r()}`;
}

/** Every request of the suites: management responses are checked against openapi.yaml. */
export async function request(url, opts = {}) {
  const headers = { ...(opts.headers ?? {}) };
  if (!Object.keys(headers).some((h) => h.toLowerCase() === "cf-connecting-ip")) headers["cf-connecting-ip"] = randomClientIp();
  opts = { ...opts, headers };
  const res = await rawRequest(url, opts);
  checkResponse(opts.method ?? "GET", url, res);
  return res;
}

/** A fresh account id, so suites never share state. */
export function newAccount() {
  return `acct_${crypto.randomBytes(8).toString("hex")}`;
}

/** Call the admin API of an instance. */
export function admin(method, path, { body, token = E.secrets.ADMIN_TOKEN, url = MAIN, headers = {} } = {}) {
  const h = { ...headers };
  if (token !== null) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h["content-type"] = "application/json";
  return request(`${url}/_keygate/v1${path}`, { method, headers: h, body });
}

/** Create a key through the admin API; returns the key object (with `secret`). */
export async function createKey({ type = "secret", mode = "test", account = newAccount(), name = "e2e", expires_at, url = MAIN } = {}) {
  const body = { type, mode, name };
  if (expires_at !== undefined) body.expires_at = expires_at;
  const res = await admin("POST", `/accounts/${account}/keys`, { body, url });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

/** Authorization header value for `key`. */
export function bearer(key) {
  return `Bearer ${key}`;
}
export function basic(user, password = "") {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

/** A request through keygate at `url` (default: the main instance). */
export function call(path, { method = "GET", headers = {}, body, url = MAIN } = {}) {
  return request(`${url}${path}`, { method, headers, body });
}

/** Assert a keygate error response: status, Stripe shape, headers, and that origin never answered. */
export function assertError(res, status, type, code, param) {
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.equal(res.headers["content-type"], "application/json");
  assert.equal(res.headers["cache-control"], "no-store");
  assert.match(res.headers["keygate-request-id"] ?? "", /^req_[0-9A-Za-z]{24}$/);
  assert.equal(res.headers["x-echo-origin"], undefined, "an error must never come from the origin");
  assert.deepEqual(Object.keys(res.json).sort(), ["error"]);
  const e = res.json.error;
  const fields = ["code", "doc_url", "message", "param", "type"];
  if (code === "insufficient_permissions") fields.push("required_permission");
  assert.deepEqual(Object.keys(e).sort(), fields.sort());
  assert.equal(e.type, type);
  assert.equal(e.code, code);
  assert.equal(typeof e.message, "string");
  assert.ok(e.message.length > 10);
  assert.ok(e.doc_url.endsWith(`#${code}`), e.doc_url);
  if (param !== undefined) assert.equal(e.param, param);
  return e;
}

/** A syntactically valid key with a correct checksum that was never issued. */
export function forgedKey(prefix = "sk_test_") {
  const B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let body = "";
  for (const b of crypto.randomBytes(32)) body += B62[b % 62];
  const payload = prefix + body;
  let n = crc32(Buffer.from(payload));
  let check = "";
  for (let i = 0; i < 6; i++) {
    check = B62[n % 62] + check;
    n = Math.floor(n / 62);
  }
  return payload + check;
}

function crc32(buf) {
  let c = ~0 >>> 0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/**
 * Verify what an echo origin saw with @keygate/verify, as an origin does: "ok" or the error's
 * stable code (`bad_signature`, `stale`, …).
 */
export async function verifySeen(seen, secrets, { now } = {}) {
  const path = seen.query ? `${seen.path}?${seen.query}` : seen.path;
  try {
    await verify({ headers: seen.headers, method: seen.method, path }, { secrets, now });
    return "ok";
  } catch (e) {
    if (e.code) return e.code;
    throw e;
  }
}
