// `node bench/profile.mjs`: a V8 CPU profile of keygate inside workerd under load, through
// wrangler's inspector, summarised as self time per function. Build with function names first
// (CARGO_PROFILE_RELEASE_STRIP=false bash scripts/build.sh) to see Rust names, not wasm indices.
// Options (env): PROFILE_SECONDS (default 8), PROFILE_KEY=invalid to profile rejections,
// PROFILE_WORKER=passthrough to profile the bare pass-through worker (bench/passthrough) instead.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { admin, freePort, startWrangler } from "../scripts/lib/dev.mjs";
import { startFixedOrigin, writeSecrets } from "./lib.mjs";

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "keygate-profile-"));
const { server: origin, url: originUrl } = await startFixedOrigin();
const { secrets, envFile } = writeSecrets(work);
const inspectorPort = await freePort();
const passthrough = process.env.PROFILE_WORKER === "passthrough";
const w = await startWrangler({
  port: await freePort(),
  inspectorPort,
  envFile,
  persistTo: path.join(work, "state"),
  logFile: path.join(work, "wrangler.log"),
  logLevel: "error",
  ...(passthrough
    ? { config: "bench/passthrough/wrangler.toml", vars: { ORIGIN: originUrl } }
    : { vars: { ORIGIN_TEST: originUrl, ORIGIN_LIVE: originUrl } }),
});
try {
  const key = passthrough
    ? { json: { secret: "none" } }
    : await admin(w.url, secrets.ADMIN_TOKEN, "POST", "/accounts/acct_profile/keys", { type: "secret", mode: "live" });
  const secret = process.env.PROFILE_KEY === "invalid" ? `sk_live_${"A".repeat(38)}` : key.json.secret;
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => /keygate/.test(t.title ?? "") || /keygate|passthrough/.test(t.url ?? "")) ?? targets[0];
  // wrangler's inspector proxy only accepts DevTools' own origin.
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { Origin: "https://devtools.devprod.cloudflare.dev" } });
  await new Promise((r, j) => { ws.onopen = r; ws.onerror = j; });
  let id = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)(msg);
  };
  const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  const load = () => promisify(execFile)("wrk", ["-t2", "-c32", `-d${SECONDS}s`, "-H", `authorization: Bearer ${secret}`, `${w.url}/v1/charges`]);
  await load(); // warm-up
  await send("Profiler.start");
  const out = await load();
  const { result } = await send("Profiler.stop");
  ws.close();
  console.log(/Requests\/sec:.*/.exec(out.stdout)?.[0], /Non-2xx.*/.exec(out.stdout)?.[0] ?? "all 2xx");
  const { nodes, samples, timeDeltas } = result.profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  samples.forEach((s, i) => {
    const n = byId.get(s);
    const f = n.callFrame;
    // Anonymous JS (most of wasm-bindgen's glue once bundled) is told apart by its position.
    const where = f.functionName ? "" : `:${f.lineNumber + 1}:${f.columnNumber + 1}`;
    const name = `${f.functionName || "(anonymous)"} ${f.url ? path.basename(f.url) + where : ""}`.trim();
    const dt = timeDeltas[i] ?? 0;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  // Where the isolate's time went, per request: its own wasm, the bundle's JS (wasm-bindgen's
  // glue and workers-rs), the runtime's built-ins (Headers, Request, fetch, …), and the rest.
  const requests = Number(/(\d+) requests in/.exec(out.stdout)?.[1] ?? NaN);
  const cat = { wasm: 0, "bundle JS": 0, "runtime built-ins": 0, "(program)": 0, "(garbage collector)": 0, "(idle)": 0 };
  samples.forEach((s, i) => {
    const f = byId.get(s).callFrame;
    const dt = timeDeltas[i] ?? 0;
    const k = Object.hasOwn(cat, f.functionName) ? f.functionName
      : /\.wasm/.test(f.url) ? "wasm" : f.url ? "bundle JS" : "runtime built-ins";
    cat[k] += dt;
  });
  for (const [k, t] of Object.entries(cat)) console.log(`${(t / requests).toFixed(1).padStart(8)} µs/request  ${k}`);
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.PROFILE_TOP ?? 40));
  for (const [name, t] of rows) console.log(`${((100 * t) / total).toFixed(1).padStart(5)} %  ${name.slice(0, 150)}`);
} finally {
  await w.stop();
  origin.close();
}
