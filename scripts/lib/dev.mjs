// Shared by `npm start` (scripts/demo.mjs) and the end-to-end harness (tests/e2e/run.mjs):
// start `wrangler dev` on loopback and talk to it over HTTPS with its self-signed certificate.
import { spawn } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = path.join(ROOT, "node_modules", ".bin");

/** A TCP port on 127.0.0.1 that is free now (the OS picks it). */
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Parse a dotenv-style file such as .dev.vars into an object. */
export function readVars(file) {
  const out = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = line.match(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"?(.*?)"?\s*$/);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/**
 * The two-worker layout for one `wrangler dev` (README, "Deploying"): wrangler.edge.toml in front,
 * wrangler.toml beside it, written into `dir` under worker names of their own (so that they bind
 * to each other and never to another running instance), with the full worker's secrets and vars
 * in a `.dev.vars` beside its config. Returns the config list for startWrangler, edge first.
 */
export function splitConfigs(dir, { suffix, fullVars }) {
  const full = `keygate-${suffix}`;
  const rewrite = (text, main) =>
    text
      .replace(/^main = ".*"$/m, `main = ${JSON.stringify(path.join(ROOT, main))}`)
      .replace(/^directory = "ui\/public"$/m, `directory = ${JSON.stringify(path.join(ROOT, "ui/public"))}`)
      .replace(/^command = "bash scripts\/build.sh (\w+)"$/m, (_, which) => `command = ${JSON.stringify(`bash ${path.join(ROOT, "scripts/build.sh")} ${which}`)}`)
      .replace(/^(script_name|service) = "keygate"$/gm, `$1 = "${full}"`)
      .replace(/^name = "keygate(-edge)?"$/m, (_, edge) => `name = "${edge ? `${full}-edge` : full}"`);
  const fullDir = path.join(dir, "full");
  fs.mkdirSync(fullDir, { recursive: true });
  const edgeToml = path.join(dir, "wrangler.edge.toml");
  const fullToml = path.join(fullDir, "wrangler.toml");
  fs.writeFileSync(edgeToml, rewrite(fs.readFileSync(path.join(ROOT, "wrangler.edge.toml"), "utf8"), "build-edge/worker/shim.mjs"));
  fs.writeFileSync(fullToml, rewrite(fs.readFileSync(path.join(ROOT, "wrangler.toml"), "utf8"), "build/worker/shim.mjs"));
  fs.writeFileSync(
    path.join(fullDir, ".dev.vars"),
    Object.entries(fullVars).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("\n") + "\n",
    { mode: 0o600 },
  );
  return [edgeToml, fullToml];
}

/**
 * Start `wrangler dev` with the already-built bundle. Resolves once it answers.
 * opts: { port, protocol: "https"|"http", vars: {NAME: value}, envFile, persistTo, logFile, config,
 *         inspectorPort (default: any free one) }
 * `config` may be a list: the first is the worker that answers, the others run beside it in the
 * same workerd (they share its local KV and Durable Objects). `--var` and `--env-file` reach only
 * the first; the others read the `.dev.vars` beside their own config file.
 */
export async function startWrangler(opts) {
  const args = [
    "dev",
    "--ip", "127.0.0.1",
    "--port", String(opts.port),
    "--local-protocol", opts.protocol ?? "https",
    "--inspector-port", String(opts.inspectorPort ?? 0),
    "--show-interactive-dev-session=false",
    "--log-level", opts.logLevel ?? "log",
  ];
  for (const c of [opts.config ?? []].flat()) args.push("--config", c);
  // With several workers, wrangler hands the first one plain-http URLs unless it is told whose
  // origin it stands for; with this, it sees <protocol>://127.0.0.1:<port> as with one worker.
  if (Array.isArray(opts.config) && opts.config.length > 1) {
    args.push("--local-upstream", `127.0.0.1:${opts.port}`, "--upstream-protocol", opts.protocol ?? "https");
  }
  if (opts.persistTo) args.push("--persist-to", opts.persistTo);
  if (opts.envFile) args.push("--env-file", opts.envFile);
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const env = {
    ...process.env,
    PATH: `${BIN}:${process.env.PATH}`,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    // wrangler's local trace recorder stores full request URLs, so a key a client wrongly puts in
    // a query string would be kept on disk. keygate logs its own redacted lines instead; in
    // production, wrangler.toml turns invocation logs and traces off for the same reason.
    X_LOCAL_OBSERVABILITY: "false",
    // `asUser`: run wrangler as a user would, with nothing of ours in its environment (the
    // checked-in .env must then do the job).
    ...(opts.asUser ? { X_LOCAL_OBSERVABILITY: undefined } : {}),
    // The bundle is built once before; wrangler's build command then only checks it exists.
    KEYGATE_SKIP_BUILD: "1",
    NO_COLOR: "1",
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const log = opts.logFile ? fs.openSync(opts.logFile, "a") : "ignore";
  const child = spawn(path.join(BIN, "wrangler"), args, {
    cwd: ROOT,
    env,
    stdio: ["ignore", log, log],
    detached: true,
  });
  const url = `${opts.protocol ?? "https"}://127.0.0.1:${opts.port}`;
  let exited = null;
  const gone = new Promise((resolve) => child.on("exit", (code) => resolve((exited = code ?? -1))));
  /** Stop the whole process group; resolves once wrangler has exited. */
  const stop = () => {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    const force = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, 5000);
    return gone.finally(() => clearTimeout(force));
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  for (;;) {
    if (exited !== null) throw new Error(`wrangler dev on ${url} exited with ${exited}; see ${opts.logFile ?? "its output"}`);
    try {
      await request(`${url}/__keygate_ready`, { timeoutMs: 5_000 });
      return { url, child, stop };
    } catch {
      if (Date.now() > deadline) {
        stop();
        throw new Error(`wrangler dev on ${url} did not answer in time; see ${opts.logFile ?? "its output"}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * One HTTP(S) request with full control of headers (arrays send a header several times) and no
 * certificate check (wrangler dev's certificate is self-signed). Resolves { status, headers, text, json }.
 */
export function request(url, { method = "GET", headers = {}, body, timeoutMs = 30_000 } = {}) {
  const u = new URL(url);
  const mod = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      { method, headers, rejectUnauthorized: false, timeout: timeoutMs, agent: false },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {}
          // The end-to-end harness scans for every key it was ever shown (see tests/e2e/run.mjs).
          if (process.env.KEYGATE_ISSUED_KEYS && typeof json?.secret === "string") {
            fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `${json.secret}\n`);
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.on("error", reject);
    if (body !== undefined) req.write(typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body));
    req.end();
  });
}

/** Call the admin API. */
export function admin(baseUrl, token, method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return request(`${baseUrl}/_keygate/v1${path}`, { method, headers, body });
}

/**
 * A request written byte for byte over TLS, for inputs no HTTP client will send (NUL and control
 * bytes, raw UTF-8 in header values, repeated headers in a given order). `head` is the request
 * line and header lines (without the final blank line), as a Buffer or string.
 */
export function rawRequest(url, head, { timeoutMs = 30_000 } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      socket.write(Buffer.concat([Buffer.from(head), Buffer.from("\r\nConnection: close\r\n\r\n")]));
    });
    const chunks = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("raw request timed out")));
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("end", () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf("\r\n\r\n");
      const headText = all.subarray(0, split < 0 ? all.length : split).toString("latin1");
      let body = split < 0 ? Buffer.alloc(0) : all.subarray(split + 4);
      const [statusLine, ...lines] = headText.split("\r\n");
      const headers = {};
      for (const l of lines) {
        const i = l.indexOf(":");
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      if ((headers["transfer-encoding"] ?? "").includes("chunked")) {
        const out = [];
        let rest = body;
        for (;;) {
          const nl = rest.indexOf("\r\n");
          const size = parseInt(rest.subarray(0, nl).toString(), 16);
          if (!size) break;
          out.push(rest.subarray(nl + 2, nl + 2 + size));
          rest = rest.subarray(nl + 2 + size + 2);
        }
        body = Buffer.concat(out);
      }
      const text = body.toString("utf8");
      let json;
      try {
        json = JSON.parse(text);
      } catch {}
      resolve({ status: Number(statusLine.split(" ")[1]), headers, text, json });
    });
  });
}
