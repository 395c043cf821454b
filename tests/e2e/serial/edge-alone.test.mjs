// The lean edge worker without the full worker beside it (an outage or a botched deploy of the
// authority). The request path keeps serving the keys in its KV replica, and everything that
// needs the authority fails closed with a JSON 5xx, never reaching the origin.
// Serial: the keys are created through the two-worker layout, then the same state is served by
// the edge alone (two workerd processes must never share a state directory at the same time).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { freePort, splitConfigs, startWrangler } from "../../../scripts/lib/dev.mjs";
import { checkedAdmin as admin, checkedRequest as request } from "../openapi.mjs";
import { startEchoOrigin } from "../../../scripts/echo-origin.mjs";

const E = JSON.parse(fs.readFileSync(process.env.KEYGATE_E2E, "utf8"));
const state = path.join(E.runDir, "state-edge-alone");
const token = E.secrets.ADMIN_TOKEN;

async function withInstance(label, config, vars, fn) {
  const w = await startWrangler({
    port: await freePort(),
    protocol: "https",
    envFile: E.secretsFile,
    persistTo: state,
    logFile: path.join(E.runDir, `wrangler-edge-alone-${label}.log`),
    config,
    vars,
  });
  try {
    return await fn(w.url);
  } finally {
    await w.stop();
  }
}

describe("the edge without its full worker", () => {
  it("serves KV-replicated keys, and fails closed on the management API and strict keys", async () => {
    const origin = await startEchoOrigin("test");
    const vars = { ORIGIN_TEST: origin.url, ORIGIN_LIVE: origin.url, EDGE_CACHE_TTL: "0" };
    const [edgeToml, fullToml] = splitConfigs(path.join(E.runDir, "split-edge-alone"), {
      suffix: "edge-alone",
      fullVars: { ...E.secrets, ...vars },
    });
    try {
      const [plain, strict] = await withInstance("both", [edgeToml, fullToml], vars, async (url) => {
        const make = async (body) => {
          const res = await admin(url, token, "POST", "/accounts/acct_edgealone/keys", { type: "secret", mode: "test", ...body });
          assert.equal(res.status, 201, res.text);
          return res.json;
        };
        return [await make({}), await make({ strict: true })];
      });
      await withInstance("alone", [edgeToml], vars, async (url) => {
        const call = (key) => request(`${url}/v1/charges`, { headers: { authorization: `Bearer ${key.secret}` } });
        const ok = await call(plain);
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.headers["x-echo-origin"], "test");
        assert.equal(ok.json.headers["keygate-key-id"], plain.id);

        const failClosed = (res, what) => {
          assert.ok(res.status >= 500 && res.status < 600, `${what}: expected a 5xx, got ${res.status}: ${res.text}`);
          assert.equal(res.headers["content-type"], "application/json", what);
          assert.equal(res.json?.error?.type, "api_error", what);
          assert.equal(res.headers["x-echo-origin"], undefined, `${what} must never reach the origin`);
        };
        failClosed(await call(strict), "a strict key, which the authority must confirm");
        failClosed(await admin(url, token, "GET", "/accounts/acct_edgealone/keys"), "the management API");
      });
    } finally {
      origin.server.close();
    }
  });
});
