#!/usr/bin/env node
// `npx keygate …`: keygate's management API from a terminal (issue 18, part 3): keys (with imports
// of existing keys from a file), the audit log, a migration's state, portal links, leak reports
// and the secret-scanning pattern, webhook deliveries.
// KEYGATE_URL and KEYGATE_ADMIN_TOKEN say where and as whom; locally, without them, it uses
// `npm start`'s URL and the ADMIN_TOKEN in `.dev.vars`. A raw key is never taken from the command
// line (other users can read it from the process list): `keys lookup` reads it from stdin.
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { Command, InvalidArgumentError } from "commander";
import Table from "cli-table3";
import cliProgress from "cli-progress";
import { parse as parseCsv } from "csv-parse/sync";
import { SECRETS, checkConfigs, checkDevVars, initDevVars, newSecret, readConfigs, readDevVars } from "./lib/doctor.mjs";

const LOCAL_URL = "https://127.0.0.1:8787";

/** Where and as whom: the environment, else the local development setup. */
function target() {
  const url = process.env.KEYGATE_URL ?? LOCAL_URL;
  let token = process.env.KEYGATE_ADMIN_TOKEN;
  if (!token) token = readDevVars(path.join(process.cwd(), ".dev.vars")).ADMIN_TOKEN;
  if (!token) fail("no_admin_token", "Set KEYGATE_ADMIN_TOKEN (or run where `.dev.vars` has ADMIN_TOKEN).");
  return { url: url.replace(/\/+$/, ""), token };
}

/** Only a loopback address may present wrangler dev's self-signed certificate. */
function loopback(host) {
  return ["127.0.0.1", "localhost", "[::1]", "::1"].includes(host);
}

/** One call to the management API; resolves with { status, json, headers }. */
function api(method, route, body) {
  const { url, token } = target();
  const u = new URL(`${url}/_keygate/v1${route}`);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers = { authorization: `Bearer ${token}`, accept: "application/json" };
  if (payload !== undefined) headers["content-type"] = "application/json";
  const mod = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, headers, rejectUnauthorized: !loopback(u.hostname), timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, json, text, headers: res.headers });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function fail(code, message) {
  process.stderr.write(`keygate: ${code}: ${message}\n`);
  process.exit(1);
}

/** The API's answer, or exit non-zero with its error code and message. */
async function call(method, route, body) {
  let res;
  try {
    res = await api(method, route, body);
  } catch (e) {
    fail("unreachable", `${target().url}: ${e.message}`);
  }
  if (res.status >= 400 || !res.json) {
    const err = res.json?.error;
    fail(err?.code ?? `http_${res.status}`, `${err?.message ?? res.text.slice(0, 200)}${err?.param ? ` (param: ${err.param})` : ""}`);
  }
  if (res.headers["keygate-admin-token"] === "previous") {
    process.stderr.write("keygate: warning: this token is ADMIN_TOKEN_PREVIOUS; move to the current one\n");
  }
  return res.json;
}

const when = (t) => (t ? new Date(t * 1000).toISOString().replace(".000Z", "Z") : "");

/** Keys as a table, or JSON with --json. */
function showKeys(keys, json) {
  if (json) return console.log(JSON.stringify(keys, null, 2));
  const table = new Table({ head: ["id", "name", "type", "mode", "key", "status", "created", "last used", "expires"] });
  for (const k of keys) {
    table.push([k.id, k.name, k.type, k.mode, `${k.prefix}…${k.last4}`, k.status, when(k.created_at), when(k.last_used), when(k.expires_at)]);
  }
  console.log(table.toString());
}

function showKey(k, json) {
  if (json) return console.log(JSON.stringify(k, null, 2));
  showKeys([k], false);
  if (k.secret) {
    console.log(`\nSecret (shown once; store it now, keygate keeps only its digest):\n${k.secret}`);
  }
}

