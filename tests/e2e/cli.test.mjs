// The command-line tool (`npx keygate`, bin/keygate.mjs) end to end against workerd: every key
// command, `--json`, tables, and failures (non-zero, with the API's code and message).
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, request as plainRequest } from "../../scripts/lib/dev.mjs";
import { E, newAccount, randomClientIp } from "./helpers.mjs";

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

  it("mints portal links: a table with the link, --json, the provider's key defaults, and failures", async () => {
    const account = newAccount();
    const table = cli(["portal-session", "-a", account, "-m", "test", "--return-url", "https://app.example.com/keys", "--expires-in", "120"]);
    assert.equal(table.code, 0, table.err);
    assert.match(table.out, /test/);
    const link = table.out.match(/https:\/\/\S+\/_keygate\/portal\/start\?\S+/)?.[0];
    assert.ok(link, table.out);
    // The link works once: a cookie and a redirect, then never again.
    const from = { headers: { "cf-connecting-ip": randomClientIp() } };
    const first = await plainRequest(link, from);
    assert.equal(first.status, 303);
    assert.match(first.headers["set-cookie"][0], /^__Host-keygate_portal=.*; HttpOnly; Secure; SameSite=Strict$/);
    assert.equal((await plainRequest(link, from)).json.error.code, "portal_link_invalid");
    const s = json(cli(["portal-session", "-a", account, "--return-url", "https://app.example.com/", "--rate-limit", "10/60", "--credits", "5", "--json"]));
    assert.equal(s.object, "portal_session");
    assert.equal(s.mode, null);
    assert.ok(s.expires_at > Date.now() / 1000 + 3500);
    const bad = cli(["portal-session", "-a", account, "--return-url", "http://app.example.com/"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^keygate: parameter_invalid: .*return_url/);
    const short = cli(["portal-session", "-a", account, "--return-url", "https://a.example/", "--expires-in", "30"]);
    assert.match(short.err, /^keygate: parameter_invalid: .*expires_in/);
    const rate = cli(["portal-session", "-a", account, "--return-url", "https://a.example/", "--rate-limit", "ten"]);
    assert.equal(rate.code, 1);
    assert.match(rate.err, /--rate-limit/);
    assert.match(cli(["portal-session", "--help"]).out, /--return-url/);
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

describe("the CLI: init and doctor", () => {
  const tmp = () => fs.mkdtempSync(path.join(E.runDir, "cli-"));

  it("init generates strong local secrets once, never printing them, and keeps what is there", () => {
    const dir = tmp();
    const first = cli(["init", "--dir", dir]);
    assert.equal(first.code, 0, first.err);
    const vars = Object.fromEntries(fs.readFileSync(path.join(dir, ".dev.vars"), "utf8").trim().split("\n").map((l) => l.split("=")).map(([k, v]) => [k, v.replace(/"/g, "")]));
    assert.deepEqual(Object.keys(vars).sort(), ["ADMIN_TOKEN", "KEY_PEPPER", "ORIGIN_SIGNING_SECRET"]);
    for (const [name, value] of Object.entries(vars)) {
      assert.ok(value.length >= 64, `${name} is long`);
      assert.ok(!first.out.includes(value) && !first.err.includes(value), `${name} is never printed`);
    }
    assert.match(vars.ADMIN_TOKEN, /^adm_[0-9a-f]{64}$/);
    assert.equal(fs.statSync(path.join(dir, ".dev.vars")).mode & 0o777, 0o600);
    const before = fs.readFileSync(path.join(dir, ".dev.vars"), "utf8");
    const again = cli(["init", "--dir", dir]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /kept KEY_PEPPER/);
    assert.equal(fs.readFileSync(path.join(dir, ".dev.vars"), "utf8"), before, "nothing replaced");
    // Lines wrangler's dotenv reads too (`export NAME=`, `NAME: value`) count as set.
    const other = tmp();
    fs.writeFileSync(path.join(other, ".dev.vars"), 'export KEY_PEPPER="0123456789abcdef0123456789abcdef01"\nADMIN_TOKEN: adm_0123456789abcdef0123456789abcdef\n');
    const third = cli(["init", "--dir", other]);
    assert.equal(third.code, 0, third.err);
    assert.deepEqual(third.out.match(/^generated (\w+)/gm), ["generated ORIGIN_SIGNING_SECRET"]);
    assert.equal(fs.readFileSync(path.join(other, ".dev.vars"), "utf8").match(/KEY_PEPPER/g).length, 1);
    // A directory that is not there is a precise error, not a stack trace.
    const nowhere = cli(["init", "--dir", path.join(dir, "nope")]);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.err, /^keygate: dir_missing: /);
  });

  it("init --production sets each worker's secrets through wrangler, the same pepper on both, and never overwrites one", () => {
    const dir = tmp();
    for (const f of ["wrangler.toml", "wrangler.edge.toml"]) fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
    // A stand-in for wrangler on PATH: it records each call and what it was given on stdin.
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "package.json"), '{"type":"commonjs"}');
    const calls = path.join(dir, "calls.jsonl");
    fs.writeFileSync(path.join(bin, "wrangler"), `#!${process.execPath}
const fs = require("fs");
const args = process.argv.slice(2);
const config = require("path").basename(args[args.indexOf("--config") + 1] || "");
const input = args[1] === "put" ? fs.readFileSync(0, "utf8") : "";
fs.appendFileSync(${JSON.stringify(calls)}, JSON.stringify({ args, config, input }) + "\\n");
if (args[1] === "list") process.stdout.write(process.env["FAKE_" + config.replace(/\\W/g, "_")] || "[]");
`, { mode: 0o755 });
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const run = (extra = {}) => cli(["init", "--production", "--dir", dir], { env: { ...env, ...extra } });
    const r = run();
    assert.equal(r.code, 0, r.err);
    const puts = fs.readFileSync(calls, "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((c) => c.args[1] === "put");
    assert.deepEqual(puts.map((c) => `${c.config} ${c.args[2]}`), ["wrangler.toml KEY_PEPPER", "wrangler.toml ADMIN_TOKEN", "wrangler.edge.toml KEY_PEPPER", "wrangler.edge.toml ORIGIN_SIGNING_SECRET"]);
    const pepper = puts.filter((c) => c.args[2] === "KEY_PEPPER").map((c) => c.input.trim());
    assert.equal(pepper[0], pepper[1], "the same pepper on both workers");
    for (const c of puts) {
      assert.ok(c.input.trim().length >= 64);
      assert.ok(!r.out.includes(c.input.trim()) && !r.err.includes(c.input.trim()), "never printed");
    }
    // Set already: kept, nothing put.
    fs.rmSync(calls);
    const all = JSON.stringify([{ name: "KEY_PEPPER" }, { name: "ADMIN_TOKEN" }, { name: "ORIGIN_SIGNING_SECRET" }]);
    const kept = run({ FAKE_wrangler_toml: all, FAKE_wrangler_edge_toml: all });
    assert.equal(kept.code, 0, kept.err);
    assert.ok(!fs.readFileSync(calls, "utf8").includes('"put"'), "nothing overwritten");
    assert.match(kept.out, /kept KEY_PEPPER on wrangler\.toml/);
    // One worker has a pepper the other lacks: it cannot be read back, so refuse, and write
    // nothing at all (both lists are read before any put).
    for (const [name, has] of [["FAKE_wrangler_toml", "wrangler.toml"], ["FAKE_wrangler_edge_toml", "wrangler.edge.toml"]]) {
      fs.rmSync(calls, { force: true });
      const half = run({ [name]: JSON.stringify([{ name: "KEY_PEPPER" }]) });
      assert.equal(half.code, 1);
      assert.match(half.err, new RegExp(`pepper_unknown: ${has.replace(".", "\\.")} has a KEY_PEPPER`));
      assert.ok(!fs.readFileSync(calls, "utf8").includes('"put"'), "nothing written");
    }
    // doctor --production reads the deployed secrets; without KEYGATE_URL it says it did not check
    // the deployment, rather than checking the local one.
    const noUrl = cli(["doctor", "--production", "--dir", dir], { env: { ...env, KEYGATE_URL: "", FAKE_wrangler_toml: all, FAKE_wrangler_edge_toml: all } });
    assert.equal(noUrl.code, 1);
    assert.match(noUrl.out, /KEYGATE_URL is not set, so the deployment was not checked/);
    assert.match(noUrl.out, /ok   wrangler\.edge\.toml secret ORIGIN_SIGNING_SECRET: set/);
  });

  it("doctor passes a good setup, and names each thing that is wrong", () => {
    const dir = tmp();
    const origins = (text) => text.replace(/^ORIGIN_TEST = .*$/m, `ORIGIN_TEST = "${E.origins.test}"`).replace(/^ORIGIN_LIVE = .*$/m, `ORIGIN_LIVE = "${E.origins.live}"`);
    const write = (name, text) => fs.writeFileSync(path.join(dir, name), text);
    const full = origins(fs.readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"));
    const edge = origins(fs.readFileSync(path.join(ROOT, "wrangler.edge.toml"), "utf8"));
    write("wrangler.toml", full);
    write("wrangler.edge.toml", edge);
    write(".dev.vars", Object.entries(E.secrets).map(([k, v]) => `${k}="${v}"`).join("\n"));
    const good = cli(["doctor", "--dir", dir]);
    assert.equal(good.code, 0, good.out + good.err);
    assert.match(good.out, /no problem found/);
    assert.match(good.out, /the admin token is accepted/);
    assert.match(good.out, /ORIGIN_TEST .*reachable from here/);
    const problems = (r) => r.out.split("\n").filter((l) => l.startsWith("FAIL"));
    // The two files disagree; a var is invalid; a secret is missing; an origin is down; a wrong token.
    write("wrangler.edge.toml", edge.replace('LOG_REQUESTS = "denied"', 'LOG_REQUESTS = "all"'));
    write("wrangler.toml", full.replace('ON_EXPOSURE = "flag"', 'ON_EXPOSURE = "flag"\nON_LEAK = "maybe"').replace(/^ORIGIN_LIVE = .*$/m, 'ORIGIN_LIVE = "http://127.0.0.1:9"'));
    write(".dev.vars", `KEY_PEPPER="${E.secrets.KEY_PEPPER}"\nADMIN_TOKEN="short"\n`);
    const bad = cli(["doctor", "--dir", dir], { env: { KEYGATE_ADMIN_TOKEN: "adm_wrong_wrong_wrong_wrong_wrong_wrong" } });
    assert.equal(bad.code, 1);
    const p = problems(bad).join("\n");
    assert.match(p, /var LOG_REQUESTS is the same in wrangler\.toml and wrangler\.edge\.toml/);
    assert.match(p, /var ON_LEAK is the same/, "set in one file only");
    assert.match(p, /var ON_LEAK: "expire" or "flag"/);
    assert.match(p, /var ORIGIN_LIVE is the same/);
    assert.match(p, /\.dev\.vars ADMIN_TOKEN: shorter than 32 bytes/);
    assert.match(p, /\.dev\.vars ORIGIN_SIGNING_SECRET: missing/);
    assert.match(p, /401 admin_token_invalid/);
    assert.match(p, /ORIGIN_LIVE http:\/\/127\.0\.0\.1:9: unreachable from here/);
    assert.match(bad.out, /\d+ problems found/);
    // --offline: the files only; --json for scripts.
    const offline = cli(["doctor", "--dir", dir, "--offline", "--json"]);
    assert.equal(offline.code, 1);
    const findings = JSON.parse(offline.out);
    assert.ok(findings.every((f) => typeof f.ok === "boolean" && typeof f.what === "string"));
    assert.ok(!findings.some((f) => /admin token|reachable/.test(f.what)), "nothing fetched offline");
    // Vars a worker would not read as meant: an unquoted number, an allowlist entry without a
    // leading slash.
    // A frame ancestor that is not an https origin; the edge without the pages' assets.
    write(
      "wrangler.toml",
      full
        .replace('EDGE_CACHE_TTL = "5"', "EDGE_CACHE_TTL = 5")
        .replace('"POST /v1/tokens"', '"POST v1/tokens"')
        .replace('LOG_REQUESTS = "denied"', 'LOG_REQUESTS = "denied"\nPORTAL_FRAME_ANCESTORS = "https://app.example.com http://*.example.com"'),
    );
    write("wrangler.edge.toml", edge.replace(/^\[assets\]\ndirectory = .*$/m, ""));
    const typed = problems(cli(["doctor", "--dir", dir, "--offline"])).join("\n");
    assert.match(typed, /var PORTAL_FRAME_ANCESTORS: https origins/);
    assert.match(typed, /\[assets\] .* are the same in both files/);
    assert.match(typed, /var EDGE_CACHE_TTL: must be a quoted string \(got 5\)/);
    assert.match(typed, /var PUBLISHABLE_ALLOWLIST: a JSON array of "METHOD \/path"/);
    // No admin token anywhere: one failed check, the others still reported.
    write(".dev.vars", `KEY_PEPPER="${E.secrets.KEY_PEPPER}"\n`);
    const tokenless = cli(["doctor", "--dir", dir], { env: { KEYGATE_ADMIN_TOKEN: "" } });
    assert.equal(tokenless.code, 1);
    assert.match(tokenless.out, /not checked: no admin token/);
    assert.match(tokenless.out, /var EDGE_CACHE_TTL/);
    // No wrangler files at all.
    const empty = cli(["doctor", "--dir", tmp(), "--offline"]);
    assert.equal(empty.code, 1);
    assert.match(empty.out, /wrangler\.toml: not found/);
  });
});

describe("the CLI imports existing keys", () => {
  // The files hold raw keys, as a provider's export does: outside the run directory, whose every
  // file the final scan searches for raw keys, and removed afterwards.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keygate-import-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const oldKey = (prefix) => {
    let body = "";
    for (const b of crypto.randomBytes(21)) body += B62[b % 62];
    return prefix + body;
  };
  const moment = { KEYGATE_URL: E.urls.moment };

  it("from CSV, in batches per account, with a summary of the rows that failed and a non-zero exit", () => {
    const [a, b] = [newAccount(), newAccount()];
    const rows = ["account,type,mode,secret,sha256_hex,prefix,last4,name,created_at,metadata"];
    const secrets = [];
    for (let i = 0; i < 520; i++) {
      const key = oldKey("sk_");
      secrets.push(key);
      if (i % 2) rows.push(`${i < 300 ? a : b},secret,live,,${crypto.createHash("sha256").update(key).digest("hex")},sk_,${key.slice(-4)},row ${i},,`);
      else rows.push(`${i < 300 ? a : b},secret,live,${key},,,,row ${i},1600000000,"{""plan"":""pro""}"`);
    }
    // Three bad rows: a secret of another format, a hash too short, an account that is not one.
    rows.push(`${a},secret,live,sk_short,,,,bad secret,,`);
    rows.push(`${a},secret,live,,abcd,sk_,abcd,bad hash,,`);
    rows.push(`nope,secret,live,${oldKey("sk_")},,,,bad account,,`);
    // The final scan searches the state and logs for a sample of them.
    fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `${secrets.slice(0, 20).join("\n")}\n`);
    const file = path.join(dir, "import.csv");
    fs.writeFileSync(file, rows.join("\n") + "\n", { mode: 0o600 });
    const r = cli(["keys", "import", file, "--batch", "200"], { env: moment });
    assert.equal(r.code, 1, r.err);
    assert.match(r.out, /imported 520 of 523 keys from .*; 3 failed/);
    assert.match(r.out, /parameter_invalid.*secret/);
    assert.match(r.out, /parameter_invalid.*hash\.value/);
    assert.match(r.out, /account_invalid/);
    for (const key of secrets) assert.ok(!r.out.includes(key) && !r.err.includes(key), "no raw key is printed");
    // Imported, in both accounts, with their settings; the hashes wait for their first use.
    const listA = json(cli(["keys", "list", "-a", a, "--all", "--json"], { env: moment }));
    assert.equal(listA.length, 300);
    const plain = listA.find((k) => k.name === "row 0");
    assert.deepEqual([plain.created_at, plain.metadata.plan, plain.imported.from], [1_600_000_000, "pro", "secret"]);
    const status = json(cli(["migration", "-a", b, "-m", "live", "--json"], { env: moment }));
    assert.deepEqual([status.keys, status.imported, status.awaiting_first_use], [220, 220, 110]);
    // The same file again: nothing new; every good row is key_already_exists.
    const again = cli(["keys", "import", file, "--json"], { env: moment });
    assert.equal(again.code, 1);
    const summary = JSON.parse(again.out);
    assert.deepEqual([summary.imported, summary.failed], [0, 523]);
    assert.equal(summary.failures.filter((f) => f.code === "key_already_exists").length, 520);
    assert.match(summary.failures[0].key, /^key_/);
  });

  it("from JSON lines, and precise failures for a bad file", () => {
    const account = newAccount();
    const key = oldKey("sk_test_");
    fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `${key}\n`);
    const file = path.join(dir, "import.jsonl");
    fs.writeFileSync(file, `${JSON.stringify({ account, type: "secret", mode: "test", secret: key, allowed_ips: ["203.0.113.0/24"] })}\n`, { mode: 0o600 });
    const out = json(cli(["keys", "import", file, "--json"], { env: moment }));
    assert.deepEqual([out.imported, out.failed], [1, 0]);
    const [k] = json(cli(["keys", "list", "-a", account, "--json"], { env: moment }));
    assert.deepEqual(k.allowed_ips, ["203.0.113.0/24"]);
    // A file that is not there, a CSV with an unknown column, a JSON line that is not JSON.
    assert.match(cli(["keys", "import", path.join(dir, "nope.csv")], { env: moment }).err, /file_unreadable/);
    const odd = path.join(dir, "odd.csv");
    fs.writeFileSync(odd, "account,type,mode,colour\n");
    const r = cli(["keys", "import", odd], { env: moment });
    assert.equal(r.code, 1);
    assert.match(r.err, /file_invalid: .*1 unknown column in the header row/);
    // A file without a header row: its first key is not printed as a column name.
    const headless = `acct_1,secret,live,${oldKey("sk_")}\n`;
    fs.writeFileSync(odd, headless);
    const h = cli(["keys", "import", odd], { env: moment });
    assert.match(h.err, /file_invalid: .*3 unknown columns in the header row \(not named back; does the file start with one\?\)/);
    assert.ok(!h.err.includes(headless.split(",")[3].trim()), h.err);
    fs.writeFileSync(odd, '{"account": "acct_1"\n');
    assert.match(cli(["keys", "import", odd], { env: moment }).err, /file_invalid: .*:1: not a JSON object/);
    assert.match(cli(["keys", "import", "--help"]).out, /sha256_hex/);
  });
});
