// Malformed credentials: a precise 400 in the error shape, and nothing reaches origin.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { assertError, basic, bearer, call, createKey } from "./helpers.mjs";

describe("malformed credentials get a precise 400", async () => {
  const key = await createKey();
  const k = key.secret;
  const cases = [
    ["Bearer with no token", { authorization: "Bearer" }, "authorization_malformed"],
    ["Bearer with two spaces", { authorization: `Bearer  ${k}` }, "authorization_malformed"],
    ["a token with trailing junk", { authorization: `Bearer ${k} extra` }, "authorization_malformed"],
    ["lower-case bearer", { authorization: `bearer ${k}` }, "authorization_scheme_case"],
    ["an unknown scheme", { authorization: `Token ${k}` }, "authorization_scheme_unsupported"],
    ["a bare key", { authorization: k }, "authorization_scheme_unsupported"],
    ["Basic that is not base64", { authorization: "Basic ***" }, "basic_auth_malformed"],
    ["Basic with no colon", { authorization: `Basic ${Buffer.from(k).toString("base64")}` }, "basic_auth_malformed"],
    ["Basic with a password", { authorization: basic(k, "hunter2") }, "basic_auth_password_not_empty"],
    ["two credentials in one header", { authorization: `${bearer(k)}, ${bearer(k)}` }, "multiple_credentials"],
    ["two Authorization headers", { authorization: [bearer(k), bearer(k)] }, "multiple_credentials"],
  ];
  for (const [name, headers, code] of cases) {
    it(name, async () => {
      const res = await call("/v1/charges", { headers });
      assertError(res, 400, "invalid_request_error", code);
      assert.ok(!res.text.includes(k), "the raw key must not be echoed");
    });
  }

  it("an empty or whitespace header counts as no credential (401 api_key_missing)", async () => {
    for (const authorization of ["", "   "]) {
      const res = await call("/v1/charges", { headers: { authorization } });
      assertError(res, 401, "authentication_error", "api_key_missing");
    }
  });

  it("a key in the query string is refused and never forwarded", async () => {
    for (const [q, param] of [[`api_key=${k}`, "api_key"], [`key=${k}`, "key"], [`q=${k}`, "q"]]) {
      const res = await call(`/v1/charges?${q}`, { headers: { authorization: bearer(k) } });
      const e = assertError(res, 400, "invalid_request_error", "api_key_in_query", param);
      assert.ok(!e.message.includes(k));
    }
    const res = await call(`/v1/charges?api_key=${k}`);
    assertError(res, 400, "invalid_request_error", "api_key_in_query", "api_key");
  });

  it("an oversized Authorization header gets 431", async () => {
    const res = await call("/v1/charges", { headers: { authorization: `Bearer ${"a".repeat(5000)}` } });
    assertError(res, 431, "invalid_request_error", "authorization_too_large");
  });
});