function integer(name) {
  return (v) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number.`);
    return Number(v);
  };
}

function pair(v, all = {}) {
  const i = v.indexOf("=");
  if (i < 1) throw new InvalidArgumentError("metadata is KEY=VALUE (an empty VALUE unsets KEY).");
  return { ...all, [v.slice(0, i)]: v.slice(i + 1) };
}

const program = new Command("keygate")
  .description("keygate's management API from a terminal (KEYGATE_URL, KEYGATE_ADMIN_TOKEN)")
  .showHelpAfterError();

const keys = program.command("keys").description("create, list and change an account's keys");
const json = ["--json", "print the API's JSON instead of a table"];
const account = ["-a, --account <account>", "the account (acct_…)"];

keys
  .command("create")
  .description("create a key; its secret is shown once")
  .requiredOption(...account)
  .requiredOption("-t, --type <type>", "secret, publishable or restricted")
  .requiredOption("-m, --mode <mode>", "test or live")
  .option("-n, --name <name>", "a label")
  .option("--expires-at <unix>", "expiry, unix seconds", integer("--expires-at"))
  .option("--metadata <key=value>", "metadata (repeatable)", pair)
  .option("--canary", "a canary key (honeytoken): refused as unknown wherever it is used, its uses recorded")
  .option(...json)
  .action(async (o) => {
    const body = { type: o.type, mode: o.mode };
    if (o.canary) body.canary = true;
    if (o.name !== undefined) body.name = o.name;
    if (o.expiresAt !== undefined) body.expires_at = o.expiresAt;
    if (o.metadata) body.metadata = o.metadata;
    showKey(await call("POST", `/accounts/${encodeURIComponent(o.account)}/keys`, body), o.json);
  });

keys
  .command("list")
  .description("the account's keys, newest first")
  .requiredOption(...account)
  .option("-m, --mode <mode>", "only test or live")
  .option("--status <status>", "only active, rolling, expired or revoked")
  .option("--type <type>", "only secret, publishable or restricted")
  .option("--last4 <chars>", "only keys ending so")
  .option("--limit <n>", "keys per page (1 to 100)", integer("--limit"))
  .option("--starting-after <key_id>", "the page after this key")
  .option("--all", "follow every page")
  .option(...json)
  .action(async (o) => {
    const q = new URLSearchParams();
    for (const [name, value] of [["mode", o.mode], ["status", o.status], ["type", o.type], ["last4", o.last4], ["limit", o.limit], ["starting_after", o.startingAfter]]) {
      if (value !== undefined) q.set(name, String(value));
    }
    const all = [];
    for (;;) {
      const page = await call("GET", `/accounts/${encodeURIComponent(o.account)}/keys?${q}`);
      all.push(...page.data);
      if (!o.all || !page.has_more) {
        if (!o.json && page.has_more) process.stderr.write(`(more: --starting-after ${page.data.at(-1).id}, or --all)\n`);
        break;
      }
      q.set("starting_after", page.data.at(-1).id);
    }
    showKeys(all, o.json);
  });

keys
  .command("get <key_id>")
  .description("one key")
  .requiredOption(...account)
  .option(...json)
  .action(async (id, o) => showKey(await call("GET", `/accounts/${encodeURIComponent(o.account)}/keys/${encodeURIComponent(id)}`), o.json));

keys
  .command("update <key_id>")
  .description("change a key's name or metadata")
  .requiredOption(...account)
  .option("-n, --name <name>", "a new label")
  .option("--metadata <key=value>", "metadata to set, or unset with an empty value (repeatable)", pair)
  .option(...json)
  .action(async (id, o) => {
    const body = {};
    if (o.name !== undefined) body.name = o.name;
    if (o.metadata) body.metadata = o.metadata;
    if (Object.keys(body).length === 0) fail("nothing_to_update", "Give --name or --metadata.");
    showKey(await call("PATCH", `/accounts/${encodeURIComponent(o.account)}/keys/${encodeURIComponent(id)}`, body), o.json);
  });

keys
  .command("roll <key_id>")
  .description("a successor with the same settings; the old key works for --grace seconds")
  .requiredOption(...account)
  .option("--grace <seconds>", "how long the old key keeps working (0 to 604800; default 86400)", integer("--grace"))
  .option(...json)
  .action(async (id, o) => {
    const body = o.grace === undefined ? {} : { expires_in: o.grace };
    showKey(await call("POST", `/accounts/${encodeURIComponent(o.account)}/keys/${encodeURIComponent(id)}/roll`, body), o.json);
  });

for (const [name, method, suffix, what] of [
  ["expire", "POST", "/expire", "end a key now"],
  ["revoke", "DELETE", "", "revoke a key, for good"],
]) {
  keys
    .command(`${name} <key_id>`)
    .description(what)
    .requiredOption(...account)
    .option(...json)
    .action(async (id, o) => showKey(await call(method, `/accounts/${encodeURIComponent(o.account)}/keys/${encodeURIComponent(id)}${suffix}`), o.json));
}

keys
  .command("lookup")
  .description("the key object for a raw key read from stdin (never from the command line)")
  .option(...json)
  .action(async (o) => {
    const secret = fs.readFileSync(0, "utf8").trim();
    if (!secret) fail("no_secret", "Pipe the raw key into stdin: `keygate keys lookup < key.txt`.");
    showKey(await call("POST", "/keys/lookup", { secret }), o.json);
  });

/** The import rows of FILE: CSV with a header row, or JSON lines (one import item per line, with
 * its `account`). Each row is { line, account, item }. */
function importRows(file) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    fail("file_unreadable", `${file}: ${e.code ?? e.message}`);
  }
  const rows = [];
  if (/^\s*\{/.test(text)) {
    text.split(/\r?\n/).forEach((l, i) => {
      if (!l.trim()) return;
      let item;
      try {
        item = JSON.parse(l);
      } catch {
        fail("file_invalid", `${file}:${i + 1}: not a JSON object (JSON lines: one import item per line)`);
      }
      const { account, ...rest } = item ?? {};
      rows.push({ line: i + 1, account, item: rest });
    });
    return rows;
  }
  const known = ["account", "type", "mode", "secret", "sha256_hex", "sha256_base64", "prefix", "last4", "name", "created_at", "expires_at", "strict", "metadata"];
  // The header row is checked as it is read, whether or not rows follow it.
  const columns = (header) => {
    // Unknown columns are counted, never named: in a file without a header row, they would be
    // the first row's values, a raw key among them.
    const unknown = header.filter((c) => !known.includes(c)).length;
    if (unknown) {
      fail("file_invalid", `${file}: ${unknown} unknown column${unknown > 1 ? "s" : ""} in the header row (not named back; does the file start with one?). Columns: ${known.join(", ")}`);
    }
    return header;
  };
  let records;
  try {
    records = parseCsv(text, { columns, skip_empty_lines: true, trim: true, info: true });
  } catch (e) {
    fail("file_invalid", `${file}: ${e.message}`);
  }
  for (const { record: r, info } of records) {
    const item = { type: r.type, mode: r.mode };
    if (r.secret) item.secret = r.secret;
    if (r.sha256_hex) item.hash = { algorithm: "sha256_hex", value: r.sha256_hex };
    if (r.sha256_base64) item.hash = { algorithm: "sha256_base64", value: r.sha256_base64 };
    for (const f of ["prefix", "last4", "name"]) if (r[f]) item[f] = r[f];
    for (const f of ["created_at", "expires_at"]) if (r[f]) item[f] = /^\d+$/.test(r[f]) ? Number(r[f]) : r[f];
    if (r.strict) item.strict = r.strict === "true";
    if (r.metadata) {
      try {
        item.metadata = JSON.parse(r.metadata);
      } catch {
        item.metadata = r.metadata;
      }
    }
    rows.push({ line: info.lines, account: r.account, item });
  }
  return rows;
}

keys
  .command("import <file>")
  .description("import existing keys from FILE (CSV with a header row, or JSON lines), in batches of 500 per account")
  .option("--batch <n>", "keys per call (1 to 500)", integer("--batch"), 500)
  .option(...json)
  .addHelpText(
    "after",
    `
CSV columns: account, type, mode, and either secret (the raw key) or sha256_hex / sha256_base64
(its SHA-256, with prefix and last4); optional name, created_at, expires_at, strict, metadata (JSON).
JSON lines: one import item per line (as POST /accounts/{account}/keys/import takes it) with its
"account". Raw keys are read from the file only, sent to the API, and never printed.`,
  )
  .action(async (file, o) => {
    if (o.batch < 1 || o.batch > 500) fail("parameter_invalid", "--batch is 1 to 500.");
    const rows = importRows(file);
    if (!rows.length) fail("file_empty", `${file}: no keys`);
    const byAccount = new Map();
    for (const row of rows) {
      if (!byAccount.has(row.account)) byAccount.set(row.account, []);
      byAccount.get(row.account).push(row);
    }
    const bar = new cliProgress.SingleBar({ stream: process.stderr, format: "importing [{bar}] {value}/{total} keys" }, cliProgress.Presets.shades_classic);
    bar.start(rows.length, 0);
    const failures = [];
    const imported = [];
    for (const [acct, group] of byAccount) {
      for (let i = 0; i < group.length; i += o.batch) {
        const batch = group.slice(i, i + o.batch);
        let res;
        try {
          res = await api("POST", `/accounts/${encodeURIComponent(acct ?? "")}/keys/import`, { keys: batch.map((r) => r.item) });
        } catch (e) {
          bar.stop();
          fail("unreachable", `${target().url}: ${e.message}`);
        }
        if (res.status !== 200 || !Array.isArray(res.json?.data)) {
          // The whole call was refused (a bad account, a body too large): every row of it failed.
          const err = res.json?.error ?? { code: `http_${res.status}`, message: res.text.slice(0, 200), param: null };
          for (const r of batch) failures.push({ line: r.line, account: acct ?? null, code: err.code, param: err.param, message: err.message });
        } else {
          res.json.data.forEach((d, j) => {
            const r = batch[j];
            if (d.error) {
              const param = d.error.param?.replace(/^keys\[\d+\]\.?/, "") || null;
              failures.push({ line: r.line, account: acct, code: d.error.code, param, message: d.error.message, ...(d.error.key ? { key: d.error.key } : {}) });
            } else imported.push({ line: r.line, id: d.id, account: d.account, mode: d.mode });
          });
        }
        bar.increment(batch.length);
      }
    }
    bar.stop();
    failures.sort((a, b) => a.line - b.line);
    if (o.json) {
      console.log(JSON.stringify({ imported: imported.length, failed: failures.length, failures, keys: imported }, null, 2));
    } else {
      console.log(`imported ${imported.length} of ${rows.length} keys from ${file}; ${failures.length} failed`);
      if (failures.length) {
        const table = new Table({ head: ["line", "account", "code", "param", "message"], colWidths: [null, null, null, null, 60], wordWrap: true });
        for (const f of failures) table.push([f.line, f.account ?? "", f.code, f.param ?? "", f.key ? `${f.message} (${f.key})` : f.message]);
        console.log(table.toString());
      }
    }
    // Not process.exit: a long summary written to a pipe must be flushed first.
    if (failures.length) process.exitCode = 1;
  });

program
  .command("migration")
  .description("what is left of an account's migration: imported hashes not used yet, keys under the previous pepper")
  .requiredOption(...account)
  .requiredOption("-m, --mode <mode>", "test or live")
  .option(...json)
  .action(async (o) => {
    const s = await call("GET", `/accounts/${encodeURIComponent(o.account)}/migration?mode=${encodeURIComponent(o.mode)}`);
    if (o.json) return console.log(JSON.stringify(s, null, 2));
    const table = new Table({ head: ["keys", "imported", "awaiting first use", "under previous pepper", "retired digests"] });
    table.push([s.keys, s.imported, s.awaiting_first_use, s.under_previous_pepper, s.retired_digests]);
    console.log(table.toString());
  });

program
  .command("portal-session")
  .description("a single-use link to the hosted key portal for one of your customers (open it once, within --expires-in)")
  .requiredOption(...account)
  .option("-m, --mode <mode>", "test or live (default: both)")
  .requiredOption("--return-url <url>", "https URL of your dashboard: the portal's link back")
  .option("--expires-in <seconds>", "how long the session lasts (60 to 3600, default 3600)", integer("--expires-in"))
  .option("--rate-limit <limit/window>", "the rate limit of keys created in the portal, e.g. 100/60")
  .option("--credits <n>", "the credits of keys created in the portal", integer("--credits"))
  .option(...json)
  .action(async (o) => {
    const body = { mode: o.mode ?? null, return_url: o.returnUrl };
    if (o.expiresIn !== undefined) body.expires_in = o.expiresIn;
    const defaults = {};
    if (o.rateLimit !== undefined) {
      const m = /^(\d+)\/(\d+)$/.exec(o.rateLimit);
      if (!m) fail("parameter_invalid", "--rate-limit is LIMIT/WINDOW_SECONDS, e.g. 100/60.");
      defaults.rate_limit = { limit: Number(m[1]), window: Number(m[2]) };
    }
    if (o.credits !== undefined) defaults.credits = { remaining: o.credits };
    if (Object.keys(defaults).length) body.key_defaults = defaults;
    const s = await call("POST", `/accounts/${encodeURIComponent(o.account)}/portal_sessions`, body);
    if (o.json) return console.log(JSON.stringify(s, null, 2));
    const table = new Table({ head: ["id", "account", "mode", "expires"] });
    table.push([s.id, s.account, s.mode ?? "test and live", when(s.expires_at)]);
    console.log(table.toString());
    console.log(`\nSingle-use link (works once; send your customer there now):\n${s.url}`);
  });

program
  .command("events")
  .description("an account's audit log, newest first")
  .requiredOption(...account)
  .requiredOption("-m, --mode <mode>", "test or live")
  .option("--limit <n>", "events (1 to 100)", integer("--limit"))
  .option(...json)
  .action((o) => showPage("events", o, ["id", "type", "key", "actor", "at"], (e) => [e.id, e.type, e.key_id, e.actor, when(e.created_at)]));

/** One page of an account's list in one mode (`events`, `webhook_deliveries`): a table, or JSON. */
async function showPage(list, o, head, row) {
  const q = new URLSearchParams({ mode: o.mode, ...(o.limit ? { limit: String(o.limit) } : {}) });
  const page = await call("GET", `/accounts/${encodeURIComponent(o.account)}/${list}?${q}`);
  if (o.json) return console.log(JSON.stringify(page.data, null, 2));
  const table = new Table({ head });
  for (const item of page.data) table.push(row(item));
  console.log(table.toString());
}

/** Read raw tokens, one per line, from a file or stdin (never from the command line). */
function tokensFrom(file) {
  const text = file && file !== "-" ? fs.readFileSync(file, "utf8") : fs.readFileSync(0, "utf8");
  return text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
}

const leaks = program.command("leaks").description("report keys found in public by another scanner");
leaks
  .command("report [file]")
  .description("report raw tokens, one per line, from FILE or stdin; keys among them are flagged or ended (ON_LEAK)")
  .option("--url <url>", "where they were found")
  .option("--source <source>", "what kind of place (pastebin, commit, …)")
  .option(...json)
  .action(async (file, o) => {
    const tokens = tokensFrom(file);
    if (!tokens.length) fail("no_tokens", "Give a file of tokens, one per line, or pipe them into stdin.");
    const feedback = [];
    // The API takes up to 1000 tokens a call.
    for (let i = 0; i < tokens.length; i += 1000) {
      const items = tokens.slice(i, i + 1000).map((token) => ({ token, ...(o.url ? { url: o.url } : {}), ...(o.source ? { source: o.source } : {}) }));
      feedback.push(...(await call("POST", "/leaks", { tokens: items })));
    }
    if (o.json) return console.log(JSON.stringify(feedback, null, 2));
    const table = new Table({ head: ["line", "token sha256", "label"] });
    feedback.forEach((f, i) => table.push([i + 1, `${f.token_hash.slice(0, 16)}…`, f.label]));
    console.log(table.toString());
    const found = feedback.filter((f) => f.label === "true_positive").length;
    console.log(`${found} of ${feedback.length} were keys of this deployment`);
  });

program
  .command("scanning-pattern")
  .description("the regular expression to register with GitHub's secret scanning for this deployment's keys")
  .option(...json)
  .action(async (o) => {
    const p = await call("GET", "/secret-scanning/pattern");
    if (o.json) return console.log(JSON.stringify(p, null, 2));
    console.log(p.pattern);
  });

const webhooks = program.command("webhooks").description("an account's webhook deliveries (WEBHOOK_URL)");
webhooks
  .command("list")
  .description("the deliveries, newest first, with their attempts")
  .requiredOption(...account)
  .requiredOption("-m, --mode <mode>", "test or live")
  .option("--limit <n>", "deliveries (1 to 100)", integer("--limit"))
  .option(...json)
  .action((o) =>
    showPage("webhook_deliveries", o, ["id", "type", "key", "status", "attempts", "last", "next", "error"], (d) => [
      d.id, d.type, d.key_id, d.status, d.attempts, d.last_status ?? "", when(d.next_attempt_at), d.last_error ?? "",
    ]),
  );
webhooks
  .command("retry <id>")
  .description("attempt a delivery again now")
  .requiredOption(...account)
  .option(...json)
  .action(async (id, o) => {
    const d = await call("POST", `/accounts/${encodeURIComponent(o.account)}/webhook_deliveries/${encodeURIComponent(id)}/retry`);
    if (o.json) return console.log(JSON.stringify(d, null, 2));
    console.log(`${d.id} ${d.type}: ${d.status}, next attempt ${when(d.next_attempt_at)}`);
  });

/** Run wrangler (from PATH) with `args`, `input` on stdin; never echoes what it is given. */
function wrangler(args, input) {
  const r = spawnSync("wrangler", args, { input, encoding: "utf8", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } });
  if (r.error) fail("wrangler_missing", `wrangler could not be run (${r.error.code}); install it (npm install wrangler) or put it on PATH.`);
  return r;
}

/** The secrets a deployed worker has (`wrangler secret list`). */
function deployedSecrets(config) {
  const r = wrangler(["secret", "list", "--format", "json", "--config", config]);
  if (r.status !== 0) fail("wrangler_failed", `wrangler secret list --config ${config}: ${(r.stderr || r.stdout).trim().split("\n").at(-1)}`);
  try {
    return new Set(JSON.parse(r.stdout).map((s) => s.name));
  } catch {
    fail("wrangler_failed", `wrangler secret list --config ${config} did not print JSON`);
  }
}

/** `--dir`, resolved, or exit with a precise error if it is not a directory. */
function directory(dir) {
  const d = path.resolve(dir);
  if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) fail("dir_missing", `${d} is not a directory (--dir).`);
  return d;
}

const KEPT_WHY = { KEY_PEPPER: "; a new KEY_PEPPER would invalidate every key" };

program
  .command("init")
  .description("generate strong local secrets into .dev.vars; with --production, set every required secret on both workers (wrangler secret put)")
  .option("--production", "set the secrets on the deployed workers (wrangler.toml and wrangler.edge.toml)")
  .option("--dir <dir>", "where .dev.vars and the wrangler files are", ".")
  .action((o) => {
    const dir = directory(o.dir);
    if (!o.production) {
      const { file, generated, kept } = initDevVars(dir);
      for (const n of generated) console.log(`generated ${n} in ${path.relative(process.cwd(), file) || file}`);
      for (const n of kept) console.log(`kept ${n} (already in .dev.vars${KEPT_WHY[n] ?? ""})`);
      return;
    }
    const configs = readConfigs(dir);
    for (const c of [configs.full, configs.edge]) if (c.error) fail("config_unreadable", `${c.file}: ${c.error}`);
    const vars = configs.full.config.vars ?? {};
    const workers = [
      // With WEBHOOK_URL set, the full worker signs webhooks too.
      ["full", "wrangler.toml", [...SECRETS.full, ...(vars.WEBHOOK_URL ? ["WEBHOOK_SIGNING_SECRET"] : [])]],
      ["edge", "wrangler.edge.toml", SECRETS.edge],
    ];
    // Everything is decided before anything is written: both workers' secrets are read first.
    const have = Object.fromEntries(workers.map(([w, config]) => [w, deployedSecrets(path.join(dir, config))]));
    // The same KEY_PEPPER on both workers: the edge digests what the authority stored. One that
    // already has one cannot be matched (a secret cannot be read back): refuse, write nothing.
    if (have.full.has("KEY_PEPPER") !== have.edge.has("KEY_PEPPER")) {
      const [has, lacks] = have.full.has("KEY_PEPPER") ? ["wrangler.toml", "wrangler.edge.toml"] : ["wrangler.edge.toml", "wrangler.toml"];
      fail("pepper_unknown", `${has} has a KEY_PEPPER and ${lacks} has none; it cannot be read back, so nothing was set: put the same value with \`wrangler secret put KEY_PEPPER --config ${lacks}\`, then run init again.`);
    }
    const values = {};
    const value = (name) => (values[name] ??= newSecret(name));
    const done = [];
    for (const [w, config, names] of workers) {
      for (const name of names) {
        if (have[w].has(name)) {
          console.log(`kept ${name} on ${config} (already set${KEPT_WHY[name] ?? ""})`);
          continue;
        }
        const r = wrangler(["secret", "put", name, "--config", path.join(dir, config)], `${value(name)}\n`);
        if (r.status !== 0) {
          const half = name === "KEY_PEPPER" && done.includes("wrangler.toml KEY_PEPPER");
          fail("wrangler_failed", `wrangler secret put ${name} --config ${config} failed${half ? "; wrangler.toml now has a KEY_PEPPER the edge lacks: remove it (wrangler secret delete KEY_PEPPER) and run init again" : ""}.`);
        }
        done.push(`${config} ${name}`);
        console.log(`set ${name} on ${config}`);
      }
    }
  });

