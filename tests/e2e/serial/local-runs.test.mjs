// Ways of running keygate other than the harness's: plain `wrangler dev` as the README invites,
// with nothing of ours in its environment (no raw key may reach its local state), and a
// deployment that lost its AUTH_FAILURES binding (it must fail closed).
// Serial: each starts its own instance on a state directory of its own.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, freePort, startWrangler } from "../../../scripts/lib/dev.mjs";
import { checkedAdmin as admin, checkedRequest as request } from "../openapi.mjs";
import { forgedKey } from "../helpers.mjs";

const E = JSON.parse(fs.readFileSync(process.env.KEYGATE_E2E, "utf8"));

/** wrangler.toml, runnable from `dir`, changed by `edit`. */
function configCopy(name, edit) {
  const dir = path.join(E.runDir, name);
  fs.mkdirSync(dir, { recursive: true });
  const text = fs
    .readFileSync(path.join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = ".*"$/m, `main = ${JSON.stringify(path.join(ROOT, "build/worker/shim.mjs"))}`)
    .replace(/^directory = "ui\/public"$/m, `directory = ${JSON.stringify(path.join(ROOT, "ui/public"))}`)
    .replace(/^command = "bash scripts\/build.sh (\w+)"$/m, (_, w) => `command = ${JSON.stringify(`bash ${path.join(ROOT, "scripts/build.sh")} ${w}`)}`)
    .replace(/^name = "keygate"$/m, `name = "keygate-${name}"`);
  const file = path.join(dir, "wrangler.toml");
  fs.writeFileSync(file, edit(text));
  return file;
}

function filesUnder(dir) {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

describe("plain wrangler dev, as a user runs it", () => {
  it("keeps a key sent in a query string out of its local state", async () => {
    const state = path.join(E.runDir, "state-as-user");
    // The repository's own wrangler.toml from the repository's folder, without --env-file and
    // without the harness's environment: only the checked-in files decide.
    const w = await startWrangler({
      port: await freePort(),
      protocol: "http",
      persistTo: state,
      logFile: path.join(E.runDir, "wrangler-as-user.log"),
      asUser: true,
    });
    const keys = [forgedKey("sk_test_"), forgedKey("sk_live_")];
    try {
      for (const [i, key] of keys.entries()) {
        const res = await request(`${w.url}/v1/charges?api_key=${key}&n=${i}`);
        assert.equal(res.json?.error?.code, "https_required", res.text);
      }
      // Give any recorder time to write.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      await w.stop();
    }
    const files = filesUnder(state);
    assert.ok(files.length > 0, "the instance wrote its local state");
    const leaks = files.filter((f) => keys.some((k) => fs.readFileSync(f).includes(k)));
    assert.deepEqual(leaks.map((f) => path.relative(state, f)), [], "a raw key was stored");
  });
});

describe("a deployment without AUTH_FAILURES, holding two keys per account", () => {
  it("refuses a failed authentication with 500 misconfigured, and a third key with 409", async () => {
    const config = configCopy("no-ratelimit", (t) => t.replace(/\[\[ratelimits\]\][^[]*/, ""));
    assert.ok(!fs.readFileSync(config, "utf8").includes("AUTH_FAILURES"));
    const w = await startWrangler({
      config,
      port: await freePort(),
      protocol: "https",
      envFile: E.secretsFile,
      vars: { ORIGIN_TEST: E.origins.test, ORIGIN_LIVE: E.origins.live, MAX_KEYS_PER_ACCOUNT: "2" },
      persistTo: path.join(E.runDir, "state-no-ratelimit"),
      logFile: path.join(E.runDir, "wrangler-no-ratelimit.log"),
    });
    try {
      const res = await request(`${w.url}/v1/charges`, { headers: { authorization: `Bearer ${forgedKey()}`, "cf-connecting-ip": "100.64.9.9" } });
      assert.equal(res.status, 500, res.text);
      assert.equal(res.json.error.code, "misconfigured");
      assert.match(res.json.error.message, /AUTH_FAILURES/);
      assert.equal(res.headers["x-echo-origin"], undefined);
      // MAX_KEYS_PER_ACCOUNT = 2: the third key of an account and mode is refused.
      const token = E.secrets.ADMIN_TOKEN;
      const make = (mode) => admin(w.url, token, "POST", "/accounts/acct_capped/keys", { type: "secret", mode });
      assert.equal((await make("test")).status, 201);
      assert.equal((await make("test")).status, 201);
      const third = await make("test");
      assert.equal(third.status, 409, third.text);
      assert.equal(third.json.error.code, "key_limit_reached");
      assert.match(third.json.error.message, /already has 2 keys/);
      assert.equal((await make("live")).status, 201, "each mode has its own count");
    } finally {
      await w.stop();
    }
  });
});
