// The dashboard: sign-in, the shell with navigation by role, and the
// router over /admin/<page> paths (history API).

import { h, clear, add, fill } from "./dom.js";
import { t, lang, setLang, languages } from "./i18n.js";
import { session, login, loginSecondFactor, loginSecondFactorPasskey, loginPasskey, resume, signOut, onExpired, signedIn } from "./api.js";
import { passkeysSupported } from "./webauthn.js";
import { errorBox, field, validate, busy, markServerErrors, pageHeading } from "./ui.js";
import { domainsPage, domainPage } from "./pages/domains.js";
import { usersPage, userPage } from "./pages/users.js";
import { aliasesPage, aliasPage } from "./pages/aliases.js";
import { sharedAccountsPage, sharedAccountPage } from "./pages/shared.js";
import { accountPage } from "./pages/account.js";
import { auditPage } from "./pages/audit.js";
import { tokensPage } from "./pages/tokens.js";
import { adminsPage } from "./pages/admins.js";
import { quarantinePage, quarantineItemPage } from "./pages/quarantine.js";
import { overviewPage } from "./pages/overview.js";
import { queuePage, queueItemPage } from "./pages/queue.js";
import { certificatesPage } from "./pages/certificates.js";

const BASE = "/admin/";
const ADMINS = ["admin", "domain_admin"];
const EVERYONE = ["admin", "domain_admin", "user"];

// routes: path patterns (":x" is a segment), who may see them, and the
// navigation entry of the top-level ones.
const routes = [
  { path: "overview", roles: ["admin"], nav: "nav.overview", page: overviewPage },
  { path: "domains", roles: ADMINS, nav: "nav.domains", page: domainsPage },
  { path: "domains/:name", roles: ADMINS, page: domainPage, parent: "domains" },
  { path: "users", roles: ADMINS, nav: "nav.users", page: usersPage },
  { path: "users/:address", roles: ADMINS, page: userPage, parent: "users" },
  { path: "aliases", roles: ADMINS, nav: "nav.aliases", page: aliasesPage },
  { path: "aliases/:address", roles: ADMINS, page: aliasPage, parent: "aliases" },
  { path: "shared", roles: ADMINS, nav: "nav.shared", page: sharedAccountsPage },
  { path: "shared/:address", roles: ADMINS, page: sharedAccountPage, parent: "shared" },
  { path: "queue", roles: ADMINS, nav: "nav.queue", page: queuePage },
  { path: "queue/:id", roles: ADMINS, page: queueItemPage, parent: "queue" },
  { path: "quarantine", roles: EVERYONE, nav: "nav.quarantine", page: quarantinePage },
  { path: "quarantine/:id", roles: EVERYONE, page: quarantineItemPage, parent: "quarantine" },
  { path: "audit", roles: ["admin"], nav: "nav.audit", page: auditPage },
  { path: "tokens", roles: EVERYONE, nav: "nav.tokens", page: tokensPage },
  { path: "admins", roles: ["admin"], nav: "nav.admins", page: adminsPage },
  { path: "certificates", roles: ["admin"], nav: "nav.certificates", page: certificatesPage },
  { path: "account", roles: EVERYONE, nav: "nav.account", page: accountPage },
];

const app = document.getElementById("app");
let renderSeq = 0;
let shell = null; // {nav, main} while signed in
let loginMessage = "";

// home is where a role starts: server admins on the overview, domain
// admins on their domains, users on their account.
function home() {
  return session.role === "user" ? "account" : session.role === "domain_admin" ? "domains" : "overview";
}

// current returns the dashboard path ("domains/example.com") of the URL.
function current() {
  let p = window.location.pathname;
  p = p.startsWith(BASE) ? p.slice(BASE.length) : "";
  return p.replace(/\/+$/, "");
}

