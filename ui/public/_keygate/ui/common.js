// keygate's pages (portal and console): shared helpers. No framework, no third-party origin:
// the pages' Content-Security-Policy allows this origin's script, style and API only.

/** The session's CSRF token, kept in memory only (never in storage or a URL). */
let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

/** An API call of `base` (the page's API root). Answers the JSON body; throws an Error with the
 * API's code and message on a refusal. */
export async function api(base, method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["Keygate-CSRF"] = csrf ?? "";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = new Error(json.error?.message ?? `HTTP ${res.status}`);
    e.code = json.error?.code ?? "http_" + res.status;
    e.status = res.status;
    throw e;
  }
  return json;
}

/** An element with attributes and children (strings become text, never HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function say(text, bad = false) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("bad", bad);
}

export function when(t) {
  if (t === null || t === undefined) return "—";
  return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

/** `prefix…last4`, as the key is shown everywhere after its creation. */
export function masked(k) {
  return `${k.prefix}…${k.last4}`;
}

/** The last 30 days' requests of `keys`, summed per day (UTC), oldest first. */
export function last30(keys, now = Date.now()) {
  const days = [];
  for (let i = 29; i >= 0; i--) {
    const d = new Date(now - i * 86400000).toISOString().slice(0, 10);
    days.push({ day: d, count: keys.reduce((n, k) => n + (k.usage?.[d] ?? 0), 0) });
  }
  return days;
}

