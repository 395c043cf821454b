// Operating many keys (issue: adoption, part 4): metadata and renaming, the operator's lookup of a
// raw key, and the admin token's rotation (ADMIN_TOKEN_PREVIOUS beside ADMIN_TOKEN).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, bearer, call, createKey, E, forgedKey, newAccount } from "./helpers.mjs";

describe("operating keys", () => {
  it("metadata: set at creation, merged, unset and cleared by the operator; kept across a roll; never self-service", async () => {
    const account = newAccount();
    const res = await admin("POST", `/accounts/${account}/keys`, {
      body: { type: "secret", mode: "test", name: "billing", metadata: { customer: "cus_42", plan: "pro" } },
    });
    assert.equal(res.status, 201, res.text);
    const key = res.json;
    assert.deepEqual(key.metadata, { customer: "cus_42", plan: "pro" });
    const path = `/accounts/${account}/keys/${key.id}`;
    const merged = await admin("PATCH", path, { body: { metadata: { plan: "enterprise", region: "eu" }, name: "billing (eu)" } });
    assert.equal(merged.status, 200, merged.text);
    assert.deepEqual(merged.json.metadata, { customer: "cus_42", plan: "enterprise", region: "eu" });
    assert.equal(merged.json.name, "billing (eu)");
    const unset = await admin("PATCH", path, { body: { metadata: { region: "", customer: null } } });
    assert.deepEqual(unset.json.metadata, { plan: "enterprise" });
    // The audit log says what changed.
    const events = (await admin("GET", `/accounts/${account}/events?mode=test`)).json.data;
    assert.ok(events.some((e) => e.type === "key.updated" && e.data.metadata), JSON.stringify(events));
    // The key still works, and the origin never sees the metadata.
    const through = await call("/v1/charges", { headers: { authorization: bearer(key.secret) } });
    assert.equal(through.status, 200, through.text);
    assert.ok(!JSON.stringify(through.json.headers).includes("enterprise"), "metadata is not sent to the origin");
    // A roll keeps the metadata and the name.
    const rolled = await admin("POST", `${path}/roll`, { body: { expires_in: 60 } });
    assert.equal(rolled.status, 201, rolled.text);
    assert.deepEqual(rolled.json.metadata, { plan: "enterprise" });
    assert.equal(rolled.json.name, "billing (eu)");
    // Self-service may rename its own key, never touch metadata.
    const self = (method, p, body) =>
      call(`/_keygate/v1${p}`, { method, headers: { authorization: bearer(rolled.json.secret), "content-type": "application/json" }, body: JSON.stringify(body) });
    const renamed = await self("PATCH", `/keys/${rolled.json.id}`, { name: "mine" });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.json.name, "mine");
    assertError(await self("PATCH", `/keys/${rolled.json.id}`, { metadata: { plan: "free" } }), 403, "permission_error", "widening_not_allowed", "metadata");
    assertError(await self("PATCH", `/keys/${rolled.json.id}`, { metadata: null }), 403, "permission_error", "widening_not_allowed", "metadata");
    // Cleared whole by the operator.
    const cleared = await admin("PATCH", `/accounts/${account}/keys/${rolled.json.id}`, { body: { metadata: "" } });
    assert.deepEqual(cleared.json.metadata, {});
  });

  it("bad metadata and names are precise 400s naming the field", async () => {
    const account = newAccount();
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"]));
    for (const [metadata, param] of [
      [many, "metadata"],
      [{ n: 5 }, "metadata[n]"],
      [{ ["k".repeat(41)]: "v" }, `metadata[${"k".repeat(41)}]`],
      [{ "a[b]": "v" }, "metadata[a[b]]"],
      [{ long: "v".repeat(501) }, "metadata[long]"],
      [["a"], "metadata"],
    ]) {
      const res = await admin("POST", `/accounts/${account}/keys`, { body: { type: "secret", mode: "test", metadata } });
      assertError(res, 400, "invalid_request_error", "parameter_invalid", param);
    }
    const key = await createKey({ account });
    for (const [body, param] of [
      [{ name: null }, "name"],
      [{ name: "x".repeat(201) }, "name"],
      [{ metadata: { a: 1 } }, "metadata[a]"],
    ]) {
      assertError(await admin("PATCH", `/accounts/${account}/keys/${key.id}`, { body }), 400, "invalid_request_error", "parameter_invalid", param);
    }
    assertError(await admin("PATCH", `/accounts/${account}/keys/${key.id}`, { body: { label: "x" } }), 400, "invalid_request_error", "parameter_unknown", "label");
  });

  it("lookup: the key object for a pasted raw key, by digest; 404 for an unknown key, 400 for garbage, operator only", async () => {
    const account = newAccount();
    const key = await createKey({ account, mode: "live" });
    assert.equal((await call("/v1/charges", { headers: { authorization: bearer(key.secret) } })).status, 200);
    const found = await admin("POST", "/keys/lookup", { body: { secret: key.secret } });
    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.id, key.id);
    assert.equal(found.json.account, account);
    assert.equal(found.json.status, "active");
    assert.equal(found.json.secret, undefined, "never answered back");
    assert.ok(!found.text.includes(key.secret));
    // A revoked key is still found, and says so.
    assert.equal((await admin("DELETE", `/accounts/${account}/keys/${key.id}`)).status, 200);
    assert.equal((await admin("POST", "/keys/lookup", { body: { secret: key.secret } })).json.status, "revoked");
    assertError(await admin("POST", "/keys/lookup", { body: { secret: forgedKey() } }), 404, "invalid_request_error", "resource_missing");
    for (const [body, code, param] of [
      [{ secret: "sk_test_short" }, "parameter_invalid", "secret"],
      [{ secret: key.secret.slice(0, -1) + (key.secret.endsWith("A") ? "B" : "A") }, "parameter_invalid", "secret"],
      [{}, "parameter_missing", "secret"],
      [{ secret: key.secret, account }, "parameter_unknown", "account"],
    ]) {
      const res = await admin("POST", "/keys/lookup", { body });
      assertError(res, 400, "invalid_request_error", code, param);
      assert.ok(!res.text.includes(key.secret.slice(8)), "the key is never repeated");
    }
    // The operator's only: a secret key is no operator token (and it counts as a failure).
    const asKey = await call("/_keygate/v1/keys/lookup", {
      method: "POST",
      headers: { authorization: bearer(key.secret), "content-type": "application/json" },
      body: JSON.stringify({ secret: key.secret }),
    });
    assertError(asKey, 401, "authentication_error", "admin_token_invalid");
    const get = await admin("GET", "/keys/lookup");
    assertError(get, 405, "invalid_request_error", "method_not_allowed");
    assert.equal(get.headers.allow, "POST");
  });

  it("ADMIN_TOKEN_PREVIOUS works beside ADMIN_TOKEN during a rotation, and every answer says so", async () => {
    const account = newAccount();
    const current = await admin("GET", `/accounts/${account}/keys`);
    assert.equal(current.status, 200);
    assert.equal(current.headers["keygate-admin-token"], undefined);
    const previous = await admin("POST", `/accounts/${account}/keys`, { token: E.secrets.ADMIN_TOKEN_PREVIOUS, body: { type: "secret", mode: "test" } });
    assert.equal(previous.status, 201, previous.text);
    assert.equal(previous.headers["keygate-admin-token"], "previous");
    const lookup = await admin("POST", "/keys/lookup", { token: E.secrets.ADMIN_TOKEN_PREVIOUS, body: { secret: previous.json.secret } });
    assert.equal(lookup.status, 200, lookup.text);
    assert.equal(lookup.headers["keygate-admin-token"], "previous");
    for (const token of [`${E.secrets.ADMIN_TOKEN_PREVIOUS}x`, E.secrets.ADMIN_TOKEN_PREVIOUS.slice(0, -1)]) {
      assertError(await admin("GET", `/accounts/${account}/keys`, { token }), 401, "authentication_error", "admin_token_invalid");
    }
  });
});
