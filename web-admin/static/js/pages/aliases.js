// Aliases: the list (search, domain, paging), adding, editing targets and
// deleting.

import { h, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc, qs } from "../api.js";
import {
  field, validate, busy, markServerErrors, showError, showNotice, messageSlot, confirmDialog,
  pageHeading, section, addSection, fmtDate, link, EMAIL, flash,
} from "../ui.js";
import { listView } from "../list.js";
import { domainOptions } from "./users.js";

// splitTargets reads addresses separated by commas, spaces or lines.
function splitTargets(text) {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}

// checkTargets validates a targets field.
function checkTargets(v) {
  const list = splitTargets(v);
  if (!list.length) return t("valid.targets");
  const bad = list.find((a) => !EMAIL.test(a));
  return bad ? t("valid.targetEmail", { address: bad }) : "";
}

// checkAliasAddress accepts local@domain or @domain (the catch-all).
function checkAliasAddress(v) {
  if (EMAIL.test(v) || (v.startsWith("@") && EMAIL.test(`x${v}`))) return "";
  return t("valid.aliasAddress");
}

// deleteAlias asks, then deletes an alias; with leaving the notice is
// kept for the page done goes to.
async function deleteAlias(address, slot, done, leaving) {
  if (!(await confirmDialog(t("aliases.deleteConfirm", { address }), t("action.delete")))) return;
  try {
    await api("DELETE", `/aliases/${enc(address)}`);
    if (leaving) flash(t("aliases.deleted", { address }));
    else showNotice(slot, t("aliases.deleted", { address }));
    done();
  } catch (err) {
    showError(slot, err);
  }
}

function createForm(slot, done) {
  const address = field({ label: t("field.alias"), name: "address", required: true, autocomplete: "off", hint: t("aliases.addressHint") });
  const targets = field({ label: t("field.targets"), name: "targets", type: "textarea", required: true, rows: 3, hint: t("aliases.targetsHint") });
  const form = h("form", { novalidate: true, class: "form-grid" }, address.wrap, targets.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("aliases.add"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: address.input, required: true, check: checkAliasAddress }, { input: targets.input, required: true, check: checkTargets }])) return;
    await busy(form, async () => {
      try {
        const a = await api("POST", "/aliases", { address: address.input.value.trim(), targets: splitTargets(targets.input.value) });
        showNotice(slot, t("aliases.created", { address: a.address }));
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

// aliasesPage lists aliases.
export async function aliasesPage(ctx) {
  const slot = messageSlot();
  let domains = [];
  try {
    domains = await domainOptions();
  } catch (err) {
    showError(slot, err);
  }
  if (!ctx.alive()) return;
  const list = listView(ctx, {
    caption: t("nav.aliases"),
    filters: [
      { name: "search", label: t("field.search"), type: "search" },
      { name: "domain", label: t("field.domain"), type: "select", options: domains, value: domains.length ? domains[0].value : "" },
    ],
    load: (q) => api("GET", `/aliases${qs(q)}`),
    columns: [
      { label: t("field.alias"), cell: (a) => link(`aliases/${enc(a.address)}`, a.address) },
      { label: t("field.targets"), cell: (a) => h("ul", { class: "plain" }, a.targets.map((x) => h("li", {}, x))) },
      { label: t("field.updated"), cell: (a) => fmtDate(a.updated_at) },
      { label: t("field.actions"), cell: (a) => h("button", { type: "button", class: "danger", "aria-label": t("action.deleteWhat", { what: a.address }), onclick: () => deleteAlias(a.address, slot, () => list.refresh()) }, t("action.delete")) },
    ],
    empty: t("aliases.none"),
  });
  add(ctx.main, pageHeading(t("nav.aliases")), slot,
    addSection(t("aliases.add"), createForm(slot, () => list.refresh())),
    section(t("aliases.list"), list.wrap));
  await list.refresh();
}

// aliasPage edits one alias's targets.
export async function aliasPage(ctx) {
  const address = ctx.params.address;
  const slot = messageSlot();
  const body = h("div");
  add(ctx.main, h("p", { class: "crumbs" }, link("aliases", t("nav.aliases"))), pageHeading(address), slot, body);
  let a;
  try {
    a = await api("GET", `/aliases/${enc(address)}`);
  } catch (err) {
    showError(slot, err);
    return;
  }
  if (!ctx.alive()) return;
  const targets = field({ label: t("field.targets"), name: "targets", type: "textarea", required: true, rows: 5, value: a.targets.join("\n"), hint: t("aliases.targetsHint") });
  const form = h("form", { novalidate: true, class: "form-grid" }, targets.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: targets.input, required: true, check: checkTargets }])) return;
    await busy(form, async () => {
      try {
        a = await api("PATCH", `/aliases/${enc(a.address)}`, { targets: splitTargets(targets.input.value) });
        targets.input.value = a.targets.join("\n");
        showNotice(slot, t("saved"));
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  const del = h("button", { type: "button", class: "danger" }, t("aliases.delete"));
  del.addEventListener("click", () => deleteAlias(a.address, slot, () => ctx.navigate("aliases"), true));
  fill(body, 
    section(t("aliases.targets"), h("p", { class: "hint" }, a.address.startsWith("@") ? t("aliases.catchAll") : ""), form),
    h("div", { class: "actions" }, del),
    h("p", { class: "hint" }, t("field.created"), ": ", fmtDate(a.created_at), " · ", t("field.updated"), ": ", fmtDate(a.updated_at)));
}
