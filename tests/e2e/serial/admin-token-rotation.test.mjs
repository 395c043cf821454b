// The admin token rotates without downtime: one deployment's state under three successive
// configurations, as an operator rotates (README, "Rotating secrets"): the old token alone; the
// new one with the old beside it as ADMIN_TOKEN_PREVIOUS; the new one alone. At every step the
// keys keep working, and the tokens a step accepts work at once.
// Serial: its instances run one after another on one state directory.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { freePort, startWrangler } from "../../../scripts/lib/dev.mjs";
import { checkedAdmin as admin, checkedRequest as request } from "../openapi.mjs";

const E = JSON.parse(fs.readFileSync(process.env.KEYGATE_E2E, "utf8"));

function secretsFile(name, values) {
  const file = path.join(E.runDir, `rotation-${name}.env`);
  fs.writeFileSync(file, Object.entries(values).map(([k, v]) => `${k}="${v}"`).join("\n") + "\n", { mode: 0o600 });
  return file;
}

describe("admin token rotation", () => {
  it("old alone, new beside old, new alone: no step refuses a token it should take, or a key", async () => {
    const { ADMIN_TOKEN_PREVIOUS: _, ...base } = E.secrets;
    const oldToken = `adm_old_${crypto.randomBytes(24).toString("hex")}`;
    const newToken = `adm_new_${crypto.randomBytes(24).toString("hex")}`;
    const state = path.join(E.runDir, "state-rotation");
    const steps = [
      { name: "old", secrets: { ...base, ADMIN_TOKEN: oldToken }, take: [oldToken], refuse: [newToken] },
      { name: "both", secrets: { ...base, ADMIN_TOKEN: newToken, ADMIN_TOKEN_PREVIOUS: oldToken }, take: [newToken, oldToken], refuse: [] },
      { name: "new", secrets: { ...base, ADMIN_TOKEN: newToken }, take: [newToken], refuse: [oldToken] },
    ];
    const account = `acct_rotation${crypto.randomBytes(4).toString("hex")}`;
    let key;
    for (const step of steps) {
      const w = await startWrangler({
        port: await freePort(),
        protocol: "https",
        envFile: secretsFile(step.name, step.secrets),
        vars: { ORIGIN_TEST: E.origins.test, ORIGIN_LIVE: E.origins.live },
        persistTo: state,
        logFile: path.join(E.runDir, `wrangler-rotation-${step.name}.log`),
      });
      try {
        if (!key) {
          const created = await admin(w.url, oldToken, "POST", `/accounts/${account}/keys`, { type: "secret", mode: "test" });
          assert.equal(created.status, 201, created.text);
          key = created.json;
        }
        for (const token of step.take) {
          const res = await admin(w.url, token, "GET", `/accounts/${account}/keys/${key.id}`);
          assert.equal(res.status, 200, `${step.name}: ${res.text}`);
          assert.equal(res.headers["keygate-admin-token"], token === step.secrets.ADMIN_TOKEN ? undefined : "previous", step.name);
        }
        for (const token of step.refuse) {
          const res = await admin(w.url, token, "GET", `/accounts/${account}/keys/${key.id}`);
          assert.equal(res.status, 401, `${step.name}: ${res.text}`);
          assert.equal(res.json.error.code, "admin_token_invalid");
        }
        const through = await request(`${w.url}/v1/charges`, { headers: { authorization: `Bearer ${key.secret}` } });
        assert.equal(through.status, 200, `${step.name}: the key works: ${through.text}`);
      } finally {
        await w.stop();
      }
    }
  });
});
