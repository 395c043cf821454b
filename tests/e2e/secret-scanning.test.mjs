// Leaked keys die fast (issue: leaks, part 1): GitHub's secret-scanning partner endpoint, checked
// against a local stand-in for GitHub's signing keys (github.mjs), and the operator's own leak
// reports. `main` ends a reported key (ON_LEAK default, "expire"); `clock` only flags it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import { admin, assertError, bearer, call, createKey, E, forgedKey, MAIN, newAccount, request } from "./helpers.mjs";
import { keysDocument } from "./github.mjs";

const G = E.github;
const sha256 = (s) => crypto.createHash("sha256").update(s).digest("hex");
const sign = (body, pair) => crypto.sign("sha256", Buffer.from(body), pair.privatePem).toString("base64");

/** Send `body` (a string, sent byte for byte) to the GitHub route, signed as `pair` under `id`. */
function report(body, { url = MAIN, pair = G.current, id = pair.id, signature = sign(body, pair), headers = {} } = {}) {
  const h = { "content-type": "application/json", "github-public-key-identifier": id, "github-public-key-signature": signature, ...headers };
  for (const [k, v] of Object.entries(h)) if (v === null) delete h[k];
  return request(`${url}/_keygate/v1/secret-scanning/github`, { method: "POST", headers: h, body });
}

const item = (token, url = "https://github.com/octo/app/blob/0123abc/.env", source = "Content") => ({
  token,
  type: "keygate_api_key",
  url,
  source,
});

async function key(id, account, url = MAIN) {
  const mode = id && (await admin("GET", `/accounts/${account}/keys/${id}`, { url }));
  assert.equal(mode.status, 200, mode.text);
  return mode.json;
}

async function events(account, mode, url = MAIN) {
  const res = await admin("GET", `/accounts/${account}/events?mode=${mode}&limit=100`, { url });
  assert.equal(res.status, 200, res.text);
  return res.json.data;
}

const fetches = async () => (await request(G.fetchesUrl)).json.fetches;

