// The audit log, newest first, with filters (server admins).

import { h, add } from "../dom.js";
import { t } from "../i18n.js";
import { api, qs } from "../api.js";
import { messageSlot, pageHeading, section, fmtDate } from "../ui.js";
import { listView } from "../list.js";

// rfc3339 turns a datetime-local value into RFC 3339 (or "").
function rfc3339(v) {
  if (!v) return "";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

export async function auditPage(ctx) {
  const slot = messageSlot();
  const list = listView(ctx, {
    caption: t("nav.audit"),
    filters: [
      { name: "actor", label: t("audit.actor"), type: "search" },
      { name: "action", label: t("audit.action"), type: "search", attrs: { placeholder: "domain.create" } },
      { name: "target", label: t("audit.target"), type: "search" },
      { name: "since", label: t("audit.since"), type: "datetime-local" },
      { name: "until", label: t("audit.until"), type: "datetime-local" },
    ],
    load: (q) => api("GET", `/audit${qs({ ...q, since: rfc3339(q.since), until: rfc3339(q.until) })}`),
    columns: [
      { label: t("audit.time"), cell: (e) => fmtDate(e.time) },
      { label: t("audit.actor"), cell: (e) => e.actor },
      { label: t("audit.source"), cell: (e) => e.source },
      { label: t("audit.action"), cell: (e) => h("code", {}, e.action) },
      { label: t("audit.target"), cell: (e) => e.target },
      { label: t("audit.details"), cell: (e) => (e.details ? h("code", { class: "details" }, e.details) : "") },
      { label: t("audit.ip"), cell: (e) => e.remote_ip },
    ],
    empty: t("audit.none"),
  });
  add(ctx.main, pageHeading(t("nav.audit")), slot, section(t("audit.entries"), list.wrap));
  await list.refresh();
}
