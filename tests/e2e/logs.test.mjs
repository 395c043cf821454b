// Logging that survives a flood: the first refusals per client address, code and minute are
// logged in full, within a budget per code and minute whatever the address; the rest are counted
// in summary lines (per address for the busiest, one line for the others), and the counts add up.
// Its own instance, so that its log holds only these requests and every count can be exact.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { freePort, startWrangler } from "../../scripts/lib/dev.mjs";
import { call, E } from "./helpers.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const logFile = path.join(E.runDir, "wrangler-logs.log");
// The core's constants (crates/keygate-core/src/policy/refusal_log.rs).
const FULL_LINES = 5;
const FULL_LINES_PER_CODE = 100;
const SUMMARY_ADDRESSES = 20;

/** The JSON lines of this suite's instance's log that satisfy `pick`. */
function lines(pick) {
  return fs
    .readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.includes("{"))
    .map((l) => {
      try {
        return JSON.parse(l.slice(l.indexOf("{")));
      } catch {
        return null;
      }
    })
    .filter((l) => l && pick(l));
}

let w;
before(async () => {
  w = await startWrangler({
    port: await freePort(),
    protocol: "https",
    envFile: E.secretsFile,
    vars: { ORIGIN_TEST: E.origins.test, ORIGIN_LIVE: E.origins.live },
    persistTo: path.join(E.runDir, "state-logs"),
    logFile,
  });
});
after(async () => {
  await w?.stop();
});

describe("logging under a flood of refusals", () => {
  it("from one address and from a new address every time: bounded lines whose counts add up", async () => {
    const url = w.url;
    // Start early in a minute, so that both floods fall in one window.
    const into = (Date.now() / 1000) % 60;
    if (into > 30) await sleep((61 - into) * 1000);
    const windowStart = Math.floor(Date.now() / 60_000) * 60;
    const run = crypto.randomBytes(6).toString("hex");

    // 1. N refusals from one address.
    const N = 40;
    const ip = `100.99.${crypto.randomInt(256)}.${crypto.randomInt(256)}`;
    const flood = `/v1/flood-${run}`;
    for (let i = 0; i < N; i++) {
      const res = await call(flood, { url, headers: { "cf-connecting-ip": ip } });
      assert.equal(res.json.error.code, "api_key_missing");
    }
    // 2. M refusals of another code, each from a new address, ten at a time.
    const M = 150;
    const spread = `/v1/spread-${run}`;
    const malformed = `Bearer sk_test_${"A".repeat(38)}`;
    for (let i = 0; i < M; i += 10) {
      const batch = Array.from({ length: 10 }, (_, j) =>
        call(spread, { url, headers: { authorization: malformed, "cf-connecting-ip": `100.64.${(i + j) >> 8}.${(i + j) & 255}` } }),
      );
      for (const res of await Promise.all(batch)) assert.equal(res.json.error.code, "api_key_invalid");
    }
    assert.equal(Math.floor(Date.now() / 60_000) * 60, windowStart, "both floods within one window");

    // The summaries come with the first request after the window ends, whoever sends it.
    await sleep(Math.max(0, (windowStart + 61) * 1000 - Date.now()));
    await call("/v1/after-the-floods", { url, headers: { "cf-connecting-ip": "100.98.0.1" } });
    let summaries = [];
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      summaries = lines((l) => l.summary === "refusals" && l.window_start === windowStart);
      if (summaries.some((s) => s.code === "api_key_invalid") && summaries.some((s) => s.client_ip === ip)) break;
    }

    // 1: the first five in full, then one summary line for the rest.
    const full = lines((l) => l.path === flood);
    assert.equal(full.length, FULL_LINES, "the first five in full");
    for (const l of full) {
      assert.deepEqual([l.client_ip, l.code, l.decision], [ip, "api_key_missing", "deny"]);
    }
    const mine = summaries.filter((s) => s.code === "api_key_missing");
    assert.equal(mine.length, 1, JSON.stringify(mine));
    assert.deepEqual(
      [mine[0].client_ip, mine[0].addresses, mine[0].window_seconds, mine[0].refusals, mine[0].logged, mine[0].suppressed],
      [ip, 1, 60, N, FULL_LINES, N - FULL_LINES],
    );

    // 2: the code's budget of full lines, then the busiest addresses one by one and the others
    // in one line: bounded, and adding up to M.
    const spreadFull = lines((l) => l.path === spread);
    assert.equal(spreadFull.length, FULL_LINES_PER_CODE, "the code's budget of full lines, no more");
    const invalid = summaries.filter((s) => s.code === "api_key_invalid");
    const perAddress = invalid.filter((s) => s.client_ip !== null);
    const others = invalid.filter((s) => s.client_ip === null);
    assert.equal(perAddress.length, SUMMARY_ADDRESSES, JSON.stringify(invalid));
    assert.equal(others.length, 1, JSON.stringify(invalid));
    assert.equal(others[0].addresses, M - FULL_LINES_PER_CODE - SUMMARY_ADDRESSES);
    const suppressed = invalid.reduce((n, s) => n + s.suppressed, 0);
    assert.equal(spreadFull.length + suppressed, M, "every refusal is accounted for");
    for (const s of invalid) assert.equal(s.refusals, s.logged + s.suppressed);
    const addresses = new Set([...spreadFull.map((l) => l.client_ip), ...perAddress.map((s) => s.client_ip)]);
    assert.equal(addresses.size + others[0].addresses, M, "every address is in a full line or a summary");
  });
});