program
  .command("doctor")
  .description("check the configuration and a running deployment, and say precisely what is wrong")
  .option("--dir <dir>", "where the wrangler files and .dev.vars are", ".")
  .option("--offline", "check the files only, not the deployment or the origins")
  .option("--production", "check the deployed workers' secrets (wrangler secret list) instead of .dev.vars")
  .option(...json)
  .action(async (o) => {
    const dir = directory(o.dir);
    // `.dev.vars` (and its ADMIN_TOKEN, unless KEYGATE_ADMIN_TOKEN is set) are read from there.
    process.chdir(dir);
    const configs = readConfigs(dir);
    const findings = checkConfigs(configs);
    const vars = configs.full.config?.vars ?? {};
    if (o.production) {
      const needs = { full: [...SECRETS.full, ...(vars.WEBHOOK_URL ? ["WEBHOOK_SIGNING_SECRET"] : [])], edge: SECRETS.edge };
      for (const [worker, config] of [["full", "wrangler.toml"], ["edge", "wrangler.edge.toml"]]) {
        const have = deployedSecrets(path.join(dir, config));
        for (const name of needs[worker]) findings.push({ ok: have.has(name), what: `${config} secret ${name}: ${have.has(name) ? "set" : "missing (keygate init --production)"}` });
      }
    } else {
      findings.push(...checkDevVars(readDevVars(path.join(dir, ".dev.vars")), vars));
    }
    if (o.offline) {
      // Files only.
    } else if (o.production && !process.env.KEYGATE_URL) {
      findings.push({ ok: false, what: "--production: KEYGATE_URL is not set, so the deployment was not checked (set it to the API's URL, or add --offline)" });
    } else {
      findings.push(...(await checkDeployment(dir, vars)));
    }
    const bad = findings.filter((f) => !f.ok);
    if (o.json) console.log(JSON.stringify(findings, null, 2));
    else {
      for (const f of findings) console.log(`${f.ok ? "ok  " : "FAIL"} ${f.what}`);
      console.log(bad.length ? `\n${bad.length} problem${bad.length > 1 ? "s" : ""} found` : "\nno problem found");
    }
    if (bad.length) process.exitCode = 1;
  });