// match finds the route of path and its parameters.
function match(path) {
  const segs = path.split("/");
  for (const r of routes) {
    const rs = r.path.split("/");
    if (rs.length !== segs.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < rs.length; i += 1) {
      if (rs[i].startsWith(":")) {
        try {
          params[rs[i].slice(1)] = decodeURIComponent(segs[i]);
        } catch {
          ok = false;
        }
      } else if (rs[i] !== segs[i]) ok = false;
    }
    if (ok) return { route: r, params };
  }
  return null;
}

// navigate goes to a dashboard path ("users?search=ann").
export function navigate(path, replace) {
  const url = BASE + path.replace(/^\/+/, "").replace(/^admin\//, "");
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

document.addEventListener("click", (ev) => {
  const a = ev.target instanceof Element ? ev.target.closest("a[href]") : null;
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  if (a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin || !url.pathname.startsWith(BASE)) return;
  ev.preventDefault();
  navigate(url.pathname.slice(BASE.length) + url.search);
});
window.addEventListener("popstate", () => render());

onExpired(() => {
  loginMessage = t("login.expired");
  shell = null;
  const next = current();
  history.replaceState(null, "", `${BASE}login${next && next !== "login" ? `?next=${encodeURIComponent(next)}` : ""}`);
  render();
});

// languageSelect switches the language.
function languageSelect() {
  const f = field({ label: t("lang.label"), name: "lang", type: "select", value: lang(), options: languages.map((l) => ({ value: l.code, label: l.name })) });
  f.input.addEventListener("change", () => {
    setLang(f.input.value);
    shell = null;
    render();
    const again = document.querySelector("select[name=lang]");
    if (again) again.focus();
  });
  f.wrap.classList.add("lang");
  return f.wrap;
}

// loginPage shows the sign-in form.
function loginPage() {
  shell = null;
  document.title = `${t("login.title")} – Yubin`;
  const params = new URLSearchParams(window.location.search);
  const msgSlot = h("div", { class: "messages", "aria-live": "assertive" });
  if (loginMessage) add(msgSlot, h("p", { class: "notice warn", role: "alert" }, loginMessage));
  const email = field({ label: t("field.email"), name: "email", type: "email", required: true, autocomplete: "username" });
  const password = field({ label: t("field.password"), name: "password", type: "password", required: true, autocomplete: "current-password" });
  const form = h("form", { class: "login-form", novalidate: true },
    email.wrap, password.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("login.submit"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: email.input, required: true, email: true }, { input: password.input, required: true }])) return;
    await busy(form, async () => {
      try {
        await login(email.input.value.trim(), password.input.value);
        loginMessage = "";
        afterSignIn(params);
      } catch (err) {
        if (err && err.kind === "second-factor-required" && err.challenge) {
          secondStep(err.challenge, err.methods, params, msgSlot, form, passkeyForm);
          return;
        }
        // A refused sign-in says so in the dashboard's language.
        let shown = err;
        if (err && err.status === 401) shown = { kind: err.kind, status: err.status, title: err.title, detail: t("login.failed") };
        else if (err && err.status === 429) shown = { kind: err.kind, status: err.status, title: err.title, detail: t("login.rateLimited") };
        fill(msgSlot, errorBox(shown));
        markServerErrors(form, err);
        password.input.value = "";
        password.input.focus();
      }
    });
  });
  // A passkey the device keeps with the account signs in alone.
  const passkeyForm = passkeysSupported() ? h("form", { class: "passkey-login", novalidate: true },
    h("p", { class: "hint" }, t("login.passkeyIntro")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("login.withPasskey")))) : null;
  if (passkeyForm) {
    passkeyForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await busy(passkeyForm, async () => {
        try {
          await loginPasskey();
          loginMessage = "";
          afterSignIn(params);
        } catch (err) {
          fill(msgSlot, errorBox(passkeyProblem(err)));
        }
      });
    });
  }
  fill(app, 
    h("div", { class: "login" },
      h("header", { class: "login-head" }, h("span", { class: "brand" }, "Yubin"), languageSelect()),
      h("main", { id: "main", class: "login-main", tabindex: "-1" },
        pageHeading(t("login.title")),
        msgSlot,
        form,
        passkeyForm)));
  email.input.focus();
}

