// The key lifecycle through the Durable Object: roll with grace, expire, revoke, strict keys,
// self-service with the account's own secret key, usage, the audit log, and concurrency.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, bearer, call, createKey, newAccount } from "./helpers.mjs";

const ok = async (key, extra = {}) => call("/v1/ping", { headers: { authorization: bearer(key.secret), ...extra } });
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("roll, grace, expire", () => {
  it("both keys work during grace; the old one carries Deprecation and Sunset; expire ends it", async () => {
    const old = await createKey({ name: "backend" });
    const t0 = now();
    const rolled = await admin("POST", `/accounts/${old.account}/keys/${old.id}/roll`, { body: { expires_in: 3600 } });
    assert.equal(rolled.status, 201, rolled.text);
    const fresh = rolled.json;
    assert.equal(fresh.rolled_from, old.id);
    assert.match(fresh.secret, /^sk_test_/);
    assert.notEqual(fresh.secret, old.secret);
    assert.equal(fresh.name, "backend");
    assert.equal(fresh.status, "active");

    const before = await admin("GET", `/accounts/${old.account}/keys/${old.id}`);
    assert.equal(before.json.status, "rolling");
    const sunset = before.json.expires_at;
    assert.ok(sunset >= t0 + 3600 && sunset <= t0 + 3600 + 60, `${sunset}`);

    const a = await ok(old);
    assert.equal(a.status, 200);
    assert.match(a.headers.deprecation, /^@\d+$/);
    const rolledAt = Number(a.headers.deprecation.slice(1));
    assert.ok(Math.abs(rolledAt - t0) < 60);
    assert.equal(a.headers.sunset, new Date(sunset * 1000).toUTCString());
    const b = await ok(fresh);
    assert.equal(b.status, 200);
    assert.equal(b.headers.deprecation, undefined);

    const exp = await admin("POST", `/accounts/${old.account}/keys/${old.id}/expire`);
    assert.equal(exp.status, 200, exp.text);
    assert.equal(exp.json.status, "expired");
    const e = assertError(await ok(old), 403, "authentication_error", "api_key_expired");
    assert.match(e.message, /rolled/);
    assert.match(e.message, /GMT/);
    assert.equal((await ok(fresh)).status, 200);
  });

  it("grace ends by time alone, at the edge", async () => {
    const old = await createKey();
    const r = await admin("POST", `/accounts/${old.account}/keys/${old.id}/roll`, { body: { expires_in: 5 } });
    assert.equal(r.status, 201);
    assert.equal((await ok(old)).status, 200);
    await sleep(6200);
    assertError(await ok(old), 403, "authentication_error", "api_key_expired");
    assert.equal((await ok(r.json)).status, 200);
    // The object's alarm fires when grace ends and records the expiry (and writes it to KV).
    let expiry;
    for (let i = 0; i < 40 && !expiry; i++) {
      const events = await admin("GET", `/accounts/${old.account}/events?mode=test`);
      expiry = events.json.data.find((e) => e.type === "key.expired" && e.key_id === old.id);
      if (!expiry) await sleep(250);
    }
    assert.ok(expiry, "the alarm recorded the expiry");
    assert.equal(expiry.actor, "system");
    assert.equal((await admin("GET", `/accounts/${old.account}/keys/${old.id}`)).json.status, "expired");
  });

  it("the default grace is 24 hours, and expires_in is validated", async () => {
    const k = await createKey();
    for (const [body, param] of [[{ expires_in: -1 }, "expires_in"], [{ expires_in: 604801 }, "expires_in"], [{ expires_in: "1d" }, "expires_in"], [{ grace: 5 }, "grace"]]) {
      assertError(await admin("POST", `/accounts/${k.account}/keys/${k.id}/roll`, { body }), 400, "invalid_request_error", param === "grace" ? "parameter_unknown" : "parameter_invalid", param);
    }
    const t0 = now();
    const r = await admin("POST", `/accounts/${k.account}/keys/${k.id}/roll`);
    assert.equal(r.status, 201);
    const old = await admin("GET", `/accounts/${k.account}/keys/${k.id}`);
    assert.ok(Math.abs(old.json.expires_at - (t0 + 86400)) < 60);
  });

  it("only an active key can be rolled: 409 key_not_active", async () => {
    const k = await createKey();
    await admin("POST", `/accounts/${k.account}/keys/${k.id}/roll`, { body: { expires_in: 60 } });
    assertError(await admin("POST", `/accounts/${k.account}/keys/${k.id}/roll`), 409, "invalid_request_error", "key_not_active");
    const r = await createKey();
    await admin("DELETE", `/accounts/${r.account}/keys/${r.id}`);
    assertError(await admin("POST", `/accounts/${r.account}/keys/${r.id}/roll`), 409, "invalid_request_error", "key_not_active");
  });

  it("100 concurrent rolls of one key make exactly one successor", async () => {
    const k = await createKey({ mode: "live" });
    const results = await Promise.all(
      Array.from({ length: 100 }, () => admin("POST", `/accounts/${k.account}/keys/${k.id}/roll`, { body: { expires_in: 600 } })),
    );
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 201).length, 1, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === 409).length, 99);
    for (const r of results.filter((r) => r.status === 409)) assert.equal(r.json.error.code, "key_not_active");
    const list = await admin("GET", `/accounts/${k.account}/keys?mode=live`);
    assert.equal(list.json.data.length, 2, "no record lost or duplicated");
    const successor = list.json.data.find((x) => x.id !== k.id);
    assert.equal(successor.rolled_from, k.id);
    assert.equal(list.json.data.find((x) => x.id === k.id).status, "rolling");
    const events = await admin("GET", `/accounts/${k.account}/events?mode=live&limit=100`);
    assert.equal(events.json.data.filter((e) => e.type === "key.rolled").length, 1);
  });
});

