// Failed-authentication throttling per client address (Workers Rate Limiting binding).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertError, bearer, call, createKey, forgedKey } from "./helpers.mjs";

describe("429: failed authentications are throttled per address", () => {
  it("after 20 failures in a minute an address gets 429 with Retry-After, valid keys included", async () => {
    const good = await createKey();
    const ip = `100.127.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
    const from = (headers, addr = ip) => ({ headers: { ...headers, "cf-connecting-ip": addr } });
    // Missing credentials are not guesses: they never count.
    for (let i = 0; i < 25; i++) assertError(await call("/v1/x", from({})), 401, "authentication_error", "api_key_missing");
    const codes = [];
    for (let i = 0; i < 25; i++) {
      const res = await call("/v1/x", from({ authorization: bearer(forgedKey()) }));
      codes.push(res.json.error.code);
      if (res.status === 429) {
        assertError(res, 429, "rate_limit_error", "too_many_failed_attempts");
        assert.ok(Number(res.headers["retry-after"]) > 0 && Number(res.headers["retry-after"]) <= 60);
      }
    }
    const firstThrottled = codes.indexOf("too_many_failed_attempts");
    assert.ok(firstThrottled >= 15 && firstThrottled <= 21, codes.join(","));
    assert.ok(codes.slice(0, firstThrottled).every((c) => c === "api_key_invalid"));
    assert.ok(codes.slice(firstThrottled).every((c) => c === "too_many_failed_attempts"));
    // The address stays refused, before any key handling, even with a valid key …
    const blocked = await call("/v1/x", from({ authorization: bearer(good.secret) }));
    assertError(blocked, 429, "rate_limit_error", "too_many_failed_attempts");
    // … while other addresses are untouched.
    assert.equal((await call("/v1/x", from({ authorization: bearer(good.secret) }, "100.126.0.1"))).status, 200);
  });
});
