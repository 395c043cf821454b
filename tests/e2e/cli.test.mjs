// The command-line tool (`npx keygate`, bin/keygate.mjs) end to end against workerd: every key
// command, `--json`, tables, and failures (non-zero, with the API's code and message).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "../../scripts/lib/dev.mjs";
import { E, newAccount } from "./helpers.mjs";

/** Run the CLI as a user would; stdin optional. */
function cli(args, { input, env = {} } = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, "bin/keygate.mjs"), ...args], {
    input,
    encoding: "utf8",
    env: { ...process.env, KEYGATE_URL: E.urls.main, KEYGATE_ADMIN_TOKEN: E.secrets.ADMIN_TOKEN, ...env },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Parsed `--json` output; a new secret joins the harness's scan for raw keys. */
function json(r) {
  assert.equal(r.code, 0, r.err);
  const v = JSON.parse(r.out);
  if (typeof v?.secret === "string" && process.env.KEYGATE_ISSUED_KEYS) fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `${v.secret}\n`);
  return v;
}

describe("the CLI", () => {
  it("creates, lists, gets, updates, rolls, expires and revokes keys, with --json and tables", async () => {
    const account = newAccount();
    const made = json(cli(["keys", "create", "-a", account, "-t", "secret", "-m", "test", "-n", "cli", "--metadata", "plan=pro", "--json"]));
    assert.match(made.secret, /^sk_test_/);
    assert.deepEqual(made.metadata, { plan: "pro" });
    // A table by default, the secret once with its warning.
    const table = cli(["keys", "create", "-a", account, "-t", "publishable", "-m", "live"]);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /pk_live_…/);
    const secret = /\n(pk_live_[0-9A-Za-z]+)\n?$/.exec(table.out)?.[1];
    assert.ok(secret, table.out);
    if (process.env.KEYGATE_ISSUED_KEYS) fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `${secret}\n`);
    assert.match(table.out, /shown once/);
    const listed = json(cli(["keys", "list", "-a", account, "--json"]));
    assert.equal(listed.length, 2);
    assert.ok(listed.every((k) => k.secret === undefined));
    assert.deepEqual(json(cli(["keys", "list", "-a", account, "--mode", "test", "--json"])).map((k) => k.id), [made.id]);
    const paged = cli(["keys", "list", "-a", account, "--limit", "1"]);
    assert.match(paged.err, /--starting-after key_/);
    assert.equal(json(cli(["keys", "list", "-a", account, "--limit", "1", "--all", "--json"])).length, 2);
    assert.match(cli(["keys", "list", "-a", account]).out, /sk_test_…/);
    assert.equal(json(cli(["keys", "get", made.id, "-a", account, "--json"])).name, "cli");
    const updated = json(cli(["keys", "update", made.id, "-a", account, "-n", "renamed", "--metadata", "plan=", "--json"]));
    assert.equal(updated.name, "renamed");
    assert.deepEqual(updated.metadata, {});
    const rolled = json(cli(["keys", "roll", made.id, "-a", account, "--grace", "60", "--json"]));
    assert.equal(rolled.rolled_from, made.id);
    assert.equal(json(cli(["keys", "get", made.id, "-a", account, "--json"])).status, "rolling");
    assert.equal(json(cli(["keys", "expire", made.id, "-a", account, "--json"])).status, "expired");
    assert.equal(json(cli(["keys", "revoke", rolled.id, "-a", account, "--json"])).status, "revoked");
    // Lookup reads the raw key from stdin, never from the command line.
    assert.equal(json(cli(["keys", "lookup", "--json"], { input: `${rolled.secret}\n` })).id, rolled.id);
    const events = json(cli(["events", "-a", account, "-m", "test", "--json"]));
    assert.ok(events.some((e) => e.type === "key.rolled"), JSON.stringify(events));
    assert.match(cli(["events", "-a", account, "-m", "test", "--limit", "2"]).out, /key\.revoked/);
  });

  it("fails non-zero with the API's code and message, and explains its own usage", () => {
    const account = newAccount();
    const missing = cli(["keys", "get", "key_000000000000000000000000", "-a", account]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^keygate: resource_missing: /);
    const bad = cli(["keys", "create", "-a", account, "-t", "admin", "-m", "test"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /parameter_invalid: .*\(param: type\)/);
    const token = cli(["keys", "list", "-a", account], { env: { KEYGATE_ADMIN_TOKEN: "adm_wrong_wrong_wrong_wrong_wrong_wrong" } });
    assert.equal(token.code, 1);
    assert.match(token.err, /admin_token_invalid/);
    const previous = cli(["keys", "list", "-a", account], { env: { KEYGATE_ADMIN_TOKEN: E.secrets.ADMIN_TOKEN_PREVIOUS } });
    assert.equal(previous.code, 0, previous.err);
    assert.match(previous.err, /ADMIN_TOKEN_PREVIOUS/);
    const usage = cli(["keys", "create", "-a", account]);
    assert.notEqual(usage.code, 0);
    assert.match(usage.err, /required option/);
    assert.notEqual(cli(["keys", "list", "-a", account, "--limit", "ten"]).code, 0);
    assert.match(cli(["keys", "--help"]).out, /create/);
    const nothing = cli(["keys", "lookup"], { input: "" });
    assert.equal(nothing.code, 1);
    assert.match(nothing.err, /no_secret/);
    const down = cli(["keys", "list", "-a", account], { env: { KEYGATE_URL: "https://127.0.0.1:9" } });
    assert.equal(down.code, 1);
    assert.match(down.err, /unreachable/);
  });
});

