// Quarantine: held messages, a text preview, release and delete.

import { h, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, qs } from "../api.js";
import { showError, showNotice, messageSlot, confirmDialog, pageHeading, section, fmtDate, fmtBytes, link } from "../ui.js";
import { listView } from "../list.js";

// act releases or deletes a held message after asking.
async function act(kind, m, slot, done) {
  const release = kind === "release";
  const subject = m.subject || t("quarantine.noSubject");
  if (!(await confirmDialog(t(release ? "quarantine.releaseConfirm" : "quarantine.deleteConfirm", { subject }), t(release ? "quarantine.release" : "action.delete")))) return;
  try {
    if (release) await api("POST", `/quarantine/${m.id}/release`);
    else await api("DELETE", `/quarantine/${m.id}`);
    showNotice(slot, t(release ? "quarantine.released" : "quarantine.deleted", { subject }));
    done();
  } catch (err) {
    showError(slot, err);
  }
}

export async function quarantinePage(ctx) {
  const slot = messageSlot();
  const list = listView(ctx, {
    caption: t("nav.quarantine"),
    filters: [{ name: "recipient", label: t("quarantine.recipient"), type: "search", attrs: { placeholder: "ann@example.com" } }],
    load: (q) => api("GET", `/quarantine${qs(q)}`),
    columns: [
      { label: t("quarantine.received"), cell: (m) => fmtDate(m.received_at) },
      { label: t("quarantine.from"), cell: (m) => m.from || t("quarantine.nullSender") },
      { label: t("quarantine.subject"), cell: (m) => link(`quarantine/${m.id}`, m.subject || t("quarantine.noSubject")) },
      { label: t("quarantine.recipients"), cell: (m) => (m.recipients || []).join(", ") },
      { label: t("quarantine.reason"), cell: (m) => `${m.filter}: ${m.reason}` },
      { label: t("quarantine.size"), cell: (m) => fmtBytes(m.size) },
      {
        label: t("field.actions"),
        cell: (m) => h("div", { class: "row-actions" },
          h("button", { type: "button", onclick: () => act("release", m, slot, () => list.refresh()) }, t("quarantine.release")),
          h("button", { type: "button", class: "danger", onclick: () => act("delete", m, slot, () => list.refresh()) }, t("action.delete"))),
      },
    ],
    empty: t("quarantine.none"),
  });
  add(ctx.main, pageHeading(t("nav.quarantine")), slot, section(t("quarantine.held"), list.wrap));
  await list.refresh();
}

export async function quarantineItemPage(ctx) {
  const slot = messageSlot();
  const body = h("div");
  add(ctx.main, h("p", { class: "crumbs" }, link("quarantine", t("nav.quarantine"))), pageHeading(t("quarantine.message")), slot, body);
  let m;
  try {
    m = await api("GET", `/quarantine/${encodeURIComponent(ctx.params.id)}`);
  } catch (err) {
    showError(slot, err);
    return;
  }
  if (!ctx.alive()) return;
  const hd = m.headers || {};
  fill(body, 
    section(t("quarantine.headers"), h("dl", { class: "facts" },
      h("dt", {}, t("quarantine.from")), h("dd", {}, hd.from || m.from || "—"),
      h("dt", {}, t("quarantine.to")), h("dd", {}, hd.to || (m.recipients || []).join(", ")),
      h("dt", {}, t("quarantine.subject")), h("dd", {}, hd.subject || m.subject || "—"),
      h("dt", {}, t("quarantine.date")), h("dd", {}, hd.date || "—"),
      h("dt", {}, t("quarantine.received")), h("dd", {}, fmtDate(m.received_at)),
      h("dt", {}, t("quarantine.reason")), h("dd", {}, `${m.filter}: ${m.reason}`),
      h("dt", {}, t("quarantine.size")), h("dd", {}, fmtBytes(m.size)))),
    section(t("quarantine.preview"), h("pre", { class: "preview", tabindex: "0" }, m.preview || t("quarantine.noPreview"))),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: () => act("release", m, slot, () => ctx.navigate("quarantine")) }, t("quarantine.release")),
      h("button", { type: "button", class: "danger", onclick: () => act("delete", m, slot, () => ctx.navigate("quarantine")) }, t("action.delete"))));
}
