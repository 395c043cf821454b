// The origins verify keygate's signature with their own language's package: a request sent to
// them directly, forged, altered or replayed late, is refused by the Node origin and by the
// Python origin alike.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { sign } from "../../packages/verify-node/src/index.js";
import { bearer, call, createKey, E } from "./helpers.mjs";
import { startNodeOrigin, startPythonOrigin } from "./origins.mjs";

const secrets = [E.secrets.ORIGIN_SIGNING_SECRET, E.secrets.ORIGIN_SIGNING_SECRET_PREVIOUS];

/** Send `method path` with exactly `headers` (the Host header included) straight to `origin`. */
function direct(origin, method, path, headers) {
  const u = new URL(origin);
  const h = { ...headers };
  delete h["content-length"];
  delete h["transfer-encoding"];
  delete h.connection;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers: h, agent: false }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, json: JSON.parse(text || "null") }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** What keygate sent to the origin of `mode`, captured by that origin. */
async function captured(mode) {
  const key = await createKey({ mode });
  const res = await call("/v1/charges?limit=1", { headers: { authorization: bearer(key.secret) } });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.verified_by, mode === "live" ? "python" : "node");
  return res.json;
}

describe("the origins verify with their own packages", () => {
  for (const mode of ["test", "live"]) {
    const lang = mode === "live" ? "Python" : "Node";
    it(`${lang}: keygate's request replayed at once is accepted; forged or altered, refused`, async () => {
      const seen = await captured(mode);
      const origin = E.origins[mode];
      const path = `${seen.path}?${seen.query}`;
      const again = await direct(origin, seen.method, path, seen.headers);
      assert.equal(again.status, 200, JSON.stringify(again.json));
      // Altered: each signed part in turn.
      for (const [name, value] of [
        ["keygate-account", "acct_forged"],
        ["keygate-key-type", "secret_but_not"],
        ["keygate-verified", "do"],
        ["keygate-request-id", "req_000000000000000000000000"],
        ["keygate-permissions", "charges=write"],
        ["host", "evil.example"],
      ]) {
        const res = await direct(origin, seen.method, path, { ...seen.headers, [name]: value });
        assert.equal(res.status, 401, name);
        assert.equal(res.json.error.code, "bad_signature", name);
      }
      assert.equal((await direct(origin, "DELETE", path, seen.headers)).json.error.code, "bad_signature");
      assert.equal((await direct(origin, seen.method, "/v1/customers", seen.headers)).json.error.code, "bad_signature");
      // Forged: signed with a secret the origin does not accept; or no signature at all.
      const fields = {
        method: "GET",
        host: seen.headers.host,
        path: "/v1/charges",
        account: "acct_forged",
        keyId: "key_forged",
        mode,
        keyType: "secret",
        permissions: "",
        requestId: "req_forgedforgedforgedforg",
        verified: "do",
      };
      const forged = {
        host: fields.host,
        "keygate-signature": await sign(["not-the-origin-secret-0123456789abcdef"], Math.floor(Date.now() / 1000), fields),
        "keygate-account": fields.account,
        "keygate-key-id": fields.keyId,
        "keygate-mode": fields.mode,
        "keygate-key-type": fields.keyType,
        "keygate-request-id": fields.requestId,
        "keygate-verified": fields.verified,
      };
      assert.equal((await direct(origin, "GET", "/v1/charges", forged)).json.error.code, "bad_signature");
      const { "keygate-signature": _, ...unsigned } = forged;
      const missing = await direct(origin, "GET", "/v1/charges", unsigned);
      assert.equal(missing.status, 401);
      assert.equal(missing.json.error.code, "missing");
    });
  }

  it("a request replayed late is refused as stale by both", async () => {
    // Origins with a 1 s tolerance, so that "late" comes quickly.
    const node = await startNodeOrigin("test-strict", secrets, { tolerance: 1 });
    const python = await startPythonOrigin("live-strict", secrets, { tolerance: 1, dir: E.runDir });
    try {
      for (const [mode, origin] of [["test", node.url], ["live", python.url]]) {
        const seen = await captured(mode);
        const path = `${seen.path}?${seen.query}`;
        await new Promise((r) => setTimeout(r, 2500));
        const late = await direct(origin, seen.method, path, seen.headers);
        assert.equal(late.status, 401, mode);
        assert.equal(late.json.error.code, "stale", mode);
      }
    } finally {
      node.server.close();
      await python.stop();
    }
  });
});
