// Signed webhooks (issue: leaks, part 2), end to end: the `clock` instance sends its events to a
// local receiver (webhook-receiver.mjs) that verifies each one with the Node verifier over the
// raw body. Retries are brought near with the `test-clock` build, whose operator may set a
// test-mode authority's clock ahead (which also rings its alarm).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, bearer, call, createKey, E, newAccount, request } from "./helpers.mjs";

const url = E.urls.clock;
const R = E.webhooks.base;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const received = async (account) => (await request(`${R}/received?account=${account}`)).json;
const control = (account, script) => request(`${R}/control`, { method: "POST", body: JSON.stringify({ account, ...script }) });
const setClock = async (account, offset) => {
  const res = await admin("POST", `/accounts/${account}/test_clock`, { url, body: { offset } });
  assert.equal(res.status, 200, res.text);
};

/** Wait until `cond(received)` holds (deliveries go out from the authority's alarm). */
async function until(account, cond, what, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await received(account);
    if (cond(r)) return r;
    if (Date.now() > end) assert.fail(`${what}: ${JSON.stringify(r.received.map((x) => [x.type, x.status, x.error]))}`);
    await sleep(150);
  }
}

async function deliveries(account, mode = "test") {
  const res = await admin("GET", `/accounts/${account}/webhook_deliveries?mode=${mode}&limit=100`, { url });
  assert.equal(res.status, 200, res.text);
  return res.json.data;
}

