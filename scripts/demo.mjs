// The local demo behind `npm start`: two echo origins (test and live), keygate under
// `wrangler dev --local-protocol https`, a demo account's keys, and ready-to-paste curls.
// Ports: KEYGATE_PORT (8787), ORIGIN_TEST_PORT (8788), ORIGIN_LIVE_PORT (8789).
import fs from "node:fs";
import path from "node:path";
import { startEchoOrigin } from "./echo-origin.mjs";
import { ROOT, admin, readVars, startWrangler } from "./lib/dev.mjs";

const port = Number(process.env.KEYGATE_PORT ?? 8787);
const testPort = Number(process.env.ORIGIN_TEST_PORT ?? 8788);
const livePort = Number(process.env.ORIGIN_LIVE_PORT ?? 8789);

// The demo origins verify keygate's signature on every request, as a real origin must.
const vars = readVars(path.join(ROOT, ".dev.vars"));
const signing = { secrets: [vars.ORIGIN_SIGNING_SECRET, vars.ORIGIN_SIGNING_SECRET_PREVIOUS].filter(Boolean) };
const originTest = await startEchoOrigin("test", testPort, "127.0.0.1", signing);
const originLive = await startEchoOrigin("live", livePort, "127.0.0.1", signing);
const logFile = path.join(ROOT, ".wrangler", "keygate-dev.log");
fs.mkdirSync(path.dirname(logFile), { recursive: true });
console.log(`Starting keygate on https://127.0.0.1:${port} (wrangler dev log: ${path.relative(ROOT, logFile)}) …`);
const worker = await startWrangler({
  port,
  vars: { ORIGIN_TEST: originTest.url, ORIGIN_LIVE: originLive.url },
  logFile,
});
const shutdown = () => {
  worker.stop();
  process.exit(0);
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

const { ADMIN_TOKEN } = vars;
const account = "acct_demo";
const keys = {};
for (const [type, mode] of [["secret", "test"], ["publishable", "test"], ["restricted", "test"], ["secret", "live"]]) {
  const res = await admin(worker.url, ADMIN_TOKEN, "POST", `/accounts/${account}/keys`, { type, mode, name: `demo ${type} ${mode}` });
  if (res.status !== 201) {
    console.error(`creating a demo key failed: ${res.status} ${res.text}`);
    shutdown();
  }
  keys[`${type}_${mode}`] = res.json;
}

const u = worker.url;
const sk = keys.secret_test.secret;
console.log(`
keygate is running at ${u}  (self-signed certificate: curl needs -k)
  test origin (echo): ${originTest.url}
  live origin (echo): ${originLive.url}

Demo keys for ${account} (shown once; only their digests are stored):
  secret      test  ${keys.secret_test.secret}
  publishable test  ${keys.publishable_test.secret}
  restricted  test  ${keys.restricted_test.secret}
  secret      live  ${keys.secret_live.secret}

Try:
  # authenticated: the echo origin shows the identity headers it received, and no Authorization
  curl -k ${u}/v1/charges -H "Authorization: Bearer ${sk}"
  # HTTP Basic, key as username, empty password
  curl -k ${u}/v1/charges -u ${sk}:
  # a live key goes to the live origin only
  curl -k ${u}/v1/charges -H "Authorization: Bearer ${keys.secret_live.secret}"
  # no key → 401 api_key_missing
  curl -k ${u}/v1/charges
  # a typo → 401 api_key_invalid, decided without a store read
  curl -k ${u}/v1/charges -H "Authorization: Bearer ${sk.slice(0, -1)}x"

Admin API (ADMIN_TOKEN is in .dev.vars):
  curl -k ${u}/_keygate/v1/accounts/${account}/keys -H "Authorization: Bearer ${ADMIN_TOKEN}"
  curl -k ${u}/_keygate/v1/accounts/${account}/keys -H "Authorization: Bearer ${ADMIN_TOKEN}" \\
       -H "Content-Type: application/json" -d '{"type":"secret","mode":"test","name":"my key"}'
  curl -k -X DELETE ${u}/_keygate/v1/accounts/${account}/keys/${keys.secret_test.id} -H "Authorization: Bearer ${ADMIN_TOKEN}"

Press Ctrl-C to stop.`);
