// Missing or invalid keys: 401 authentication_error, with WWW-Authenticate, nothing proxied.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertError, basic, bearer, call, createKey, forgedKey } from "./helpers.mjs";

describe("401: missing or invalid key", () => {
  it("no credential: api_key_missing with a WWW-Authenticate challenge and how to send a key", async () => {
    const res = await call("/v1/charges");
    const e = assertError(res, 401, "authentication_error", "api_key_missing");
    assert.match(res.headers["www-authenticate"], /^Bearer realm="keygate"/);
    assert.match(e.message, /Authorization: Bearer/);
  });

  const wrong = (k) => [
    ["one character short", k.slice(0, -1)],
    ["one character long", `${k}0`],
    ["bad checksum", k.slice(0, -1) + (k.endsWith("A") ? "B" : "A")],
    ["unknown prefix", `xk_test_${k.slice(8)}`],
    ["unicode look-alike", k.slice(0, 20) + "\u0430" + k.slice(22)],
  ];

  it("wrong format or checksum: api_key_invalid, redacted, before any lookup", async () => {
    const key = await createKey();
    for (const [why, bad] of wrong(key.secret)) {
      const res = await call("/v1/x", { headers: { authorization: basic(bad) } });
      const e = assertError(res, 401, "authentication_error", "api_key_invalid");
      assert.ok(!e.message.includes(bad.slice(8, 30)), `${why}: message must be redacted: ${e.message}`);
      assert.ok(res.headers["www-authenticate"]);
    }
  });

  it("a well-formed key that was never issued: api_key_invalid showing only prefix and last4", async () => {
    const forged = forgedKey("sk_live_");
    const res = await call("/v1/x", { headers: { authorization: bearer(forged) } });
    const e = assertError(res, 401, "authentication_error", "api_key_invalid");
    assert.ok(e.message.includes(`sk_live_…${forged.slice(-4)}`), e.message);
    assert.ok(!e.message.includes(forged));
  });
});
