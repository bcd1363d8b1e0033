// The caller's API tokens: create (the secret is shown once) and revoke.

import { h, clear, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import {
  field, validate, busy, markServerErrors, showError, showNotice, messageSlot, confirmDialog,
  pageHeading, section, fmtDate, table, copyButton,
} from "../ui.js";

// showSecretOnce shows a secret the server answers only once (a token, an
// app password) in slot, selected for copying, with a title and a note.
export function showSecretOnce(slot, title, note, value, label) {
  const secret = h("input", { type: "text", readonly: true, class: "secret", "aria-label": label, value });
  secret.value = value;
  fill(slot, h("div", { class: "secret-box", role: "status" },
    h("h3", {}, title),
    h("p", {}, note),
    h("div", { class: "dns-value" }, secret, copyButton(value, label))));
  secret.focus();
  secret.select();
}

export async function tokensPage(ctx) {
  const slot = messageSlot();
  const secretSlot = h("div", { "aria-live": "polite" });
  const listBody = h("div");

  async function load() {
    let l;
    try {
      l = await api("GET", "/tokens");
    } catch (err) {
      showError(slot, err);
      return;
    }
    if (!ctx.alive()) return;
    fill(listBody, table(t("nav.tokens"), [
      { label: t("field.name"), cell: (k) => k.name },
      { label: t("tokens.prefix"), cell: (k) => h("code", {}, `yb_${k.prefix}…`) },
      { label: t("tokens.scope"), cell: (k) => t(`tokens.scope.${k.scope}`) },
      { label: t("field.created"), cell: (k) => fmtDate(k.created_at) },
      { label: t("tokens.expires"), cell: (k) => (k.expires_at ? fmtDate(k.expires_at) : t("tokens.never")) },
      { label: t("tokens.lastUsed"), cell: (k) => (k.last_used_at ? fmtDate(k.last_used_at) : t("tokens.unused")) },
      {
        label: t("field.actions"),
        cell: (k) => h("button", {
          type: "button", class: "danger", "aria-label": t("tokens.revokeWhat", { name: k.name }),
          onclick: async () => {
            if (!(await confirmDialog(t("tokens.revokeConfirm", { name: k.name }), t("tokens.revoke")))) return;
            try {
              await api("DELETE", `/tokens/${k.id}`);
              showNotice(slot, t("tokens.revoked", { name: k.name }));
              load();
            } catch (err) {
              showError(slot, err);
            }
          },
        }, t("tokens.revoke")),
      },
    ], l.items || [], t("tokens.none")));
  }

  const name = field({ label: t("field.name"), name: "name", required: true, autocomplete: "off", attrs: { maxlength: 100 } });
  const scope = field({ label: t("tokens.scope"), name: "scope", type: "select", value: "read", options: [{ value: "read", label: t("tokens.scope.read") }, { value: "write", label: t("tokens.scope.write") }] });
  const days = field({ label: t("tokens.days"), name: "expires_in_days", type: "number", value: 90, hint: t("tokens.daysHint"), attrs: { min: 0, max: 3650, step: 1 } });
  const form = h("form", { novalidate: true, class: "form-grid" }, name.wrap, scope.wrap, days.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("tokens.create"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const checkDays = (v) => (v === "" || (/^\d+$/.test(v) && Number(v) <= 3650) ? "" : t("valid.days"));
    if (!validate([{ input: name.input, required: true }, { input: days.input, check: checkDays }])) return;
    const body = { name: name.input.value.trim(), scope: scope.input.value };
    if (days.input.value.trim() !== "") body.expires_in_days = Number(days.input.value);
    await busy(form, async () => {
      try {
        const created = await api("POST", "/tokens", body);
        form.reset();
        clear(slot);
        showSecretOnce(secretSlot, t("tokens.createdTitle", { name: created.token.name }), t("tokens.once"), created.secret, t("tokens.secret"));
        load();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  add(ctx.main, pageHeading(t("nav.tokens")), h("p", { class: "hint" }, t("tokens.intro")), slot,
    section(t("tokens.create"), form, secretSlot),
    section(t("tokens.list"), listBody));
  await load();
}
