// Moving an API behind keygate, through workerd: a deployment configured with Moment's key format
// (`sk_test_`/`sk_`, keys from before keygate of 20–24 characters) imports Moment-style keys and
// SHA-256 hashes, serves them, upgrades a hashed one on its first use (and its SHA-256 is then
// found nowhere in the local state), refuses the same key twice, and rolls an imported key to a
// native one. Every management answer is checked against openapi.yaml (helpers.mjs).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { admin, assertError, bearer, call, E, newAccount } from "./helpers.mjs";

const url = E.urls.moment;
const B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A key from before keygate: `prefix` + 21 base62 characters, no checksum. */
function oldKey(prefix) {
  let body = "";
  for (const b of crypto.randomBytes(21)) body += B62[b % 62];
  const key = prefix + body;
  // The final scan searches the state and logs for every raw key the suites were shown.
  fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `${key}\n`);
  return key;
}
const sha256 = (s, enc = "hex") => crypto.createHash("sha256").update(s).digest(enc);
const importKeys = (account, keys) => admin("POST", `/accounts/${account}/keys/import`, { url, body: { keys } });
const use = (key, headers = {}) => call("/v1/charges", { url, headers: { authorization: bearer(key), ...headers } });

/**
 * Where `needle` is in the instance's local state: every row of every SQLite database (KV's
 * names and metadata, each Durable Object's storage), read as SQLite reads it, and every other
 * file (KV's values) byte for byte. The databases' write-ahead logs and free pages may still hold
 * bytes of rows deleted since, until SQLite reuses them: that is the storage engine's, not
 * keygate's, state, and is not searched.
 */
