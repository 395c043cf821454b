// The webhook verifier against the shared vectors (crates/keygate-verify/tests/data/webhooks.json,
// made with Python's hmac), and every way a delivery is refused.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { KeygateVerifyError, parseWebhookHeader, verifyWebhook, verifyWebhookSignature } from "../src/index.js";

const vectors = JSON.parse(fs.readFileSync(new URL("../../../crates/keygate-verify/tests/data/webhooks.json", import.meta.url), "utf8"));

const code = async (p) => {
  try {
    await p;
    return "ok";
  } catch (e) {
    assert.ok(e instanceof KeygateVerifyError, String(e));
    return e.code;
  }
};

describe("webhook signatures", () => {
  it("accepts every vector, as a string and as bytes, with the current or the previous secret", async () => {
    for (const v of vectors) {
      const opts = { secrets: v.secret, now: v.t + 10 };
      assert.equal(await verifyWebhookSignature(v.body, v.header, opts), v.t, v.name);
      assert.equal(await verifyWebhookSignature(Buffer.from(v.body), v.header_rotating, { secrets: [v.previous_secret], now: v.t }), v.t);
      if (v.body) {
        assert.deepEqual(await verifyWebhook(v.body, v.header, opts), JSON.parse(v.body), v.name);
        assert.deepEqual(await verifyWebhook(Buffer.from(v.body), v.header, opts), JSON.parse(v.body), v.name);
      } else {
        // Signed, but not an event: a typed refusal, not a SyntaxError.
        assert.equal(await code(verifyWebhook(v.body, v.header, opts)), "malformed", v.name);
      }
      assert.equal(await code(verifyWebhook(v.body, v.header, { secrets: v.previous_secret, now: v.t })), "bad_signature", v.name);
    }
  });

  it("refuses a changed body, time or signature, a replay, and a missing or malformed header", async () => {
    const v = vectors[0];
    const opts = { secrets: v.secret, now: v.t };
    assert.equal(await code(verifyWebhook(v.body + " ", v.header, opts)), "bad_signature");
    assert.equal(await code(verifyWebhook(v.body.replace("key.revoked", "key.created"), v.header, opts)), "bad_signature");
    assert.equal(await code(verifyWebhook(v.body, v.header.replace(`t=${v.t}`, `t=${v.t + 1}`), opts)), "bad_signature");
    assert.equal(await code(verifyWebhook(v.body, v.header, { ...opts, now: v.t + 301 })), "stale");
    assert.equal(await code(verifyWebhook(v.body, v.header, { ...opts, now: v.t - 301 })), "future");
    assert.equal(await code(verifyWebhook(v.body, undefined, opts)), "missing");
    assert.equal(await code(verifyWebhook(v.body, v.header.replace("v1=", "v2="), opts)), "malformed");
    assert.throws(() => parseWebhookHeader("t=1"), /no v1 signature/);
    assert.throws(() => parseWebhookHeader("t=1,v1=abc"), /v1 must be 64 hex digits/);
    await assert.rejects(verifyWebhook(JSON.parse(v.body), v.header, opts), TypeError, "parsed JSON is refused: verify the raw body");
    // An unset or short secret verifies nothing (an attacker could sign with it).
    assert.equal(await code(verifyWebhook(v.body, v.header, { secrets: "", now: v.t })), "weak_secret");
    assert.equal(await code(verifyWebhook(v.body, v.header, { secrets: [v.secret, "short"], now: v.t })), "weak_secret");
    // Header length counts bytes, as the Rust verifier does.
    assert.throws(() => parseWebhookHeader(`t=1,v1=${"0".repeat(64)},x=${"é".repeat(480)}`), /too long/);
  });
});
