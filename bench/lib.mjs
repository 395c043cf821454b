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
