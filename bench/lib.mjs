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
    if (Number(f[2]) === pgid && name === comm) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / TICKS;
}
