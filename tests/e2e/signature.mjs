// A Keygate-Signature (version 2) verifier written in Node from the algorithm in docs/origin.md alone, as
// an origin in another language would: proof that the page is enough.
import crypto from "node:crypto";

function canonical(t, f) {
  const permDigest = crypto.createHash("sha256").update(f.permissions ?? "", "utf8").digest("hex");
  const values = [
    "keygate-signature-v2", String(t), f.method, f.host, f.path,
    f.account, f.keyId, f.mode, f.keyType, permDigest, f.requestId, f.verified,
  ];
  return Buffer.concat(values.map((v) => {
    const b = Buffer.from(v, "utf8");
    return Buffer.concat([Buffer.from(`${b.length}:`), b, Buffer.from("\n")]);
  }));
}

/**
 * Verify what the echo origin saw: headers (lower-case names), method, Host and path+query.
 * Returns "ok" or the reason. Refusing a replayed Keygate-Request-Id is the origin's job on top
 * of this (see the README); this check is about one request.
 */
export function verifyEcho(seen, secrets, { now = Math.floor(Date.now() / 1000), tolerance = 300 } = {}) {
  const h = seen.headers;
  const sig = h["keygate-signature"];
  if (!sig) return "missing";
  const parts = sig.split(",").map((p) => {
    const i = p.indexOf("=");
    return i < 0 ? [p, undefined] : [p.slice(0, i).trim(), p.slice(i + 1).trim()];
  });
  if (parts.some(([, v]) => v === undefined)) return "malformed";
  const ts = parts.filter(([k]) => k === "t");
  // Other schemes (v1 among them) are ignored; at least one v2 is required.
  const v2 = parts.filter(([k]) => k === "v2").map(([, v]) => v);
  if (ts.length !== 1 || !/^\d+$/.test(ts[0][1]) || v2.length === 0) return "malformed";
  if (!v2.every((v) => /^[0-9a-f]{64}$/.test(v))) return "malformed";
  const t = Number(ts[0][1]);
  if (now - t > tolerance) return "stale";
  if (t - now > tolerance) return "future";
  const required = ["keygate-account", "keygate-key-id", "keygate-mode", "keygate-key-type", "keygate-request-id", "keygate-verified"];
  if (required.some((name) => h[name] === undefined)) return "missing";
  const message = canonical(t, {
    method: seen.method,
    host: h.host,
    path: seen.query ? `${seen.path}?${seen.query}` : seen.path,
    account: h["keygate-account"],
    keyId: h["keygate-key-id"],
    mode: h["keygate-mode"],
    keyType: h["keygate-key-type"],
    permissions: h["keygate-permissions"],
    requestId: h["keygate-request-id"],
    verified: h["keygate-verified"],
  });
  for (const secret of secrets) {
    const expected = crypto.createHmac("sha256", secret).update(message).digest();
    for (const candidate of v2) {
      const got = Buffer.from(candidate, "hex");
      if (got.length === expected.length && crypto.timingSafeEqual(got, expected)) return "ok";
    }
  }
  return "bad signature";
}