describe("signed webhooks", () => {
  it("every lifecycle change is delivered once, signed, with the key object and never a secret", async () => {
    const account = newAccount();
    const created = await admin("POST", `/accounts/${account}/keys`, { url, body: { type: "secret", mode: "test", name: "hooks" } });
    assert.equal(created.status, 201, created.text);
    const key = created.json;
    const path = `/accounts/${account}/keys/${key.id}`;
    assert.equal((await admin("PATCH", path, { url, body: { name: "renamed" } })).status, 200);
    const rolled = await admin("POST", `${path}/roll`, { url, body: { expires_in: 0 } });
    assert.equal(rolled.status, 201, rolled.text);
    const next = rolled.json;
    const leak = await admin("POST", "/leaks", { url, body: { tokens: [next.secret] } });
    assert.equal(leak.status, 200, leak.text);
    assert.equal((await admin("POST", `/accounts/${account}/keys/${next.id}/expire`, { url })).status, 200);
    const other = await admin("POST", `/accounts/${account}/keys`, { url, body: { type: "secret", mode: "test" } });
    assert.equal((await admin("DELETE", `/accounts/${account}/keys/${other.json.id}`, { url })).status, 200);

    const want = ["key.created", "key.updated", "key.rolled", "key.created", "key.exposed", "key.expired", "key.created", "key.revoked"];
    const log = await admin("GET", `/accounts/${account}/events?mode=test&limit=100`, { url });
    const audited = log.json.data.map((e) => e.type).sort();
    const r = await until(account, (r) => r.received.length >= audited.length, "every event delivered");
    await sleep(500); // nothing more arrives
    const got = (await received(account)).received;
    assert.equal(got.length, audited.length, JSON.stringify(got.map((g) => g.type)));
    assert.deepEqual(got.map((g) => g.type).sort(), audited, "one webhook per audit event");
    for (const t of new Set(want)) assert.ok(audited.includes(t), `${t} in ${audited}`);
    assert.ok(got.every((g) => g.verified && g.status === 200), JSON.stringify(got.map((g) => g.error)));
    assert.equal(new Set(got.map((g) => g.id)).size, got.length, "distinct ids");
    for (const g of got) {
      assert.match(g.id, /^evt_[0-9a-f]{24}$/);
      assert.equal(g.object.account, account);
      for (const s of [key.secret, next.secret, other.json.secret]) assert.ok(!g.raw.includes(s), "no secret in a webhook");
      assert.ok(!/"secret":/.test(g.raw));
    }
    const revoked = got.find((g) => g.type === "key.revoked");
    assert.equal(revoked.object.status, "revoked");
    const exposed = got.find((g) => g.type === "key.exposed");
    assert.equal(exposed.object.exposed.reason, "reported_leak");
    // The deliveries, as the operator sees them.
    const list = await deliveries(account);
    assert.equal(list.length, got.length);
    assert.ok(list.every((d) => d.object === "webhook_delivery" && d.status === "delivered" && d.attempts === 1), JSON.stringify(list));
    assert.deepEqual(new Set(list.map((d) => d.id)), new Set(got.map((g) => g.id)));
    void r;
  });

  it("a receiver that fails the first attempts gets the event later, with the same id; the operator can send it again", async () => {
    const account = newAccount();
    await control(account, { fail: 2 });
    const created = await admin("POST", `/accounts/${account}/keys`, { url, body: { type: "secret", mode: "test" } });
    assert.equal(created.status, 201, "a failing endpoint never fails the change");
    await until(account, (r) => r.received.length === 1, "the first attempt");
    let [d] = await deliveries(account);
    for (let i = 0; i < 20 && d.attempts < 1; i++) [d] = await deliveries(account);
    assert.equal(d.status, "pending");
    assert.equal(d.last_status, 500);
    assert.equal(d.next_attempt_at - d.last_attempt_at, 60, "the first retry a minute later");
    // A minute passes for the authority: the second attempt (500 again), then two more minutes.
    await setClock(account, 61);
    await until(account, (r) => r.received.length === 2, "the second attempt");
    await setClock(account, 61 + 121);
    const r = await until(account, (r) => r.received.some((x) => x.status === 200), "the third attempt");
    const ids = new Set(r.received.map((x) => x.id));
    assert.equal(ids.size, 1, "every attempt carries the same id");
    assert.deepEqual(r.received.map((x) => x.status), [500, 500, 200]);
    assert.ok(r.received.every((x) => x.verified));
    [d] = await deliveries(account);
    for (let i = 0; i < 20 && d.status !== "delivered"; i++) {
      await sleep(100);
      [d] = await deliveries(account);
    }
    assert.equal(d.status, "delivered");
    assert.equal(d.attempts, 3);
    // The operator sends it again: once more, the same id.
    const retry = await admin("POST", `/accounts/${account}/webhook_deliveries/${d.id}/retry`, { url });
    assert.equal(retry.status, 200, retry.text);
    assert.equal(retry.json.status, "pending");
    const again = await until(account, (r) => r.received.length === 4, "the operator's retry");
    assert.equal(again.received[3].id, d.id);
  });

  it("a hanging endpoint never holds up a key operation", async () => {
    const account = newAccount();
    await control(account, { hold: 6000 });
    const created = await admin("POST", `/accounts/${account}/keys`, { url, body: { type: "secret", mode: "test" } });
    assert.equal(created.status, 201);
    await until(account, (r) => r.inflight > 0, "the delivery in flight");
    // While the authority's alarm waits on the endpoint, the same authority answers at once.
    const started = Date.now();
    const revoked = await admin("DELETE", `/accounts/${account}/keys/${created.json.id}`, { url });
    assert.equal(revoked.status, 200, revoked.text);
    const again = await admin("POST", `/accounts/${account}/keys`, { url, body: { type: "secret", mode: "test" } });
    assert.equal(again.status, 201);
    const ok = await call("/v1/charges", { url, headers: { authorization: bearer(again.json.secret) } });
    assert.equal(ok.status, 200, ok.text);
    const { inflight } = await received(account);
    assert.ok(inflight > 0, `the endpoint still held the first delivery after ${Date.now() - started} ms`);
    await control(account, { hold: 0 });
    await until(account, (r) => r.received.filter((x) => x.type === "key.created").length >= 2 && r.received.some((x) => x.type === "key.revoked"), "everything delivered after");
  });

  it("a key about to expire is announced seven days and one day before", async () => {
    const account = newAccount();
    const DAY = 86400;
    const exp = Math.floor(Date.now() / 1000) + 10 * DAY;
    const created = await admin("POST", `/accounts/${account}/keys`, { url, body: { type: "secret", mode: "test", expires_at: exp } });
    assert.equal(created.status, 201, created.text);
    await until(account, (r) => r.received.length === 1, "key.created");
    await setClock(account, 3 * DAY + 60);
    let r = await until(account, (r) => r.received.some((x) => x.type === "key.expiring"), "the 7-day notice");
    const seven = r.received.find((x) => x.type === "key.expiring");
    assert.deepEqual([seven.detail.days, seven.detail.expires_at, seven.object.id], [7, exp, created.json.id]);
    await setClock(account, 9 * DAY + 60);
    r = await until(account, (r) => r.received.filter((x) => x.type === "key.expiring").length === 2, "the 1-day notice");
    assert.equal(r.received.filter((x) => x.type === "key.expiring")[1].detail.days, 1);
  });

  it("the deliveries routes take precise input", async () => {
    const account = newAccount();
    assertError(await admin("GET", `/accounts/${account}/webhook_deliveries`, { url }), 400, "invalid_request_error", "parameter_missing", "mode");
    assertError(await admin("GET", `/accounts/${account}/webhook_deliveries?mode=test&starting_after=evt_1`, { url }), 400, "invalid_request_error", "parameter_invalid", "starting_after");
    assertError(await admin("GET", `/accounts/${account}/webhook_deliveries?mode=test&limit=0`, { url }), 400, "invalid_request_error", "parameter_invalid", "limit");
    assertError(await admin("POST", `/accounts/${account}/webhook_deliveries`, { url }), 405, "invalid_request_error", "method_not_allowed");
    assertError(await admin("POST", `/accounts/${account}/webhook_deliveries/evt_nope/retry`, { url }), 404, "invalid_request_error", "resource_missing");
    assertError(await admin("POST", `/accounts/${account}/webhook_deliveries/evt_${"0".repeat(24)}/retry`, { url }), 404, "invalid_request_error", "resource_missing");
    assertError(await admin("GET", `/accounts/${account}/webhook_deliveries/evt_${"0".repeat(24)}/retry`, { url }), 405, "invalid_request_error", "method_not_allowed");
    assertError(await admin("GET", `/accounts/${account}/webhook_deliveries?mode=test`, { url, token: null }), 401, "authentication_error", "admin_token_missing");
    // Another account's delivery is "missing".
    const other = newAccount();
    await admin("POST", `/accounts/${other}/keys`, { url, body: { type: "secret", mode: "test" } });
    await until(other, (r) => r.received.length === 1, "the other account's event");
    const [d] = await deliveries(other);
    assertError(await admin("POST", `/accounts/${account}/webhook_deliveries/${d.id}/retry`, { url }), 404, "invalid_request_error", "resource_missing");
    // Where no WEBHOOK_URL is set, nothing is queued.
    await createKey({ account });
    const main = await admin("GET", `/accounts/${account}/webhook_deliveries?mode=test`);
    assert.equal(main.status, 200, main.text);
    assert.deepEqual(main.json.data, []);
  });
});
