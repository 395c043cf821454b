// `keygate doctor` and `keygate init`: what a deployment needs, checked or made. Pure functions
// over the two wrangler files and `.dev.vars`, so that they are tested without a deployment; the
// CLI adds the calls to a running one and to wrangler.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parse as parseToml } from "smol-toml";

/** The secrets each worker needs: the full worker (wrangler.toml) and the lean edge. */
export const SECRETS = {
  full: ["KEY_PEPPER", "ADMIN_TOKEN"],
  edge: ["KEY_PEPPER", "ORIGIN_SIGNING_SECRET"],
  // What `npm start` runs locally: one worker, which proxies too.
  local: ["KEY_PEPPER", "ADMIN_TOKEN", "ORIGIN_SIGNING_SECRET"],
};
/** How each generated secret starts (as scripts/setup.sh makes them). */
export const PREFIXES = { KEY_PEPPER: "", ADMIN_TOKEN: "adm_", ORIGIN_SIGNING_SECRET: "sig_", WEBHOOK_SIGNING_SECRET: "whsec_" };
const MIN_SECRET = 32;

/** A strong secret for `name`: its prefix and 32 random bytes in hex. */
export function newSecret(name) {
  return `${PREFIXES[name] ?? ""}${crypto.randomBytes(32).toString("hex")}`;
}

/** One `.dev.vars` line as dotenv reads it (`NAME=v`, `export NAME=v`, `NAME: v`), or null. */
const DEV_VAR = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.*)$/;

/** Parse a dotenv file (as wrangler reads `.dev.vars`: the last of a name wins); {} if absent. */
export function readDevVars(file) {
  if (!fs.existsSync(file)) return {};
  const out = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = DEV_VAR.exec(line);
    if (m && !line.trim().startsWith("#")) out[m[1]] = m[2].trim().replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
  }
  return out;
}

/**
 * Add the secrets `npm start` needs to `.dev.vars` in `dir` (created with mode 0600), each only
 * if absent: an existing secret is never replaced (a new KEY_PEPPER would invalidate every key).
 * Returns the names generated and the names kept; never a value.
 */
