// Self-service for everyone signed in: one's own password (with the
// current one) and, for those with a mailbox, its usage (with the quota
// warning reached), the display name, the language of the server's
// messages, the addresses one may send as, how to set up a mail client, and
// importing one's mail from another provider.

import { h, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, apiBlob, publicText, enc, loadMe, login, session } from "../api.js";
import {
  field, validate, busy, markServerErrors, showError, showNotice, messageSlot,
  pageHeading, section, usageBar, table, copyButton, MIN_PASSWORD, languageOptions,
} from "../ui.js";
import { mailRules } from "./rules.js";
import { importSection } from "./imports.js";
import { appPasswordsSection, twoFactorSection, passkeysSection, sessionsSection, securityPolicySection } from "./account_security.js";

// clientServers reads the hosts and ports from the Thunderbird autoconfig
// document: the ports the server announces (YUBIN_PUBLIC_PORTS), which
// behind a port mapping differ from the ones it listens on. Without it
// there is nothing reliable to show (servers is empty).
export async function clientServers(email) {
  try {
    const xml = await publicText(`/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=${enc(email)}`);
    const doc = new DOMParser().parseFromString(xml, "application/xml");
    if (doc.querySelector("parsererror")) throw new Error("bad autoconfig");
    const out = [];
    for (const s of doc.querySelectorAll("incomingServer, outgoingServer")) {
      const text = (sel) => {
        const el = s.querySelector(sel);
        return el ? el.textContent.trim() : "";
      };
      out.push({ protocol: (s.getAttribute("type") || "").toUpperCase(), host: text("hostname"), port: Number(text("port")), socket: text("socketType") });
    }
    return { servers: out, fromAutoconfig: true };
  } catch {
    return { servers: [], fromAutoconfig: false };
  }
}

// securityName names a socket type.
function securityName(socket) {
  if (socket === "SSL") return t("client.ssl");
  if (socket === "STARTTLS") return "STARTTLS";
  return socket || "—";
}

// clientSetup shows the settings for a mail client.
async function clientSetup(email) {
  const { servers, fromAutoconfig } = await clientServers(email);
  const profile = h("button", { type: "button" }, t("client.profile"));
  const profileSlot = messageSlot();
  profile.addEventListener("click", async () => {
    try {
      const blob = await apiBlob(`/users/${enc(email)}/mobileconfig`);
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: `${email}.mobileconfig`, class: "visually-hidden" }, t("client.profile"));
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      showError(profileSlot, err);
    }
  });
  return h("div", { class: "client-setup" },
    h("p", {}, t("client.intro")),
    !fromAutoconfig ? h("p", { class: "notice warn" }, t("client.unavailable")) : table(t("client.servers"), [
      { label: t("client.protocol"), cell: (s) => s.protocol },
      { label: t("client.server"), cell: (s) => h("span", { class: "dns-value" }, h("code", {}, s.host), copyButton(s.host, `${s.protocol} ${t("client.server")}`)) },
      { label: t("client.port"), cell: (s) => String(s.port) },
      { label: t("client.security"), cell: (s) => securityName(s.socket) },
      { label: t("client.username"), cell: () => h("code", {}, email) },
    ], servers),
    fromAutoconfig ? h("p", { class: "hint" }, t("client.auto")) : null,
    h("p", { class: "hint" }, t("client.password")),
    h("div", { class: "actions" }, profile),
    profileSlot);
}

// ownPasswordForm changes the signed-in person's password with the current
// one. The change ends every session of the account, this one too, so it
// signs in again with the new password.
function ownPasswordForm(slot) {
  const current = field({ label: t("account.currentPassword"), name: "current_password", type: "password", required: true, autocomplete: "current-password" });
  const pw = field({ label: t("field.newPassword"), name: "new_password", type: "password", required: true, autocomplete: "new-password", hint: t("valid.minLength", { n: MIN_PASSWORD }) });
  const again = field({ label: t("field.confirmPassword"), name: "new_password_confirm", type: "password", required: true, autocomplete: "new-password" });
  const form = h("form", { novalidate: true, class: "form-grid" }, current.wrap, pw.wrap, again.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("account.changePassword"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: current.input, required: true }, { input: pw.input, required: true, minLength: MIN_PASSWORD }, { input: again.input, required: true, match: pw.input }])) return;
    const email = session.email;
    const next = pw.input.value;
    await busy(form, async () => {
      try {
        await api("POST", "/me/password", { current_password: current.input.value, new_password: next });
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
        return;
      }
      form.reset();
      try {
        await login(email, next);
        showNotice(slot, t("account.passwordChanged"));
      } catch (err) {
        showError(slot, err);
      }
    });
  });
  return form;
}

