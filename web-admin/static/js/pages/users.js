// Users: the list (search, domain, paging with limit/offset), adding, and
// a user's page: display name, password reset, quota with its usage bar,
// the addresses the user may send as, importing their existing mail,
// enabling and disabling, deleting.

import { h, clear, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc, qs, session } from "../api.js";
import {
  field, validate, busy, markServerErrors, showError, showNotice, messageSlot, confirmDialog,
  pageHeading, section, addSection, stateBadge, usageBar, fmtDate, quotaField, link, MIN_PASSWORD, flash, table, languageOptions,
} from "../ui.js";
import { listView } from "../list.js";
import { userSecuritySection } from "./account_security.js";
import { importSection } from "./imports.js";

// domainOptions lists the domains the caller may pick from: a server
// admin's (with "all"), or a domain admin's own.
export async function domainOptions() {
  if (session.role === "admin") {
    const l = await api("GET", `/domains${qs({ limit: 1000 })}`);
    return [{ value: "", label: t("filter.allDomains") }, ...l.items.map((d) => ({ value: d.name, label: d.name }))];
  }
  const mine = (session.me && session.me.domains) || [];
  return mine.map((d) => ({ value: d, label: d }));
}

// passwordFields are a new password and its confirmation.
export function passwordFields(label) {
  const pw = field({ label: label || t("field.newPassword"), name: "password", type: "password", required: true, autocomplete: "new-password", hint: t("valid.minLength", { n: MIN_PASSWORD }) });
  const again = field({ label: t("field.confirmPassword"), name: "password_confirm", type: "password", required: true, autocomplete: "new-password" });
  return {
    wraps: [pw.wrap, again.wrap],
    input: pw.input,
    rules: () => [{ input: pw.input, required: true, minLength: MIN_PASSWORD }, { input: again.input, required: true, match: pw.input }],
  };
}

