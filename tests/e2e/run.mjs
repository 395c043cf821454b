// End-to-end harness: real workerd (`wrangler dev`) with local KV and Durable Objects, in front
// of real echo origins on loopback. Starts the instances the suites need, then runs every
// `tests/e2e/*.test.mjs` with node's test runner and exits with its status.
//
// Instances (each with its own fresh local state):
// Origins: test mode is a Node echo origin verifying with @keygate/verify, live mode a Python
// one verifying with keygate_verify; each refuses what it cannot verify.
//
//   main    the production layout: the lean edge worker (wrangler.edge.toml) answers, the full
//           worker (wrangler.toml) runs beside it with the Durable Objects and the management API,
//           which the edge hands over. HTTPS, test secrets, ORIGIN_TEST/ORIGIN_LIVE → two echo
//           origins; EDGE_CACHE_TTL=0, so that the suites see the authority's changes at once
//           (edge-cache.test.mjs tests the default window on `down`)
//   pinned  the full worker alone, with host "localhost" pinned to live mode (LIVE_HOSTS),
//           "sandbox.localhost" (sent as a Host header) to test mode (TEST_HOSTS), and
//           "127.0.0.1" not pinned
//   plain   plain HTTP, same secrets (every request must be refused with https_required)
//   moment  the full worker alone (test-clock build) with Moment's key format (KEY_FORMAT), for
//           imports and their upgrade (migration.test.mjs)
//   clock   the full worker alone, built with the `test-clock` feature (build-test-clock/, never
//           deployed): an operator may set a test-mode authority's clock ahead, so that a refill
//           due at midnight is seen to happen (test-clock.test.mjs); ON_LEAK = "flag"; its
//           webhooks go to a local receiver (webhook-receiver.mjs) that verifies each one
// main and clock fetch GitHub's secret-scanning signing keys from a local stand-in (github.mjs).
//
// Then, with every instance stopped, the serial phase (tests/e2e/serial/*.test.mjs): tests that
// start their own instances one after another on one state, because two workerd processes must
// never share a state directory at the same time.
//   bare    HTTPS, no secrets at all (must fail closed)
//   down    HTTPS, test secrets, ORIGIN_TEST → a closed port, ORIGIN_LIVE unset
//   unsigned HTTPS, every secret but ORIGIN_SIGNING_SECRET (must fail closed)
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { startSigningKeys } from "./github.mjs";
import { startNodeOrigin, startPythonOrigin } from "./origins.mjs";
import { startWebhookReceiver } from "./webhook-receiver.mjs";
import { ROOT, freePort, splitConfigs, startWrangler } from "../../scripts/lib/dev.mjs";

const runDir = path.join(ROOT, ".e2e", `run-${Date.now()}`);
fs.mkdirSync(runDir, { recursive: true });


const secrets = {
  KEY_PEPPER: crypto.randomBytes(32).toString("hex"),
  ADMIN_TOKEN: `adm_${crypto.randomBytes(24).toString("hex")}`,
  // Accepted beside ADMIN_TOKEN, as during a rotation (operating.test.mjs).
  ADMIN_TOKEN_PREVIOUS: `adm_prev_${crypto.randomBytes(24).toString("hex")}`,
  ORIGIN_SIGNING_SECRET: `sig_${crypto.randomBytes(32).toString("hex")}`,
  ORIGIN_SIGNING_SECRET_PREVIOUS: `sig_${crypto.randomBytes(32).toString("hex")}`,
  // Only `clock` has a WEBHOOK_URL (webhooks.test.mjs).
  WEBHOOK_SIGNING_SECRET: `whsec_${crypto.randomBytes(32).toString("hex")}`,
};
const envFile = (file, values) =>
  fs.writeFileSync(file, Object.entries(values).map(([k, v]) => `${k}="${v}"`).join("\n") + "\n", { mode: 0o600 });
const secretsFile = path.join(runDir, "secrets.env");
envFile(secretsFile, secrets);
const unsignedFile = path.join(runDir, "unsigned.env");
const { ORIGIN_SIGNING_SECRET, ORIGIN_SIGNING_SECRET_PREVIOUS, ...withoutSigning } = secrets;
envFile(unsignedFile, withoutSigning);
const emptyFile = path.join(runDir, "empty.env");
fs.writeFileSync(emptyFile, "");

// Every raw key the suites are shown is appended here (scripts/lib/dev.mjs), for the final scan.
const issuedKeys = path.join(runDir, "issued-keys.txt");
fs.writeFileSync(issuedKeys, "", { mode: 0o600 });

