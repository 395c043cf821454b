// The isolate's freshness window (EDGE_CACHE_TTL, default 5 s): within it a key record read from
// KV is used again without another read, so a revocation can take up to the window (plus one
// second) to show at an edge that has just used the key, and never longer. The `down` instance
// runs with the defaults; `main` sets EDGE_CACHE_TTL=0 so that every other suite sees the
// authority's changes at once. Its test origin is a closed port: an authenticated request is
// answered 502 origin_unavailable, a refused one 401/403.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { admin, bearer, call, createKey, E } from "./helpers.mjs";

const url = E.urls.down;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe("edge freshness window (defaults)", () => {
  it("a revocation reaches an edge that just used the key within the window, and stays", async () => {
    const key = await createKey({ url, mode: "test" });
    const use = () => call("/v1/x", { headers: { authorization: bearer(key.secret) }, url });
    assert.equal((await use()).json.error.code, "origin_unavailable", "authenticated before the revocation");
    const revoked = await admin("DELETE", `/accounts/${key.account}/keys/${key.id}`, { url });
    assert.equal(revoked.json.status, "revoked");
    // Poll: every answer is either the old decision or the revocation, and the revocation wins
    // once the window has passed. The loop gives up well after the 6 s bound.
    const seen = [];
    for (let i = 0; i < 60; i++) {
      const code = (await use()).json.error.code;
      seen.push(code);
      if (code === "api_key_revoked") break;
      await sleep(250);
    }
    assert.ok(seen.every((c) => c === "origin_unavailable" || c === "api_key_revoked"), seen.join(","));
    assert.equal(seen.at(-1), "api_key_revoked", `never revoked: ${seen.join(",")}`);
    // Once seen, the revocation is never undone by the window.
    for (let i = 0; i < 3; i++) assert.equal((await use()).json.error.code, "api_key_revoked");
  });
});
