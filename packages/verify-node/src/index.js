// @keygate/verify: verify keygate's signed identity (Keygate-Signature, version 2) at the origin.
// No runtime dependencies: Web Crypto only, so it runs unchanged on Node >= 20, Deno, Bun and
// Cloudflare Workers. The algorithm is the one in keygate's docs/origin.md.

/** The version tag, the first field of the signed message. */
export const VERSION = "keygate-signature-v2";
/** The signature header. */
export const HEADER = "Keygate-Signature";
/** Default tolerance between the signature's time and the verifier's clock, seconds. */
export const DEFAULT_TOLERANCE = 300;

/** The identity headers, in the order they are signed after method, host and path. */
const IDENTITY = [
  ["account", "keygate-account", "Keygate-Account"],
  ["keyId", "keygate-key-id", "Keygate-Key-Id"],
  ["mode", "keygate-mode", "Keygate-Mode"],
  ["keyType", "keygate-key-type", "Keygate-Key-Type"],
];

/**
 * Why a request was refused. `code` is stable: `missing`, `malformed`, `stale`, `future` or
 * `bad_signature`.
 */
export class KeygateVerifyError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "KeygateVerifyError";
    this.code = code;
  }
}

/** The headers the signature covers (besides Host). */
const SIGNED = new Set(["keygate-signature", "keygate-account", "keygate-key-id", "keygate-mode", "keygate-key-type", "keygate-permissions", "keygate-request-id", "keygate-verified"]);

const encoder = new TextEncoder();
const HEX = /^[0-9a-f]{64}$/;

/** A header lookup by lower-case name over a Headers, a plain object, a Map or pairs. */
function lookup(headers) {
  if (headers && typeof headers.get === "function" && !(headers instanceof Map)) {
    return (name) => headers.get(name) ?? undefined;
  }
  const map = new Map();
  const entries = headers instanceof Map ? headers.entries() : Array.isArray(headers) ? headers : Object.entries(headers ?? {});
  for (const [k, v] of entries) {
    if (v === undefined || v === null) continue;
    const value = Array.isArray(v) ? v.join(", ") : String(v);
    const key = String(k).toLowerCase();
    map.set(key, map.has(key) ? `${map.get(key)}, ${value}` : value);
  }
  return (name) => map.get(name);
}

/** Parse `t=<digits>,v2=<64 hex>[,v2=…]`; unknown keys (`v1` included) are ignored. */
export function parseHeader(value) {
  // Bytes, as the Rust verifier counts them.
  if (encoder.encode(value).length > 1024) throw new KeygateVerifyError("malformed", "malformed Keygate-Signature: too long");
  let t = null;
  const sigs = [];
  for (const part of value.split(",")) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf("=");
    if (eq < 0) throw new KeygateVerifyError("malformed", "malformed Keygate-Signature: expected key=value pairs");
    const [k, v] = [trimmed.slice(0, eq), trimmed.slice(eq + 1)];
    if (k === "t") {
      if (t !== null || !/^[0-9]{1,12}$/.test(v)) {
        throw new KeygateVerifyError("malformed", "malformed Keygate-Signature: t must be one unix time in seconds");
      }
      t = Number(v);
    } else if (k === "v2") {
      if (!HEX.test(v)) throw new KeygateVerifyError("malformed", "malformed Keygate-Signature: v2 must be 64 hex digits");
      sigs.push(v);
    }
  }
  if (t === null) throw new KeygateVerifyError("malformed", "malformed Keygate-Signature: no t");
  if (sigs.length === 0) throw new KeygateVerifyError("malformed", "malformed Keygate-Signature: no v2 signature");
  return { t, signatures: sigs };
}

async function sha256Hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return toHex(new Uint8Array(digest));
}