// accountPage is everyone's own page.
export async function accountPage(ctx) {
  const slot = messageSlot();
  const body = h("div");
  add(ctx.main, pageHeading(t("nav.account")), slot, body);
  async function load() {
    let me;
    try {
      me = await loadMe();
    } catch (err) {
      showError(slot, err);
      return;
    }
    if (!ctx.alive()) return;
    const u = me.user;
    const pwForm = ownPasswordForm(slot);
    if (!u) {
      fill(body,
        section(t("account.signedInAs"),
          h("dl", { class: "facts" },
            h("dt", {}, t("field.email")), h("dd", {}, me.email),
            h("dt", {}, t("account.role")), h("dd", {}, t(`role.${me.role}`))),
          h("p", { class: "hint" }, t("account.noMailbox"))),
        section(t("account.changePassword"), h("p", { class: "hint" }, t("account.passwordHint")), pwForm),
        sessionsSection(),
        me.role === "admin" ? securityPolicySection() : null);
      return;
    }
    const display = field({ label: t("field.displayName"), name: "display_name", value: u.display_name, attrs: { maxlength: 200 } });
    const nameForm = h("form", { novalidate: true, class: "inline-form" }, display.wrap, h("button", { type: "submit" }, t("action.save")));
    nameForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await busy(nameForm, async () => {
        try {
          await api("PATCH", `/users/${enc(u.address)}`, { display_name: display.input.value.trim() });
          showNotice(slot, t("saved"));
        } catch (err) {
          showError(slot, err);
          markServerErrors(nameForm, err);
        }
      });
    });
    const language = field({ label: t("field.language"), name: "language", type: "select", value: u.language || "", hint: t("users.languageHint"), options: languageOptions("lang.domains") });
    const languageForm = h("form", { novalidate: true, class: "inline-form" }, language.wrap, h("button", { type: "submit" }, t("action.save")));
    languageForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await busy(languageForm, async () => {
        try {
          await api("PATCH", `/users/${enc(u.address)}`, { language: language.input.value });
          showNotice(slot, t("saved"));
        } catch (err) {
          showError(slot, err);
          markServerErrors(languageForm, err);
        }
      });
    });
    let sendAs = [];
    try {
      sendAs = (await api("GET", `/users/${enc(u.address)}/send-as`)).items;
    } catch (err) {
      showError(slot, err);
    }
    if (!ctx.alive()) return;
    fill(body,
      section(t("account.mailbox"),
        h("dl", { class: "facts" },
          h("dt", {}, t("field.address")), h("dd", {}, u.address),
          h("dt", {}, t("field.usage")), h("dd", {}, usageBar(u.used_bytes, u.quota_bytes, u.quota_warning_percent)),
          h("dt", {}, t("field.messages")), h("dd", {}, String(u.used_messages)),
          session.me.domains.length ? [h("dt", {}, t("account.manages")), h("dd", {}, session.me.domains.join(", "))] : null)),
      section(t("field.displayName"), nameForm),
      section(t("field.language"), languageForm),
      sendAs.length ? section(t("sendas.title"), h("p", { class: "hint" }, t("account.sendAsIntro")),
        h("ul", { class: "send-as" }, sendAs.map((g) => h("li", {}, g.address)))) : null,
      section(t("account.changePassword"), h("p", { class: "hint" }, t("account.passwordHint")), pwForm),
      section(t("rules.title"), await mailRules(u.address)),
      me.second_factor ? twoFactorSection(me.second_factor, load, ctx.navigate) : null,
      me.second_factor ? passkeysSection(load) : null,
      appPasswordsSection(u.second_factor),
      sessionsSection(),
      section(t("client.title"), await clientSetup(u.address)));
    const imports = await importSection(u.address, slot, ctx);
    if (ctx.alive()) body.append(imports);
  }
  await load();
}
