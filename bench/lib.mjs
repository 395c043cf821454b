// Shared by bench/run.mjs and bench/profile.mjs: the fixed origin every load run proxies to, and
// fresh secrets for the worker under test.
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

/** An origin on loopback that answers every request with the same small JSON body. */
export async function startFixedOrigin() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json", "content-length": "11" });
      res.end('{"ok":true}');
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

/** Random keygate secrets, also written as an env file in `dir` for `wrangler dev --env-file`. */
export function writeSecrets(dir) {
  const secrets = {
    KEY_PEPPER: crypto.randomBytes(32).toString("hex"),
    ADMIN_TOKEN: `adm_${crypto.randomBytes(24).toString("hex")}`,
    ORIGIN_SIGNING_SECRET: `sig_${crypto.randomBytes(32).toString("hex")}`,
  };
  const envFile = path.join(dir, "secrets.env");
  fs.writeFileSync(envFile, Object.entries(secrets).map(([k, v]) => `${k}="${v}"`).join("\n"), { mode: 0o600 });
  return { secrets, envFile };
}

const TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/**
 * CPU seconds (user + system) used so far by the processes of process group `pgid` whose command
 * is `comm` (e.g. "workerd"). Its difference over a load run, divided by the requests served, is
 * the CPU time spent per request, whatever the request rate was.
 */
export function cpuSeconds(pgid, comm) {
  let ticks = 0;
  for (const { utime, stime } of processes(pgid, comm)) ticks += utime + stime;
  return ticks / TICKS;
}

/** The processes named `comm` in process group `pgid`, with their CPU ticks so far. */
export function processes(pgid, comm) {
  const found = [];
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const close = stat.lastIndexOf(")");
    const name = stat.slice(stat.indexOf("(") + 1, close);
    const f = stat.slice(close + 2).split(" ");
    // After the command: state, ppid, pgrp, …; utime and stime are the 12th and 13th.
    if (Number(f[2]) === pgid && name === comm) found.push({ pid: Number(pid), utime: Number(f[11]), stime: Number(f[12]) });
  }
  return found;
}

/**
 * Where a process's CPU time went, from a `perf record` of it: the share of each category, by
 * the symbol or mapping each sample fell in. "JIT code" is code V8 compiled at run time: the
 * worker's wasm and its optimised JavaScript (interpreted JavaScript runs in V8's builtins).
 */
export const PERF_CATEGORIES = [
  ["jit", "JIT code: the worker's wasm and its optimised JS"],
  ["v8", "V8: interpreter, builtins, runtime, GC"],
  ["runtime", "workerd's runtime: Request, Response, Headers, streams, promises (workerd, jsg, kj)"],
  ["malloc", "memory allocation (tcmalloc, libc)"],
  ["kernel", "kernel: sockets, scheduling"],
  ["other", "other (TLS, HTTP parsing, unattributed)"],
];

export function perfCategory(dso, kind, sym) {
  if (kind === "k") return "kernel";
  if (dso.startsWith("[JIT]") || dso.startsWith("perf-") || dso === "//anon" || dso === "[unknown]") return "jit";
  if (/tcmalloc|TCMalloc|^malloc$|^free$|^cfree|_int_free|_int_malloc|^__mem(move|cpy|set|cmp)/.test(sym)) return "malloc";
  if (/v8::|Builtins_|^Builtin:/.test(sym)) return "v8";
  if (/workerd::|kj::|capnp::/.test(sym)) return "runtime";
  return "other";
}

/** `perf report` of `file`, summed per [`perfCategory`], as fractions of all samples. */
export function perfBreakdown(file) {
  const out = execFileSync("perf", ["report", "-i", file, "--sort", "dso,sym", "--stdio", "-q", "--percent-limit", "0"], {
    encoding: "utf8",
    maxBuffer: 256 << 20,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const shares = Object.fromEntries(PERF_CATEGORIES.map(([k]) => [k, 0]));
  for (const line of out.split("\n")) {
    // "  12.34%  workerd  [.] symbol", where the object may contain spaces ("[JIT] tid 123").
    const m = /^\s*([\d.]+)%\s+(.*?)\s+\[(.)\]\s+(.*)$/.exec(line);
    if (m) shares[perfCategory(m[2], m[3], m[4])] += Number(m[1]) / 100;
  }
  return shares;
}

/**
 * Workers run in workerd directly through Miniflare's API, with no `wrangler dev` in between
 * (no proxy worker, no dev-time middleware): `specs` is a list of { toml, name, bindings }, the
 * first one answering. Each wrangler.toml is read by wrangler itself; the bundle it names is
 * loaded as modules (a workers-rs shim with its index.js and wasm, or one JS file). Runs over
 * HTTPS on loopback, storage in memory, the workers' log lines appended to `logFile`.
 * Resolves to { url, pids (this instance's workerd processes), mf, stop }.
 */
export async function startDirect(specs, { logFile }) {
  const { Miniflare, convertV4MiniflareOptions } = await import("miniflare");
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const workers = specs.map(({ toml, name, bindings = {} }) => {
    const { workerOptions, main } = unstable_getMiniflareWorkerOptions(toml);
    // The module rules (and the root they are relative to) are replaced by the modules themselves.
    const { modulesRules, rootPath, ...options } = workerOptions;
    const dir = path.dirname(main);
    const modules = main.endsWith("shim.mjs")
      ? [
          { type: "ESModule", path: main },
          { type: "ESModule", path: path.join(dir, "..", "index.js") },
          { type: "CompiledWasm", path: path.join(dir, "..", "index_bg.wasm") },
        ]
      : [{ type: "ESModule", path: main }];
    return { ...options, name, modules, modulesRoot: path.dirname(dir), bindings: { ...options.bindings, ...bindings } };
  });
  const before = new Set(workerdPids());
  const out = fs.createWriteStream(logFile, { flags: "a" });
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      workers,
      https: true,
      host: "127.0.0.1",
      port: 0,
      handleStructuredLogs: ({ message }) => out.write(`${message}\n`),
    }),
  );
  const url = (await mf.ready).href.replace(/\/$/, "");
  const pids = workerdPids().filter((p) => !before.has(p));
  return { url, pids, mf, stop: () => mf.dispose() };
}

function workerdPids() {
  const pids = [];
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd") pids.push(Number(pid));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** The machine's busy CPU time so far (user, nice, system, irq, softirq; all cores), seconds. */
export function busySeconds() {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / TICKS;
}

/** CPU seconds (user + system) used so far by the processes `pids`. */
export function cpuSecondsOf(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // exited
    }
  }
  return ticks / TICKS;
}
