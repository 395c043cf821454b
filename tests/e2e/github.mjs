// A stand-in for GitHub's secret-scanning signing keys (SECRET_SCANNING_KEYS_URL), on loopback:
// two P-256 key pairs of the harness's own, `current` listed in the document from the start and
// `rotated` listed only once a suite rewrites the document (as GitHub adds a key before it signs
// with it). The suites sign their reports with the private keys, as GitHub signs its own.
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const pair = () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  return {
    id: crypto.randomBytes(32).toString("hex"),
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }),
    publicPem: publicKey.export({ type: "spki", format: "pem" }),
  };
};

/** The document listing `pairs`, as GitHub's. */
export function keysDocument(pairs) {
  return JSON.stringify({ public_keys: pairs.map((p) => ({ key_identifier: p.id, key: p.publicPem, is_current: true })) });
}

/**
 * Start the document's server. It serves `docFile` (rewritten by the suites) at `/keys` and
 * counts the fetches (`GET /fetches`).
 */
export async function startSigningKeys(dir) {
  const current = pair();
  const rotated = pair();
  const docFile = path.join(dir, "github-signing-keys.json");
  fs.writeFileSync(docFile, keysDocument([current]));
  let fetches = 0;
  const server = http.createServer((req, res) => {
    if (req.url === "/keys") {
      fetches += 1;
      // As GitHub's API: no User-Agent, no answer.
      if (!req.headers["user-agent"]) {
        res.writeHead(403, { "content-type": "application/json" });
        return res.end('{"message":"Request forbidden by administrative rules. Please make sure your request has a User-Agent header"}');
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(fs.readFileSync(docFile));
    } else if (req.url === "/fetches") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ fetches }));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { url: `${base}/keys`, fetchesUrl: `${base}/fetches`, docFile, current, rotated, server };
}
