// The operator console: the management API for the provider's staff, signed in with the admin
// token (which becomes an HttpOnly session cookie; the page never keeps it).
import { api, h, keyActions, keysTable, masked, say, setCsrf, when } from "./common.js";

const BASE = "/_keygate/console/api";
const V1 = "/v1";
let account = null;

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function show(signedIn) {
  $("sign-in").hidden = signedIn;
  $("app").hidden = !signedIn;
  if (!signedIn) {
    // Nothing of the session stays in the page: a secret not yet dismissed, found keys, a
    // portal link (whose token works once), the account's keys and log.
    for (const id of ["reveal", "found-slot", "link-slot", "keys-slot", "events-slot"]) $(id).replaceChildren();
    $("account-view").hidden = true;
    account = null;
  }
}

async function loadKeys() {
  if (!account) return;
  const list = await api(BASE, "GET", `${V1}/accounts/${enc(account)}/keys?limit=100`);
  $("keys-slot").replaceChildren(keysTable(list.data, actions));
}

async function loadEvents() {
  if (!account) return;
  const mode = $("events-mode").value;
  const list = await api(BASE, "GET", `${V1}/accounts/${enc(account)}/events?mode=${mode}&limit=50`);
  const rows = list.data.map((e) =>
    h("tr", {}, h("td", {}, when(e.created_at)), h("td", {}, e.type), h("td", {}, e.actor ?? "—"), h("td", {}, h("code", {}, e.key_id ?? e.data?.id ?? "—"))),
  );
  $("events-slot").replaceChildren(
    h(
      "table",
      { id: "events" },
      h("caption", {}, `Audit log (${mode}), newest first`),
      h("thead", {}, h("tr", {}, ["When", "Event", "Actor", "Key"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows),
    ),
  );
}

const actions = keyActions(BASE, (k) => `${V1}/accounts/${enc(k.account)}/keys/${k.id}`, async () => {
  await loadKeys();
  await loadEvents();
});

async function guarded(work) {
  try {
    await work();
  } catch (e) {
    say(`${e.code}: ${e.message}`, true);
    // The session is over (ended, run out, its cookie gone): clear the page.
    if (e.status === 401) show(false);
  }
}

async function openAccount(e) {
  e.preventDefault();
  await guarded(async () => {
    const asked = $("account-id").value.trim();
    const previous = account;
    account = asked;
    try {
      await loadKeys();
    } catch (err) {
      account = previous;
      throw err;
    }
    await loadEvents();
    $("account-view").hidden = false;
    $("account-heading").textContent = `Account ${account}`;
    say(`Showing ${account}.`);
  });
}

async function find(e) {
  e.preventDefault();
  const by = $("find-by").value;
  const input = $("find-value");
  const text = input.value.trim();
  await guarded(async () => {
    let keys;
    if (by === "raw") {
      // Looked up by its digest; the key is sent once, then cleared from the form.
      input.value = "";
      keys = [await api(BASE, "POST", `${V1}/keys/lookup`, { secret: text })];
    } else {
      if (!account) throw Object.assign(new Error("Open an account first."), { code: "account_missing" });
      keys =
        by === "id"
          ? [await api(BASE, "GET", `${V1}/accounts/${enc(account)}/keys/${enc(text)}`)]
          : (await api(BASE, "GET", `${V1}/accounts/${enc(account)}/keys?last4=${enc(text)}`)).data;
    }
    $("found-slot").replaceChildren(keysTable(keys, actions));
    say(keys.length ? `Found ${keys.map(masked).join(", ")} (${keys[0].account}).` : "No key found.");
  });
}

async function portalLink(e) {
  e.preventDefault();
  await guarded(async () => {
    const mode = $("link-mode").value || null;
    // The usage controls of keys the customer creates there (none when left empty).
    const key_defaults = {};
    const [limit, window] = [$("link-limit").value, $("link-window").value];
    if (limit) key_defaults.rate_limit = { limit: Number(limit), window: Number(window || 60) };
    if ($("link-credits").value) key_defaults.credits = { remaining: Number($("link-credits").value) };
    const link = await api(BASE, "POST", `${V1}/accounts/${enc(account)}/portal_sessions`, {
      mode,
      return_url: $("link-return").value,
      expires_in: Number($("link-ttl").value),
      key_defaults,
    });
    $("link-slot").replaceChildren(
      h("p", {}, "Single-use link, valid until ", when(link.expires_at), ":"),
      h("p", {}, h("code", { id: "portal-url" }, link.url)),
    );
  });
}

async function signIn(e) {
  e.preventDefault();
  const field = $("token");
  const token = field.value;
  field.value = "";
  try {
    const s = await api(BASE, "POST", "/sign_in", { token });
    setCsrf(s.csrf);
    show(true);
    say(`Signed in until ${when(s.expires_at)}.`);
  } catch (err) {
    say(`${err.code}: ${err.message}`, true);
  }
}

async function signOut() {
  await guarded(() => api(BASE, "POST", "/sign_out"));
  setCsrf(null);
  show(false);
  say("Signed out.");
}

async function main() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("account-form").addEventListener("submit", openAccount);
  $("find-form").addEventListener("submit", find);
  $("link-form").addEventListener("submit", portalLink);
  $("events-mode").addEventListener("change", () => guarded(loadEvents));
  $("sign-out").addEventListener("click", signOut);
  try {
    const s = await api(BASE, "GET", "/session");
    setCsrf(s.csrf);
    show(true);
  } catch {
    show(false);
  }
}

main();
