// Measures what a strict key costs: the same request with a normal key (KV only) and with a
// strict key (KV, then the Durable Object), sequentially through local workerd, p50 and p95.
//   node bench/strict-latency.mjs [requests per key, default 300]
// Local numbers only show the relative cost of the extra Durable Object round trip; in
// production it also depends on where the object lives relative to the edge location.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startEchoOrigin } from "../scripts/echo-origin.mjs";
import { admin, request, startWrangler, freePort } from "../scripts/lib/dev.mjs";

const n = Number(process.argv[2] ?? 300);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keygate-bench-"));
const token = `adm_${crypto.randomBytes(24).toString("hex")}`;
fs.writeFileSync(path.join(dir, "secrets.env"), `KEY_PEPPER="${crypto.randomBytes(32).toString("hex")}"\nADMIN_TOKEN="${token}"\n`);
const origin = await startEchoOrigin("test");
const w = await startWrangler({
  port: await freePort(),
  envFile: path.join(dir, "secrets.env"),
  persistTo: path.join(dir, "state"),
  logFile: path.join(dir, "wrangler.log"),
  logLevel: "error",
  vars: { ORIGIN_TEST: origin.url, ORIGIN_LIVE: origin.url },
});
try {
  const make = async (strict) =>
    (await admin(w.url, token, "POST", "/accounts/acct_bench/keys", { type: "secret", mode: "test", strict })).json.secret;
  const keys = { kv: await make(false), do: await make(true) };
  const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
  const times = { kv: [], do: [] };
  for (let i = 0; i < 20; i++) for (const k of Object.values(keys)) await request(`${w.url}/v1/x`, { headers: { authorization: `Bearer ${k}` } });
  for (let i = 0; i < n; i++) {
    for (const [name, k] of Object.entries(keys)) {
      const t = process.hrtime.bigint();
      const res = await request(`${w.url}/v1/x`, { headers: { authorization: `Bearer ${k}` } });
      times[name].push(Number(process.hrtime.bigint() - t) / 1e6);
      if (res.status !== 200) throw new Error(`${name}: ${res.status} ${res.text}`);
    }
  }
  const row = (name) => `${name}: p50 ${pct(times[name], 50).toFixed(2)} ms, p95 ${pct(times[name], 95).toFixed(2)} ms`;
  console.log(`${n} sequential requests per key, interleaved, local workerd, ${os.cpus().length} cores`);
  console.log(row("kv"));
  console.log(row("do"));
  console.log(`strict/normal p50 ratio: ${(pct(times.do, 50) / pct(times.kv, 50)).toFixed(2)}×, added p50: ${(pct(times.do, 50) - pct(times.kv, 50)).toFixed(2)} ms`);
} finally {
  w.stop();
  origin.server.close();
}
process.exit(0);
