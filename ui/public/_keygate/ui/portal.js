// The hosted key portal: the keys of one account, in the session's mode(s).
import { api, chart, h, keyActions, keysTable, last30, reveal, say, setCsrf } from "./common.js";

const BASE = "/_keygate/portal/api";
let session = null;

async function load() {
  const list = await api(BASE, "GET", "/keys");
  document.getElementById("keys-slot").replaceChildren(keysTable(list.data, actions));
  document.getElementById("chart-slot").replaceChildren(chart(last30(list.data)));
}

const actions = keyActions(BASE, (k) => `/keys/${k.id}`, load);

async function create(e) {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    const key = await api(BASE, "POST", "/keys", {
      name: form.get("name"),
      type: form.get("type"),
      mode: form.get("mode"),
    });
    e.target.reset();
    reveal(key);
    await load();
  } catch (err) {
    say(`${err.code}: ${err.message}`, true);
  }
}

async function signOut() {
  try {
    await api(BASE, "POST", "/sign_out");
  } catch {
    // Ended already: the page says so below either way.
  }
  setCsrf(null);
  // Nothing of the session stays in the page: an undismissed secret, the keys.
  for (const id of ["reveal", "keys-slot", "chart-slot"]) document.getElementById(id).replaceChildren();
  document.getElementById("app").hidden = true;
  say("You are signed out. Open the portal again from your dashboard.");
}

async function main() {
  try {
    session = await api(BASE, "GET", "/session");
  } catch (e) {
    say(`${e.message} (${e.code})`, true);
    return;
  }
  setCsrf(session.csrf);
  document.getElementById("account").textContent = session.account;
  document.getElementById("mode-badge").textContent = session.modes.join(" and ") + " mode";
  const modes = document.getElementById("create-mode");
  modes.replaceChildren(...session.modes.map((m) => h("option", { value: m }, m)));
  const back = document.getElementById("return-link");
  back.href = session.return_url;
  back.hidden = false;
  document.getElementById("create-form").addEventListener("submit", create);
  document.getElementById("sign-out").addEventListener("click", signOut);
  document.getElementById("app").hidden = false;
  try {
    await load();
  } catch (e) {
    say(`${e.code}: ${e.message}`, true);
  }
}

main();
