// A provider's webhook endpoint, on loopback (WEBHOOK_URL of the `clock` instance): it verifies
// every delivery with the Node verifier (@keygate/verify's verifyWebhook) over the raw body, keeps
// what it received, and misbehaves on request per account, so that the suites can watch keygate
// retry: fail the next N deliveries with a 500, or hold them without answering.
import http from "node:http";
import { verifyWebhook } from "../../packages/verify-node/src/index.js";

export async function startWebhookReceiver(secret) {
  const received = []; // { id, type, account, verified, error, status, at }
  const scripts = new Map(); // account -> { fail: n, hold: ms }
  let inflight = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const raw = Buffer.concat(chunks);
      const json = (status, body) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.url === "/control" && req.method === "POST") {
        const { account, fail = 0, hold = 0 } = JSON.parse(raw.toString("utf8"));
        scripts.set(account, { fail, hold });
        return json(200, { ok: true });
      }
      if (req.url?.startsWith("/received")) {
        const account = new URL(req.url, "http://x").searchParams.get("account");
        return json(200, { received: received.filter((r) => r.account === account), inflight });
      }
      if (req.url !== "/hook" || req.method !== "POST") return json(404, {});
      let event;
      let error = null;
      try {
        event = await verifyWebhook(raw, req.headers["keygate-webhook-signature"], { secrets: secret });
      } catch (e) {
        error = e.code ?? String(e);
        try {
          event = JSON.parse(raw.toString("utf8"));
        } catch {
          event = {};
        }
      }
      const script = scripts.get(event.account) ?? { fail: 0, hold: 0 };
      const status = error ? 400 : script.fail > 0 ? 500 : 200;
      if (!error && script.fail > 0) script.fail -= 1;
      const record = { id: event.id, type: event.type, account: event.account, object: event.data?.object, detail: event.data?.detail, verified: !error, error, status, at: Date.now(), raw: raw.toString("utf8") };
      received.push(record);
      if (script.hold > 0) {
        inflight += 1;
        await new Promise((r) => setTimeout(r, script.hold));
        inflight -= 1;
      }
      json(status, { received: true });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { url: `${base}/hook`, base, server };
}
