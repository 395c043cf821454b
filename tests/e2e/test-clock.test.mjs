// A credit refill, seen end to end: the authority's alarm refills a key's credits at midnight
// without any traffic, the key object shows it, and the edge lets the key through again. Midnight
// is brought near with the `test-clock` build (never deployed), whose operator may set a
// test-mode authority's clock ahead; the edge keeps the platform's clock.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, assertError, bearer, call, E, newAccount } from "./helpers.mjs";

const url = E.urls.clock;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const DAY = 86400;
const nextMidnight = (t) => (Math.floor(t / DAY) + 1) * DAY;

describe("credits refill on time, without traffic", () => {
  it("a daily refill: exhausted, the authority's midnight passes, remaining and refilled_at change, the edge lets it through", async () => {
    const account = newAccount();
    const created = await admin("POST", `/accounts/${account}/keys`, {
      url,
      body: { type: "secret", mode: "test", credits: { remaining: 1, refill: { amount: 3, interval: "day" } } },
    });
    assert.equal(created.status, 201, created.text);
    const key = created.json;
    const now = Date.now() / 1000;
    assert.equal(key.credits.refilled_at, null, "never refilled yet");
    const use = () => call("/v1/charges", { url, headers: { authorization: bearer(key.secret) } });
    assert.equal((await use()).status, 200);
    const out = await use();
    assertError(out, 429, "rate_limit_error", "credits_exhausted");
    // Retry-After: until the refill, at the next UTC midnight.
    const retry = Number(out.headers["retry-after"]);
    assert.ok(Math.abs(now + retry - nextMidnight(now)) <= 3, `${retry}`);

    // The authority's clock is set to 6 s before that midnight: nothing is due yet…
    const midnight = nextMidnight(Date.now() / 1000);
    const offset = Math.ceil(midnight - Date.now() / 1000) - 6;
    const set = await admin("POST", `/accounts/${account}/test_clock`, { url, body: { offset } });
    assert.equal(set.status, 200, set.text);
    const before = await admin("GET", `/accounts/${account}/keys/${key.id}`, { url });
    assert.equal(before.json.credits.remaining, 0, before.text);
    // …then the alarm refills at midnight, with no request to the key.
    let after;
    for (let i = 0; i < 40; i++) {
      await sleep(500);
      after = await admin("GET", `/accounts/${account}/keys/${key.id}`, { url });
      if (after.json.credits.remaining !== 0) break;
    }
    assert.equal(after.json.credits.remaining, 3, after.text);
    assert.equal(after.json.credits.refilled_at, midnight);
    const events = await admin("GET", `/accounts/${account}/events?mode=test`, { url });
    const refilled = events.json.data.filter((e) => (e.type ?? e.kind) === "key.credits_refilled");
    assert.equal(refilled.length, 1, events.text);

    // The edge asks again within CREDITS_RECHECK (10 s) and spends the new credits.
    let res;
    for (let i = 0; i < 30; i++) {
      res = await use();
      if (res.status === 200) break;
      assertError(res, 429, "rate_limit_error", "credits_exhausted");
      await sleep(500);
    }
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers["keygate-credits-remaining"], "2");
  });

  it("is an operator's, for test mode only, with a precise 400 for a bad offset", async () => {
    const account = newAccount();
    const path = `/accounts/${account}/test_clock`;
    assertError(await admin("POST", path, { url, token: "adm_wrong" }), 401, "authentication_error", "admin_token_invalid");
    for (const body of [{}, { offset: -1 }, { offset: 400 * DAY + 1 }, { offset: "1" }]) {
      assertError(await admin("POST", path, { url, body }), 400, "invalid_request_error", "parameter_invalid", "offset");
    }
    // The production build has no such route.
    assertError(await admin("POST", path, { body: { offset: 0 } }), 404, "invalid_request_error", "resource_missing");
  });
});