describe("strict keys", () => {
  it("are confirmed with the Durable Object on every request, and the origin is told", async () => {
    const k = await createKey({ mode: "live" });
    const strict = await admin("POST", `/accounts/${k.account}/keys`, { body: { type: "secret", mode: "live", strict: true } });
    assert.equal(strict.status, 201);
    assert.equal(strict.json.strict, true);
    const res = await ok(strict.json);
    assert.equal(res.status, 200);
    assert.equal(res.json.headers["keygate-verified"], "do");
    assert.equal((await ok(k)).json.headers["keygate-verified"], "kv;max-staleness=120");
    await admin("DELETE", `/accounts/${k.account}/keys/${strict.json.id}`);
    assertError(await ok(strict.json), 403, "authentication_error", "api_key_revoked");
  });
});

describe("self-service with the account's own secret key", () => {
  it("lists its own account and mode only, with last_used after use", async () => {
    const account = newAccount();
    const sk = await createKey({ account, mode: "test" });
    const pk = await createKey({ account, mode: "test", type: "publishable" });
    await createKey({ account, mode: "live" });
    await createKey({ mode: "test" }); // another account
    assert.equal((await ok(sk)).status, 200);
    let mine;
    for (let i = 0; i < 40; i++) {
      const list = await call("/_keygate/v1/keys", { headers: { authorization: bearer(sk.secret) } });
      assert.equal(list.status, 200, list.text);
      mine = list.json.data;
      if (mine.find((x) => x.id === sk.id)?.last_used) break;
      await sleep(250);
    }
    assert.deepEqual(mine.map((x) => x.id).sort(), [sk.id, pk.id].sort());
    const me = mine.find((x) => x.id === sk.id);
    assert.ok(me.last_used && Math.abs(me.last_used - now()) < 120, JSON.stringify(me));
    assert.equal(me.last_used % 60, 0, "minute precision");
    assert.equal(Object.values(me.usage).reduce((a, b) => a + b, 0), 1, "one request, counted once");
    assert.ok(!JSON.stringify(mine).includes(sk.secret));
  });

  it("usage is coalesced to one report per key per minute: exact counts", async () => {
    const into = (Date.now() / 1000) % 60;
    if (into > 40) await sleep((61 - into) * 1000);
    const sk = await createKey();
    for (let i = 0; i < 5; i++) assert.equal((await ok(sk)).status, 200);
    // The first request of the minute is reported at once; the other four wait for the next
    // minute's first request, so the object shows exactly 1.
    let usage;
    for (let i = 0; i < 40; i++) {
      usage = (await admin("GET", `/accounts/${sk.account}/keys/${sk.id}`)).json.usage;
      if (Object.keys(usage).length) break;
      await sleep(250);
    }
    await sleep(500);
    usage = (await admin("GET", `/accounts/${sk.account}/keys/${sk.id}`)).json.usage;
    assert.deepEqual(Object.values(usage), [1], JSON.stringify(usage));
  });

  it("publishable and restricted keys get 403 secret_key_required", async () => {
    for (const type of ["publishable", "restricted"]) {
      const k = await createKey({ type });
      const res = await call("/_keygate/v1/keys", { headers: { authorization: bearer(k.secret) } });
      assertError(res, 403, "permission_error", "secret_key_required");
    }
  });

  it("rolls, expires and revokes keys of its own account, and nothing else", async () => {
    const account = newAccount();
    const sk = await createKey({ account });
    const other = await createKey({ account });
    const auth = { authorization: bearer(sk.secret) };
    const rolled = await call(`/_keygate/v1/keys/${other.id}/roll`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ expires_in: 0 }) });
    assert.equal(rolled.status, 201, rolled.text);
    assert.equal(rolled.json.rolled_from, other.id);
    assertError(await ok(other), 403, "authentication_error", "api_key_expired");
    const exp = await call(`/_keygate/v1/keys/${rolled.json.id}/expire`, { method: "POST", headers: auth });
    assert.equal(exp.json.status, "expired");
    const foreign = await createKey();
    assertError(await call(`/_keygate/v1/keys/${foreign.id}`, { method: "DELETE", headers: auth }), 404, "invalid_request_error", "resource_missing");
    assert.equal((await ok(foreign)).status, 200);
    const self = await call(`/_keygate/v1/keys/${sk.id}`, { method: "DELETE", headers: auth });
    assert.equal(self.json.status, "revoked");
    // A revoked key can no longer manage anything, even while an edge cache could still hold it.
    assertError(await call("/_keygate/v1/keys", { headers: auth }), 403, "authentication_error", "api_key_revoked");
    const events = await admin("GET", `/accounts/${account}/events?mode=test`);
    const actors = events.json.data.filter((e) => e.actor === sk.id).map((e) => e.type);
    assert.deepEqual(actors, ["key.revoked", "key.expired", "key.created", "key.rolled"]);
  });

  it("needs a key like every other route", async () => {
    assertError(await call("/_keygate/v1/keys"), 401, "authentication_error", "api_key_missing");
  });
});