// createForm adds a user.
function createForm(domains, slot, done) {
  const address = field({ label: t("field.address"), name: "address", type: "email", required: true, autocomplete: "off", attrs: { placeholder: `ann@${(domains.find((d) => d.value) || { value: "example.com" }).value}` } });
  const display = field({ label: t("field.displayName"), name: "display_name", autocomplete: "off", attrs: { maxlength: 200 } });
  const pw = passwordFields(t("field.password"));
  const quota = quotaField(t("field.quota"), null, "quota_bytes", t("users.quotaHint"));
  const form = h("form", { novalidate: true, class: "form-grid" },
    address.wrap, display.wrap, pw.wraps, quota.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("users.add"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: address.input, required: true, email: true }, ...pw.rules(), { input: quota.input, check: quota.check }])) return;
    const body = { address: address.input.value.trim(), password: pw.input.value };
    if (display.input.value.trim() !== "") body.display_name = display.input.value.trim();
    const q = quota.value();
    if (q !== null) body.quota_bytes = q;
    await busy(form, async () => {
      try {
        const u = await api("POST", "/users", body);
        showNotice(slot, t("users.created", { address: u.address }));
        form.reset();
        done();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  return form;
}

// setEnabled enables or disables a user.
async function setEnabled(u, slot, done) {
  try {
    await api("PATCH", `/users/${enc(u.address)}`, { enabled: !u.enabled });
    showNotice(slot, t(u.enabled ? "users.disabled" : "users.enabled", { address: u.address }));
    done();
  } catch (err) {
    showError(slot, err);
  }
}

// deleteUser asks, then deletes a user with all their mail; done runs
// after the notice is shown (or kept for the next page with flash).
async function deleteUser(address, slot, done, leaving) {
  if (!(await confirmDialog(t("users.deleteConfirm", { address }), t("action.delete")))) return;
  try {
    await api("DELETE", `/users/${enc(address)}`);
    if (leaving) flash(t("users.deleted", { address }));
    else showNotice(slot, t("users.deleted", { address }));
    done();
  } catch (err) {
    showError(slot, err);
  }
}

// sendAsSection shows the addresses a user may send as (shared accounts,
// aliases), with a form to allow one more and a button to take each back.
async function sendAsSection(address, slot) {
  const body = h("div");
  const load = async () => {
    let l;
    try {
      l = await api("GET", `/users/${enc(address)}/send-as`);
    } catch (err) {
      showError(slot, err);
      return;
    }
    const addr = field({ label: t("sendas.address"), name: "address", type: "email", required: true, autocomplete: "off", attrs: { placeholder: `info@${address.split("@")[1]}` } });
    const form = h("form", { novalidate: true, class: "inline-form" }, addr.wrap, h("button", { type: "submit" }, t("sendas.add")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!validate([{ input: addr.input, required: true, email: true }])) return;
      await busy(form, async () => {
        try {
          const g = await api("POST", `/users/${enc(address)}/send-as`, { address: addr.input.value.trim() });
          showNotice(slot, t("sendas.added", { user: address, address: g.address }));
          await load();
        } catch (err) {
          showError(slot, err);
          markServerErrors(form, err);
        }
      });
    });
    const remove = async (g) => {
      if (!(await confirmDialog(t("sendas.removeConfirm", { user: address, address: g.address }), t("sendas.remove")))) return;
      try {
        await api("DELETE", `/users/${enc(address)}/send-as/${enc(g.address)}`);
        showNotice(slot, t("sendas.removed", { user: address, address: g.address }));
        await load();
      } catch (err) {
        showError(slot, err);
      }
    };
    fill(body,
      h("p", { class: "hint" }, t("sendas.intro")),
      table(t("sendas.title"), [
        { label: t("sendas.address"), cell: (g) => g.address },
        { label: t("field.created"), cell: (g) => fmtDate(g.created_at) },
        { label: t("field.actions"), cell: (g) => h("button", { type: "button", class: "danger", "aria-label": t("sendas.removeWhat", { address: g.address }), onclick: () => remove(g) }, t("sendas.remove")) },
      ], l.items, t("sendas.none")),
      form);
  };
  await load();
  return section(t("sendas.title"), body);
}

// usersPage lists users.
export async function usersPage(ctx) {
  const slot = messageSlot();
  let domains = [];
  try {
    domains = await domainOptions();
  } catch (err) {
    showError(slot, err);
  }
  if (!ctx.alive()) return;
  const list = listView(ctx, {
    caption: t("nav.users"),
    filters: [
      { name: "search", label: t("field.search"), type: "search", attrs: { placeholder: "ann" } },
      { name: "domain", label: t("field.domain"), type: "select", options: domains, value: domains.length ? domains[0].value : "" },
    ],
    load: (q) => api("GET", `/users${qs(q)}`),
    columns: [
      { label: t("field.address"), cell: (u) => link(`users/${enc(u.address)}`, u.address) },
      { label: t("field.displayName"), cell: (u) => h("span", { class: "display-name" }, u.display_name) },
      { label: t("field.state"), cell: (u) => stateBadge(u.enabled) },
      { label: t("field.usage"), cell: (u) => usageBar(u.used_bytes, u.quota_bytes, u.quota_warning_percent) },
      {
        label: t("field.actions"),
        cell: (u) => h("div", { class: "row-actions" },
          h("button", { type: "button", "aria-label": t(u.enabled ? "users.disableWhat" : "users.enableWhat", { address: u.address }), onclick: () => setEnabled(u, slot, () => list.refresh()) }, t(u.enabled ? "action.disable" : "action.enable")),
          h("button", { type: "button", class: "danger", "aria-label": t("users.deleteWhat", { address: u.address }), onclick: () => deleteUser(u.address, slot, () => list.refresh()) }, t("action.delete"))),
      },
    ],
    empty: t("users.none"),
  });
  add(ctx.main, 
    pageHeading(t("nav.users")),
    slot,
    addSection(t("users.add"), createForm(domains, slot, () => list.refresh())),
    section(t("users.list"), list.wrap));
  await list.refresh();
}

// userPage shows one user.
export async function userPage(ctx) {
  const address = ctx.params.address;
  const slot = messageSlot();
  const body = h("div");
  add(ctx.main, h("p", { class: "crumbs" }, link("users", t("nav.users"))), pageHeading(address), slot, body);
  async function load() {
    let u;
    try {
      u = await api("GET", `/users/${enc(address)}`);
    } catch (err) {
      clear(body);
      showError(slot, err);
      return;
    }
    if (!ctx.alive()) return;
    const patch = async (form, data, message) => busy(form, async () => {
      try {
        await api("PATCH", `/users/${enc(u.address)}`, data);
        showNotice(slot, message);
        await load();
        return true;
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
        return false;
      }
    });

    const display = field({ label: t("field.displayName"), name: "display_name", value: u.display_name, attrs: { maxlength: 200 } });
    const nameForm = h("form", { novalidate: true, class: "inline-form" }, display.wrap, h("button", { type: "submit" }, t("action.save")));
    nameForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      patch(nameForm, { display_name: display.input.value.trim() }, t("saved"));
    });

    const quota = quotaField(t("field.quota"), u.quota_bytes, "quota_bytes");
    const quotaForm = h("form", { novalidate: true, class: "inline-form" }, quota.wrap, h("button", { type: "submit" }, t("users.setQuota")));
    quotaForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!validate([{ input: quota.input, required: true, check: quota.check }])) return;
      patch(quotaForm, { quota_bytes: quota.value() }, t("users.quotaSet"));
    });

    const language = field({ label: t("field.language"), name: "language", type: "select", value: u.language || "", hint: t("users.languageHint"), options: languageOptions("lang.domains") });
    const languageForm = h("form", { novalidate: true, class: "inline-form" }, language.wrap, h("button", { type: "submit" }, t("action.save")));
    languageForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      patch(languageForm, { language: language.input.value }, t("saved"));
    });

    // What a reset does to mail encrypted with the user's own key is
    // said before it happens, and a reset that loses it must be agreed to.
    let encryption = null;
    try {
      encryption = await api("GET", `/users/${enc(address)}/encryption`);
    } catch (err) {
      encryption = null;
    }
    if (!ctx.alive()) return;
    const effect = encryption ? encryption.reset_effect : "none";
    const pw = passwordFields();
    const recovery = effect === "recovery_key_needed" ? field({ label: t("field.recoveryKey"), name: "recovery_key", type: "password", autocomplete: "off", hint: t("users.recoveryKeyHint") }) : null;
    const discard = effect !== "none" ? field({ label: t("users.discardMail"), name: "discard_encrypted_mail", type: "checkbox", value: false }) : null;
    const resetNote = effect === "none" ? null : h("p", { class: "notice reset-effect" }, t(effect === "recovery_key_needed" ? "users.resetRecoverable" : "users.resetLosesMail"));
    const pwForm = h("form", { novalidate: true, class: "form-grid" }, resetNote, pw.wraps, recovery ? recovery.wrap : null, discard ? discard.wrap : null,
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("users.resetPassword"))));
    pwForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const rules = pw.rules();
      if (discard) {
        rules.push({ input: discard.input, check: () => (discard.input.checked || (recovery && recovery.input.value.trim()) ? "" : t(recovery ? "users.recoveryOrDiscard" : "users.discardRequired")) });
      }
      if (!validate(rules)) return;
      const data = { password: pw.input.value };
      if (recovery && recovery.input.value.trim()) data.recovery_key = recovery.input.value.trim();
      else if (discard && discard.input.checked) data.discard_encrypted_mail = true;
      patch(pwForm, data, t("users.passwordReset"));
    });

    const del = h("button", { type: "button", class: "danger" }, t("users.delete"));
    del.addEventListener("click", () => deleteUser(u.address, slot, () => ctx.navigate("users"), true));

    fill(body, 
      section(t("users.overview"),
        h("dl", { class: "facts" },
          h("dt", {}, t("field.displayName")), h("dd", { class: "display-name" }, u.display_name || "—"),
          h("dt", {}, t("field.state")), h("dd", {}, stateBadge(u.enabled)),
          h("dt", {}, t("field.usage")), h("dd", {}, usageBar(u.used_bytes, u.quota_bytes, u.quota_warning_percent)),
          h("dt", {}, t("field.messages")), h("dd", {}, String(u.used_messages)),
          encryption ? [h("dt", {}, t("encryption.title")), h("dd", { class: "encryption-state" }, t(encryption.mode === "user" ? (encryption.has_key ? "encryption.state.userKey" : "encryption.state.userNoKey") : "encryption.state.server"))] : null,
          h("dt", {}, t("field.created")), h("dd", {}, fmtDate(u.created_at)),
          h("dt", {}, t("field.updated")), h("dd", {}, fmtDate(u.updated_at))),
        h("div", { class: "actions" },
          h("button", { type: "button", onclick: () => setEnabled(u, slot, load) }, t(u.enabled ? "action.disable" : "action.enable")),
          del)),
      section(t("field.displayName"), nameForm),
      section(t("field.quota"), quotaForm),
      section(t("field.language"), languageForm),
      section(t("users.resetPassword"), pwForm),
      userSecuritySection(u));
    const sendAs = await sendAsSection(u.address, slot);
    if (ctx.alive()) body.append(sendAs);
    const imports = await importSection(u.address, slot, ctx);
    if (ctx.alive()) body.append(imports);
  }
  await load();
}