// afterSignIn goes where the sign-in was asked for, or home; a user who
// must set up a second factor goes to My account.
function afterSignIn(params) {
  const sf = session.me && session.me.second_factor;
  if (sf && sf.required && !sf.enabled) {
    navigate("account", true);
    return;
  }
  const next = params.get("next") || "";
  navigate(next && next !== "login" ? next : home(), true);
}

// passkeyProblem is how a failed passkey ceremony is shown: the browser's
// refusal (the user cancelled, or no passkey of the account is here) or
// the API's, in the dashboard's language.
function passkeyProblem(err) {
  if (err && err.name === "NotAllowedError") return { kind: "", status: 0, title: t("login.passkeyTitle"), detail: t("login.passkeyCancelled") };
  if (err && err.status === 401) return { kind: err.kind, status: err.status, title: err.title, detail: t("login.passkeyFailed") };
  if (err && err.status === 429) return { kind: err.kind, status: err.status, title: err.title, detail: t("login.rateLimited") };
  if (err && !err.status && err.message) return { kind: "", status: 0, title: t("login.passkeyTitle"), detail: err.message };
  return err;
}

// secondStep replaces the password form with the second factor form of a
// sign-in whose password was right: a passkey of the account (when it has
// one and the browser can) or a code.
function secondStep(challenge, methods, params, msgSlot, passwordForm, passkeyForm) {
  const hasPasskey = (methods || []).includes("passkey") && passkeysSupported();
  const hasTOTP = (methods || []).includes("totp");
  const code = field({ label: t("login.code"), name: "code", required: true, autocomplete: "one-time-code", hint: t(hasTOTP ? "login.codeHint" : "login.recoveryHint"), attrs: { inputmode: "text", spellcheck: "false" } });
  const usePasskey = hasPasskey ? h("button", { type: "button", class: "primary use-passkey" }, t("login.usePasskey")) : null;
  if (usePasskey) {
    usePasskey.addEventListener("click", async () => {
      await busy(form, async () => {
        try {
          await loginSecondFactorPasskey(challenge);
          loginMessage = "";
          afterSignIn(params);
        } catch (err) {
          fill(msgSlot, errorBox(passkeyProblem(err)));
        }
      });
    });
  }
  const form = h("form", { class: "login-form second-factor", novalidate: true },
    h("p", {}, t(hasPasskey ? (hasTOTP ? "login.secondFactorPasskeyOrApp" : "login.secondFactorPasskey") : "login.secondFactor")),
    usePasskey ? h("div", { class: "actions" }, usePasskey) : null,
    code.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: usePasskey ? "" : "primary" }, t("login.verify"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: code.input, required: true }])) return;
    await busy(form, async () => {
      try {
        await loginSecondFactor(challenge, code.input.value);
        loginMessage = "";
        afterSignIn(params);
      } catch (err) {
        let shown = err;
        if (err && err.status === 401) shown = { kind: err.kind, status: err.status, title: err.title, detail: t("login.codeFailed") };
        else if (err && err.status === 429) shown = { kind: err.kind, status: err.status, title: err.title, detail: t("login.rateLimited") };
        fill(msgSlot, errorBox(shown));
        code.input.value = "";
        code.input.focus();
      }
    });
  });
  clear(msgSlot);
  passwordForm.replaceWith(form);
  if (passkeyForm) passkeyForm.remove();
  if (usePasskey) usePasskey.focus();
  else code.input.focus();
}

