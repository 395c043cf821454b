// The demo origin: an HTTP echo server on loopback that answers JSON describing the request it
// received (method, path, query, every header, body). `npm start` runs it in front of keygate's
// two modes; the end-to-end tests read what it saw.
//
//   node scripts/echo-origin.mjs test:8788 live:8789
import http from "node:http";
import { fileURLToPath } from "node:url";
import { verify } from "../packages/verify-node/src/index.js";

/**
 * Start an echo origin. With `secrets` (keygate's ORIGIN_SIGNING_SECRET, and the previous one
 * during a rotation) it verifies every request with @keygate/verify first, as a real origin
 * must: a verified request's echo carries `verified_by: "node"` and the identity; any other
 * request gets 401 with the verifier's error.
 */
export function startEchoOrigin(name, port = 0, host = "127.0.0.1", { secrets, tolerance } = {}) {
  const server = http.createServer(async (req, res) => {
    let identity;
    if (secrets) {
      try {
        // The path with its query exactly as received, and the Host as received.
        identity = await verify({ headers: req.headers, method: req.method, path: req.url }, { secrets, tolerance });
      } catch (e) {
        res.writeHead(401, { "content-type": "application/json", "x-echo-origin": name });
        return res.end(JSON.stringify({ error: { type: "authentication_error", code: e.code ?? "bad_signature", message: e.message } }));
      }
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url, "http://origin");
      const headers = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i].toLowerCase();
        headers[k] = headers[k] === undefined ? req.rawHeaders[i + 1] : `${headers[k]}, ${req.rawHeaders[i + 1]}`;
      }
      // A redirect, which keygate must hand to the client rather than follow.
      if (url.pathname === "/v1/redirect") {
        res.writeHead(302, { location: "https://elsewhere.example/landing", "x-echo-origin": name });
        return res.end();
      }
      const body = Buffer.concat(chunks).toString("utf8");
      const payload = JSON.stringify({
        origin: name,
        method: req.method,
        path: url.pathname,
        query: url.search.slice(1),
        headers,
        raw_header_names: req.rawHeaders.filter((_, i) => i % 2 === 0),
        body,
        ...(identity ? { verified_by: "node", identity } : {}),
      });
      res.writeHead(200, {
        "content-type": "application/json",
        "x-echo-origin": name,
        // A permissive origin: keygate must replace this with its own CORS decision.
        "access-control-allow-origin": "*",
        "access-control-allow-credentials": "true",
        // Kept as they are: keygate only appends `Origin` to Vary, and never merges cookies.
        vary: "Accept-Encoding",
        "set-cookie": ["echo_a=1; Path=/", "echo_b=2; Path=/"],
      });
      res.end(payload);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve({ server, port: server.address().port, url: `http://${host}:${server.address().port}` }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const spec of process.argv.slice(2)) {
    const [name, port] = spec.split(":");
    const { url } = await startEchoOrigin(name, Number(port));
    console.log(`echo origin "${name}" listening on ${url}`);
  }
}