export function initDevVars(dir, names = SECRETS.local) {
  const file = path.join(dir, ".dev.vars");
  // A name on any line at all (even empty, even commented out by a later edit) is left alone:
  // appending a second one would replace the first for wrangler.
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  const named = new Set(text.split("\n").map((l) => DEV_VAR.exec(l.replace(/^\s*#\s*/, ""))?.[1]).filter(Boolean));
  const generated = names.filter((n) => !named.has(n));
  const kept = names.filter((n) => named.has(n));
  if (generated.length) {
    const lines = generated.map((n) => `${n}="${newSecret(n)}"`).join("\n");
    fs.writeFileSync(file, `${text}${text && !text.endsWith("\n") ? "\n" : ""}${lines}\n`, { mode: 0o600 });
  }
  fs.chmodSync(file, 0o600);
  return { file, generated, kept };
}

/** Both wrangler files of `dir`, parsed; a file that cannot be read or parsed is a finding. */
export function readConfigs(dir) {
  const read = (name) => {
    const file = path.join(dir, name);
    try {
      return { file, config: parseToml(fs.readFileSync(file, "utf8")) };
    } catch (e) {
      return { file, error: e.code === "ENOENT" ? "not found" : `not valid TOML (${String(e.message).split("\n")[0]})` };
    }
  };
  return { full: read("wrangler.toml"), edge: read("wrangler.edge.toml") };
}

const plain = (v) => JSON.parse(JSON.stringify(v ?? null));
const same = (a, b) => JSON.stringify(plain(a)) === JSON.stringify(plain(b));

/** Each check: `{ ok, what }`; `what` says precisely what is right or wrong. */
export function checkConfigs({ full, edge }) {
  const out = [];
  const check = (ok, what) => out.push({ ok: Boolean(ok), what });
  for (const f of [full, edge]) check(!f.error, `${path.basename(f.file)}: ${f.error ?? "read"}`);
  if (full.error || edge.error) return out;
  const F = full.config;
  const E = edge.config;
  // The two files agree where the edge and the authority must.
  check(F.compatibility_date === E.compatibility_date, "compatibility_date is the same in both files");
  const vars = new Set([...Object.keys(F.vars ?? {}), ...Object.keys(E.vars ?? {})]);
  for (const name of [...vars].sort()) {
    check((F.vars ?? {})[name] === (E.vars ?? {})[name], `var ${name} is the same in wrangler.toml and wrangler.edge.toml`);
  }
  check(same(F.kv_namespaces, E.kv_namespaces), "[[kv_namespaces]] are the same in both files");
  check(same(F.ratelimits, E.ratelimits), "[[ratelimits]] are the same in both files");
  // The portal's and console's script and style: served by whichever worker gets the request.
  check(F.assets?.directory && same(F.assets, E.assets), "[assets] (the portal's and console's script and style) are the same in both files");
  // Bindings.
  for (const mode of ["TEST", "LIVE"]) {
    const kv = (F.kv_namespaces ?? []).find((k) => k.binding === `KEYS_${mode}`);
    check(kv?.id, `KV namespace KEYS_${mode} is bound, with an id`);
  }
  const ids = (F.kv_namespaces ?? []).map((k) => k.id);
  check(new Set(ids).size === ids.length, "KEYS_TEST and KEYS_LIVE are different namespaces");
  const ds = (F.durable_objects?.bindings ?? []).find((b) => b.name === "KEYSTORE");
  check(ds?.class_name === "KeyStore", "wrangler.toml binds KEYSTORE to its class KeyStore");
  const migrated = (F.migrations ?? []).some((m) => (m.new_sqlite_classes ?? []).includes("KeyStore"));
  check(migrated, "wrangler.toml has a migration with KeyStore in new_sqlite_classes");
  const edgeDs = (E.durable_objects?.bindings ?? []).find((b) => b.name === "KEYSTORE");
  check(edgeDs?.script_name === F.name, `wrangler.edge.toml binds KEYSTORE to the full worker's class (script_name = "${F.name}")`);
  const authority = (E.services ?? []).find((s) => s.binding === "AUTHORITY");
  check(authority?.service === F.name, `wrangler.edge.toml binds AUTHORITY to the full worker (service = "${F.name}")`);
  const rl = (F.ratelimits ?? []).find((r) => r.name === "AUTH_FAILURES");
  check(rl && rl.simple?.limit >= 1 && [10, 60].includes(rl.simple?.period), "AUTH_FAILURES is a rate limit with a limit and a period of 10 or 60 s");
  // Vars, as the worker reads them (an invalid one is a 500 misconfigured at run time).
  for (const [name, ok, why] of varChecks(F.vars ?? {})) check(ok, `var ${name}: ${why}`);
  return out;
}

/** [name, ok, what] for each var keygate reads that is set (or required). */
/** The shape of `KEY_FORMAT` (the worker checks the rest: ambiguity, entropy, the alphabet). */
function keyFormat(f) {
  const obj = (o) => o !== null && typeof o === "object" && !Array.isArray(o);
  const only = (o, keys) => obj(o) && Object.keys(o).every((k) => keys.includes(k));
  const modes = (m) => only(m, ["test", "live"]) && typeof m.test === "string" && typeof m.live === "string" && m.test !== "" && m.live !== "";
  const p = f?.prefixes;
  return (
    only(f, ["prefixes", "alphabet", "random_length", "imported"]) &&
    only(p, ["secret", "publishable", "restricted"]) &&
    modes(p.secret) &&
    [p.publishable, p.restricted].every((m) => m === undefined || modes(m)) &&
    (f.alphabet === undefined || typeof f.alphabet === "string") &&
    (f.random_length === undefined || Number.isInteger(f.random_length)) &&
    (f.imported === undefined || (only(f.imported, ["min_length", "max_length"]) && Number.isInteger(f.imported.min_length) && Number.isInteger(f.imported.max_length) && f.imported.min_length <= f.imported.max_length))
  );
}

export function varChecks(v) {
  const url = (s, https) => {
    try {
      const u = new URL(s);
      const loop = ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
      return https ? u.protocol === "https:" || (u.protocol === "http:" && loop) : ["http:", "https:"].includes(u.protocol);
    } catch {
      return false;
    }
  };
  const int = (s, lo, hi) => /^\d+$/.test(String(s)) && Number(s) >= lo && Number(s) <= hi;
  const json = (s, shape) => {
    try {
      return shape(JSON.parse(s));
    } catch {
      return false;
    }
  };
  const out = [];
  // A worker reads a var as a string: an unquoted TOML number or boolean is not one, and is
  // ignored (its default is used) or refused.
  for (const [name, value] of Object.entries(v)) {
    if (typeof value !== "string") out.push([name, false, `must be a quoted string (got ${JSON.stringify(value)})`]);
  }
  const set = (name) => typeof v[name] === "string" && v[name] !== "";
  for (const name of ["ORIGIN_TEST", "ORIGIN_LIVE"]) {
    out.push([name, url(v[name] ?? "", false), set(name) ? "an absolute http(s) URL" : "missing: where this mode's requests go"]);
  }
  const optional = [
    ["KV_CACHE_TTL", (s) => int(s, 30, 86400), "seconds, 30 to 86400"],
    ["EDGE_CACHE_TTL", (s) => int(s, 0, 60), "seconds, 0 to 60"],
    ["MAX_KEYS_PER_ACCOUNT", (s) => int(s, 1, 100000), "1 to 100000"],
    ["ON_EXPOSURE", (s) => ["flag", "expire"].includes(s), '"flag" or "expire"'],
    ["ON_LEAK", (s) => ["flag", "expire"].includes(s), '"expire" or "flag"'],
    ["LOG_REQUESTS", (s) => ["denied", "all", "none"].includes(s), '"denied", "all" or "none"'],
    ["PUBLISHABLE_ALLOWLIST", (s) => json(s, (a) => Array.isArray(a) && a.every(endpoint)), 'a JSON array of "METHOD /path" (the path starts with /)'],
    ["RESOURCE_MAP", (s) => json(s, resourceMap), 'a JSON object: an optional "prefix" starting with /, and "routes" of "/path pattern": "resource"'],
    ["WEBHOOK_URL", (s) => url(s, true), "https (http only to a loopback host)"],
    ["SECRET_SCANNING_KEYS_URL", (s) => url(s, true), "https (http only to a loopback host)"],
    ["ERROR_DOC_URL", (s) => url(s, false), "an absolute URL"],
    ["PORTAL_HOST", (s) => /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(s), "a host name such as keys.example.com (no scheme, no port, lower case)"],
    ["PORTAL_FRAME_ANCESTORS", frameAncestors, "https origins (https://host[:port], no path or wildcard) separated by spaces or commas"],
    ["KEY_FORMAT", (s) => json(s, keyFormat), 'a JSON object: "prefixes" ({"secret": {"test", "live"}, optional "publishable" and "restricted"}), optional "alphabet", "random_length" and "imported" {"min_length", "max_length"} (the worker also refuses ambiguous prefixes and fewer than 128 random bits)'],
  ];
  for (const [name, ok, why] of optional) if (set(name)) out.push([name, ok(v[name]), why]);
  return out;
}

/** `PORTAL_FRAME_ANCESTORS`, as the worker reads it (domain/portal.rs): each item an https origin. */
function frameAncestors(s) {
  return s.split(/[ ,]/).filter(Boolean).every((item) => {
    try {
      const u = new URL(item);
      return u.protocol === "https:" && u.origin === item.replace(/\/$/, "") && !item.includes("*");
    } catch {
      return false;
    }
  });
}

/** One `"METHOD /path"` entry, as the worker's pattern parser (policy/pattern.rs) takes it. */
function endpoint(p) {
  if (typeof p !== "string") return false;
  const t = p.trim();
  const i = t.indexOf(" ");
  return i > 0 && (t.slice(0, i) === "*" || /^[A-Z]+$/.test(t.slice(0, i))) && pathPattern(t.slice(i + 1).trim());
}

/** A path pattern: `/`, then segments that are literal, `*`, `{name}`, or a final `**`. */
function pathPattern(path) {
  if (!path.startsWith("/")) return false;
  const parts = path.length === 1 ? [] : path.slice(1).split("/");
  return parts.every(
    (seg, i) =>
      seg !== "" &&
      (seg === "**" ? i === parts.length - 1 : seg === "*" || /^\{.+\}$/.test(seg) || (/^[\x21-\x7e]+$/.test(seg) && !/[{}*?#]/.test(seg))),
  );
}

/** `RESOURCE_MAP`'s shape: `{"prefix": "/v1/", "routes": {"/v1/x/*": "x"}}`, both optional. */
function resourceMap(o) {
  if (!o || typeof o !== "object" || Array.isArray(o)) return false;
  if (Object.keys(o).some((k) => !["prefix", "routes"].includes(k))) return false;
  if (o.prefix !== undefined && !(typeof o.prefix === "string" && o.prefix.startsWith("/") && o.prefix.endsWith("/"))) return false;
  const routes = o.routes ?? {};
  if (typeof routes !== "object" || Array.isArray(routes)) return false;
  return Object.entries(routes).every(([k, r]) => pathPattern(k) && typeof r === "string" && /^[a-z0-9_.]{1,64}$/.test(r));
}

/** The local secrets (`.dev.vars`) `npm start` needs, and the optional ones if set. */
export function checkDevVars(devVars, vars = {}) {
  const out = [];
  for (const name of SECRETS.local) {
    const v = devVars[name];
    out.push({ ok: Boolean(v) && Buffer.byteLength(v) >= MIN_SECRET, what: `.dev.vars ${name}: ${v ? (Buffer.byteLength(v) >= MIN_SECRET ? "set" : `shorter than ${MIN_SECRET} bytes`) : "missing (keygate init makes it)"}` });
  }
  for (const name of ["KEY_PEPPER_PREVIOUS", "ADMIN_TOKEN_PREVIOUS", "ORIGIN_SIGNING_SECRET_PREVIOUS", "WEBHOOK_SIGNING_SECRET", "WEBHOOK_SIGNING_SECRET_PREVIOUS"]) {
    if (devVars[name] !== undefined) {
      const long = Buffer.byteLength(devVars[name]) >= MIN_SECRET;
      out.push({ ok: long, what: `.dev.vars ${name}: ${long ? "set" : `shorter than ${MIN_SECRET} bytes`}` });
    }
  }
  if (vars.WEBHOOK_URL) {
    out.push({ ok: Boolean(devVars.WEBHOOK_SIGNING_SECRET), what: `WEBHOOK_URL is set, so WEBHOOK_SIGNING_SECRET ${devVars.WEBHOOK_SIGNING_SECRET ? "is" : "must be"} in .dev.vars` });
  }
  return out;
}