describe("GitHub secret scanning", () => {
  it("a signed report ends a leaked live key, labels every token, and never answers a token back", async () => {
    const account = newAccount();
    const live = await createKey({ account, mode: "live" });
    const pk = await createKey({ account, mode: "live", type: "publishable" });
    const stranger = forgedKey("sk_live_");
    const body = JSON.stringify([item(live.secret), item("ghp_notakeyofkeygate0000000000000000000"), item(stranger, ""), item(pk.secret)]);
    const res = await report(body);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, [
      { token_hash: sha256(live.secret), token_type: "keygate_api_key", label: "true_positive" },
      { token_hash: sha256("ghp_notakeyofkeygate0000000000000000000"), token_type: "keygate_api_key", label: "false_positive" },
      { token_hash: sha256(stranger), token_type: "keygate_api_key", label: "false_positive" },
      { token_hash: sha256(pk.secret), token_type: "keygate_api_key", label: "false_positive" },
    ]);
    for (const t of [live.secret, stranger, pk.secret]) assert.ok(!res.text.includes(t), "no token is answered back");

    // Ended now (ON_LEAK defaults to "expire"), with where it was found.
    const after = await key(live.id, account);
    assert.equal(after.status, "expired");
    assert.equal(after.exposed.reason, "github_secret_scanning");
    assert.equal(after.exposed.url, "https://github.com/octo/app/blob/0123abc/.env");
    assert.equal(after.exposed.source, "content");
    const log = await events(account, "live");
    const exposed = log.filter((e) => e.type === "key.exposed" && e.key_id === live.id);
    assert.equal(exposed.length, 1, JSON.stringify(log));
    assert.equal(exposed[0].data.url, "https://github.com/octo/app/blob/0123abc/.env");
    assert.equal(exposed[0].actor, "system");
    assert.equal(log.filter((e) => e.type === "key.expired" && e.key_id === live.id).length, 1);
    // The edge refuses it at once.
    assertError(await call("/v1/charges", { headers: { authorization: bearer(live.secret) } }), 403, "authentication_error", "api_key_expired");
    // The publishable key is untouched.
    const pkAfter = await key(pk.id, account);
    assert.equal(pkAfter.status, "active");
    assert.equal(pkAfter.exposed, null);

    // GitHub retries a report: the same answer, nothing new in the log.
    const again = await report(body);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, res.json);
    assert.equal((await events(account, "live")).length, log.length);
  });

  it("a missing, malformed, forged or altered signature is a 401 and changes nothing", async () => {
    const account = newAccount();
    const k = await createKey({ account, mode: "test" });
    const body = JSON.stringify([item(k.secret)]);
    // Altered after signing: one more item, or the same items re-serialised.
    const signed = JSON.stringify([item("ghp_harmless")]);
    assertError(await report(body, { signature: sign(signed, G.current) }), 401, "authentication_error", "signature_invalid");
    assertError(await report(JSON.stringify(JSON.parse(body), null, 1), { signature: sign(body, G.current) }), 401, "authentication_error", "signature_invalid");
    // Missing headers.
    assertError(await report(body, { signature: null }), 401, "authentication_error", "signature_missing");
    assertError(await report(body, { id: null }), 401, "authentication_error", "signature_missing");
    // Not a DER signature; over-long headers.
    assertError(await report(body, { signature: Buffer.from("not a signature").toString("base64") }), 401, "authentication_error", "signature_malformed");
    assertError(await report(body, { signature: "%%%" }), 401, "authentication_error", "signature_malformed");
    assertError(await report(body, { signature: "A".repeat(300) }), 401, "authentication_error", "signature_malformed");
    // Signed by a key GitHub does not list, under its own identifier or under GitHub's. An
    // unknown identifier refetches the keys at most once a minute: the report whose fetch did
    // not find it is a 401; the others, with the fetch held back, a 503 that GitHub retries
    // (it may have rotated its key a moment ago).
    const before = await fetches();
    const codes = [];
    for (let i = 0; i < 5; i++) {
      const res = await report(body, { pair: G.rotated });
      codes.push(res.json.error.code);
      if (res.status === 401) assertError(res, 401, "authentication_error", "signature_key_unknown");
      else assertError(res, 503, "api_error", "signing_keys_unavailable");
    }
    const fetched = (await fetches()) - before;
    assert.ok(fetched <= 1, `${fetched} fetches`);
    assert.equal(codes.filter((c) => c === "signature_key_unknown").length, fetched, codes.join());
    assertError(await report(body, { pair: G.rotated, id: G.current.id }), 401, "authentication_error", "signature_invalid");
    // Nothing happened to the key.
    const after = await key(k.id, account);
    assert.equal(after.status, "active");
    assert.equal(after.exposed, null);
    assert.deepEqual((await events(account, "test")).map((e) => e.type), ["key.created"]);
    const ok = await call("/v1/charges", { headers: { authorization: bearer(k.secret) } });
    assert.equal(ok.status, 200, ok.text);
  });

  it("forged signatures are throttled like any failed authentication; a missing one is not counted", async () => {
    const LIMIT = 20; // wrangler.toml: AUTH_FAILURES, simple = { limit = 20, period = 60 }
    // The local limiter counts in windows aligned to the wall clock: start early in one.
    const into = (Date.now() / 1000) % 60;
    if (into > 40) await new Promise((r) => setTimeout(r, (61 - into) * 1000));
    const ip = `100.126.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
    const headers = { "cf-connecting-ip": ip };
    const account = newAccount();
    const k = await createKey({ account, mode: "test" });
    const body = JSON.stringify([item(k.secret)]);
    for (let i = 0; i < 25; i++) assertError(await report(body, { signature: null, headers }), 401, "authentication_error", "signature_missing");
    for (let i = 0; i < LIMIT; i++) assertError(await report(body, { pair: G.rotated, id: G.current.id, headers }), 401, "authentication_error", "signature_invalid");
    const throttled = await report(body, { pair: G.rotated, id: G.current.id, headers });
    assertError(throttled, 429, "rate_limit_error", "too_many_failed_attempts");
    assert.ok(Number(throttled.headers["retry-after"]) > 0);
    // A throttled address keeps what it proves without a fetch or a store read: a report signed
    // with a key this isolate holds. Anything else is a 429, a malformed signature included.
    assertError(await report(body, { headers, signature: "%%%" }), 429, "rate_limit_error", "too_many_failed_attempts");
    assert.equal((await key(k.id, account)).status, "active");
    const good = await report(body, { headers });
    assert.equal(good.status, 200, good.text);
    assert.equal((await key(k.id, account)).status, "expired");
  });

  it("takes POST only, and refuses a signed body that is not a report, or too long a report", async () => {
    assertError(await request(`${MAIN}/_keygate/v1/secret-scanning/github`), 405, "invalid_request_error", "method_not_allowed");
    assertError(await report('{"token":"x"}'), 400, "invalid_request_error", "body_invalid", "body");
    assertError(await report("[{"), 400, "invalid_request_error", "body_invalid", "body");
    assertError(await report('[{"type":"t"}]'), 400, "invalid_request_error", "parameter_missing", "[0].token");
    const many = JSON.stringify(Array.from({ length: 5001 }, () => ({ token: "x" })));
    assertError(await report(many), 400, "invalid_request_error", "too_many_tokens", "body");
  });

  it("answers a report of 1000 tokens, a few of them real, well within GitHub's 30 seconds", async () => {
    const accounts = [newAccount(), newAccount(), newAccount()];
    const real = await Promise.all(accounts.map((account, i) => createKey({ account, mode: i % 2 ? "test" : "live" })));
    const tokens = Array.from({ length: 1000 }, (_, i) => forgedKey(i % 2 ? "sk_test_" : "sk_live_"));
    real.forEach((k, i) => (tokens[100 + i * 300] = k.secret));
    const started = Date.now();
    const res = await report(JSON.stringify(tokens.map((t) => item(t))));
    const ms = Date.now() - started;
    assert.equal(res.status, 200, res.text.slice(0, 500));
    assert.equal(res.json.length, 1000);
    console.log(`# a report of 1000 tokens (3 real keys) answered in ${ms} ms`);
    assert.ok(ms < 30_000, `${ms} ms`);
    const positives = res.json.flatMap((f, i) => (f.label === "true_positive" ? [i] : []));
    assert.deepEqual(positives, [100, 400, 700]);
    for (const [i, k] of real.entries()) assert.equal((await key(k.id, accounts[i])).status, "expired");
  });

  it("prints the pattern to register with GitHub, which matches the deployment's secret keys", async () => {
    assertError(await admin("GET", "/secret-scanning/pattern", { token: null }), 401, "authentication_error", "admin_token_missing");
    const res = await admin("GET", "/secret-scanning/pattern");
    assert.equal(res.status, 200, res.text);
    const re = new RegExp(`^${res.json.pattern}$`);
    const account = newAccount();
    for (const [type, mode, matches] of [["secret", "live", true], ["restricted", "test", true], ["publishable", "live", false]]) {
      const k = await createKey({ account, type, mode });
      assert.equal(re.test(k.secret), matches, `${type} ${mode}`);
    }
  });
});

