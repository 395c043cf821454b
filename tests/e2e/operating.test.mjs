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
    // Self-service never sees metadata (the provider's record about the key)…
    const own = await call(`/_keygate/v1/keys/${rolled.json.id}`, { headers: { authorization: bearer(rolled.json.secret) } });
    assert.equal(own.status, 200, own.text);
    assert.deepEqual(own.json.metadata, {});
    const ownList = await call("/_keygate/v1/keys", { headers: { authorization: bearer(rolled.json.secret) } });
    assert.ok(ownList.json.data.every((k) => Object.keys(k.metadata).length === 0), ownList.text);
    // …may rename its own key, and never touch metadata.
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
    const found = await admin("POST", "/keys/lookup", { body: { secret: `${key.secret}\n` } });
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
      [{ secret: key.secret, account }, "parameter_unknown", "body"],
      [{ secret: key.secret, [key.secret]: 1 }, "parameter_unknown", "body"],
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
    // Its errors say so too.
    const wrongMethod = await admin("GET", "/keys/lookup", { token: E.secrets.ADMIN_TOKEN_PREVIOUS });
    assertError(wrongMethod, 405, "invalid_request_error", "method_not_allowed");
    assert.equal(wrongMethod.headers["keygate-admin-token"], "previous");
    const missing = await admin("GET", `/accounts/${account}/keys/key_000000000000000000000000`, { token: E.secrets.ADMIN_TOKEN_PREVIOUS });
    assert.equal(missing.status, 404, missing.text);
    assert.equal(missing.headers["keygate-admin-token"], "previous");
    for (const token of [`${E.secrets.ADMIN_TOKEN_PREVIOUS}x`, E.secrets.ADMIN_TOKEN_PREVIOUS.slice(0, -1)]) {
      assertError(await admin("GET", `/accounts/${account}/keys`, { token }), 401, "authentication_error", "admin_token_invalid");
    }
  });

  it("lists page by page, newest first, across both modes, with filters; bad cursors and filters are 400s", async () => {
    const account = newAccount();
    const made = [];
    for (let i = 0; i < 24; i++) {
      const body = { type: ["secret", "publishable", "restricted"][i % 3], mode: i % 2 ? "live" : "test" };
      if (body.type === "restricted") body.permissions = { charges: "read" };
      const res = await admin("POST", `/accounts/${account}/keys`, { body });
      assert.equal(res.status, 201, res.text);
      made.push(res.json);
    }
    const newestFirst = [...made].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1)).map((k) => k.id);
    const pages = async (query, auth) => {
      const ids = [];
      let after = null;
      for (let n = 0; n < 50; n++) {
        const q = new URLSearchParams({ ...query, ...(after ? { starting_after: after } : {}) });
        const res = auth
          ? await call(`/_keygate/v1/keys?${q}`, { headers: { authorization: bearer(auth) } })
          : await admin("GET", `/accounts/${account}/keys?${q}`);
        assert.equal(res.status, 200, res.text);
        assert.ok(res.json.data.length <= Number(query.limit ?? 10));
        ids.push(...res.json.data.map((k) => k.id));
        if (!res.json.has_more) return ids;
        after = res.json.data.at(-1).id;
      }
      throw new Error("pages never end");
    };
    assert.deepEqual(await pages({ limit: "5" }), newestFirst);
    assert.deepEqual(await pages({}), newestFirst);
    assert.deepEqual(await pages({ limit: "100" }), newestFirst);
    const live = made.filter((k) => k.mode === "live").map((k) => k.id);
    assert.deepEqual(new Set(await pages({ limit: "4", mode: "live" })), new Set(live));
    const restricted = newestFirst.filter((id) => made.find((k) => k.id === id).type === "restricted");
    assert.deepEqual(await pages({ limit: "3", type: "restricted" }), restricted);
    // Revoke two; a status filter sees them at once.
    for (const k of made.slice(0, 2)) assert.equal((await admin("DELETE", `/accounts/${account}/keys/${k.id}`)).status, 200);
    assert.deepEqual(new Set(await pages({ status: "revoked" })), new Set(made.slice(0, 2).map((k) => k.id)));
    assert.equal((await pages({ status: "active", limit: "7" })).length, 22);
    const one = made[5];
    assert.ok((await pages({ last4: one.last4 })).includes(one.id));
    // Self-service pages its own account and mode.
    const caller = made.find((k) => k.type === "secret" && k.mode === "test" && !made.slice(0, 2).includes(k));
    const own = await pages({ limit: "2" }, caller.secret);
    assert.deepEqual(own, newestFirst.filter((id) => made.find((k) => k.id === id).mode === "test"), "every test-mode key, revoked ones too");
    for (const [q, param] of [
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["limit=x", "limit"],
      ["status=gone", "status"],
      ["type=admin", "type"],
      ["last4=abc", "last4"],
      ["starting_after=nope", "starting_after"],
      [`starting_after=key_${"0".repeat(24)}`, "starting_after"],
    ]) {
      assertError(await admin("GET", `/accounts/${account}/keys?${q}`), 400, "invalid_request_error", "parameter_invalid", param);
    }
    // A parameter the list does not take is named, never ignored (a Stripe client's
    // `ending_before` must not silently get the first page).
    for (const q of ["ending_before=" + made[0].id, "created%5Bgte%5D=1", "expand=data"]) {
      const res = await admin("GET", `/accounts/${account}/keys?${q}`);
      assertError(res, 400, "invalid_request_error", "parameter_unknown");
    }
    const selfUnknown = await call("/_keygate/v1/keys?mode=live", { headers: { authorization: bearer(caller.secret) } });
    assertError(selfUnknown, 400, "invalid_request_error", "parameter_unknown", "mode");
    // A restricted caller's cursor outside its scope is the same 400 as no such key: it is not
    // told that the key exists.
    const narrow = await admin("POST", `/accounts/${account}/keys`, { body: { type: "secret", mode: "test", allowed_ips: ["203.0.113.0/24"] } });
    assert.equal(narrow.status, 201, narrow.text);
    const wide = made.find((k) => k.mode === "test" && k.type === "secret" && k.id !== caller.id);
    const out = await call(`/_keygate/v1/keys?starting_after=${wide.id}`, { headers: { authorization: bearer(narrow.json.secret), "cf-connecting-ip": "203.0.113.9" } });
    assertError(out, 400, "invalid_request_error", "parameter_invalid", "starting_after");
    // Another account's key is no cursor here.
    const stranger = await createKey();
    assertError(await admin("GET", `/accounts/${account}/keys?starting_after=${stranger.id}`), 400, "invalid_request_error", "parameter_invalid", "starting_after");
  });
});