describe("audit log", () => {
  it("lists created, rolled, expired and revoked with actor, time and key, newest first, paginated", async () => {
    const account = newAccount();
    const k = await createKey({ account });
    const r = await admin("POST", `/accounts/${account}/keys/${k.id}/roll`, { body: { expires_in: 60 } });
    await admin("POST", `/accounts/${account}/keys/${k.id}/expire`);
    await admin("DELETE", `/accounts/${account}/keys/${r.json.id}`);
    const all = await admin("GET", `/accounts/${account}/events?mode=test`);
    assert.equal(all.status, 200);
    assert.equal(all.json.object, "list");
    assert.deepEqual(all.json.data.map((e) => [e.type, e.key_id]), [
      ["key.revoked", r.json.id],
      ["key.expired", k.id],
      ["key.created", r.json.id],
      ["key.rolled", k.id],
      ["key.created", k.id],
    ]);
    for (const e of all.json.data) {
      assert.equal(e.object, "event");
      assert.equal(e.actor, "admin");
      assert.equal(e.account, account);
      assert.equal(e.mode, "test");
      assert.ok(Math.abs(e.created_at - now()) < 120);
      assert.match(e.id, /^evt_\d{12}$/);
    }
    const p1 = await admin("GET", `/accounts/${account}/events?mode=test&limit=2`);
    assert.equal(p1.json.has_more, true);
    const p2 = await admin("GET", `/accounts/${account}/events?mode=test&limit=2&starting_after=${p1.json.data[1].id}`);
    const p3 = await admin("GET", `/accounts/${account}/events?mode=test&limit=2&starting_after=${p2.json.data[1].id}`);
    assert.deepEqual([...p1.json.data, ...p2.json.data, ...p3.json.data].map((e) => e.id), all.json.data.map((e) => e.id));
    assert.equal(p3.json.has_more, false);
    assertError(await admin("GET", `/accounts/${account}/events`), 400, "invalid_request_error", "parameter_missing", "mode");
    assertError(await admin("GET", `/accounts/${account}/events?mode=test&limit=0`), 400, "invalid_request_error", "parameter_invalid", "limit");
    assertError(await admin("GET", `/accounts/${account}/events?mode=test&starting_after=x`), 400, "invalid_request_error", "parameter_invalid", "starting_after");
  });
});
