// Server-side faults fail closed: a 5xx api_error, never a pass-through.
import { describe, it } from "node:test";
import { admin, assertError, bearer, call, createKey, E, forgedKey } from "./helpers.mjs";

describe("5xx: fail closed", () => {
  it("without KEY_PEPPER the edge refuses every key with 500 misconfigured", async () => {
    for (const k of [forgedKey("sk_test_"), forgedKey("pk_live_")]) {
      const res = await call("/v1/x", { headers: { authorization: bearer(k) }, url: E.urls.bare });
      const e = assertError(res, 500, "api_error", "misconfigured");
      if (!e.message.includes("KEY_PEPPER")) throw new Error(e.message);
    }
  });

  it("without ADMIN_TOKEN the admin API refuses every call, whatever token is sent", async () => {
    for (const token of [E.secrets.ADMIN_TOKEN, "", null]) {
      const res = await admin("GET", "/accounts/acct_1/keys", { url: E.urls.bare, token });
      assertError(res, 500, "api_error", "misconfigured");
    }
  });

  it("without ORIGIN_SIGNING_SECRET nothing is proxied: 500 misconfigured", async () => {
    const key = await createKey({ url: E.urls.unsigned });
    const res = await call("/v1/x", { headers: { authorization: bearer(key.secret) }, url: E.urls.unsigned });
    const e = assertError(res, 500, "api_error", "misconfigured");
    if (!e.message.includes("ORIGIN_SIGNING_SECRET")) throw new Error(e.message);
  });

  it("an unreachable origin gives 502 origin_unavailable", async () => {
    const key = await createKey({ url: E.urls.down, mode: "test" });
    const res = await call("/v1/x", { headers: { authorization: bearer(key.secret) }, url: E.urls.down });
    assertError(res, 502, "api_error", "origin_unavailable");
  });

  it("a missing origin var gives 500 misconfigured, never a pass-through", async () => {
    const key = await createKey({ url: E.urls.down, mode: "live" });
    const res = await call("/v1/x", { headers: { authorization: bearer(key.secret) }, url: E.urls.down });
    const e = assertError(res, 500, "api_error", "misconfigured");
    if (!e.message.includes("ORIGIN_LIVE")) throw new Error(e.message);
  });
});
