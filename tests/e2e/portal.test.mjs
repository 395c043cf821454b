// The faces for people (issue 18) in real headless Chromium (Debian's, driven by puppeteer-core)
// against workerd: the hosted key portal's whole journey and its locks, and the operator console.
// With KEYGATE_UPDATE_SCREENSHOTS=1 the screenshots the README shows are written to docs/images.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";
import { ROOT, request as plainRequest, rawRequest as rawSocket } from "../../scripts/lib/dev.mjs";
import { E, MAIN, admin, bearer, createKey, newAccount, randomClientIp, request } from "./helpers.mjs";

/** A request outside the browser, from a client address of its own (see helpers.mjs). */
const rawRequest = (url, opts = {}) => plainRequest(url, { ...opts, headers: { "cf-connecting-ip": randomClientIp(), ...(opts.headers ?? {}) } });

const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const RETURN_URL = "https://app.example.com/settings/api";
const shots = process.env.KEYGATE_UPDATE_SCREENSHOTS ? path.join(ROOT, "docs/images") : E.runDir;

/** A secret shown by a page joins the harness's scan for raw keys in state and logs. */
function issued(secret) {
  if (process.env.KEYGATE_ISSUED_KEYS) fs.appendFileSync(process.env.KEYGATE_ISSUED_KEYS, `${secret}\n`);
}

async function mint(account, body = {}) {
  const res = await admin("POST", `/accounts/${account}/portal_sessions`, {
    body: { mode: "test", return_url: RETURN_URL, expires_in: 600, ...body },
  });
  assert.equal(res.status, 201, res.text);
  return res.json;
}

/** The buttons whose accessible name is exactly `name` (inside `root` if given). */
const buttons = (root, name) => root.$$(`::-p-aria([name="${name}"][role="button"])`);

async function click(root, name) {
  const [b] = await buttons(root, name);
  assert.ok(b, `no button named ${name}`);
  await b.click();
}

async function row(page, keyId) {
  const r = await page.waitForSelector(`tr[data-key="${keyId}"]`);
  return r;
}

async function statusOf(page, keyId) {
  return page.$eval(`tr[data-key="${keyId}"] .status`, (e) => e.textContent);
}

/** Wait for the page's status line to say something matching `re`. */
async function said(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById("status").textContent), {}, re.source);
  return page.$eval("#status", (e) => e.textContent);
}

/** In-page fetch, as the page's own script would (or would not) send it. */
function pageFetch(page, url, init) {
  return page.evaluate(async (url, init) => {
    const r = await fetch(url, init);
    return { status: r.status, json: await r.json().catch(() => null) };
  }, url, init);
}

let browser;
const problems = [];

async function newPage(context = browser.defaultBrowserContext()) {
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on("console", (m) => {
    // The API's deliberate refusals in the negative tests below are logged by Chromium as
    // failed resources; those are expected. Anything else is a fault of the page.
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  return page;
}

before(async () => {
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    acceptInsecureCerts: true,
    args: ["--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--no-first-run"],
  });
  await browser.defaultBrowserContext().overridePermissions(MAIN, ["clipboard-read", "clipboard-write", "clipboard-sanitized-write"]);
});

after(async () => {
  await browser?.close();
});

