// The echo origins of the end-to-end suites, each verifying keygate's signature with its own
// package before answering: Node's @keygate/verify (scripts/echo-origin.mjs) and Python's
// keygate_verify (packages/verify-python/examples/echo_origin.py, a real Python server).
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startEchoOrigin } from "../../scripts/echo-origin.mjs";
import { ROOT } from "../../scripts/lib/dev.mjs";

/** A Node echo origin verifying with `secrets` (and `tolerance` seconds). */
export function startNodeOrigin(name, secrets, { tolerance } = {}) {
  return startEchoOrigin(name, 0, "127.0.0.1", { secrets, tolerance });
}

/**
 * A Python echo origin verifying with `secrets` (and `tolerance` seconds). Resolves once it
 * listens: { url, port, stop }.
 */
export function startPythonOrigin(name, secrets, { tolerance = 300, dir } = {}) {
  const secretsFile = path.join(dir ?? fs.mkdtempSync(path.join(ROOT, ".e2e", "py-")), `python-${name}-secrets.txt`);
  fs.mkdirSync(path.dirname(secretsFile), { recursive: true });
  fs.writeFileSync(secretsFile, `${secrets.join("\n")}\n`, { mode: 0o600 });
  const child = spawn(
    "python3",
    [path.join(ROOT, "packages/verify-python/examples/echo_origin.py"), "--port", "0", "--name", name, "--secrets-file", secretsFile, "--tolerance", String(tolerance)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the Python origin "${name}" did not start`));
    }, 20_000);
    child.on("exit", (code) => reject(new Error(`the Python origin "${name}" exited with ${code}`)));
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening (\d+)/);
      if (m) {
        clearTimeout(timer);
        const port = Number(m[1]);
        const stop = () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", done);
            child.kill();
          });
        resolve({ url: `http://127.0.0.1:${port}`, port, stop });
      }
    });
  });
}
