// The pepper rotates without invalidating a key: one deployment's state under successive
// configurations, as an operator rotates (docs/migration.md, "Rotating the pepper"): the old
// pepper alone; the new one with the old beside it as KEY_PEPPER_PREVIOUS, where every key still
// works and is re-digested on its first use; then the new one alone, where every key that was
// used still works. The first step of a rotation (the old pepper set as the previous one too,
// before the new one replaces it) is no rotation, and changes nothing.
// Serial: its instances run one after another on one state directory.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { freePort, startWrangler } from "../../../scripts/lib/dev.mjs";
import { checkedAdmin as admin, checkedRequest as request } from "../openapi.mjs";

const E = JSON.parse(fs.readFileSync(process.env.KEYGATE_E2E, "utf8"));
const B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function secretsFile(name, values) {
  const file = path.join(E.runDir, `pepper-${name}.env`);
  fs.writeFileSync(file, Object.entries(values).map(([k, v]) => `${k}="${v}"`).join("\n") + "\n", { mode: 0o600 });
  return file;
}

function oldKey() {
  let body = "";
  for (const b of crypto.randomBytes(21)) body += B62[b % 62];
  fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `sk_${body}\n`);
  return `sk_${body}`;
}

describe("pepper rotation", () => {
  it("old alone, new beside old, new alone: every key keeps working and is re-digested on use", async () => {
    const token = E.secrets.ADMIN_TOKEN;
    const oldPepper = crypto.randomBytes(32).toString("hex");
    const newPepper = crypto.randomBytes(32).toString("hex");
    const state = path.join(E.runDir, "state-pepper");
    const account = `acct_pepper${crypto.randomBytes(4).toString("hex")}`;
    const vars = { ORIGIN_TEST: E.origins.test, ORIGIN_LIVE: E.origins.live, EDGE_CACHE_TTL: "0", KEY_FORMAT: JSON.stringify(E.formats.moment) };
    const start = async (name, peppers) => {
      const w = await startWrangler({
        port: await freePort(),
        protocol: "https",
        envFile: secretsFile(name, { ...E.secrets, ...peppers }),
        vars,
        persistTo: state,
        logFile: path.join(E.runDir, `wrangler-pepper-${name}.log`),
      });
      return w;
    };
    const use = (w, key) => request(`${w.url}/v1/charges`, { headers: { authorization: `Bearer ${key}` } });
    const status = async (w) => (await admin(w.url, token, "GET", `/accounts/${account}/migration?mode=live`)).json;

    // 1. The old pepper alone: a key keygate made, and two imported ones (a raw secret, a hash).
    const keys = [];
    let w = await start("old", { KEY_PEPPER: oldPepper });
    try {
      const made = await admin(w.url, token, "POST", `/accounts/${account}/keys`, { type: "secret", mode: "live" });
      assert.equal(made.status, 201, made.text);
      keys.push(made.json.secret);
      const [secret, hashed] = [oldKey(), oldKey()];
      const imported = await admin(w.url, token, "POST", `/accounts/${account}/keys/import`, {
        keys: [
          { type: "secret", mode: "live", secret },
          { type: "secret", mode: "live", hash: { algorithm: "sha256_hex", value: crypto.createHash("sha256").update(hashed).digest("hex") }, prefix: "sk_", last4: hashed.slice(-4) },
        ],
      });
      assert.equal(imported.json.imported, 2, imported.text);
      keys.push(secret, hashed);
      // The hash is not used yet: it is upgraded straight to the new pepper's digest later. (A
      // hash upgraded just before a rotation waits for its old entry's keep, a few minutes,
      // before its re-digest: tests/migration.rs covers it.)
      for (const key of keys.slice(0, 2)) assert.equal((await use(w, key)).status, 200);
      assert.deepEqual([(await status(w)).awaiting_first_use, (await status(w)).under_previous_pepper], [1, 0]);
    } finally {
      await w.stop();
    }

    // The first step: KEY_PEPPER_PREVIOUS set to the pepper in use, before KEY_PEPPER changes.
    // No rotation yet: nothing changes, and no request fails while the two secrets differ
    // between steps.
    w = await start("same", { KEY_PEPPER: oldPepper, KEY_PEPPER_PREVIOUS: oldPepper });
    try {
      for (const key of keys.slice(0, 2)) assert.equal((await use(w, key)).status, 200);
      assert.deepEqual([(await status(w)).under_previous_pepper, (await status(w)).awaiting_first_use], [0, 1]);
    } finally {
      await w.stop();
    }

    // 2. The new pepper, the old one beside it: every key works, and each is re-digested on use.
    w = await start("both", { KEY_PEPPER: newPepper, KEY_PEPPER_PREVIOUS: oldPepper });
    try {
      assert.deepEqual([(await status(w)).under_previous_pepper, (await status(w)).awaiting_first_use], [2, 1]);
      for (const key of keys) {
        const out = await use(w, key);
        assert.equal(out.status, 200, `a key under the previous pepper still works: ${out.text}`);
      }
      let s;
      for (let i = 0; i < 40; i++) {
        s = await status(w);
        if (s.under_previous_pepper === 0) break;
        await sleep(250);
      }
      assert.equal(s.under_previous_pepper, 0, JSON.stringify(s));
      for (let i = 0; i < 40 && s.awaiting_first_use; i++) {
        await sleep(250);
        s = await status(w);
      }
      assert.equal(s.awaiting_first_use, 0, JSON.stringify(s));
      assert.equal(s.retired_digests, 3, "the old digests are kept beside the new ones for now");
      const events = await admin(w.url, token, "GET", `/accounts/${account}/events?mode=live`);
      const reasons = events.json.data.filter((e) => e.type === "key.redigested").map((e) => e.data.reason).sort();
      assert.deepEqual(reasons, ["imported_hash_first_use", "pepper_rotation", "pepper_rotation"], events.text);
      // A key found under neither pepper: one ordinary refusal.
      const stranger = await use(w, oldKey());
      assert.equal(stranger.status, 401);
      assert.equal(stranger.json.error.code, "api_key_invalid");
    } finally {
      await w.stop();
    }

    // 3. The new pepper alone: every key still works.
    w = await start("new", { KEY_PEPPER: newPepper });
    try {
      for (const key of keys) assert.equal((await use(w, key)).status, 200);
      assert.equal((await status(w)).under_previous_pepper, 0);
    } finally {
      await w.stop();
    }
  });
});