/** A bar chart of `days` as SVG, with a text alternative. */
export function chart(days) {
  const ns = "http://www.w3.org/2000/svg";
  const total = days.reduce((n, d) => n + d.count, 0);
  const max = Math.max(1, ...days.map((d) => d.count));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 300 60");
  svg.setAttribute("role", "img");
  svg.setAttribute("class", "chart");
  svg.setAttribute("aria-label", `Requests in the last 30 days: ${total}`);
  days.forEach((d, i) => {
    const height = Math.round((d.count / max) * 56);
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", String(i * 10 + 1));
    bar.setAttribute("y", String(58 - height));
    bar.setAttribute("width", "8");
    bar.setAttribute("height", String(Math.max(height, 1)));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${d.day}: ${d.count}`;
    bar.append(title);
    svg.append(bar);
  });
  return svg;
}

/** The pages' confirmation dialog, made on first use. */
function confirmation() {
  const found = document.getElementById("confirm");
  if (found) return found;
  const dialog = h(
    "dialog",
    { id: "confirm", "aria-labelledby": "confirm-title" },
    h(
      "form",
      { method: "dialog" },
      h("h2", { id: "confirm-title" }),
      h("p", { id: "confirm-text" }),
      h("div", { id: "confirm-extra" }),
      h("p", {}, h("button", { type: "button", id: "confirm-cancel", class: "quiet" }, "Cancel"), " ", h("button", { type: "submit", class: "danger" }, "Confirm")),
    ),
  );
  document.querySelector("main").append(dialog);
  return dialog;
}

/** Ask for confirmation in the page's dialog. Resolves to the form's values, or null. */
export function confirmDialog(title, text, extra) {
  const dialog = confirmation();
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const slot = document.getElementById("confirm-extra");
  slot.replaceChildren(...(extra ? [extra] : []));
  return new Promise((resolve) => {
    const form = dialog.querySelector("form");
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      dialog.removeEventListener("cancel", onCancel);
      cancel.removeEventListener("click", onCancel);
      dialog.close();
      resolve(value);
    };
    const onSubmit = (e) => {
      e.preventDefault();
      done(Object.fromEntries(new FormData(form)));
    };
    const onCancel = (e) => {
      e.preventDefault();
      done(null);
    };
    const cancel = document.getElementById("confirm-cancel");
    form.addEventListener("submit", onSubmit);
    dialog.addEventListener("cancel", onCancel);
    cancel.addEventListener("click", onCancel);
    dialog.showModal();
  });
}

/** The grace periods a roll offers, in seconds. */
export const GRACE = [
  ["0", "Now"],
  ["3600", "1 hour"],
  ["86400", "24 hours"],
  ["259200", "3 days"],
  ["604800", "7 days"],
];

export function graceSelect() {
  return h(
    "p",
    {},
    h("label", { for: "grace" }, "Old key keeps working for"),
    " ",
    h("select", { id: "grace", name: "grace" }, GRACE.map(([v, t]) => h("option", { value: v, selected: v === "86400" }, t))),
  );
}

/** Show a new key's secret once: with a copy button and a warning. Dismissing it removes the
 * secret from the page; it is kept nowhere else (no storage, no URL). */
export function reveal(key) {
  const section = document.getElementById("reveal");
  let secret = key.secret;
  const code = h("code", { id: "secret-value" }, secret);
  const copied = h("span", { id: "copied", role: "status" });
  section.replaceChildren(
    h("h2", { id: "reveal-heading" }, "Your new key"),
    h("p", { class: "warning" }, "Copy this key now and store it securely. It will not be shown again: keygate keeps only a digest of it."),
    h("p", {}, code),
    h(
      "p",
      {},
      h("button", {
        type: "button",
        onclick: async () => {
          await navigator.clipboard.writeText(secret ?? "");
          copied.textContent = "Copied";
        },
      }, "Copy"),
      " ",
      h("button", {
        type: "button",
        onclick: () => {
          secret = null;
          section.replaceChildren();
          section.hidden = true;
          say(`Key ${masked(key)} created. Its secret is no longer shown.`);
        },
      }, "I have stored it"),
      " ",
      copied,
    ),
  );
  section.hidden = false;
  section.querySelector("button").focus();
}

/** The keys table, with the actions each key's status allows. */
export function keysTable(keys, actions) {
  const body = keys.map((k) =>
    h(
      "tr",
      { "data-key": k.id },
      h("td", {}, k.name || "—"),
      h("td", {}, k.type),
      h("td", {}, k.mode),
      h("td", {}, h("code", {}, masked(k))),
      h("td", {}, h("span", { class: `status ${k.status}` }, k.status)),
      h("td", {}, when(k.created_at)),
      h("td", {}, when(k.last_used)),
      h("td", {}, when(k.expires_at)),
      h(
        "td",
        { class: "actions" },
        k.status === "revoked" || k.status === "expired"
          ? "—"
          : [
              h("button", { type: "button", onclick: () => actions.roll(k) }, "Roll"),
              h("button", { type: "button", onclick: () => actions.expire(k) }, "Expire"),
              h("button", { type: "button", class: "danger", onclick: () => actions.revoke(k) }, "Revoke"),
            ],
      ),
    ),
  );
  return h(
    "table",
    { id: "keys" },
    h("caption", {}, `${keys.length} key${keys.length === 1 ? "" : "s"}`),
    h("thead", {}, h("tr", {}, ["Name", "Type", "Mode", "Key", "Status", "Created", "Last used", "Expires", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, body),
  );
}

/** Roll, expire and revoke through `base`, each confirmed first. `after` reloads the list. */
export function keyActions(base, keyPath, after) {
  return {
    async roll(k) {
      const v = await confirmDialog("Roll key", `Roll ${masked(k)}? A new key replaces it.`, graceSelect());
      if (!v) return;
      try {
        const next = await api(base, "POST", `${keyPath(k)}/roll`, { expires_in: Number(v.grace) });
        reveal(next);
        await after();
      } catch (e) {
        say(`${e.code}: ${e.message}`, true);
      }
    },
    async expire(k) {
      if (!(await confirmDialog("Expire key", `Expire ${masked(k)} now? Requests with it will be refused.`))) return;
      try {
        await api(base, "POST", `${keyPath(k)}/expire`);
        await after();
        say(`Key ${masked(k)} expired.`);
      } catch (e) {
        say(`${e.code}: ${e.message}`, true);
      }
    },
    async revoke(k) {
      if (!(await confirmDialog("Revoke key", `Revoke ${masked(k)}? This cannot be undone.`))) return;
      try {
        await api(base, "DELETE", keyPath(k));
        await after();
        say(`Key ${masked(k)} revoked.`);
      } catch (e) {
        say(`${e.code}: ${e.message}`, true);
      }
    },
  };
}