function toHex(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The canonical message: each value's UTF-8 length in decimal, `:`, the value, `\n`. */
export async function canonical(t, f) {
  const permissions = await sha256Hex(f.permissions ?? "");
  const values = [VERSION, String(t), f.method, f.host, f.path, f.account, f.keyId, f.mode, f.keyType, permissions, f.requestId, f.verified];
  const parts = values.map((v) => {
    const bytes = encoder.encode(v);
    return [encoder.encode(`${bytes.length}:`), bytes, encoder.encode("\n")];
  });
  const flat = parts.flat();
  const out = new Uint8Array(flat.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of flat) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** `Keygate-Signature` for `fields` at `t`, one `v2=` per secret (for tests and tools). */
export async function sign(secrets, t, fields) {
  const message = await canonical(t, fields);
  let header = `t=${t}`;
  for (const secret of toList(secrets)) {
    const key = await importKey(secret);
    header += `,v2=${toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, message)))}`;
  }
  return header;
}

function toList(secrets) {
  const list = Array.isArray(secrets) ? secrets : [secrets];
  if (list.length === 0) throw new TypeError("at least one secret is needed");
  return list;
}

function importKey(secret) {
  const raw = typeof secret === "string" ? encoder.encode(secret) : secret;
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/**
 * Verify a request as the origin received it. Only after this resolves may the `Keygate-*`
 * headers be trusted.
 *
 * @param {{headers: any, method: string, host?: string, path: string}} request
 *   `headers`: a Headers, a plain object (Node's `req.headers`), a Map or [name, value] pairs;
 *   `host`: the Host header as received (taken from the headers when omitted); `path`: the path
 *   with its query, exactly as received (Express's `req.originalUrl`).
 * @param {{secrets: string|Uint8Array|Array<string|Uint8Array>, tolerance?: number, now?: number}} options
 * @returns {Promise<Identity>}
 */
export async function verify(request, options) {
  const { secrets, tolerance = DEFAULT_TOLERANCE, now = Math.floor(Date.now() / 1000) } = options ?? {};
  const header = lookup(request.headers);
  const value = header("keygate-signature");
  if (value === undefined) throw new KeygateVerifyError("missing", `missing header ${HEADER}`);
  const { t, signatures } = parseHeader(value);
  if (now - t > tolerance) throw new KeygateVerifyError("stale", `signature is ${now - t} s old`);
  if (t - now > tolerance) throw new KeygateVerifyError("future", `signature is ${t - now} s in the future`);
  const need = (name, display) => {
    const v = header(name);
    if (v === undefined) throw new KeygateVerifyError("missing", `missing header ${display}`);
    return v;
  };
  const identity = {};
  for (const [field, name, display] of IDENTITY) identity[field] = need(name, display);
  identity.permissions = header("keygate-permissions") ?? "";
  identity.requestId = need("keygate-request-id", "Keygate-Request-Id");
  identity.verified = need("keygate-verified", "Keygate-Verified");
  identity.signedAt = t;
  const host = request.host ?? header("host");
  if (host === undefined) throw new KeygateVerifyError("missing", "missing header Host");
  const message = await canonical(t, { ...identity, method: request.method, host, path: request.path });
  // Every candidate against every secret, without stopping at a match: crypto.subtle.verify
  // compares in constant time.
  let ok = false;
  for (const secret of toList(secrets)) {
    const key = await importKey(secret);
    for (const sig of signatures) ok = (await crypto.subtle.verify("HMAC", key, fromHex(sig), message)) || ok;
  }
  if (!ok) throw new KeygateVerifyError("bad_signature", "no signature matches");
  return Object.freeze(identity);
}

/** keygate's webhook signature header. */
export const WEBHOOK_HEADER = "Keygate-Webhook-Signature";

/** Parse `t=<digits>,v1=<64 hex>[,v1=…]` (a webhook's signature); other keys are ignored. */
export function parseWebhookHeader(value) {
  const bad = (why) => new KeygateVerifyError("malformed", `malformed Keygate-Webhook-Signature: ${why}`);
  // Bytes, as the Rust verifier counts them.
  if (encoder.encode(value).length > 1024) throw bad("too long");
  let t = null;
  const sigs = [];
  for (const part of value.split(",")) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf("=");
    if (eq < 0) throw bad("expected key=value pairs");
    const [k, v] = [trimmed.slice(0, eq), trimmed.slice(eq + 1)];
    if (k === "t") {
      if (t !== null || !/^[0-9]{1,12}$/.test(v)) throw bad("t must be one unix time in seconds");
      t = Number(v);
    } else if (k === "v1") {
      if (!HEX.test(v)) throw bad("v1 must be 64 hex digits");
      sigs.push(v);
    }
  }
  if (t === null) throw bad("no t");
  if (sigs.length === 0) throw bad("no v1 signature");
  return { t, signatures: sigs };
}

function bytesOf(body) {
  if (typeof body === "string") return encoder.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError("the body must be the raw bytes received (a string, Uint8Array, Buffer or ArrayBuffer), not parsed JSON");
}

/** The shortest webhook secret accepted, bytes: an unset variable must not verify anything. */
export const MIN_SECRET_LEN = 32;

/**
 * Verify a webhook from keygate over the **raw** body, as received, before parsing it:
 * `Keygate-Webhook-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Resolves to the
 * parsed event; throws a KeygateVerifyError (`missing`, `malformed`, `stale`, `future`,
 * `bad_signature`, `weak_secret`) otherwise. Deliveries are at least once: deduplicate on the
 * event's `id`.
 *
 * @param {string|Uint8Array|ArrayBuffer} body
 * @param {string|undefined} header the Keygate-Webhook-Signature value
 * @param {{secrets: string|Uint8Array|Array<string|Uint8Array>, tolerance?: number, now?: number}} options
 */
export async function verifyWebhook(body, header, options) {
  await verifyWebhookSignature(body, header, options);
  try {
    return JSON.parse(new TextDecoder().decode(bytesOf(body)));
  } catch {
    throw new KeygateVerifyError("malformed", "the webhook body is not JSON");
  }
}

/**
 * Check a webhook's signature over its raw body and resolve to the signature's time, without
 * parsing the body (see verifyWebhook).
 */
export async function verifyWebhookSignature(body, header, options) {
  const { secrets, tolerance = DEFAULT_TOLERANCE, now = Math.floor(Date.now() / 1000) } = options ?? {};
  const list = toList(secrets);
  if (list.some((secret) => (typeof secret === "string" ? encoder.encode(secret) : secret).length < MIN_SECRET_LEN)) {
    throw new KeygateVerifyError("weak_secret", `a signing secret is shorter than ${MIN_SECRET_LEN} bytes`);
  }
  if (header === undefined || header === null) throw new KeygateVerifyError("missing", `missing header ${WEBHOOK_HEADER}`);
  const { t, signatures } = parseWebhookHeader(String(header));
  if (now - t > tolerance) throw new KeygateVerifyError("stale", `signature is ${now - t} s old`);
  if (t - now > tolerance) throw new KeygateVerifyError("future", `signature is ${t - now} s in the future`);
  const raw = bytesOf(body);
  const prefix = encoder.encode(`${t}.`);
  const message = new Uint8Array(prefix.length + raw.length);
  message.set(prefix, 0);
  message.set(raw, prefix.length);
  let ok = false;
  for (const secret of list) {
    const key = await importKey(secret);
    for (const sig of signatures) ok = (await crypto.subtle.verify("HMAC", key, fromHex(sig), message)) || ok;
  }
  if (!ok) throw new KeygateVerifyError("bad_signature", "no signature matches");
  return t;
}

/** Verify a Fetch API `Request` (Workers, Deno, Bun, Hono's `c.req.raw`, Node's fetch). */
export function verifyRequest(request, options) {
  const url = new URL(request.url);
  // The path as received: URL keeps the request's percent-encoding as it was sent.
  return verify({ headers: request.headers, method: request.method, host: request.headers.get("host") ?? url.host, path: url.pathname + url.search }, options);
}

function refusal(e) {
  const code = e instanceof KeygateVerifyError ? e.code : "bad_signature";
  const message = e instanceof KeygateVerifyError ? e.message : "verification failed";
  return { error: { type: "authentication_error", code, message } };
}

/**
 * Express (or Connect) middleware: verifies every request, puts the identity on
 * `req.keygate`, and answers 401 with a JSON error otherwise.
 */
export function express(options) {
  return (req, res, next) => {
    verify({ headers: req.headers, method: req.method, path: req.originalUrl ?? req.url }, options).then(
      (identity) => {
        // Only what the signature covers stays: any other keygate-like header is not keygate's.
        for (const name of Object.keys(req.headers)) {
          const n = name.toLowerCase().replaceAll("_", "-").replace(/^x-/, "");
          if (n.startsWith("keygate-") && !SIGNED.has(name.toLowerCase())) delete req.headers[name];
        }
        req.keygate = identity;
        next();
      },
      (e) => {
        res.statusCode = 401;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(refusal(e)));
      },
    );
  };
}

/**
 * For Fetch API frameworks: wraps a handler `(request, identity, ...rest) => Response` so that
 * it runs only for verified requests; others get 401 with a JSON error.
 */
export function withKeygate(handler, options) {
  return async (request, ...rest) => {
    let identity;
    try {
      identity = await verifyRequest(request, options);
    } catch (e) {
      return Response.json(refusal(e), { status: 401 });
    }
    return handler(request, identity, ...rest);
  };
}

/** Hono middleware: the identity in `c.get("keygate")`, or 401. */
export function hono(options) {
  return async (c, next) => {
    try {
      c.set("keygate", await verifyRequest(c.req.raw, options));
    } catch (e) {
      return c.json(refusal(e), 401);
    }
    await next();
  };
}
