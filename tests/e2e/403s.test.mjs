// Refusals of a known request: plain HTTP, revoked keys, expired keys.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, bearer, call, createKey, E } from "./helpers.mjs";

describe("403: refused", () => {
  it("plain HTTP is refused before any key handling, even with X-Forwarded-Proto: https", async () => {
    const key = await createKey();
    for (const headers of [{}, { authorization: bearer(key.secret) }, { authorization: bearer(key.secret), "x-forwarded-proto": "https" }, { authorization: "garbage" }]) {
      const res = await call("/v1/charges", { headers, url: E.urls.plain });
      assertError(res, 403, "invalid_request_error", "https_required");
      assert.equal(res.headers.location, undefined, "never redirected");
    }
  });

  it("the admin API is HTTPS-only too", async () => {
    const res = await admin("GET", "/accounts/acct_1/keys", { url: E.urls.plain });
    assertError(res, 403, "invalid_request_error", "https_required");
  });

  it("a revoked key gets api_key_revoked", async () => {
    const key = await createKey();
    assert.equal((await call("/v1/x", { headers: { authorization: bearer(key.secret) } })).status, 200);
    const del = await admin("DELETE", `/accounts/${key.account}/keys/${key.id}`);
    assert.equal(del.status, 200, del.text);
    assert.equal(del.json.status, "revoked");
    assert.equal(del.json.secret, undefined);
    const res = await call("/v1/x", { headers: { authorization: bearer(key.secret) } });
    const e = assertError(res, 403, "authentication_error", "api_key_revoked");
    assert.ok(e.message.includes(`…${key.last4}`));
    assert.ok(!e.message.includes(key.secret));
  });

  it("an expired key gets api_key_expired, enforced at the edge against the request time", async () => {
    const expires_at = Math.floor(Date.now() / 1000) + 5;
    const key = await createKey({ expires_at });
    assert.equal((await call("/v1/x", { headers: { authorization: bearer(key.secret) } })).status, 200);
    await new Promise((r) => setTimeout(r, (expires_at + 1) * 1000 - Date.now()));
    const res = await call("/v1/x", { headers: { authorization: bearer(key.secret) } });
    const e = assertError(res, 403, "authentication_error", "api_key_expired");
    assert.ok(e.message.includes(String(expires_at)));
    const got = await admin("GET", `/accounts/${key.account}/keys/${key.id}`);
    assert.equal(got.json.status, "expired");
  });
});
