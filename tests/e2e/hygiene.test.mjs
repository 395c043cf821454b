// Header hygiene: a catalogue of spoof attempts, none of which may reach the origin. An identity
// header is always keygate's own, never the client's.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { rawRequest } from "../../scripts/lib/dev.mjs";
import { createKey, E, MAIN, randomClientIp, verifySeen } from "./helpers.mjs";

const SPOOFS = [
  "Keygate-Account: acct_spoofed",
  "keygate-account: acct_spoofed",
  "KEYGATE-ACCOUNT: acct_spoofed",
  "Keygate_Account: acct_spoofed",
  "keygate_key_id: key_spoofed",
  "Keygate-Key-Id: key_spoofed",
  "Keygate-Key-Type: spoofed",
  "Keygate-Mode: spoofed",
  "Keygate-Request-Id: req_spoofed",
  "Keygate-Verified: spoofed",
  "Keygate-Permissions: spoofed=write",
  "Keygate-Signature: t=1,v1=spoofed",
  "X-Keygate-Account: acct_spoofed",
  "x-keygate-mode: spoofed",
  "X_Keygate_Key_Id: key_spoofed",
  "Keygate-Anything-Else: spoofed",
  "Proxy-Authorization: Basic spoofed",
  "Proxy-Connection: spoofed",
  "Keep-Alive: timeout=5, spoofed",
  "TE: spoofed",
  "Trailer: X-Spoofed",
  "Upgrade: spoofed",
];

describe("header hygiene", () => {
  it("no spoofed identity, credential or hop-by-hop header reaches the origin", async () => {
    const key = await createKey();
    const host = new URL(MAIN).host;
    const head = [
      "GET /v1/charges?limit=1 HTTP/1.1",
      `Host: ${host}`,
      `CF-Connecting-IP: ${randomClientIp()}`,
      `Authorization: Bearer ${key.secret}`,
      ...SPOOFS,
      // Sent twice, in two spellings: neither may survive.
      "Keygate-Account: acct_spoofed_again",
      "X-Innocent: kept",
    ].join("\r\n");
    const res = await rawRequest(MAIN, head);
    assert.equal(res.status, 200, res.text);
    const seen = res.json;
    assert.ok(!JSON.stringify(seen).includes("spoofed"), `spoofed header reached origin: ${JSON.stringify(seen.headers)}`);
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers["x-innocent"], "kept");
    assert.equal(seen.headers["keygate-account"], key.account);
    assert.equal(seen.headers["keygate-key-id"], key.id);
    for (const n of seen.raw_header_names.map((n) => n.toLowerCase())) {
      assert.ok(!n.startsWith("x-keygate") && !n.includes("_"), `unexpected header at origin: ${n}`);
    }
    assert.equal(await verifySeen(seen, [E.secrets.ORIGIN_SIGNING_SECRET]), "ok");
    assert.equal(seen.verified_by, "node", "the origin verified it itself");
  });
});
