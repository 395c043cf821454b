// The operator's admin API: create and list keys, validation, authorisation.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, createKey, newAccount } from "./helpers.mjs";

const KEY_FIELDS = ["account", "allowed_endpoints", "allowed_ips", "allowed_origins", "canary", "created_at", "credits", "expires_at", "exposed", "id", "imported", "last4", "last_used", "livemode", "metadata", "mode", "name", "object", "permissions", "prefix", "rate_limit", "refused", "rolled_from", "shares_usage_controls_with", "status", "strict", "type", "usage"];

describe("admin API", () => {
  it("creates a key: 201 with the secret shown once", async () => {
    const account = newAccount();
    const before = Math.floor(Date.now() / 1000);
    const res = await admin("POST", `/accounts/${account}/keys`, { body: { type: "secret", mode: "live", name: "Production" } });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers["cache-control"], "no-store");
    const k = res.json;
    assert.deepEqual(Object.keys(k).sort(), [...KEY_FIELDS, "secret"].sort());
    assert.match(k.id, /^key_[0-9A-Za-z]{24}$/);
    assert.equal(k.object, "api_key");
    assert.match(k.secret, /^sk_live_[0-9A-Za-z]{38}$/);
    assert.equal(k.type, "secret");
    assert.equal(k.mode, "live");
    assert.equal(k.livemode, true);
    assert.equal(k.name, "Production");
    assert.equal(k.prefix, "sk_live_");
    assert.equal(k.last4, k.secret.slice(-4));
    assert.equal(k.status, "active");
    assert.ok(k.created_at >= before - 1 && k.created_at <= before + 60);
    assert.equal(k.expires_at, null);
    assert.equal(k.last_used, null);
    assert.deepEqual(k.usage, {});
    assert.equal(k.rolled_from, null);
    assert.equal(k.strict, false);
  });

  it("lists keys without secrets, filtered by mode or all", async () => {
    const account = newAccount();
    const a = await createKey({ account, mode: "test", type: "publishable" });
    const b = await createKey({ account, mode: "live", type: "restricted" });
    const test = await admin("GET", `/accounts/${account}/keys?mode=test`);
    assert.equal(test.status, 200);
    assert.equal(test.json.object, "list");
    assert.equal(test.json.has_more, false);
    assert.deepEqual(test.json.data.map((k) => k.id), [a.id]);
    assert.deepEqual(Object.keys(test.json.data[0]).sort(), KEY_FIELDS);
    const all = await admin("GET", `/accounts/${account}/keys`);
    assert.deepEqual(all.json.data.map((k) => k.id).sort(), [a.id, b.id].sort());
    assert.ok(!all.text.includes(a.secret) && !all.text.includes(b.secret));
    const other = await admin("GET", `/accounts/${newAccount()}/keys?mode=test`);
    assert.deepEqual(other.json.data, []);
  });

  it("gets one key, and 404s for another account's key", async () => {
    const k = await createKey({ mode: "live" });
    const got = await admin("GET", `/accounts/${k.account}/keys/${k.id}`);
    assert.equal(got.status, 200);
    assert.equal(got.json.id, k.id);
    assert.equal(got.json.secret, undefined);
    assertError(await admin("GET", `/accounts/${newAccount()}/keys/${k.id}`), 404, "invalid_request_error", "resource_missing");
    assertError(await admin("GET", `/accounts/${k.account}/keys/key_doesnotexist`), 404, "invalid_request_error", "resource_missing");
  });

  it("rejects bad bodies with 400 and the parameter at fault", async () => {
    const path = `/accounts/${newAccount()}/keys`;
    const cases = [
      ["{not json", "body_invalid", "body"],
      ["[1,2]", "body_invalid", "body"],
      [JSON.stringify({ type: "admin", mode: "test" }), "parameter_invalid", "type"],
      [JSON.stringify({ type: "secret", mode: "prod" }), "parameter_invalid", "mode"],
      [JSON.stringify({ mode: "test" }), "parameter_missing", "type"],
      [JSON.stringify({ type: "secret", mode: "test", name: 42 }), "parameter_invalid", "name"],
      [JSON.stringify({ type: "secret", mode: "test", expires_at: 1 }), "parameter_invalid", "expires_at"],
      [JSON.stringify({ type: "secret", mode: "test", role: "owner" }), "parameter_unknown", "role"],
      ["[".repeat(5000) + "]".repeat(5000), "body_invalid", "body"],
      [JSON.stringify({ type: "secret", mode: "test", name: "x".repeat(20000) }), "body_too_large", "body"],
    ];
    for (const [body, code, param] of cases) {
      const res = await admin("POST", path, { body });
      assertError(res, 400, "invalid_request_error", code, param);
    }
    assertError(await admin("GET", `${path}?mode=prod`), 400, "invalid_request_error", "parameter_invalid", "mode");
  });

  it("validates account ids", async () => {
    for (const bad of ["acct_", "acct_a-b", "user_1", `acct_${"a".repeat(65)}`]) {
      assertError(await admin("GET", `/accounts/${bad}/keys`), 400, "invalid_request_error", "account_invalid", "account");
    }
  });

  it("needs the exact admin token", async () => {
    const path = `/accounts/${newAccount()}/keys`;
    assertError(await admin("GET", path, { token: null }), 401, "authentication_error", "admin_token_missing");
    for (const token of ["", "wrong", "adm_", "adm_0000"]) {
      const res = await admin("GET", path, { token });
      assert.equal(res.status, 401, token);
      assert.match(res.json.error.code, /^admin_token_(invalid|missing)$/);
    }
  });

  it("unknown routes 404 and wrong methods 405", async () => {
    assertError(await admin("GET", "/nope"), 404, "invalid_request_error", "resource_missing");
    const res = await admin("PUT", `/accounts/${newAccount()}/keys`);
    assertError(res, 405, "invalid_request_error", "method_not_allowed");
    assert.equal(res.headers.allow, "GET, POST");
    const one = await admin("PUT", `/accounts/${newAccount()}/keys/key_abc`);
    assert.equal(one.headers.allow, "GET, PATCH, DELETE");
  });
});