describe("the hosted key portal", () => {
  it("takes a customer through create → reveal once → copy → roll → expire → revoke", async () => {
    const account = newAccount();
    const existing = await createKey({ account, name: "production server" });
    // Some traffic, for the usage chart.
    for (let i = 0; i < 3; i++) {
      const r = await request(`${MAIN}/v1/charges`, { headers: { authorization: bearer(existing.secret) } });
      assert.equal(r.status, 200, r.text);
    }
    const live = await createKey({ account, mode: "live", name: "live key" });
    const link = await mint(account, { key_defaults: { rate_limit: { limit: 100, window: 60 } } });
    assert.match(link.url, /^https:\/\/127\.0\.0\.1:\d+\/_keygate\/portal\/start\?/);

    const page = await newPage();
    const res = await page.goto(link.url, { waitUntil: "networkidle0" });
    // The link became a cookie and a redirect to the portal's page.
    assert.equal(new URL(page.url()).pathname, "/_keygate/portal/");
    assert.equal(res.status(), 200);
    const h = res.headers();
    // Script and style from keygate's own assets only (not the rest of the host: its paths are
    // the API's), nothing inline, no other origin.
    const own = MAIN.replaceAll(".", "\\.");
    assert.match(h["content-security-policy"], new RegExp(`^default-src 'none'; script-src ${own}/_keygate/ui/; style-src ${own}/_keygate/ui/;.*frame-ancestors 'none'$`));
    assert.doesNotMatch(h["content-security-policy"], /unsafe|\*/);
    for (const source of h["content-security-policy"].match(/https?:\/\/\S+/g)) assert.ok(source.startsWith(`${MAIN}/`), source);
    assert.equal(h["cache-control"], "no-store");
    assert.equal(h["x-frame-options"], "DENY");
    const [cookie] = await browser.defaultBrowserContext().cookies();
    assert.equal(cookie.name, "__Host-keygate_portal");
    assert.deepEqual([cookie.httpOnly, cookie.secure, cookie.sameSite, cookie.path], [true, true, "Strict", "/"]);
    assert.ok(cookie.expires > Date.now() / 1000 && cookie.expires <= link.expires_at + 1);

    // The account's test keys only: not its live key.
    await row(page, existing.id);
    assert.equal(await page.$(`tr[data-key="${live.id}"]`), null);
    assert.equal(await page.$eval("#return-link", (a) => a.href), RETURN_URL);
    // Usage reaches the authority in batches: at least the first request is counted by now.
    const counted = await page.$eval("svg.chart", (s) => s.getAttribute("aria-label"));
    assert.ok(Number(counted.match(/Requests in the last 30 days: (\d+)$/)[1]) >= 1, counted);
    for (const name of ["Roll", "Expire", "Revoke"]) assert.equal((await buttons(page, name)).length, 1, name);
    // Every form field has a label.
    const unlabelled = await page.$$eval("input, select", (els) => els.filter((e) => !e.labels?.length).map((e) => e.id));
    assert.deepEqual(unlabelled, []);

    // Create: the secret is shown once, copied, then gone.
    await page.type("#create-name", "CI runner");
    await click(page, "Create key");
    const secret = await page.waitForSelector("#secret-value").then((e) => e.evaluate((c) => c.textContent));
    issued(secret);
    assert.match(secret, /^sk_test_/);
    await page.waitForFunction(() => document.getElementById("keys")?.textContent.includes("CI runner"));
    if (process.env.KEYGATE_UPDATE_SCREENSHOTS) await page.screenshot({ path: path.join(shots, "portal.png"), fullPage: true });
    await click(page, "Copy");
    await page.waitForFunction(() => document.getElementById("copied")?.textContent === "Copied");
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    const works = await request(`${MAIN}/v1/charges`, { headers: { authorization: bearer(secret) } });
    assert.equal(works.status, 200, works.text);
    assert.ok(works.headers["ratelimit-policy"], "the session's key_defaults apply to the new key");
    await click(page, "I have stored it");
    await said(page, /no longer shown/);
    const traces = await page.evaluate(() => ({
      html: document.documentElement.outerHTML,
      storage: JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }),
      url: location.href + history.length,
      cookie: document.cookie,
    }));
    for (const [where, text] of Object.entries(traces)) assert.ok(!text.includes(secret), `the secret is still in ${where}`);
    assert.ok(!traces.html.includes(secret.slice(8, 24)));
    assert.equal(traces.cookie, "", "the session cookie is not readable by script");

    // Roll it with a grace of one hour: the new secret is shown once too.
    const created = (await admin("GET", `/accounts/${account}/keys?mode=test&limit=10`)).json.data.find((k) => k.name === "CI runner");
    await click(await row(page, created.id), "Roll");
    await page.waitForSelector("dialog[open] #grace");
    const graces = await page.$$eval("#grace option", (os) => os.map((o) => o.textContent));
    assert.deepEqual(graces, ["Now", "1 hour", "24 hours", "3 days", "7 days"]);
    await page.select("#grace", "3600");
    await click(page, "Confirm");
    const rolled = await page.waitForSelector("#secret-value").then((e) => e.evaluate((c) => c.textContent));
    issued(rolled);
    assert.notEqual(rolled, secret);
    await click(page, "I have stored it");
    await said(page, /no longer shown/);
    const old = (await admin("GET", `/accounts/${account}/keys/${created.id}`)).json;
    assert.ok(old.expires_at > Date.now() / 1000 + 3500 && old.expires_at <= Date.now() / 1000 + 3700, JSON.stringify(old));

    // Expire asks first; cancelling changes nothing.
    await click(await row(page, existing.id), "Expire");
    await page.waitForSelector("dialog[open]");
    await click(page, "Cancel");
    assert.equal((await admin("GET", `/accounts/${account}/keys/${existing.id}`)).json.status, "active");
    await click(await row(page, existing.id), "Expire");
    await page.waitForSelector("dialog[open]");
    await click(page, "Confirm");
    await said(page, /expired/);
    assert.equal(await statusOf(page, existing.id), "expired");

    // Revoke the rolled key's successor.
    const successor = (await admin("GET", `/accounts/${account}/keys?mode=test&limit=10`)).json.data.find((k) => k.rolled_from === created.id);
    await click(await row(page, successor.id), "Revoke");
    await page.waitForSelector("dialog[open]");
    await click(page, "Confirm");
    await said(page, /revoked/);
    assert.equal(await statusOf(page, successor.id), "revoked");
    const refused = await request(`${MAIN}/v1/charges`, { headers: { authorization: bearer(rolled) } });
    assert.equal(refused.json.error.code, "api_key_revoked", refused.text);

    // Every action is the portal session's in the audit log.
    const events = (await admin("GET", `/accounts/${account}/events?mode=test&limit=50`)).json.data;
    const byPortal = events.filter((e) => e.actor === `portal:${link.id}`).map((e) => e.type).sort();
    // (A roll is two events: the old key's `key.rolled` and its successor's `key.created`.)
    assert.deepEqual(byPortal, ["key.created", "key.created", "key.expired", "key.revoked", "key.rolled"]);

    // Sign out ends the session.
    await click(page, "Sign out");
    await said(page, /signed out/);
    const gone = await pageFetch(page, "/_keygate/portal/api/keys");
    assert.equal(gone.status, 401);
    assert.equal(gone.json.error.code, "portal_session_missing", "the cookie is cleared");
    assert.equal(await page.$("#secret-value"), null);
    assert.deepEqual(problems, []);
    await page.close();
  });

  it("refuses a reused or expired link, a change without its CSRF token or from elsewhere, and another account's or mode's keys", async () => {
    const account = newAccount();
    const other = await createKey({ name: "another account's" });
    const live = await createKey({ account, mode: "live", name: "live" });
    const link = await mint(account);
    const context = await browser.createBrowserContext();
    const page = await newPage(context);
    await page.goto(link.url, { waitUntil: "networkidle0" });
    await page.waitForSelector("#app:not([hidden])");

    // The link works once.
    const again = await rawRequest(link.url);
    assert.equal(again.status, 401);
    assert.equal(again.json.error.code, "portal_link_invalid");
    assert.equal(again.headers["set-cookie"], undefined);
    // No challenge: a browser would answer it with its own login dialog.
    assert.equal(again.headers["www-authenticate"], undefined);
    // A forged token for the same session, and a malformed link.
    const forged = link.url.replace(/token=kgpt_\w+/, "token=kgpt_" + "A".repeat(32));
    assert.equal((await rawRequest(forged)).json.error.code, "portal_link_invalid");
    assert.equal((await rawRequest(link.url.replace(/&token=.*/, ""))).status, 401);

    // No CSRF token: refused, nothing created.
    const body = JSON.stringify({ name: "csrf", type: "secret" });
    const noCsrf = await pageFetch(page, "/_keygate/portal/api/keys", { method: "POST", headers: { "content-type": "application/json" }, body });
    assert.equal(noCsrf.status, 403);
    assert.equal(noCsrf.json.error.code, "portal_csrf_invalid");
    const { csrf } = (await pageFetch(page, "/_keygate/portal/api/session")).json;
    const wrong = await pageFetch(page, "/_keygate/portal/api/keys", { method: "POST", headers: { "keygate-csrf": csrf.slice(1) + "x" }, body });
    assert.equal(wrong.json.error.code, "portal_csrf_invalid");
    // The right token from another origin (here: the cookie replayed outside the browser).
    const [cookie] = await context.cookies();
    const replay = await rawRequest(`${MAIN}/_keygate/portal/api/keys`, {
      method: "POST",
      headers: { cookie: `${cookie.name}=${cookie.value}`, "keygate-csrf": csrf, origin: "https://evil.example", "content-type": "application/json" },
      body,
    });
    assert.equal(replay.status, 403);
    assert.equal(replay.json.error.code, "portal_csrf_invalid");
    assert.equal((await admin("GET", `/accounts/${account}/keys?mode=test`)).json.data.length, 0);

    // Another account's key, and this account's live key from a test session: not found, untouched.
    const headers = { "keygate-csrf": csrf };
    for (const k of [other, live]) {
      for (const [method, suffix] of [["DELETE", ""], ["POST", "/expire"], ["POST", "/roll"]]) {
        const r = await pageFetch(page, `/_keygate/portal/api/keys/${k.id}${suffix}`, { method, headers });
        assert.equal(r.status, 404, `${method} ${suffix} ${JSON.stringify(r.json)}`);
      }
      assert.equal((await admin("GET", `/accounts/${k.account}/keys/${k.id}`)).json.status, "active");
    }
    const liveCreate = await pageFetch(page, "/_keygate/portal/api/keys", {
      method: "POST",
      headers,
      body: JSON.stringify({ type: "secret", mode: "live" }),
    });
    assert.equal(liveCreate.json.error.code, "portal_out_of_scope");
    // Usage controls are the provider's: the portal cannot set them.
    const unlimited = await pageFetch(page, "/_keygate/portal/api/keys", {
      method: "POST",
      headers,
      body: JSON.stringify({ type: "secret", credits: null }),
    });
    assert.equal(unlimited.status, 400);
    assert.equal(unlimited.json.error.param, "credits");
    // A made-up cookie is no session.
    const fake = await rawRequest(`${MAIN}/_keygate/portal/api/keys`, {
      headers: { cookie: `__Host-keygate_portal=${account}.test.ps_${"a".repeat(24)}.kgps_${"b".repeat(32)}` },
    });
    assert.equal(fake.json.error.code, "portal_session_invalid");
    assert.equal(fake.headers["www-authenticate"], undefined);
    // The session's cookie is keygate's: an API request carrying it reaches the origin without it.
    const k = await createKey({ account });
    const proxied = await rawRequest(`${MAIN}/v1/charges`, {
      headers: { authorization: bearer(k.secret), cookie: `theirs=1; ${cookie.name}=${cookie.value}; also=2` },
    });
    assert.equal(proxied.status, 200, proxied.text);
    assert.equal(proxied.json.headers.cookie, "theirs=1; also=2");
    const only = await rawRequest(`${MAIN}/v1/charges`, { headers: { authorization: bearer(k.secret), cookie: `${cookie.name}=${cookie.value}` } });
    assert.equal(only.json.headers.cookie, undefined);
    await context.close();

    // An expired link: the test-mode authority's clock moved past it (the test-clock build).
    const clock = E.urls.clock;
    const late = await admin("POST", `/accounts/${account}/portal_sessions`, { url: clock, body: { mode: "test", return_url: RETURN_URL, expires_in: 60 } });
    assert.equal(late.status, 201, late.text);
    assert.equal((await admin("POST", `/accounts/${account}/test_clock`, { url: clock, body: { offset: 61 } })).status, 200);
    const expired = await rawRequest(late.json.url);
    assert.equal(expired.status, 401);
    assert.equal(expired.json.error.code, "portal_session_expired");
    assert.deepEqual(problems, []);
  });
});