// buildShell draws the header and the navigation for the signed-in role.
function buildShell() {
  const items = routes.filter((r) => r.nav && r.roles.includes(session.role));
  const nav = h("nav", { id: "nav", class: "nav", "aria-label": t("nav.label") },
    h("ul", {}, items.map((r) => h("li", {}, h("a", { href: BASE + r.path, "data-route": r.path }, t(r.nav))))));
  const menu = h("button", { type: "button", class: "menu-toggle", "aria-controls": "nav", "aria-expanded": "false" }, t("nav.menu"));
  menu.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    menu.setAttribute("aria-expanded", String(open));
  });
  nav.addEventListener("click", (ev) => {
    if (ev.target instanceof Element && ev.target.closest("a")) {
      nav.classList.remove("open");
      menu.setAttribute("aria-expanded", "false");
    }
  });
  const out = h("button", { type: "button", class: "signout" }, t("nav.signout"));
  out.addEventListener("click", () => {
    signOut();
    loginMessage = t("login.signedOut");
    navigate("login", true);
  });
  const main = h("main", { id: "main", tabindex: "-1" });
  fill(app, 
    h("header", { class: "topbar" },
      menu,
      h("a", { class: "brand", href: BASE }, "Yubin"),
      h("div", { class: "who" }, h("span", { class: "who-email" }, session.email), " ", h("span", { class: "who-role" }, t(`role.${session.role}`))),
      languageSelect(),
      out),
    h("div", { class: "layout" }, nav, main));
  shell = { nav, main };
}

// errorPage shows that a page cannot be shown.
function errorPage(main, title, text) {
  document.title = `${title} – Yubin`;
  add(main, h("div", { class: "error-page", role: "alert" }, pageHeading(title), h("p", {}, text), h("p", {}, h("a", { href: BASE + home() }, t("error.home")))));
}

// render shows the page of the current URL.
export async function render() {
  const seq = ++renderSeq;
  const skip = document.querySelector(".skip");
  if (skip) skip.textContent = t("skip");
  const path = current();
  if (path === "login") {
    if (session.role) {
      navigate(home(), true);
      return;
    }
    loginPage();
    return;
  }
  if (!session.role) {
    if (!signedIn()) {
      history.replaceState(null, "", `${BASE}login${path ? `?next=${encodeURIComponent(path + window.location.search)}` : ""}`);
      loginPage();
      return;
    }
    fill(app, h("p", { class: "loading", role: "status" }, t("loading")));
    try {
      await resume();
    } catch (err) {
      if (seq !== renderSeq) return;
      if (!session.role) {
        if (!loginMessage) loginMessage = t("login.expired");
        history.replaceState(null, "", `${BASE}login`);
        loginPage();
        return;
      }
    }
    if (seq !== renderSeq) return;
  }
  if (path === "") {
    navigate(home(), true);
    return;
  }
  if (!shell) buildShell();
  const m = match(path);
  const top = m ? (m.route.parent || m.route.path) : "";
  for (const a of shell.nav.querySelectorAll("a[data-route]")) {
    if (a.dataset.route === top) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = clear(shell.main);
  main.removeAttribute("aria-busy");
  if (!m) {
    errorPage(main, t("error.notFound"), t("error.notFoundText"));
    return;
  }
  if (!m.route.roles.includes(session.role)) {
    errorPage(main, t("error.forbidden"), t("error.forbiddenText"));
    return;
  }
  const ctx = {
    main,
    params: m.params,
    query: new URLSearchParams(window.location.search),
    alive: () => seq === renderSeq,
    navigate,
    rerender: render,
    // setQuery records a list's search and page in the URL (no new render).
    setQuery: (params) => {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined && v !== 0) q.set(k, String(v));
      const s = q.toString();
      history.replaceState(null, "", BASE + path + (s ? `?${s}` : ""));
    },
  };
  document.title = `${t(m.route.nav || routes.find((r) => r.path === m.route.parent).nav)} – Yubin`;
  main.setAttribute("aria-busy", "true");
  try {
    await m.route.page(ctx);
  } catch (err) {
    if (seq === renderSeq) add(main, errorBox(err));
  }
  if (seq === renderSeq) {
    main.removeAttribute("aria-busy");
    const h1 = main.querySelector("h1");
    if (h1 && !main.contains(document.activeElement)) h1.focus();
  }
}

render();
