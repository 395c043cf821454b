// Logging that survives a flood: the first refusals per client address, code and minute are
// logged in full, the rest counted in one summary line, and the counts add up.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { call, E } from "./helpers.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const logFile = path.join(E.runDir, "wrangler-main.log");

/** The JSON lines of the main instance's log that satisfy `pick`. */
function lines(pick) {
  return fs
    .readFileSync(logFile, "utf8")
    .split("\n")
    .filter((l) => l.includes("{"))
    .map((l) => {
      try {
        // With several workers in one wrangler dev, each line starts with the worker's label.
        return JSON.parse(l.slice(l.indexOf("{")));
      } catch {
        return null;
      }
    })
    .filter((l) => l && pick(l));
}

describe("logging under a flood of refusals", () => {
  it("N refusals from one address give a bounded number of lines whose counts add up to N", async () => {
    const N = 40;
    // Start early in a minute, so the whole flood falls in one window.
    const into = (Date.now() / 1000) % 60;
    if (into > 30) await sleep((61 - into) * 1000);
    const windowStart = Math.floor(Date.now() / 60_000) * 60;
    const ip = `100.99.${crypto.randomInt(256)}.${crypto.randomInt(256)}`;
    const flood = `/v1/flood-${crypto.randomBytes(6).toString("hex")}`;
    for (let i = 0; i < N; i++) {
      const res = await call(flood, { headers: { "cf-connecting-ip": ip } });
      assert.equal(res.json.error.code, "api_key_missing");
    }
    // The summary comes with the first request after the window ends, whoever sends it.
    await sleep(Math.max(0, (windowStart + 61) * 1000 - Date.now()));
    await call("/v1/after-the-flood", { headers: { "cf-connecting-ip": "100.98.0.1" } });
    let full = [];
    let summaries = [];
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      full = lines((l) => l.path === flood);
      summaries = lines((l) => l.summary === "refusals" && l.client_ip === ip);
      if (summaries.length) break;
    }
    assert.equal(full.length, 5, "the first five in full");
    for (const l of full) {
      assert.equal(l.client_ip, ip);
      assert.equal(l.code, "api_key_missing");
      assert.equal(l.decision, "deny");
    }
    assert.equal(summaries.length, 1, JSON.stringify(summaries));
    const s = summaries[0];
    assert.deepEqual(
      [s.code, s.window_start, s.window_seconds, s.refusals, s.logged, s.suppressed],
      ["api_key_missing", windowStart, 60, N, 5, N - 5],
    );
    assert.equal(full.length + s.suppressed, N, "every refusal is accounted for");
  });
});
