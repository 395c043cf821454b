// `npm run bench`: measures keygate against its floor and its alternatives in one run, and
// writes bench/RESULTS.md (regenerated, never edited by hand).
//   1. the verify path natively (criterion), against a bare HMAC-SHA256 of one key;
//   2. through real workerd (wrangler dev, HTTPS, loopback) under wrk: (a) a bare pass-through
//      worker, (b) keygate with a valid key, (c) keygate rejecting an invalid key, each request
//      from another client address, (d) an equivalent JavaScript worker doing the same HMAC and
//      KV check with WebCrypto, (e) the pass-through of (a) written in Rust with workers-rs (what
//      any Rust worker pays), (f) a flood of invalid keys from one address, throttled;
//   3. size of the deployed wasm and of the whole upload, and wasm compile + instantiate time,
//      for the lean edge worker that serves every request (wrangler.edge.toml) and for the full
//      worker beside it (wrangler.toml);
//   4. what each size choice bought: the edge bundle rebuilt with each profile choice undone.
// Keygate runs under load as in production: the lean edge serves the requests.
// Options (env): BENCH_DURATION (seconds per load run, default 10), BENCH_CONNECTIONS (32),
// BENCH_ROUNDS (rounds of the load runs, default 6: an even number, see `inRound`),
// BENCH_ONLY (comma-separated subset of native,size,load,matrix, for experiments: RESULTS.md is
// then printed but not written).
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { ROOT, admin, freePort, splitConfigs, startWrangler } from "../scripts/lib/dev.mjs";
import { PERF_CATEGORIES, busySeconds, cpuSeconds, cpuSecondsOf, perfBreakdown, processes, startDirect, startFixedOrigin, writeSecrets } from "./lib.mjs";

/**
 * The workers' configs without `[assets]` (the key portal's script and style). With assets, every
 * request first passes a router that looks the path up among them: in production that is the
 * platform's, outside the Worker and its CPU; locally wrangler and Miniflare emulate it with two
 * JavaScript workers in the same workerd, whose CPU this bench would charge to keygate (run 11 in
 * bench/HISTORY.md measured it: b/a 1.72 through `wrangler dev`, 2.61 directly). The bench
 * measures keygate's API path, so it leaves the emulation out.
 */
function withoutAssets(files) {
  for (const f of files) fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace(/^\[assets\]\ndirectory = .*\n/m, ""));
  return files;
}

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const work = fs.mkdtempSync(path.join(os.tmpdir(), "keygate-bench-"));
// Node 22 and wrangler from node_modules, whoever calls this.
const BIN = path.join(ROOT, "node_modules", ".bin");
const ENV = { ...process.env, PATH: `${BIN}:${process.env.HOME}/.cargo/bin:${process.env.PATH}`, WRANGLER_SEND_METRICS: "false" };
const sh = (cmd, args, opts = {}) =>
  execFileSync(cmd, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20, env: ENV, ...opts });
const log = (...a) => console.log("[bench]", ...a);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;
const want = (part) => !ONLY || ONLY.has(part);

// ---------------------------------------------------------------------------------------------
// 1. Native: criterion estimates (median, ns).
const NATIVE = {
  floor: "floor/hmac_sha256",
  verify: "verify/full_path",
  decision: "verify/decision_only",
  reject: "reject/malformed_key",
  credential: "part/credential_and_key",
  digest: "part/digest",
  parse: "part/record_parse",
  signature: "part/identity_and_signature",
  block: "part/sha256_block",
};
let native = Object.fromEntries(Object.keys(NATIVE).map((k) => [k, NaN]));
if (want("native")) {
  log("native verify path (cargo bench) …");
  sh("cargo", ["bench", "-p", "keygate-core", "--bench", "verify", "--", "--noplot"], { stdio: "inherit" });
  const estimate = (id) => {
    const f = path.join(ROOT, "target", "criterion", id.replace("/", "_"), "new", "estimates.json");
    return JSON.parse(fs.readFileSync(f, "utf8")).median.point_estimate;
  };
  native = Object.fromEntries(Object.entries(NATIVE).map(([k, id]) => [k, estimate(id)]));
}

// ---------------------------------------------------------------------------------------------
// 3. Size and start-up (before the load runs, on the freshly built bundle).
const wasmPath = path.join(ROOT, "build-edge", "index_bg.wasm");
const fullWasmPath = path.join(ROOT, "build", "index_bg.wasm");
// Of an even count, the mean of the two middle values (rounds are even by default, `inRound`).
const median = (xs) => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
async function startupOf(wasm, runs) {
  const compileMs = [];
  const instantiateMs = [];
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    const module = await WebAssembly.compile(wasm);
    compileMs.push(performance.now() - t);
    // Every import is stubbed: instantiation links and initialises memory but runs no Rust code.
    const imports = {};
    for (const imp of WebAssembly.Module.imports(module)) {
      imports[imp.module] ??= {};
      if (imp.kind === "function") imports[imp.module][imp.name] = () => {};
      // wasm-bindgen's JS exception tag (exnref).
      if (imp.kind === "tag") imports[imp.module][imp.name] = new WebAssembly.Tag({ parameters: ["externref"] });
    }
    t = performance.now();
    await WebAssembly.instantiate(module, imports);
    instantiateMs.push(performance.now() - t);
  }
  return { compile: median(compileMs), instantiate: median(instantiateMs) };
}
const sizeOf = (wasm) => ({ raw: wasm.length, gzip: zlib.gzipSync(wasm, { level: 9 }).length });

