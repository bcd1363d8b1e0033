// The server admins (server admins only): add one, reset another's
// password, remove one (never the last).

import { h, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc, session } from "../api.js";
import {
  field, validate, busy, markServerErrors, showError, showNotice, messageSlot, confirmDialog,
  pageHeading, section, fmtDate, table, MIN_PASSWORD,
} from "../ui.js";

// passwordPair is a new password typed twice, with the field name the API
// reports errors under.
function passwordPair(name) {
  const pw = field({ label: t("field.password"), name, type: "password", required: true, autocomplete: "new-password", hint: t("valid.minLength", { n: MIN_PASSWORD }) });
  const again = field({ label: t("field.confirmPassword"), name: `${name}_confirm`, type: "password", required: true, autocomplete: "new-password" });
  return {
    wraps: [pw.wrap, again.wrap],
    input: pw.input,
    rules: () => [{ input: pw.input, required: true, minLength: MIN_PASSWORD }, { input: again.input, required: true, match: pw.input }],
  };
}

export async function adminsPage(ctx) {
  const slot = messageSlot();
  const listBody = h("div");
  const resetWho = field({ label: t("field.email"), name: "email", type: "select", options: [] });

  async function load() {
    let l;
    try {
      l = await api("GET", "/admins");
    } catch (err) {
      showError(slot, err);
      return;
    }
    if (!ctx.alive()) return;
    const items = l.items || [];
    fill(resetWho.input, items.map((a) => h("option", { value: a.email }, a.email)));
    fill(listBody, table(t("nav.admins"), [
      { label: t("field.email"), cell: (a) => (a.email === session.email ? [a.email, " ", h("span", { class: "badge" }, t("admins.you"))] : a.email) },
      { label: t("field.created"), cell: (a) => fmtDate(a.created_at) },
      {
        label: t("field.actions"),
        cell: (a) => h("button", {
          type: "button", class: "danger", disabled: items.length < 2, "aria-label": t("admins.removeWhat", { email: a.email }),
          title: items.length < 2 ? t("admins.lastOne") : null,
          onclick: async () => {
            if (!(await confirmDialog(t("admins.removeConfirm", { email: a.email }), t("admins.remove")))) return;
            try {
              await api("DELETE", `/admins/${enc(a.email)}`);
              showNotice(slot, t("admins.removed", { email: a.email }));
              load();
            } catch (err) {
              showError(slot, err);
            }
          },
        }, t("admins.remove")),
      },
    ], items, t("admins.none")));
  }

  const email = field({ label: t("field.email"), name: "email", type: "email", required: true, autocomplete: "off" });
  const pw = passwordPair("password");
  const addForm = h("form", { novalidate: true, class: "form-grid" }, email.wrap, pw.wraps,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("admins.add"))));
  addForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: email.input, required: true, email: true }, ...pw.rules()])) return;
    await busy(addForm, async () => {
      try {
        const a = await api("POST", "/admins", { email: email.input.value.trim(), password: pw.input.value });
        addForm.reset();
        showNotice(slot, t("admins.added", { email: a.email }));
        load();
      } catch (err) {
        showError(slot, err);
        markServerErrors(addForm, err);
      }
    });
  });

  const resetPw = passwordPair("password");
  const resetForm = h("form", { novalidate: true, class: "form-grid" }, resetWho.wrap, resetPw.wraps,
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("admins.reset"))));
  resetForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate(resetPw.rules())) return;
    const who = resetWho.input.value;
    await busy(resetForm, async () => {
      try {
        await api("PATCH", `/admins/${enc(who)}`, { password: resetPw.input.value });
        resetForm.reset();
        showNotice(slot, t("admins.resetDone", { email: who }));
        load();
      } catch (err) {
        showError(slot, err);
        markServerErrors(resetForm, err);
      }
    });
  });

  add(ctx.main, pageHeading(t("nav.admins")), h("p", { class: "hint" }, t("admins.intro")), slot,
    section(t("admins.list"), listBody),
    section(t("admins.add"), addForm),
    section(t("admins.reset"), h("p", { class: "hint" }, t("admins.resetHint")), resetForm));
  await load();
}