describe("the portal's throttling", () => {
  it("counts wrong links and sessions as failed authentications: 429 past the threshold, a valid link still works", async () => {
    const LIMIT = 20; // wrangler.toml: [[ratelimits]] AUTH_FAILURES
    const into = (Date.now() / 1000) % 60;
    if (into > 45) await new Promise((r) => setTimeout(r, (61 - into) * 1000));
    const ip = `100.126.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
    const from = { headers: { "cf-connecting-ip": ip } };
    const account = newAccount();
    const spare = await mint(account);
    const guess = () => spare.url.replace(/token=kgpt_\w+/, `token=kgpt_${Math.random().toString(36).slice(2).padEnd(32, "x")}`);
    const fakeCookie = { cookie: `__Host-keygate_portal=${account}.test.ps_${"a".repeat(24)}.kgps_${"b".repeat(32)}` };
    for (let i = 0; i < LIMIT; i++) {
      const r = i % 2 ? await plainRequest(guess(), from) : await plainRequest(`${MAIN}/_keygate/portal/api/keys`, { headers: { ...from.headers, ...fakeCookie } });
      assert.equal(r.json.error.code, i % 2 ? "portal_link_invalid" : "portal_session_invalid", `failure ${i + 1}`);
    }
    for (const r of [
      await plainRequest(guess(), from),
      await plainRequest(`${MAIN}/_keygate/portal/api/session`, { headers: { ...from.headers, ...fakeCookie } }),
    ]) {
      assert.equal(r.status, 429, r.text);
      assert.equal(r.json.error.code, "too_many_failed_attempts");
      assert.ok(Number(r.headers["retry-after"]) > 0);
    }
    // Nothing is looked up for a throttled address, not even a real link (a real key is, as at
    // the edge, judged without a store read: a link or a session needs one).
    const real = await plainRequest(spare.url, from);
    assert.equal(real.status, 429, real.text);
    // No cookie at all is no guess: never counted.
    const quiet = { "cf-connecting-ip": `100.125.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}` };
    for (let i = 0; i < LIMIT + 5; i++) {
      const r = await plainRequest(`${MAIN}/_keygate/portal/api/session`, { headers: quiet });
      assert.equal(r.json.error.code, "portal_session_missing", `request ${i + 1}`);
    }
  });
});

describe("PORTAL_HOST", () => {
  it("serves the portal and the console there only, proxies nothing there, and mints links for it", async () => {
    // The `pinned` instance has PORTAL_HOST=keys.localhost, reached by its Host header.
    const url = E.urls.pinned;
    const port = new URL(url).port;
    const at = (host, lines) =>
      rawSocket(url, [...lines, `Host: ${host}:${port}`, `CF-Connecting-IP: ${randomClientIp()}`].join("\r\n"));
    // Elsewhere: no portal, no console.
    for (const path of ["/_keygate/portal/", "/_keygate/console/", "/_keygate/console/api/session"]) {
      const r = await rawRequest(`${url}${path}`);
      assert.equal(r.status, 404, `${path}: ${r.text}`);
    }
    // The operator, calling from another host, gets a link on the portal's host.
    const account = newAccount();
    const minted = await admin("POST", `/accounts/${account}/portal_sessions`, { url, body: { mode: "test", return_url: RETURN_URL } });
    assert.equal(minted.status, 201, minted.text);
    assert.match(minted.json.url, /^https:\/\/keys\.localhost\/_keygate\/portal\/start\?account=/);
    // There: the pages and the link.
    const page = await at("keys.localhost", ["GET /_keygate/portal/ HTTP/1.1"]);
    assert.equal(page.status, 200);
    assert.match(page.headers["content-security-policy"], new RegExp(`script-src https://keys\\.localhost:${port}/_keygate/ui/;`));
    const start = new URL(minted.json.url);
    const opened = await at("keys.localhost", [`GET ${start.pathname}${start.search} HTTP/1.1`]);
    assert.equal(opened.status, 303, opened.text);
    // And nothing of the API's origin, even with a valid key.
    const key = await createKey({ url });
    const proxied = await at("keys.localhost", ["GET /v1/charges HTTP/1.1", `Authorization: Bearer ${key.secret}`]);
    assert.equal(proxied.status, 404, proxied.text);
    assert.equal(proxied.json.error.code, "resource_missing");
    assert.equal((await request(`${url}/v1/charges`, { headers: { authorization: bearer(key.secret) } })).status, 200);
  });
});