// ---------------------------------------------------------------------------------------------
// 4. What each choice bought: rebuild with one choice undone at a time (cargo's
// CARGO_PROFILE_RELEASE_* variables override Cargo.toml), then wasm-opt on the shipped bundle.
// The shipped bundle is rebuilt last, so that everything after measures it.
const matrix = [];
if (want("matrix")) {
  const variants = [
    ["opt-level \"s\", function names kept (session 1, less the IDNA tables)", { CARGO_PROFILE_RELEASE_OPT_LEVEL: "s", CARGO_PROFILE_RELEASE_STRIP: "false" }],
    ["opt-level \"s\", stripped", { CARGO_PROFILE_RELEASE_OPT_LEVEL: "s" }],
    ["opt-level 3, stripped (speed everywhere)", { CARGO_PROFILE_RELEASE_OPT_LEVEL: "3" }],
    ["**shipped**: opt-level \"z\", stripped; sha2 and keygate-verify at 3", {}],
    ["the same with the Durable Object and the management API (the full worker, wrangler.toml)", {}, "full"],
  ];
  for (const [label, env, which = "edge"] of variants) {
    log(`size matrix: ${label} …`);
    sh("bash", ["scripts/build.sh", which], { env: { ...ENV, ...env }, stdio: ["ignore", "ignore", "inherit"] });
    const wasm = fs.readFileSync(which === "edge" ? wasmPath : fullWasmPath);
    matrix.push({ label, ...sizeOf(wasm), ...(await startupOf(wasm, 5)) });
  }
  const wasmOpt = path.join(BIN, "wasm-opt");
  // The features workerd supports, as worker-build passes them.
  const features = ["mutable-globals", "sign-ext", "nontrapping-float-to-int", "bulk-memory", "multivalue", "reference-types", "exception-handling"].map((f) => `--enable-${f}`);
  const optimised = path.join(work, "opt.wasm");
  const t = performance.now();
  sh(wasmOpt, ["-Oz", ...features, wasmPath, "-o", optimised]);
  const secs = ((performance.now() - t) / 1000).toFixed(0);
  const wasm = fs.readFileSync(optimised);
  matrix.push({ label: `the shipped edge, then wasm-opt -Oz (binaryen 132 from npm, ${secs} s; not shipped)`, ...sizeOf(wasm), ...(await startupOf(wasm, 5)) });
}

const NO_SIZE = { raw: NaN, gzip: NaN, upload: null, compile: NaN, instantiate: NaN };
let size = { edge: NO_SIZE, full: NO_SIZE };
if (want("size")) {
  log("size and start-up …");
  const measure = async (file, config) => {
    const dry = spawnSync("wrangler", ["deploy", "--dry-run", "--config", config, "--outdir", path.join(work, "dist")], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...ENV, KEYGATE_SKIP_BUILD: "1", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    });
    const wasm = fs.readFileSync(file);
    const upload = /Total Upload: ([\d.]+ \w+) \/ gzip: ([\d.]+ \w+)/.exec(dry.stdout + dry.stderr);
    return { ...sizeOf(wasm), upload, ...(await startupOf(wasm, 20)) };
  };
  size = { edge: await measure(wasmPath, "wrangler.edge.toml"), full: await measure(fullWasmPath, "wrangler.toml") };
}

// ---------------------------------------------------------------------------------------------
// 2. Through workerd under load.
const { server: origin, url: originUrl } = await startFixedOrigin();
const { secrets, envFile } = writeSecrets(work);

// Asynchronous on purpose: the origin is served by this very process's event loop.
const execFileAsync = promisify(execFile);
// For (c): every request from another client address, so that no address reaches the
// throttling threshold and each refusal is a first one (counted towards throttling in the
// isolate, logged within the per-code budget). wrk runs one Lua state per thread, and every run
// starts again: each run starts at a random address (its argument), and each thread 2^24 further.
const ROTATE_ADDRESSES = path.join(work, "rotate.lua");
fs.writeFileSync(
  ROTATE_ADDRESSES,
  `local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  base = tonumber(args[1]) + id * 16777216
  n = 0
end
request = function()
  n = n + 1
  local v = base + n
  wrk.headers["cf-connecting-ip"] = string.format("%d.%d.%d.%d", math.floor(v / 16777216) % 256, math.floor(v / 65536) % 256, math.floor(v / 256) % 256, v % 256)
  return wrk.format(nil)
end
`,
);

