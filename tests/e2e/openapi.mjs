// Checks real management-API responses against openapi.yaml: the operation (path template and
// method) and the status must be declared, and the body must match that response's schema.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import YAML from "yaml";
import { ROOT, admin as devAdmin, request as devRequest } from "../../scripts/lib/dev.mjs";

const PREFIX = "/_keygate/v1";
const spec = YAML.parse(fs.readFileSync(path.join(ROOT, "openapi.yaml"), "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema(spec, "openapi");

const escape = (p) => p.replaceAll("~", "~0").replaceAll("/", "~1");
const routes = Object.keys(spec.paths).map((template) => ({
  template,
  re: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`),
}));

function deref(obj) {
  let o = obj;
  while (o && o.$ref) o = o.$ref.split("/").slice(1).reduce((a, k) => a[k.replaceAll("~1", "/").replaceAll("~0", "~")], spec);
  return o;
}

function validator(pointer) {
  const v = ajv.getSchema(`openapi#${pointer}`);
  assert.ok(v, `no schema at ${pointer}`);
  return v;
}

const TEST_BUILD_ONLY = /^\/accounts\/[^/]+\/test_clock$/;

/** Assert that the response to `method url` is described by openapi.yaml. */
export function checkResponse(method, url, res) {
  const u = new URL(url);
  if (!u.pathname.startsWith(PREFIX)) return;
  const rel = u.pathname.slice(PREFIX.length) || "/";
  // The `test-clock` build's own route (keygate's tests only, never deployed) is not the API.
  if (TEST_BUILD_ONLY.test(rel)) return;
  const route = routes.find((r) => r.re.test(rel));
  const op = route && spec.paths[route.template][method.toLowerCase()];
  let pointer;
  if (!op) {
    // Undeclared paths and methods: 404 / 405 (or an earlier refusal), always in the Error shape.
    pointer = "/components/schemas/Error";
    assert.ok(res.status >= 400, `${method} ${rel} is not in openapi.yaml but answered ${res.status}`);
  } else {
    const declared = op.responses[String(res.status)];
    assert.ok(declared, `openapi.yaml: ${method} ${route.template} does not declare status ${res.status}`);
    const response = deref(declared);
    assert.ok(response.content?.["application/json"], `${method} ${route.template} ${res.status} has no JSON body`);
    const base = declared.$ref
      ? declared.$ref.slice(1)
      : `/paths/${escape(route.template)}/${method.toLowerCase()}/responses/${res.status}`;
    pointer = `${base}/content/application~1json/schema`;
  }
  const validate = validator(pointer);
  assert.ok(
    validate(res.json),
    `${method} ${rel} → ${res.status} does not match openapi.yaml (${pointer}): ${ajv.errorsText(validate.errors)}\n${res.text}`,
  );
}

/**
 * For suites that start their own instances (serial/): the management API and plain requests
 * through scripts/lib/dev.mjs, every management answer checked against openapi.yaml.
 */
export async function checkedAdmin(base, token, method, path, body) {
  const res = await devAdmin(base, token, method, path, body);
  checkResponse(method, `${base}/_keygate/v1${path}`, res);
  return res;
}

/** A request whose answer, if it comes from the management API, is checked against openapi.yaml. */
export async function checkedRequest(url, opts = {}) {
  const res = await devRequest(url, opts);
  checkResponse(opts.method ?? "GET", url, res);
  return res;
}
