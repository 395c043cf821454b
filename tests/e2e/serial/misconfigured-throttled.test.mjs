// A misconfigured deployment stays a 500 for every edge request, even for an address throttled
// for failed authentications: the throttled shortcut answers only once the edge's own settings
// were read fine, and self-service (which reads no edge policy) never vouches for them.
// Serial: it starts its own instance on a state directory of its own.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { freePort, startWrangler } from "../../../scripts/lib/dev.mjs";
import { checkedRequest as request } from "../openapi.mjs";

const E = JSON.parse(fs.readFileSync(process.env.KEYGATE_E2E, "utf8"));
const LIMIT = 20; // wrangler.toml: AUTH_FAILURES

describe("a misconfigured deployment under a flood", () => {
  it("a throttled address still gets 500 misconfigured from the edge, not 429", async () => {
    const w = await startWrangler({
      port: await freePort(),
      protocol: "https",
      envFile: E.secretsFile,
      vars: { ORIGIN_TEST: E.origins.test, ORIGIN_LIVE: E.origins.live, RESOURCE_MAP: "{" },
      persistTo: path.join(E.runDir, "state-misconfigured"),
      logFile: path.join(E.runDir, "wrangler-misconfigured.log"),
    });
    try {
      const ip = "198.51.100.77";
      const edge = () => request(`${w.url}/v1/x`, { headers: { "cf-connecting-ip": ip, authorization: "Bearer garbage" } });
      const first = await edge();
      assert.equal(first.status, 500, first.text);
      assert.equal(first.json.error.code, "misconfigured");
      // Self-service reads no edge policy: its failures throttle the address…
      let throttled = false;
      for (let i = 0; i < LIMIT + 5 && !throttled; i++) {
        const res = await request(`${w.url}/_keygate/v1/keys`, { headers: { "cf-connecting-ip": ip, authorization: "Bearer sk_test_garbage" } });
        throttled = res.json?.error?.code === "too_many_failed_attempts";
      }
      assert.ok(throttled, "the address is throttled");
      // …but the edge path is still refused for what it is.
      for (let i = 0; i < 3; i++) {
        const res = await edge();
        assert.equal(res.status, 500, res.text);
        assert.equal(res.json.error.code, "misconfigured");
      }
    } finally {
      await w.stop();
    }
  });
});