/** A running deployment: the management API with the operator's token, and each origin. */
async function checkDeployment(dir, vars) {
  const out = [];
  const url = (process.env.KEYGATE_URL ?? LOCAL_URL).replace(/\/+$/, "");
  if (!process.env.KEYGATE_ADMIN_TOKEN && !readDevVars(path.join(dir, ".dev.vars")).ADMIN_TOKEN) {
    return [{ ok: false, what: `${url}: not checked: no admin token (set KEYGATE_ADMIN_TOKEN, or ADMIN_TOKEN in .dev.vars)` }];
  }
  let res;
  try {
    res = await api("GET", "/secret-scanning/pattern");
  } catch (e) {
    return [{ ok: false, what: `${url}: unreachable (${e.message})` }];
  }
  const err = res.json?.error;
  if (res.status === 200) out.push({ ok: true, what: `${url}: the management API answers, and the admin token is accepted` });
  else if (err) out.push({ ok: false, what: `${url}: ${res.status} ${err.code}: ${err.message}` });
  else out.push({ ok: false, what: `${url}: ${res.status}, not keygate's JSON (is this keygate?)` });
  for (const name of ["ORIGIN_TEST", "ORIGIN_LIVE"]) {
    if (!vars[name]) continue;
    const reached = await reachable(vars[name]);
    out.push({ ok: reached === true, what: `${name} ${vars[name]}: ${reached === true ? "reachable from here" : `unreachable from here (${reached})`}` });
  }
  return out;
}

/** Whether `origin` answers anything at all within 5 s: true, or why not. */
function reachable(origin) {
  return new Promise((resolve) => {
    let u;
    try {
      u = new URL(origin);
    } catch {
      return resolve("not a URL");
    }
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, { method: "HEAD", timeout: 5000, rejectUnauthorized: !loopback(u.hostname) }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", (e) => resolve(e.code ?? e.message));
    req.end();
  });
}

await program.parseAsync(process.argv);