describe("operator leak reports", () => {
  it("report raw tokens with the operator token: the same policy and the same feedback", async () => {
    const account = newAccount();
    const k = await createKey({ account, mode: "test" });
    const body = { tokens: [k.secret, { token: "not-a-key", url: "https://paste.example/x", source: "Pastebin", token_type: "paste" }] };
    assertError(await admin("POST", "/leaks", { body, token: null }), 401, "authentication_error", "admin_token_missing");
    assertError(await admin("POST", "/leaks", { body, token: "adm_wrong" }), 401, "authentication_error", "admin_token_invalid");
    assert.equal((await key(k.id, account)).status, "active", "a refused report changes nothing");
    const res = await admin("POST", "/leaks", { body });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, [
      { token_hash: sha256(k.secret), token_type: "", label: "true_positive" },
      { token_hash: sha256("not-a-key"), token_type: "paste", label: "false_positive" },
    ]);
    const after = await key(k.id, account);
    assert.equal(after.status, "expired");
    assert.equal(after.exposed.reason, "reported_leak");
    assert.equal(after.exposed.url, "");
  });

  it("bad reports are precise 400s that never name what they refuse", async () => {
    const secret = forgedKey("sk_live_");
    for (const [body, code, param] of [
      [{}, "parameter_missing", "tokens"],
      [{ tokens: [] }, "parameter_invalid", "tokens"],
      [{ tokens: "sk" }, "parameter_invalid", "tokens"],
      [{ tokens: [7] }, "parameter_invalid", "tokens[0]"],
      [{ tokens: [{ url: "u" }] }, "parameter_missing", "tokens[0].token"],
      [{ tokens: [{ token: "x", [secret]: 1 }] }, "parameter_unknown", "tokens[0]"],
      [{ [secret]: [] }, "parameter_unknown", "body"],
      [{ tokens: Array.from({ length: 1001 }, () => "x") }, "too_many_tokens", "tokens"],
    ]) {
      const res = await admin("POST", "/leaks", { body });
      assertError(res, 400, "invalid_request_error", code, param);
      assert.ok(!res.text.includes(secret), res.text);
    }
    assertError(await admin("GET", "/leaks"), 405, "invalid_request_error", "method_not_allowed");
  });
});

describe("ON_LEAK = flag, and a signing key GitHub adds later", () => {
  it("flags a reported key and leaves it working; a key first seen is fetched on demand", async () => {
    const url = E.urls.clock;
    const account = newAccount();
    const k = await createKey({ account, mode: "test", url });
    // GitHub lists a new key before it signs with it: this instance has fetched nothing yet, so
    // it reads the document now and finds it.
    fs.writeFileSync(G.docFile, keysDocument([G.current, G.rotated]));
    const res = await report(JSON.stringify([item(k.secret, "https://www.npmjs.com/package/x", "NPM")]), { url, pair: G.rotated });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json[0].label, "true_positive");
    const after = await key(k.id, account, url);
    assert.equal(after.status, "active", "flag only");
    assert.deepEqual([after.exposed.reason, after.exposed.url, after.exposed.source], ["github_secret_scanning", "https://www.npmjs.com/package/x", "npm"]);
    const ok = await call("/v1/charges", { url, headers: { authorization: bearer(k.secret) } });
    assert.equal(ok.status, 200, ok.text);
  });
});