// Each origin verifies keygate's signature before answering, with the package of its language:
// test mode is a Node origin (@keygate/verify), live mode a Python one (keygate_verify).
const signingSecrets = [secrets.ORIGIN_SIGNING_SECRET, secrets.ORIGIN_SIGNING_SECRET_PREVIOUS];
const originTest = await startNodeOrigin("test", signingSecrets);
const originLive = await startPythonOrigin("live", signingSecrets, { dir: runDir });
const closedPort = await freePort();
// GitHub's secret-scanning signing keys, served locally (secret-scanning.test.mjs).
const github = await startSigningKeys(runDir);
// The provider's webhook endpoint (webhooks.test.mjs), verifying with the Node verifier.
const receiver = await startWebhookReceiver(secrets.WEBHOOK_SIGNING_SECRET);

const mainVars = { ORIGIN_TEST: originTest.url, ORIGIN_LIVE: originLive.url, EDGE_CACHE_TTL: "0", SECRET_SCANNING_KEYS_URL: github.url };
const specs = {
  // The main instance is the production layout: the lean edge worker in front (every request the
  // suites send goes through it), the full worker beside it holding the Durable Objects and
  // serving the management API the edge hands it.
  main: { protocol: "https", envFile: secretsFile, vars: mainVars, config: splitConfigs(path.join(runDir, "split-main"), { suffix: "main", fullVars: { ...secrets, ...mainVars } }) },
  // Mode pinning needs the request's own host name, and a worker run beside another in one
  // wrangler dev sees every request under 127.0.0.1 (see startWrangler): one worker here.
  // It also serves the key portal on a host of its own (PORTAL_HOST, portal.test.mjs).
  pinned: { protocol: "https", envFile: secretsFile, vars: { ORIGIN_TEST: originTest.url, ORIGIN_LIVE: originLive.url, LIVE_HOSTS: "localhost", TEST_HOSTS: "sandbox.localhost", PORTAL_HOST: "keys.localhost" } },
  plain: { protocol: "http", envFile: secretsFile, vars: { ORIGIN_TEST: originTest.url, ORIGIN_LIVE: originLive.url } },
  bare: { protocol: "https", envFile: emptyFile, vars: { ORIGIN_TEST: originTest.url, ORIGIN_LIVE: originLive.url } },
  down: { protocol: "https", envFile: secretsFile, vars: { ORIGIN_TEST: `http://127.0.0.1:${closedPort}`, ORIGIN_LIVE: "" } },
  unsigned: { protocol: "https", envFile: unsignedFile, vars: { ORIGIN_TEST: originTest.url, ORIGIN_LIVE: originLive.url } },
};

// The `test-clock` build's config: wrangler.toml with its bundle.
const clockToml = path.join(runDir, "wrangler.test-clock.toml");
fs.writeFileSync(
  clockToml,
  fs
    .readFileSync(path.join(ROOT, "wrangler.toml"), "utf8")
    .replace(/^main = ".*"$/m, `main = ${JSON.stringify(path.join(ROOT, "build-test-clock/worker/shim.mjs"))}`)
    .replace(/^directory = "ui\/public"$/m, `directory = ${JSON.stringify(path.join(ROOT, "ui/public"))}`)
    .replace(/^command = ".*"$/m, `command = ${JSON.stringify(`bash ${path.join(ROOT, "scripts/build.sh")} test-clock`)}`)
    .replace(/^name = "keygate"$/m, 'name = "keygate-test-clock"'),
);
// Also the instance where a reported leak only flags a key (ON_LEAK = "flag").
specs.clock = { protocol: "https", envFile: secretsFile, config: clockToml, vars: { ORIGIN_TEST: originTest.url, ORIGIN_LIVE: originLive.url, EDGE_CACHE_TTL: "0", SECRET_SCANNING_KEYS_URL: github.url, ON_LEAK: "flag", WEBHOOK_URL: receiver.url } };

// A deployment with its own key format (Moment's: `sk_test_`/`sk_` and keys from before keygate
// of 20 to 24 characters), built with `test-clock` so that an imported hash's old entry is seen
// to go once its keep is over (migration.test.mjs). KV_CACHE_TTL at its minimum keeps that keep short.
const MOMENT_FORMAT = {
  prefixes: {
    secret: { test: "sk_test_", live: "sk_" },
    publishable: { test: "pk_test_", live: "pk_" },
    restricted: { test: "rk_test_", live: "rk_" },
  },
  alphabet: "base62",
  random_length: 32,
  imported: { min_length: 20, max_length: 24 },
};
const momentToml = path.join(runDir, "wrangler.moment.toml");
fs.writeFileSync(momentToml, fs.readFileSync(clockToml, "utf8").replace(/^name = "keygate-test-clock"$/m, 'name = "keygate-moment"'));
specs.moment = { protocol: "https", envFile: secretsFile, config: momentToml, vars: { ORIGIN_TEST: originTest.url, ORIGIN_LIVE: originLive.url, EDGE_CACHE_TTL: "0", KV_CACHE_TTL: "30", KEY_FORMAT: JSON.stringify(MOMENT_FORMAT), MAX_KEYS_PER_ACCOUNT: "1000" } };

