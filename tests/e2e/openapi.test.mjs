// The response checker itself: every management response in the suites passes through it, so
// prove here that it rejects what openapi.yaml does not describe.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkResponse } from "./openapi.mjs";
import { createKey, MAIN } from "./helpers.mjs";

const url = (p) => `${MAIN}/_keygate/v1${p}`;

describe("openapi.yaml checker", () => {
  it("accepts a real key and rejects near misses", async () => {
    const k = await createKey();
    const ok = { status: 201, json: k, text: JSON.stringify(k) };
    checkResponse("POST", url(`/accounts/${k.account}/keys`), ok);
    const { usage, ...missing } = k;
    assert.ok(usage);
    for (const json of [missing, { ...k, extra: 1 }, { ...k, status: "paused" }, { ...k, secret: "sk_test_short" }]) {
      assert.throws(() => checkResponse("POST", url(`/accounts/${k.account}/keys`), { status: 201, json, text: "" }));
    }
    const { secret, ...listed } = k;
    assert.ok(secret);
    checkResponse("GET", url(`/accounts/${k.account}/keys/${k.id}`), { status: 200, json: listed, text: "" });
    assert.throws(() => checkResponse("GET", url(`/accounts/${k.account}/keys/${k.id}`), { status: 200, json: k, text: "" }), /secret|unevaluated/i);
  });

  it("rejects undeclared statuses and malformed errors", () => {
    const err = { error: { type: "invalid_request_error", code: "x", message: "m", param: null, doc_url: "d" } };
    assert.throws(() => checkResponse("GET", url("/accounts/acct_1/keys"), { status: 418, json: err, text: "" }), /418/);
    assert.throws(() => checkResponse("GET", url("/nope"), { status: 404, json: { error: "x" }, text: "" }));
    assert.throws(() => checkResponse("GET", url("/nope"), { status: 200, json: {}, text: "" }));
    checkResponse("GET", url("/nope"), { status: 404, json: err, text: "" });
  });
});
