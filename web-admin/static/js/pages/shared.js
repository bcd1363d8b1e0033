// Shared mailboxes (shared accounts such as info@): the list, adding one
// with its members, and one account's members and their rights.

import { h, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc, qs } from "../api.js";
import {
  field, validate, busy, markServerErrors, showError, showNotice, messageSlot, confirmDialog,
  pageHeading, section, addSection, fmtBytes, fmtDate, link, EMAIL, flash,
} from "../ui.js";
import { listView } from "../list.js";
import { domainOptions } from "./users.js";

// FULL_RIGHTS are a member's rights unless others are chosen: everything
// but changing who has access (RFC 4314).
const FULL_RIGHTS = "lrswipkxte";
const RIGHTS = /^[lrswipkxtea]+$/;

// splitAddresses reads addresses separated by commas, spaces or lines.
function splitAddresses(text) {
  return text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}

// checkMembers validates a members field (it may be empty).
function checkMembers(v) {
  const bad = splitAddresses(v).find((a) => !EMAIL.test(a));
  return bad ? t("valid.memberEmail", { address: bad }) : "";
}

// memberList shows members with their rights.
function memberList(members) {
  if (!members.length) return h("span", { class: "hint" }, t("shared.noMembers"));
  return h("ul", { class: "plain" }, members.map((m) => h("li", {}, `${m.address} (${m.rights})`)));
}

// deleteShared asks, then deletes a shared account; with leaving the
// notice is kept for the page done goes to.
async function deleteShared(address, slot, done, leaving) {
  if (!(await confirmDialog(t("shared.deleteConfirm", { address }), t("action.delete")))) return;
  try {
    await api("DELETE", `/shared-accounts/${enc(address)}`);
    if (leaving) flash(t("shared.deleted", { address }));
    else showNotice(slot, t("shared.deleted", { address }));
    done();
  } catch (err) {
    showError(slot, err);
  }
}

