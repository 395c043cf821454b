// (d) What a user might write instead of adopting keygate: the same HMAC-and-KV check in plain
// JavaScript with WebCrypto. Bearer only, same digest ("v1:" + hex HMAC-SHA256 under the
// pepper), same KV record, same identity headers; none of keygate's other checks.
let keyPromise;
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
const deny = (status, code) =>
  new Response(JSON.stringify({ error: { type: "authentication_error", code } }), {
    status,
    headers: { "content-type": "application/json" },
  });

export default {
  async fetch(req, env) {
    const auth = req.headers.get("authorization") ?? "";
    const m = /^Bearer ((sk|pk|rk)_(test|live)_[0-9A-Za-z]{38})$/.exec(auth);
    if (!m) return deny(401, "api_key_invalid");
    keyPromise ??= crypto.subtle.importKey("raw", new TextEncoder().encode(env.KEY_PEPPER), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const digest = "v1:" + hex(await crypto.subtle.sign("HMAC", await keyPromise, new TextEncoder().encode(m[1])));
    const record = await env.KEYS.get(digest, { type: "json", cacheTtl: 60 });
    if (!record || record.status === "revoked") return deny(401, "api_key_invalid");
    const url = new URL(req.url);
    const headers = new Headers(req.headers);
    headers.delete("authorization");
    headers.set("Keygate-Account", record.account);
    headers.set("Keygate-Key-Id", record.id);
    headers.set("Keygate-Mode", record.mode);
    return fetch(new Request(new URL(url.pathname + url.search, env.ORIGIN), { method: req.method, headers, body: req.body }));
  },
};