describe("the pages' assets", () => {
  it("are Workers Static Assets: served by the platform, not the Worker, with their own headers", async () => {
    for (const file of ["portal.js", "console.js", "common.js", "keygate.css"]) {
      const r = await rawRequest(`${MAIN}/_keygate/ui/${file}`);
      assert.equal(r.status, 200, file);
      assert.match(r.headers["content-type"], file.endsWith(".css") ? /text\/css/ : /javascript/);
      // Every answer of the Worker carries a request id; the platform's asset server's do not.
      assert.equal(r.headers["keygate-request-id"], undefined, file);
      assert.equal(r.headers["x-content-type-options"], "nosniff");
      assert.match(r.headers["content-security-policy"], /frame-ancestors 'none'/);
    }
    // The pages themselves are the Worker's (their headers follow the deployment's vars).
    const page = await rawRequest(`${MAIN}/_keygate/portal/`);
    assert.ok(page.headers["keygate-request-id"]);
    assert.match(page.text, /<script type="module" src="\/_keygate\/ui\/portal.js"><\/script>/);
    assert.doesNotMatch(page.text, /<script>|<script [^>]*>[^<]/, "no inline script");
    const bare = await rawRequest(`${MAIN}/_keygate/portal`);
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.location, "/_keygate/portal/");
  });
});