function createForm(slot, done) {
  const address = field({ label: t("field.email"), name: "address", required: true, autocomplete: "off", hint: t("shared.addressHint") });
  const name = field({ label: t("field.displayName"), name: "display_name", autocomplete: "off" });
  const members = field({ label: t("field.members"), name: "members", type: "textarea", rows: 3, hint: t("shared.membersHint") });
  const form = h("form", { novalidate: true, class: "form-grid" }, address.wrap, name.wrap, members.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("shared.add"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([
      { input: address.input, required: true, check: (v) => (EMAIL.test(v) ? "" : t("valid.email")) },
      { input: members.input, check: checkMembers },
    ])) return;
    await busy(form, async () => {
      try {
        const a = await api("POST", "/shared-accounts", {
          address: address.input.value.trim(),
          display_name: name.input.value.trim(),
          members: splitAddresses(members.input.value),
        });
        showNotice(slot, t("shared.created", { address: a.address }));
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

// sharedAccountsPage lists the shared accounts.
export async function sharedAccountsPage(ctx) {
  const slot = messageSlot();
  let domains = [];
  try {
    domains = await domainOptions();
  } catch (err) {
    showError(slot, err);
  }
  if (!ctx.alive()) return;
  const list = listView(ctx, {
    caption: t("nav.shared"),
    filters: [
      { name: "domain", label: t("field.domain"), type: "select", options: domains, value: domains.length ? domains[0].value : "" },
    ],
    load: (q) => api("GET", `/shared-accounts${qs({ domain: q.domain })}`),
    columns: [
      { label: t("field.email"), cell: (a) => link(`shared/${enc(a.address)}`, a.address) },
      { label: t("field.members"), cell: (a) => memberList(a.members) },
      { label: t("field.usage"), cell: (a) => fmtBytes(a.used_bytes) },
      { label: t("field.actions"), cell: (a) => h("button", { type: "button", class: "danger", "aria-label": t("action.deleteWhat", { what: a.address }), onclick: () => deleteShared(a.address, slot, () => list.refresh()) }, t("action.delete")) },
    ],
    empty: t("shared.none"),
  });
  add(ctx.main, pageHeading(t("nav.shared")), h("p", { class: "hint" }, t("shared.intro")), slot,
    addSection(t("shared.add"), createForm(slot, () => list.refresh())),
    section(t("shared.list"), list.wrap));
  await list.refresh();
}

// readStateForm chooses, per mailbox of shared account a, whether each
// member has their own read state (\Seen, the default) or all share one.
function readStateForm(a, slot, done) {
  const boxes = (a.mailboxes || []).map((mb) => ({
    mb,
    f: field({ label: mb.name, name: `seen_${mb.name}`, type: "checkbox", value: mb.private_seen }),
  }));
  const form = h("form", { novalidate: true, class: "form-grid seen" },
    h("p", { class: "hint" }, t("shared.seenHint")),
    boxes.map((b) => b.f.wrap),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await busy(form, async () => {
      try {
        let updated = a;
        for (const b of boxes) {
          if (b.f.input.checked !== b.mb.private_seen) {
            updated = await api("PUT", `/shared-accounts/${enc(a.address)}/seen`, { mailbox: b.mb.name, private_seen: b.f.input.checked });
          }
        }
        showNotice(slot, t("shared.seenSaved"));
        done(updated);
      } catch (err) {
        showError(slot, err);
      }
    });
  });
  return form;
}

// sharedAccountPage shows one shared account's members: adding one,
// changing rights, removing.
export async function sharedAccountPage(ctx) {
  const address = ctx.params.address;
  const slot = messageSlot();
  const body = h("div");
  add(ctx.main, h("p", { class: "crumbs" }, link("shared", t("nav.shared"))), pageHeading(address), slot, body);
  let a;
  try {
    a = await api("GET", `/shared-accounts/${enc(address)}`);
  } catch (err) {
    showError(slot, err);
    return;
  }
  if (!ctx.alive()) return;

  const render = () => {
    const rows = a.members.map((m) => {
      const remove = h("button", { type: "button", class: "danger", "aria-label": t("shared.removeWhat", { address: m.address }) }, t("shared.remove"));
      remove.addEventListener("click", async () => {
        if (!(await confirmDialog(t("shared.removeConfirm", { address: m.address }), t("shared.remove")))) return;
        try {
          await api("DELETE", `/shared-accounts/${enc(a.address)}/members/${enc(m.address)}`);
          a = await api("GET", `/shared-accounts/${enc(a.address)}`);
          showNotice(slot, t("shared.memberRemoved", { address: m.address }));
          render();
        } catch (err) {
          showError(slot, err);
        }
      });
      return h("tr", {}, h("td", { "data-label": t("field.member") }, m.address), h("td", { "data-label": t("field.rights") }, h("code", {}, m.rights)), h("td", { "data-label": t("field.actions") }, remove));
    });
    const members = a.members.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "list" },
        h("caption", { class: "visually-hidden" }, t("shared.members")),
        h("thead", {}, h("tr", {}, [t("field.member"), t("field.rights"), t("field.actions")].map((l) => h("th", { scope: "col" }, l)))),
        h("tbody", {}, rows)))
      : h("p", { class: "empty" }, t("shared.noMembers"));

    const member = field({ label: t("field.member"), name: "member", required: true, autocomplete: "off" });
    const rights = field({ label: t("field.rights"), name: "rights", required: true, value: FULL_RIGHTS, autocomplete: "off", hint: t("shared.rightsHint") });
    const form = h("form", { novalidate: true, class: "form-grid" }, member.wrap, rights.wrap,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("shared.addMember"))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!validate([
        { input: member.input, required: true, check: (v) => (EMAIL.test(v) ? "" : t("valid.email")) },
        { input: rights.input, required: true, check: (v) => (RIGHTS.test(v) ? "" : t("valid.rights")) },
      ])) return;
      await busy(form, async () => {
        try {
          const who = member.input.value.trim();
          a = await api("PUT", `/shared-accounts/${enc(a.address)}/members/${enc(who)}`, { rights: rights.input.value.trim() });
          showNotice(slot, t("shared.memberAdded", { address: who }));
          render();
        } catch (err) {
          showError(slot, err);
          markServerErrors(form, err);
        }
      });
    });
    const seenForm = readStateForm(a, slot, (updated) => {
      a = updated;
      render();
    });
    const del = h("button", { type: "button", class: "danger" }, t("shared.delete"));
    del.addEventListener("click", () => deleteShared(a.address, slot, () => ctx.navigate("shared"), true));
    fill(body,
      h("p", { class: "hint" }, t("shared.imapHint", { address: a.address })),
      section(t("shared.members"), members),
      section(t("shared.addMember"), form),
      section(t("shared.seen"), seenForm),
      h("div", { class: "actions" }, del),
      h("p", { class: "hint" }, t("field.usage"), ": ", fmtBytes(a.used_bytes), " · ", t("field.created"), ": ", fmtDate(a.created_at)));
  };
  render();
}
