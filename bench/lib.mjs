// Shared by bench/run.mjs and bench/profile.mjs: the fixed origin every load run proxies to, and
// fresh secrets for the worker under test.
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