const instances = {};
let status = 1;
try {
  const started = await Promise.all(
    Object.entries(specs).map(async ([name, spec]) => {
      const port = await freePort();
      const w = await startWrangler({
        ...spec,
        port,
        persistTo: path.join(runDir, `state-${name}`),
        logFile: path.join(runDir, `wrangler-${name}.log`),
      });
      // Registered at once, so that a failure of another instance still stops this one.
      instances[name] = w;
      return [name, w];
    }),
  );

  const env = {
    urls: Object.fromEntries(started.map(([n, w]) => [n, w.url])),
    secrets,
    secretsFile,
    origins: { test: originTest.url, live: originLive.url },
    webhooks: { base: receiver.base },
    github: { url: github.url, fetchesUrl: github.fetchesUrl, docFile: github.docFile, current: github.current, rotated: github.rotated },
    runDir,
    formats: { moment: MOMENT_FORMAT },
  };
  const envJson = path.join(runDir, "env.json");
  fs.writeFileSync(envJson, JSON.stringify(env, null, 1), { mode: 0o600 });

  status = await runSuites("tests/e2e", envJson);
  for (const w of Object.values(instances)) await w.stop();
  const serial = await runSuites("tests/e2e/serial", envJson);
  const scan = process.env.KEYGATE_E2E_ONLY ? 0 : scanForKeys();
  status = status || serial || scan;
} catch (e) {
  status = 1;
  console.error(`e2e harness failed: ${e.message}`);
  for (const f of fs.readdirSync(runDir).filter((f) => f.endsWith(".log"))) {
    console.error(`--- ${f} (tail) ---\n${fs.readFileSync(path.join(runDir, f), "utf8").split("\n").slice(-30).join("\n")}`);
  }
} finally {
  await Promise.all(Object.values(instances).map((w) => w.stop()));
  originTest.server.close();
  github.server.close();
  receiver.server.close();
  await originLive.stop();
}
process.exit(status);

/**
 * Secrets hygiene: search every file the instances wrote (local KV, Durable Object storage,
 * caches) and every captured log for each raw key the suites created. A raw key is only ever
 * shown once, in the response that creates it; it must be found nowhere.
 */
function scanForKeys() {
  const keys = fs.readFileSync(issuedKeys, "utf8").split("\n").filter(Boolean);
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p !== issuedKeys) files.push(p);
    }
  };
  walk(runDir);
  const leaks = [];
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    const leaked = keys.filter((k) => bytes.includes(k)).length;
    if (leaked) leaks.push(`${path.relative(runDir, f)} (${leaked} keys)`);
  }
  const logs = files.filter((f) => f.endsWith(".log"));
  // LOG_REQUESTS is left at its default, "denied": refusals get a structured line, allowed
  // requests (which the origin logs itself) none.
  const text = logs.map((f) => fs.readFileSync(f, "utf8")).join("\n");
  const denied = /^\{"request_id":"req_[^"]+".*"decision":"deny".*"code":"[a-z_]+"/m.test(text);
  const allowed = /^\{"request_id":"req_[^"]+".*"decision":"allow"/m.test(text);
  const structured = denied && !allowed;
  console.log(`\nsecret scan: ${keys.length} raw keys searched in ${files.length} files (state and logs): ${leaks.length ? `LEAKED in ${leaks.join(", ")}` : "none found"}`);
  console.log(`structured request logs (LOG_REQUESTS default "denied"): refusals ${denied ? "logged" : "MISSING"}, allowed requests ${allowed ? "LOGGED" : "not logged"}`);
  if (keys.length < 50) {
    console.log("secret scan: too few keys were recorded for the scan to mean anything");
    return 1;
  }
  return leaks.length || !structured ? 1 : 0;
}

function runSuites(dir, envJson) {
  // KEYGATE_E2E_ONLY=word runs only the suites whose file name contains it (for work on one
  // suite; npm test never sets it).
  const only = process.env.KEYGATE_E2E_ONLY;
  const files = fs
    .readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith(".test.mjs") && (!only || f.includes(only)))
    .sort()
    .map((f) => path.join(dir, f));
  // node --test without files would discover every test file itself.
  if (!files.length) return Promise.resolve(0);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--test", "--test-reporter=spec", ...files], {
      cwd: ROOT,
      stdio: "inherit",
      env: { ...process.env, KEYGATE_E2E: envJson, KEYGATE_ISSUED_KEYS: issuedKeys },
    });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}