describe("the CLI: leaks, the scanning pattern, canary keys and webhooks", () => {
  it("reports leaked tokens from stdin or a file, never from the command line, and prints the pattern", () => {
    const account = newAccount();
    const k = json(cli(["keys", "create", "-a", account, "-t", "secret", "-m", "test", "--json"]));
    const report = json(cli(["leaks", "report", "--source", "pastebin", "--json"], { input: `${k.secret}\nnot-a-key\n\n` }));
    assert.deepEqual(report.map((f) => f.label), ["true_positive", "false_positive"]);
    assert.ok(!JSON.stringify(report).includes(k.secret), "the token is never printed back");
    assert.equal(json(cli(["keys", "get", k.id, "-a", account, "--json"])).exposed.source, "pastebin");
    // From a file, as a table with a summary.
    const file = path.join(E.runDir, `leaks-${account}.txt`);
    fs.writeFileSync(file, `not-a-key\n${k.secret}\n`, { mode: 0o600 });
    const table = cli(["leaks", "report", file]);
    fs.rmSync(file);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /1 of 2 were keys of this deployment/);
    assert.ok(!table.out.includes(k.secret));
    const empty = cli(["leaks", "report"], { input: "" });
    assert.equal(empty.code, 1);
    assert.match(empty.err, /no_tokens/);
    const pattern = cli(["scanning-pattern"]);
    assert.equal(pattern.code, 0, pattern.err);
    assert.ok(new RegExp(`^${pattern.out.trim()}$`).test(k.secret), pattern.out);
    assert.equal(json(cli(["scanning-pattern", "--json"])).object, "secret_scanning_pattern");
    // A canary key, marked in the table's JSON.
    const canary = json(cli(["keys", "create", "-a", account, "-t", "secret", "-m", "live", "--canary", "--json"]));
    assert.equal(canary.canary, true);
  });

  it("lists an account's webhook deliveries and retries one (the clock instance sends webhooks)", async () => {
    const account = newAccount();
    const env = { KEYGATE_URL: E.urls.clock };
    json(cli(["keys", "create", "-a", account, "-t", "secret", "-m", "test", "--json"], { env }));
    let deliveries = [];
    for (let i = 0; i < 100 && !deliveries.some((d) => d.status === "delivered"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      deliveries = json(cli(["webhooks", "list", "-a", account, "-m", "test", "--json"], { env }));
    }
    assert.equal(deliveries.length, 1);
    assert.equal(deliveries[0].type, "key.created");
    assert.match(cli(["webhooks", "list", "-a", account, "-m", "test"], { env }).out, /key\.created/);
    const retried = json(cli(["webhooks", "retry", deliveries[0].id, "-a", account, "--json"], { env }));
    assert.equal(retried.status, "pending");
    const unknown = cli(["webhooks", "retry", `evt_${"0".repeat(24)}`, "-a", account], { env });
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /resource_missing/);
    assert.notEqual(cli(["webhooks", "list", "-a", account], { env }).code, 0, "--mode is required");
  });
});