function stateWith(needle) {
  const found = [];
  const text = Buffer.from(needle);
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".sqlite")) {
        const db = new DatabaseSync(p, { readOnly: true });
        try {
          for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()) {
            const rows = db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`);
            rows.setReadBigInts(true);
            for (const row of rows.all()) {
              for (const v of Object.values(row)) {
                const hit = typeof v === "string" ? v.includes(needle) : v instanceof Uint8Array && Buffer.from(v).includes(text);
                if (hit) found.push(`${path.relative(E.runDir, p)}: ${name}`);
              }
            }
          }
        } finally {
          db.close();
        }
      } else if (!/\.sqlite-(wal|shm)$/.test(p) && fs.readFileSync(p).includes(text)) {
        found.push(path.relative(E.runDir, p));
      }
    }
  };
  walk(path.join(E.runDir, "state-moment"));
  return found;
}

async function until(what, check, { tries = 60, ms = 500 } = {}) {
  let last;
  for (let i = 0; i < tries; i++) {
    last = await check();
    if (last.ok) return last.value;
    await sleep(ms);
  }
  assert.fail(`${what}: ${JSON.stringify(last?.value)}`);
}

describe("imports in a deployment's own key format", () => {
  it("imports Moment-style secrets and hashes, serves them, and answers one result per item", async () => {
    const account = newAccount();
    const live = oldKey("sk_");
    const hashed = oldKey("sk_");
    const res = await importKeys(account, [
      { type: "secret", mode: "live", secret: live, name: "from before", created_at: 1_600_000_000, metadata: { plan: "pro" } },
      { type: "secret", mode: "live", hash: { algorithm: "sha256_base64", value: sha256(hashed, "base64") }, prefix: "sk_", last4: hashed.slice(-4) },
      { type: "secret", mode: "live", secret: "sk_short" },
      { type: "secret", mode: "test", secret: oldKey("sk_") },
      { type: "secret", mode: "live", hash: { algorithm: "sha256_hex", value: "00" }, prefix: "sk_", last4: "abcd" },
    ]);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.object, "import_result");
    assert.deepEqual([res.json.imported, res.json.failed], [2, 3]);
    const [a, b, ...bad] = res.json.data;
    assert.equal(a.object, "api_key");
    assert.deepEqual([a.prefix, a.last4, a.created_at, a.metadata.plan, a.name], ["sk_", live.slice(-4), 1_600_000_000, "pro", "from before"]);
    assert.deepEqual(a.imported.from, "secret");
    assert.equal(a.secret, undefined, "an import never answers a secret");
    assert.deepEqual([b.imported.from, b.imported.awaiting_first_use], ["sha256", true]);
    assert.deepEqual(bad.map((e) => [e.error.code, e.error.param]), [
      ["parameter_invalid", "keys[2].secret"],
      ["parameter_invalid", "keys[3].secret"],
      ["parameter_invalid", "keys[4].hash.value"],
    ]);
    assert.ok(!res.text.includes(live) && !res.text.includes(hashed), "no raw key is answered back");

    // Both work at the edge, in live mode, with their own identity.
    for (const [key, obj] of [[live, a], [hashed, b]]) {
      const out = await use(key);
      assert.equal(out.status, 200, out.text);
      assert.equal(out.json.headers["keygate-key-id"], obj.id);
      assert.equal(out.json.headers["keygate-mode"], "live");
    }
    // The lookup route finds each as the edge does.
    for (const [key, obj] of [[live, a], [hashed, b]]) {
      const found = await admin("POST", "/keys/lookup", { url, body: { secret: key } });
      assert.equal(found.status, 200, found.text);
      assert.equal(found.json.id, obj.id);
    }
    // The same keys again: refused, naming the first; nothing changes.
    const again = await importKeys(account, [
      { type: "secret", mode: "live", secret: live },
      { type: "secret", mode: "live", hash: { algorithm: "sha256_hex", value: sha256(hashed) }, prefix: "sk_", last4: hashed.slice(-4) },
    ]);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json.data.map((e) => [e.error?.code, e.error?.key, e.error?.param]), [
      ["key_already_exists", a.id, "keys[0].secret"],
      // The hash was upgraded by its use above, or is still waiting: found either way (by KV
      // or by the authority's own entry).
      ["key_already_exists", b.id, "keys[1].hash"],
    ]);
    // A key of the format that was never imported, and garbage: one ordinary refusal each.
    assertError(await use(oldKey("sk_")), 401, "authentication_error", "api_key_invalid");
    assertError(await use("sk_" + "x".repeat(30) + "!"), 401, "authentication_error", "api_key_invalid");
  });

  it("a hashed key is upgraded on its first use: afterwards its SHA-256 is nowhere in the local state", async () => {
    const account = newAccount();
    const key = oldKey("sk_test_");
    const hex = sha256(key);
    const res = await importKeys(account, [
      { type: "secret", mode: "test", hash: { algorithm: "sha256_hex", value: hex }, prefix: "sk_test_", last4: key.slice(-4) },
    ]);
    assert.equal(res.status, 200, res.text);
    const id = res.json.data[0].id;
    let status = await admin("GET", `/accounts/${account}/migration?mode=test`, { url });
    assert.deepEqual([status.json.imported, status.json.awaiting_first_use], [1, 1], status.text);
    assert.ok(stateWith(hex).length > 0, "before its first use, only its SHA-256 is kept");

    // First use: served at once, upgraded in the background.
    assert.equal((await use(key)).status, 200);
    await until("the upgrade lands", async () => {
      const s = await admin("GET", `/accounts/${account}/migration?mode=test`, { url });
      return { ok: s.json.awaiting_first_use === 0 && s.json.retired_digests === 1, value: s.json };
    });
    const obj = await admin("GET", `/accounts/${account}/keys/${id}`, { url });
    assert.equal(obj.json.imported.awaiting_first_use, false, obj.text);
    const events = await admin("GET", `/accounts/${account}/events?mode=test`, { url });
    assert.ok(events.json.data.some((e) => e.type === "key.redigested" && e.data.reason === "imported_hash_first_use"), events.text);
    assert.ok(!events.text.includes(hex), "the audit log never names the hash");
    assert.equal((await use(key)).status, 200, "found by its digest now");

    // The old entry is kept while edge locations may still miss the new one (2 × (60 s of KV
    // propagation + KV_CACHE_TTL + 61 s)), then deleted by the alarm. The authority's clock is
    // set past that keep (the test-clock build), which rings the alarm.
    const set = await admin("POST", `/accounts/${account}/test_clock`, { url, body: { offset: 400 } });
    assert.equal(set.status, 200, set.text);
    await until("the old entry goes", async () => {
      const s = await admin("GET", `/accounts/${account}/migration?mode=test`, { url });
      return { ok: s.json.retired_digests === 0, value: s.json };
    });
    assert.equal((await use(key)).status, 200, "and the key still works");
    assert.deepEqual(stateWith(hex), [], "no SHA-256 of the key is left in KV or the Durable Object's storage");
    assert.deepEqual(stateWith(sha256(key, "base64")), []);
  });

  it("an imported key keeps its restrictions, expires and revokes, and rolls to a native key", async () => {
    const account = newAccount();
    const [fenced, rolled, ended] = [oldKey("sk_"), oldKey("sk_"), oldKey("sk_")];
    const res = await importKeys(account, [
      { type: "secret", mode: "live", secret: fenced, allowed_ips: ["203.0.113.0/24"] },
      { type: "secret", mode: "live", secret: rolled, strict: true },
      { type: "secret", mode: "live", secret: ended },
    ]);
    assert.equal(res.status, 200, res.text);
    const [f, r, e] = res.json.data;
    assertError(await use(fenced, { "cf-connecting-ip": "198.51.100.7" }), 403, "permission_error", "ip_not_allowed");
    assert.equal((await use(fenced, { "cf-connecting-ip": "203.0.113.9" })).status, 200);
    // A strict imported key is confirmed with the authority on every request.
    const strict = await use(rolled);
    assert.equal(strict.status, 200, strict.text);
    assert.equal(strict.json.headers["keygate-verified"], "do");
    // Roll: the successor is a keygate key of the configured format, with a checksum.
    const roll = await admin("POST", `/accounts/${account}/keys/${r.id}/roll`, { url, body: { expires_in: 3600 } });
    assert.equal(roll.status, 201, roll.text);
    assert.match(roll.json.secret, /^sk_[0-9A-Za-z]{38}$/);
    assert.equal(roll.json.imported, null);
    assert.equal(roll.json.rolled_from, r.id);
    assert.equal((await use(roll.json.secret)).status, 200);
    const old = await use(rolled);
    assert.equal(old.status, 200, "the imported key works through its grace period");
    assert.match(old.headers.deprecation ?? "", /@\d+/);
    // Expire and revoke.
    assert.equal((await admin("POST", `/accounts/${account}/keys/${e.id}/expire`, { url })).status, 200);
    assertError(await use(ended), 403, "authentication_error", "api_key_expired");
    assert.equal((await admin("DELETE", `/accounts/${account}/keys/${f.id}`, { url })).status, 200);
    assertError(await use(fenced, { "cf-connecting-ip": "203.0.113.9" }), 403, "authentication_error", "api_key_revoked");
  });

  it("an imported key takes usage controls: its credits and rate limit hold at the edge", async () => {
    const account = newAccount();
    const [metered, limited] = [oldKey("sk_"), oldKey("sk_")];
    const res = await importKeys(account, [
      { type: "secret", mode: "live", secret: metered, credits: { remaining: 2, refill: null } },
      { type: "secret", mode: "live", secret: limited, rate_limit: { limit: 2, window: 60 } },
    ]);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([res.json.data[0].credits.remaining, res.json.data[1].rate_limit.limit], [2, 2]);
    for (const key of [metered, limited]) {
      assert.equal((await use(key)).status, 200);
      assert.equal((await use(key)).status, 200);
    }
    assertError(await use(metered), 429, "rate_limit_error", "credits_exhausted");
    assertError(await use(limited), 429, "rate_limit_error", "rate_limit_exceeded");
  });

  it("the format shows in the scanning pattern, the error messages and the query check", async () => {
    const pattern = await admin("GET", "/secret-scanning/pattern", { url });
    assert.equal(pattern.status, 200, pattern.text);
    assert.equal(pattern.json.pattern, "(?:sk_test_|sk_|rk_test_|rk_)[0-9A-Za-z]{20,38}");
    const key = oldKey("sk_");
    const refused = assertError(await use(key), 401, "authentication_error", "api_key_invalid");
    assert.ok(refused.message.includes(`sk_…${key.slice(-4)}`), refused.message);
    assertError(await call(`/v1/charges?token=${key}`, { url }), 400, "invalid_request_error", "api_key_in_query");
  });

  it("10,000 keys import in calls of 500 and the figure is stated", async () => {
    const accounts = Array.from({ length: 10 }, newAccount);
    const started = Date.now();
    let imported = 0;
    for (const account of accounts) {
      for (let call = 0; call < 2; call++) {
        const keys = Array.from({ length: 500 }, () => {
          let body = "";
          for (const b of crypto.randomBytes(22)) body += B62[b % 62];
          const key = `sk_${body}`;
          // A sample goes into the final scan of the state and logs (all 10,000 would slow it).
          if (Math.random() < 0.005) fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `${key}\n`);
          return call === 0
            ? { type: "secret", mode: "live", secret: key }
            : { type: "secret", mode: "live", hash: { algorithm: "sha256_hex", value: sha256(key) }, prefix: "sk_", last4: key.slice(-4) };
        });
        const res = await importKeys(account, keys);
        assert.equal(res.status, 200, res.text.slice(0, 500));
        assert.equal(res.json.failed, 0, JSON.stringify(res.json.data.find((d) => d.error)));
        imported += res.json.imported;
      }
    }
    const seconds = (Date.now() - started) / 1000;
    assert.equal(imported, 10_000);
    console.log(`# 10,000 keys imported in 20 calls of 500: ${seconds.toFixed(1)} s (${(seconds / 20).toFixed(2)} s a call) through workerd`);
  });
});