describe("the operator console", () => {
  it("signs in with the admin token, finds keys, acts on them, mints a portal link, signs out", async () => {
    const account = newAccount();
    const a = await createKey({ account, name: "billing worker" });
    const b = await createKey({ account, name: "mobile app", type: "publishable" });
    const context = await browser.createBrowserContext();
    await context.overridePermissions(MAIN, ["clipboard-read", "clipboard-write"]);
    const page = await newPage(context);
    const res = await page.goto(`${MAIN}/_keygate/console/`, { waitUntil: "networkidle0" });
    assert.match(res.headers()["content-security-policy"], /script-src https:\/\/127\.0\.0\.1:\d+\/_keygate\/ui\/;.*frame-ancestors 'none'$/);
    await page.waitForSelector("#sign-in:not([hidden])");

    await page.type("#token", "not-the-token");
    await click(page, "Sign in");
    await said(page, /admin_token_invalid/);
    const challenge = await rawRequest(`${MAIN}/_keygate/console/api/session`);
    assert.equal(challenge.json.error.code, "portal_session_missing");
    assert.equal(challenge.headers["www-authenticate"], undefined);
    await page.type("#token", E.secrets.ADMIN_TOKEN);
    await click(page, "Sign in");
    await page.waitForSelector("#app:not([hidden])");
    const cookies = await context.cookies();
    assert.deepEqual(cookies.map((c) => [c.name, c.httpOnly, c.secure, c.sameSite]), [["__Host-keygate_console", true, true, "Strict"]]);
    const kept = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.documentElement.outerHTML);
    assert.ok(!kept.includes(E.secrets.ADMIN_TOKEN), "the admin token is kept nowhere in the page");

    await page.type("#account-id", account);
    await click(page, "Open");
    await row(page, a.id);
    await row(page, b.id);
    await page.waitForSelector("#events tbody tr");

    // Find by raw key (pasted by a customer), by last four, by id.
    await page.select("#find-by", "raw");
    await page.type("#find-value", a.secret);
    await click(page, "Find");
    await said(page, new RegExp(`Found .*${a.last4}`));
    assert.equal(await page.$eval("#find-value", (i) => i.value), "", "the raw key is cleared from the form");
    assert.ok(!(await page.content()).includes(a.secret));
    await page.select("#find-by", "last4");
    await page.type("#find-value", b.last4);
    await click(page, "Find");
    await page.waitForSelector(`#found-slot tr[data-key="${b.id}"]`);
    await page.select("#find-by", "id");
    await page.$eval("#find-value", (i) => (i.value = ""));
    await page.type("#find-value", a.id);
    await click(page, "Find");
    await page.waitForSelector(`#found-slot tr[data-key="${a.id}"]`);

    // Revoke b from the account's table.
    const table = await page.$("#keys-slot");
    await click(await table.$(`tr[data-key="${b.id}"]`), "Revoke");
    await page.waitForSelector("dialog[open]");
    await click(page, "Confirm");
    await said(page, /revoked/);
    assert.equal((await admin("GET", `/accounts/${account}/keys/${b.id}`)).json.status, "revoked");

    // A portal link for the account, which works.
    await page.type("#link-return", RETURN_URL);
    await page.select("#link-mode", "test");
    await page.type("#link-credits", "7");
    await click(page, "Create portal link");
    const url = await page.waitForSelector("#portal-url").then((e) => e.evaluate((c) => c.textContent));
    assert.match(url, /\/_keygate\/portal\/start\?account=acct_/);
    if (process.env.KEYGATE_UPDATE_SCREENSHOTS) await page.screenshot({ path: path.join(shots, "console.png"), fullPage: true });
    const portal = await newPage(await browser.createBrowserContext());
    await portal.goto(url, { waitUntil: "networkidle0" });
    await row(portal, a.id);
    // The link's key defaults, set in the console, are the new key's.
    await portal.type("#create-name", "from the console's link");
    await click(portal, "Create key");
    issued(await portal.waitForSelector("#secret-value").then((e) => e.evaluate((c) => c.textContent)));
    const made = (await admin("GET", `/accounts/${account}/keys?mode=test`)).json.data.find((k) => k.name === "from the console's link");
    assert.equal(made.credits.remaining, 7);
    assert.equal(made.rate_limit, null);
    await portal.browserContext().close();

    // A change without the CSRF token is refused here too.
    const noCsrf = await pageFetch(page, `/_keygate/console/api/v1/accounts/${account}/keys/${a.id}`, { method: "DELETE" });
    assert.equal(noCsrf.json.error.code, "portal_csrf_invalid");

    await click(page, "Sign out");
    await said(page, /Signed out/);
    await page.waitForSelector("#sign-in:not([hidden])");
    const after = await pageFetch(page, "/_keygate/console/api/v1/accounts/" + account + "/keys");
    assert.equal(after.status, 401);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
