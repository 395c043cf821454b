// The two deployable workers (README, "Deploying") must agree: the lean edge (wrangler.edge.toml)
// reads the same KV namespaces, vars and rate limit as the full worker (wrangler.toml) whose
// Durable Objects and management API it uses. A var changed in one file only would make the edge
// and the authority disagree about keys, so this compares the files section by section.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../../scripts/lib/dev.mjs";

/** wrangler.toml as [{ header, entries: {key: raw value text} }], comments and blanks dropped. */
function sections(file) {
  const out = [{ header: "", entries: {} }];
  for (const raw of fs.readFileSync(path.join(ROOT, file), "utf8").split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    if (line.startsWith("[")) {
      out.push({ header: line, entries: {} });
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(eq > 0, `${file}: cannot read ${JSON.stringify(line)}`);
    out.at(-1).entries[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}
const pick = (secs, header) => secs.filter((s) => s.header === header).map((s) => s.entries);

const full = sections("wrangler.toml");
const edge = sections("wrangler.edge.toml");

describe("wrangler.edge.toml agrees with wrangler.toml", () => {
  it("same compatibility date, vars, KV namespaces, rate limit and observability", () => {
    assert.equal(edge[0].entries.compatibility_date, full[0].entries.compatibility_date);
    for (const h of ["[vars]", "[[kv_namespaces]]", "[[ratelimits]]", "[observability]", "[observability.logs]", "[observability.traces]"]) {
      assert.ok(pick(full, h).length > 0, `wrangler.toml has ${h}`);
      assert.deepEqual(pick(edge, h), pick(full, h), h);
    }
  });

  it("the edge binds to the full worker's KeyStore class and serves none itself", () => {
    const name = full[0].entries.name;
    assert.equal(name, '"keygate"');
    assert.deepEqual(pick(edge, "[[durable_objects.bindings]]"), [{ name: '"KEYSTORE"', class_name: '"KeyStore"', script_name: name }]);
    assert.deepEqual(pick(edge, "[[services]]"), [{ binding: '"AUTHORITY"', service: name }]);
    assert.deepEqual(pick(edge, "[[migrations]]"), [], "the class lives in the full worker");
    assert.ok(pick(full, "[[migrations]]").length > 0);
  });

  it("each builds its own bundle", () => {
    assert.equal(full[0].entries.main, '"build/worker/shim.mjs"');
    assert.equal(edge[0].entries.main, '"build-edge/worker/shim.mjs"');
    assert.equal(pick(full, "[build]")[0].command, '"bash scripts/build.sh full"');
    assert.equal(pick(edge, "[build]")[0].command, '"bash scripts/build.sh edge"');
  });
});