async function wrk(url, headers, script) {
  const args = ["-t2", `-c${CONNECTIONS}`, `-d${DURATION}s`, "--latency"];
  if (script) args.push("-s", script);
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  // Addresses from 11.0.0.0 to 200.0.0.0: each run's own.
  const scriptArgs = script ? ["--", String(crypto.randomInt(11 * 2 ** 24, 200 * 2 ** 24))] : [];
  const { stdout: out } = await execFileAsync("wrk", [...args, url, ...scriptArgs], { env: ENV, maxBuffer: 16 << 20 });
  if (/Socket errors/.test(out)) log(`wrk reported socket errors for ${url}: ${/Socket errors:.*/.exec(out)[0]}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const ms = (label) => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  return { rps, p50: ms("50%"), p99: ms("99%"), non2xx, requests };
}

// One wrangler dev per worker, all started before any load and kept running: the measured runs
// then alternate between them, round after round, so that a change in the machine's load during
// the benchmark (other tenants of the VM) falls on every variant alike.
async function instance(name, opts, before) {
  if (before) before(path.join(work, `state-${name}`));
  return startWrangler({
    port: await freePort(),
    persistTo: path.join(work, `state-${name}`),
    logFile: path.join(work, `wrangler-${name}.log`),
    logLevel: "error",
    ...opts,
  });
}

// Before a measured run, wait (at most 5 s) until the machine has gone quiet: under a tenth of
// one core busy over half a second. A run that starts while the previous variant's processes
// are still winding down (closing 32 connections, collecting garbage) shares the cores with
// them; in the direct setup that penalised whichever variant came after another workerd's run
// (run 14: the throttled flood (f), after (e), measured above (c), which comes after (b) in its
// own workerd; with (c) and (f) swapped, three rounds of 0.47 against 0.60 the other way).
async function settle() {
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    const b0 = busySeconds();
    await new Promise((r) => setTimeout(r, 500));
    if (busySeconds() - b0 < 0.05) return;
  }
}

// The order of round r (from 1): the targets' own order in odd rounds, the other way round in
// even ones. A drift of the machine's load over a pair of rounds then falls on every variant
// alike, and so does whatever a run leaves behind for the next one: each variant comes after
// the same neighbours as often from either side. (c) and (f), compared with each other, are
// measured twice in each round, last, after keygate's other variants in the same worker: c, f,
// f, c in odd rounds and c, f, f, c first in even ones, so that each is measured as often early
// as late and after the other. The two differ by about 15 µs of a 300–1700 µs request (bench/
// HISTORY.md), less than one run's noise: two runs each halve its weight in their comparison.
const TWICE = ["c", "f"];
const inRound = (targets, r) => {
  const pair = TWICE.filter((n) => n in targets).map((n) => [n, targets[n]]);
  const order = [...Object.entries(targets).filter(([n]) => !TWICE.includes(n)), ...pair, ...[...pair].reverse()];
  return r % 2 ? order : order.reverse();
};

// One round's figure for a variant from its runs in that round (two for (c) and (f)): the mean
// of each figure, and the requests all told.
const ofRound = (runs) =>
  Object.fromEntries(
    Object.keys(runs[0]).map((f) => [f, runs.reduce((n, x) => n + x[f], 0) / (f === "requests" ? 1 : runs.length)]),
  );

// Round r of `targets` under `label`: each measured run, and each variant's figure pushed to `into`.
async function round(label, targets, r, into) {
  const runs = {};
  for (const [name, t] of inRound(targets, r)) {
    log(`${label}: round ${r}/${ROUNDS} (${name}) …`);
    (runs[name] ??= []).push(await measured(t));
  }
  for (const [name, rs] of Object.entries(runs)) into[name].push(ofRound(rs));
}

// One measured run, with the isolate's CPU time per request: workerd's user + system time.
async function measured({ w, url, headers, script }) {
  await settle();
  const cpuNow = () => (w.pids ? cpuSecondsOf(w.pids) : cpuSeconds(w.child.pid, "workerd"));
  const cpu0 = cpuNow();
  const r = await wrk(url, headers, script);
  const cpuUs = ((cpuNow() - cpu0) / r.requests) * 1e6;
  return { ...r, cpuUs };
}

const NO_RUN = { rps: NaN, p50: NaN, p99: NaN, non2xx: NaN, cpuUs: NaN };
const results = { a: NO_RUN, b: NO_RUN, c: NO_RUN, d: NO_RUN, e: NO_RUN, f: NO_RUN };
const rounds = { a: [], b: [], c: [], d: [], e: [], f: [] };
// The same variants with the bundles in workerd directly (Miniflare's API, no wrangler dev).
// (g) and (h), keys with usage controls, run only here: they lease from the authority, which
// runs beside the edge in the same workerd (under wrangler dev the edge runs alone).
const direct = { a: NO_RUN, b: NO_RUN, c: NO_RUN, d: NO_RUN, e: NO_RUN, f: NO_RUN, g: NO_RUN, h: NO_RUN };
const directRounds = { a: [], b: [], c: [], d: [], e: [], f: [], g: [], h: [] };
// For (h): credits spent over its measured runs, and requests sent; and, from one more run of
// (h) watched from outside, the lease calls seen and the requests sent meanwhile.
const leases = { consumed: NaN, requests: NaN, seen: NaN, watchedRequests: NaN, polls: NaN };
// Where each variant's workerd CPU goes, from one more run under `perf record` (not a round:
// sampling slows it). Skipped where perf is missing or not permitted.
const perfRuns = {};
let perfSkipped = null;
const perfUsable = () => {
  const r = spawnSync("perf", ["record", "-q", "-o", path.join(work, "perf-probe.data"), "--", "true"], { encoding: "utf8" });
  return r.status === 0 ? null : (r.error?.code === "ENOENT" ? "perf is not installed" : `perf record failed: ${(r.stderr || "").trim().split("\n")[0]}`);
};
async function profiled({ w, url, headers, script }, name) {
  const pids = processes(w.child.pid, "workerd").map((p) => p.pid);
  const file = path.join(work, `perf-${name}.data`);
  // Settled at once either way, so that a failure is reported after the run, not left unhandled.
  const recording = execFileAsync("perf", ["record", "-q", "-F", "999", "-p", pids.join(","), "-o", file, "--", "sleep", String(Math.max(1, DURATION - 1))])
    .then(() => null, (e) => e);
  const run = await measured({ w, url, headers, script });
  const failed = await recording;
  if (failed) throw failed;
  return { ...run, shares: perfBreakdown(file) };
}
if (want("load")) {
const started = [];
try {
log("load: building the Rust pass-through and starting the workers …");
sh("bash", ["scripts/build.sh", "rust-passthrough"], { stdio: ["ignore", "ignore", "inherit"] });
const a = await instance("passthrough", { config: "bench/passthrough/wrangler.toml", vars: { ORIGIN: originUrl } });
started.push(a);
const e = await instance("rust-passthrough", { config: "bench/rust-passthrough/wrangler.toml", vars: { ORIGIN: originUrl } });
started.push(e);
let validKey;
// keygate as deployed: requests reach the lean edge, which reads KV itself and never calls the
// full worker for a non-strict key. The key is created first through the two-worker layout (the
// full worker writes KV); then the same state is served by the edge alone, so that keygate runs
// under load as a single worker, as (a) and (d) do. (Several workers in one wrangler dev need
// --local-upstream, a URL rewrite on every request that neither (a) nor (d) pays.)

const vars = { ORIGIN_TEST: originUrl, ORIGIN_LIVE: originUrl };
const [edgeToml, fullToml] = withoutAssets(splitConfigs(path.join(work, "split"), { suffix: "bench", fullVars: { ...secrets, ...vars } }));
const keygateState = path.join(work, "state-keygate");
{
  const w = await startWrangler({
    port: await freePort(),
    persistTo: keygateState,
    logFile: path.join(work, "wrangler-keygate-setup.log"),
    logLevel: "error",
    envFile,
    vars,
    config: [edgeToml, fullToml],
  });
  try {
    const k = await admin(w.url, secrets.ADMIN_TOKEN, "POST", "/accounts/acct_bench/keys", { type: "secret", mode: "live" });
    if (k.status !== 201) throw new Error(`creating the bench key: ${k.status} ${k.text}`);
    validKey = k.json;
  } finally {
    await w.stop();
  }
}
const k = await instance("keygate", { envFile, vars, config: [edgeToml], persistTo: keygateState });
started.push(k);
const d = await instance("js-keygate", { config: "bench/js-keygate/wrangler.toml", envFile, vars: { ORIGIN: originUrl } }, (state) => {
  // Seed its KV with the same digest and record keygate stored, before it starts.
  const digest = "v1:" + crypto.createHmac("sha256", secrets.KEY_PEPPER).update(validKey.secret).digest("hex");
  const record = JSON.stringify({ v: 1, id: validKey.id, account: validKey.account, mode: "live", type: "secret", status: "active" });
  sh("wrangler", ["kv", "key", "put", digest, record, "--binding", "KEYS", "--local", "--persist-to", state, "--config", "bench/js-keygate/wrangler.toml"]);
});
started.push(d);
// Each variant as its own client address: keygate throttles an address after failed attempts,
// and (b) shares its worker with (c), whose every request is one. Listed in the order of an odd
// round (`inRound`): the other workers first, then keygate's, (c) and (f) side by side (twice).
const targets = {
  a: { w: a, url: `${a.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.1" } },
  d: { w: d, url: `${d.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.4", authorization: `Bearer ${validKey.secret}` } },
  e: { w: e, url: `${e.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.5" } },
  b: { w: k, url: `${k.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.2", authorization: `Bearer ${validKey.secret}` } },
  // Well-formed prefix, wrong checksum: refused before any KV read; each request from another
  // address, so that every one is a refusal in full (counted towards throttling, logged).
  c: { w: k, url: `${k.url}/v1/charges`, headers: { authorization: `Bearer sk_live_${"A".repeat(38)}` }, script: ROTATE_ADDRESSES },
  // A flood of bad keys from one address: past the threshold, the throttled path.
  f: { w: k, url: `${k.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.6", authorization: `Bearer sk_live_${"A".repeat(38)}` } },
};
for (const [name, t] of Object.entries(targets)) {
  log(`load: warm-up (${name}) …`);
  await wrk(t.url, t.headers, t.script); // discarded
}
for (let r = 1; r <= ROUNDS; r++) await round("load", targets, r, rounds);
perfSkipped = perfUsable();
if (!perfSkipped) {
  try {
    for (const [name, t] of Object.entries(targets)) {
      log(`load: profiled run (${name}) …`);
      perfRuns[name] = await profiled(t, name);
    }
  } catch (e) {
    // perf could record its own child but not attach to workerd, or could not read its record.
    perfSkipped = `perf failed on a running workerd: ${(e.stderr || String(e.message ?? e)).trim().split("\n")[0]}`;
  }
}
for (const name of Object.keys(results)) {
  const runs = rounds[name];
  results[name] = Object.fromEntries(Object.keys(NO_RUN).map((f) => [f, median(runs.map((x) => x[f]))]));
}
} finally {
  for (const w of started) await w.stop();
}

// The same load with the bundles in workerd directly: no wrangler proxy or dev-time middleware
// on the path, so each variant's own work is a larger share of what is measured, and the noise
// is lower. keygate is the lean edge with the full worker beside it in the same workerd (as
// deployed: the edge reads KV itself, the full worker only served the key's creation).
log("direct: starting the workers in workerd through Miniflare's API …");
const directStarted = [];
try {
  const logFile = path.join(work, "direct.log");
  const directVars = { ORIGIN_TEST: originUrl, ORIGIN_LIVE: originUrl };
  const [edgeToml, fullToml] = withoutAssets(splitConfigs(path.join(work, "split-direct"), { suffix: "direct", fullVars: {} }));
  const a = await startDirect([{ toml: "bench/passthrough/wrangler.toml", name: "passthrough", bindings: { ORIGIN: originUrl } }], { logFile });
  directStarted.push(a);
  const e = await startDirect([{ toml: "bench/rust-passthrough/wrangler.toml", name: "rust-passthrough", bindings: { ORIGIN: originUrl } }], { logFile });
  directStarted.push(e);
  const k = await startDirect(
    [
      { toml: edgeToml, name: "keygate-direct-edge", bindings: { ...secrets, ...directVars } },
      { toml: fullToml, name: "keygate-direct", bindings: { ...secrets, ...directVars } },
    ],
    { logFile },
  );
  directStarted.push(k);
  const created = await admin(k.url, secrets.ADMIN_TOKEN, "POST", "/accounts/acct_bench/keys", { type: "secret", mode: "live" });
  if (created.status !== 201) throw new Error(`creating the direct bench key: ${created.status} ${created.text}`);
  const key = created.json;
  // Controls that never refuse under this load: what is measured is their cost.
  const controlled = async (settings) => {
    const res = await admin(k.url, secrets.ADMIN_TOKEN, "POST", "/accounts/acct_bench/keys", { type: "secret", mode: "live", ...settings });
    if (res.status !== 201) throw new Error(`creating a bench key with ${JSON.stringify(settings)}: ${res.status} ${res.text}`);
    return res.json;
  };
  const rateKey = await controlled({ rate_limit: { limit: 1_000_000_000, window: 60 } });
  const creditKey = await controlled({ credits: { remaining: 1_000_000_000_000, refill: null } });
  const d = await startDirect([{ toml: "bench/js-keygate/wrangler.toml", name: "js-keygate", bindings: { ...secrets, ORIGIN: originUrl } }], { logFile });
  directStarted.push(d);
  const digest = "v1:" + crypto.createHmac("sha256", secrets.KEY_PEPPER).update(key.secret).digest("hex");
  await (await d.mf.getKVNamespace("KEYS", "js-keygate")).put(
    digest,
    JSON.stringify({ v: 1, id: key.id, account: key.account, mode: "live", type: "secret", status: "active" }),
  );
  const bad = `Bearer sk_live_${"A".repeat(38)}`;
  // In the order of an odd round, as above: (g) and (h) with keygate's others.
  const targets = {
    a: { w: a, url: `${a.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.1" } },
    d: { w: d, url: `${d.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.4", authorization: `Bearer ${key.secret}` } },
    e: { w: e, url: `${e.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.5" } },
    b: { w: k, url: `${k.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.2", authorization: `Bearer ${key.secret}` } },
    g: { w: k, url: `${k.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.7", authorization: `Bearer ${rateKey.secret}` } },
    h: { w: k, url: `${k.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.8", authorization: `Bearer ${creditKey.secret}` } },
    c: { w: k, url: `${k.url}/v1/charges`, headers: { authorization: bad }, script: ROTATE_ADDRESSES },
    f: { w: k, url: `${k.url}/v1/charges`, headers: { "cf-connecting-ip": "192.0.2.6", authorization: bad } },
  };
  const creditsLeft = async () =>
    (await admin(k.url, secrets.ADMIN_TOKEN, "GET", `/accounts/acct_bench/keys/${creditKey.id}`)).json.credits.remaining;
  for (const [name, t] of Object.entries(targets)) {
    log(`direct: warm-up (${name}) …`);
    const r = await wrk(t.url, t.headers, t.script);
    if (["a", "b", "d", "e", "g", "h"].includes(name) && r.non2xx) throw new Error(`direct (${name}) answered ${r.non2xx} non-2xx`);
  }
  const before = await creditsLeft();
  for (let r = 1; r <= ROUNDS; r++) await round("direct", targets, r, directRounds);
  leases.consumed = before - (await creditsLeft());
  leases.requests = directRounds.h.reduce((n, x) => n + x.requests, 0);
  // The lease calls themselves, counted from outside in one more run of (h), not in the table:
  // every grant takes its block off the authority's `remaining` at once, so polling it shows
  // each lease as a drop (two grants between polls would show as one, so this can only
  // undercount when leases come faster than the polls; blocks of 100 at (h)'s rate come every
  // ~80 ms, a poll every few tens of ms: 231 polls in run 15's 10 s).
  {
    log("direct: counting (h)'s lease calls …");
    let watching = true;
    let drops = 0;
    let polls = 0;
    const watcher = (async () => {
      let last = await creditsLeft();
      while (watching) {
        const now = await creditsLeft();
        polls++;
        if (now < last) drops++;
        last = now;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const run = await wrk(targets.h.url, targets.h.headers);
    watching = false;
    await watcher;
    Object.assign(leases, { seen: drops, watchedRequests: run.requests, polls });
  }
  for (const name of Object.keys(direct)) {
    const runs = directRounds[name];
    direct[name] = Object.fromEntries(Object.keys(NO_RUN).map((f) => [f, median(runs.map((x) => x[f]))]));
  }
} finally {
  for (const w of directStarted) await w.stop();
}
}
origin.close();

// ---------------------------------------------------------------------------------------------
// RESULTS.md
const commit = sh("git", ["rev-parse", "--short", "HEAD"]).trim();
const dirty = sh("git", ["status", "--porcelain"]).trim() ? " (with uncommitted changes)" : "";
const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? os.cpus()[0]?.model;
const f1 = (n) => n.toFixed(1);
const f2 = (n) => n.toFixed(2);
const ratio = (x, y) => (x / y).toFixed(2);
// The ratio of two variants within each round, and its median over the rounds.
// `digits`: 3 for the refusals' ratios, compared with each other within a few hundredths.
const roundRatio = (x, y, field, from = rounds, digits = 2) => {
  const each = from[x].map((r, i) => r[field] / from[y][i][field]);
  return each.length ? `**${median(each).toFixed(digits)}** | ${each.map((v) => v.toFixed(digits)).join(", ")}` : "**NaN** | not run";
};
// One more run per variant under \`perf record\`: each category's share of workerd's samples, times
// that run's CPU per request.
function perfSection() {
  if (perfSkipped || !Object.keys(perfRuns).length) return `Not measured: ${perfSkipped ?? "the load benchmark did not run"}.`;
  const names = Object.keys(perfRuns).sort();
  const cell = (n, k) => `${Math.round(perfRuns[n].shares[k] * perfRuns[n].cpuUs)} (${(perfRuns[n].shares[k] * 100).toFixed(1)} %)`;
  return `One more run of each variant, after the rounds, with \`perf record\` sampling workerd at 999 Hz
(sampling slows it, so these runs are not in the table above). Each cell is µs of workerd CPU per
request (that run's /proc figure times the category's share of the samples) and the share.

| where | ${names.map((n) => `(${n})`).join(" | ")} |
|---|${names.map(() => "---|").join("")}
${PERF_CATEGORIES.map(([k, label]) => `| ${label} | ${names.map((n) => cell(n, k)).join(" | ")} |`).join("\n")}
| **all**, µs per request | ${names.map((n) => `**${Math.round(perfRuns[n].cpuUs)}**`).join(" | ")} |

keygate's Rust runs as wasm, in the first row, with all the JavaScript that V8 has optimised
(the bundle's glue and wrangler's own dev-time wrappers, which every variant has).`;
}
const VARIANTS = {
  a: "(a) bare pass-through worker (floor)",
  b: "(b) keygate, valid key, KV hot",
  c: "(c) keygate, invalid key (rejected), each request from another address",
  d: "(d) equivalent JS worker (WebCrypto HMAC + KV)",
  e: "(e) bare pass-through worker in Rust (workers-rs, built like keygate)",
  f: "(f) keygate, a flood of invalid keys from one address (throttled)",
  g: "(g) keygate, valid key with a rate limit (never reached)",
  h: "(h) keygate, valid key with credits (never exhausted)",
};
// One table row per variant, from the medians in `from` (the wrangler dev runs or the direct ones).
const variantRows = (from) =>
  Object.entries(VARIANTS)
    .filter(([k]) => from[k])
    .map(([k, label]) => `| ${label} | ${Math.round(from[k].rps)} | ${f2(from[k].p50)} | ${f2(from[k].p99)} | ${Math.round(from[k].non2xx)} | ${Math.round(from[k].cpuUs)} |`)
    .join("\n");
const md = `# keygate benchmark results

Generated by \`npm run bench\` (bench/run.mjs). Do not edit by hand.

- Date: ${new Date().toISOString()}
- Commit: ${commit}${dirty}
- Machine: ${os.cpus().length} cores, ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; shared and noisy, so compare ratios measured in one run
- Toolchain: ${sh("rustc", ["--version"]).trim()}; wrangler ${sh("wrangler", ["--version"]).trim().split("\n").pop()}

## 1. Verify path, natively (criterion, median)

| benchmark | time | ÷ bare HMAC |
|---|---|---|
| floor: bare HMAC-SHA256 of one key (key schedule included) | ${f1(native.floor)} ns | 1.00 |
| **verify**: credential, format + checksum, digest, in-memory lookup, record, policy, access, identity + \`Keygate-Signature\` | ${f1(native.verify)} ns | **${ratio(native.verify, native.floor)}** |
| the same decision without the identity and its signature | ${f1(native.decision)} ns | **${ratio(native.decision, native.floor)}** |
| **reject**: malformed key (wrong checksum), before any digest or read | ${f1(native.reject)} ns | **${ratio(native.reject, native.floor)}** |

Where the time goes (each phase alone):

| phase | time | ÷ bare HMAC |
|---|---|---|
| credential parsing, key format and checksum | ${f1(native.credential)} ns | ${ratio(native.credential, native.floor)} |
| digest (pepper's HMAC state precomputed once per isolate) | ${f1(native.digest)} ns | ${ratio(native.digest, native.floor)} |
| identity and \`Keygate-Signature\` (an HMAC over a ~290-byte v2 message: 6 SHA-256 blocks) | ${f1(native.signature)} ns | ${ratio(native.signature, native.floor)} |
| one SHA-256 compression (a 55-byte message) | ${f1(native.block)} ns | ${ratio(native.block, native.floor)} |
| record JSON parsing, paid only when a key's record text changes (remembered per isolate) | ${f1(native.parse)} ns | ${ratio(native.parse, native.floor)} |

Target: verify ≤ 2.00× the bare HMAC. Every figure is built at opt-level 3 (Cargo.toml's bench
profile), the floor included; the wasm is shipped at "z".

The SHA-256 work alone puts a bound under the verify path. The floor is 4 compressions: the
pepper's inner and outer key blocks, the key, the inner hash. The verify path does 2 for the digest
(the pepper's key blocks are precomputed once per isolate) and 6 for \`Keygate-Signature\` (its
secret's key blocks are precomputed too; the v2 message, which also signs the request id and the
verified bound, with the permissions digest as 64 hex characters, is about 290 bytes: 5 blocks,
and 1 for the outer hash). So 8 compressions against 4: **2× the floor before any parsing, lookup
or policy**. The 2× target leaves nothing for everything else; the decision without the signature, at 2
compressions, is the part that is measured against it fairly.

## 2. Through workerd (wrangler dev, HTTPS, loopback; wrk -t2 -c${CONNECTIONS} -d${DURATION}s)

keygate runs as deployed: the lean edge serves every request, reading KV itself (the key was
created through the full worker beforehand, on the same local state). The four workers run side
by side; after one discarded warm-up run each, the measured runs go a, d, e, b, c, f, f, c in
odd rounds and the other way round in even ones, for ${ROUNDS} rounds, so that a change in the
machine's load falls on every variant alike, and so does whatever one run leaves behind for the
next (each variant follows the same neighbours from either side). (c) and (f), compared with
each other, run side by side and twice each in every round, and a round's figure for each is the
mean of its two runs. Each measured run starts once the machine has gone quiet. Each
figure is the median of the rounds; each ratio is the median of the ratios within a round.

| variant | requests/s | p50 ms | p99 ms | non-2xx (per run) | workerd CPU µs / request |
|---|---|---|---|---|---|
${variantRows(results)}

| ratio | median | each round | target |
|---|---|---|---|
| b/a requests/s | ${roundRatio("b", "a", "rps")} | ≥ 0.90 |
| b/a p50 | ${roundRatio("b", "a", "p50")} | ≤ 1.10 |
| b/d requests/s | ${roundRatio("b", "d", "rps")} | ≥ 1.00 |
| b/a workerd CPU per request | ${roundRatio("b", "a", "cpuUs")} | |
| b/d workerd CPU per request | ${roundRatio("b", "d", "cpuUs")} | |
| e/a workerd CPU per request: any Rust worker's cost over JS | ${roundRatio("e", "a", "cpuUs")} | |
| b/e workerd CPU per request: keygate's own cost over that | ${roundRatio("b", "e", "cpuUs")} | |
| c/a workerd CPU per request: a refusal against doing nothing | ${roundRatio("c", "a", "cpuUs", rounds, 3)} | ≤ 1.00 |
| f/a workerd CPU per request: a throttled refusal | ${roundRatio("f", "a", "cpuUs", rounds, 3)} | < c/a |
| f/c workerd CPU per request: a throttled refusal against a first one | ${roundRatio("f", "c", "cpuUs", rounds, 3)} | < 1.00 |

The load generator, wrangler's local proxy, workerd and the origin share the same ${os.cpus().length} cores,
and the VM shares them with other tenants, so requests/s and latency move from run to run. The
last column is the CPU time workerd spent per request (user + system, read from /proc over the
measured run): what Workers bills, and independent of how many requests the load generator got
through. It includes workerd's own HTTP and TLS work, which (a) pays too. Heavy contention from
other tenants (steal time) inflates it as well, so it too is compared within one round only.

### The same, in workerd directly

The same six variants and load, and two more, with each bundle run in workerd through Miniflare's API instead
of \`wrangler dev\`: no wrangler proxy worker and no dev-time middleware on the path, storage in
memory. keygate's lean edge runs with its full worker beside it in the same workerd, as deployed;
the key was created through it. What is left per request is the worker, workerd's HTTP and TLS
work and the runtime's entry worker, so each variant's own cost is a larger share, and the rounds
agree more closely. The rounds go a, d, e, b, g, h, c, f, f, c and back.

| variant | requests/s | p50 ms | p99 ms | non-2xx (per run) | workerd CPU µs / request |
|---|---|---|---|---|---|
${variantRows(direct)}

| ratio, workerd CPU per request | median | each round | target |
|---|---|---|---|
| b/a | ${roundRatio("b", "a", "cpuUs", directRounds)} | |
| b/d | ${roundRatio("b", "d", "cpuUs", directRounds)} | |
| b/e: keygate's own cost over any Rust worker's | ${roundRatio("b", "e", "cpuUs", directRounds)} | |
| c/a: a refusal against doing nothing | ${roundRatio("c", "a", "cpuUs", directRounds, 3)} | ≤ 1.00 |
| f/a: a throttled refusal | ${roundRatio("f", "a", "cpuUs", directRounds, 3)} | < c/a |
| f/c: a throttled refusal against a first one | ${roundRatio("f", "c", "cpuUs", directRounds, 3)} | < 1.00 |
| b/a requests/s | ${roundRatio("b", "a", "rps", directRounds)} | |
| g/b: a rate limit's cost on a valid key | ${roundRatio("g", "b", "cpuUs", directRounds)} | ≤ 1.05 |
| h/b: credits' cost on a valid key | ${roundRatio("h", "b", "cpuUs", directRounds)} | ≤ 1.05 |

(g) and (h) spend blocks of rate tokens and credits leased from the key's authority (the
Durable Object), 100 at a time, growing to 1000 for an isolate that spends them within seconds
([Usage controls](../docs/usage-controls.md)). Over (h)'s measured runs, ${leases.requests}
requests spent ${leases.consumed} credits from the authority (what was proxied, plus what the
isolate held at the end, less what it held from the warm-up: up to a block each way). In one more run of (h), watched from outside (the key's \`credits.remaining\`
polled ${leases.polls} times: each lease shows as a drop), ${leases.watchedRequests} requests made
**${leases.seen} lease calls to the Durable Object: ${((leases.seen / leases.watchedRequests) * 1000).toFixed(1)} per 1000 requests**, plus the
once-a-minute usage report that every key makes.

### Where workerd's CPU goes

${perfSection()}

## 3. Size and start-up

Every request is served by the lean edge worker (wrangler.edge.toml, no \`authority\` feature).
The full worker (wrangler.toml) beside it runs only for the management API, strict keys'
confirmation and exposure reports; its size is shown for comparison.

| what | lean edge (serves requests) | full worker | target (edge) |
|---|---|---|---|
| wasm, raw | ${(size.edge.raw / 1024).toFixed(1)} KiB | ${(size.full.raw / 1024).toFixed(1)} KiB | |
| wasm, gzip -9 | **${(size.edge.gzip / 1000).toFixed(1)} KB** (${(size.edge.gzip / 1024).toFixed(1)} KiB) | ${(size.full.gzip / 1000).toFixed(1)} KB | ≤ 200 KB |
| whole upload (wrangler deploy --dry-run) | ${size.edge.upload ? `${size.edge.upload[1]} / gzip ${size.edge.upload[2]}` : "not reported"} | ${size.full.upload ? `${size.full.upload[1]} / gzip ${size.full.upload[2]}` : "not reported"} | |
| WebAssembly.compile, median of 20 (Node ${process.version}) | ${f2(size.edge.compile)} ms | ${f2(size.full.compile)} ms | |
| WebAssembly.instantiate, median of 20 | **${f2(size.edge.instantiate)} ms** | ${f2(size.full.instantiate)} ms | ≤ 5 ms |

## 4. What each choice bought

Each row is the lean edge rebuilt in this run with one profile choice changed (compile and
instantiate: median of 5), then the full worker for comparison. Two earlier choices are in every row: the IDNA back end is the
ASCII-only \`idna_adapter\` 1.0 (pinned in Cargo.lock), and no dependency is unused.

| build | raw | gzip -9 | compile | instantiate |
|---|---|---|---|---|
${matrix.map((m) => `| ${m.label} | ${(m.raw / 1024).toFixed(1)} KiB | ${(m.gzip / 1024).toFixed(1)} KiB | ${f2(m.compile)} ms | ${f2(m.instantiate)} ms |`).join("\n") || "| (not run) | | | | |"}
`;
if (!ONLY) fs.writeFileSync(path.join(ROOT, "bench", "RESULTS.md"), md);
console.log(md);
process.exit(0);
