// The audit log, newest first, with filters (server admins).

import { h, add } from "../dom.js";
import { t, has } from "../i18n.js";
import { api, qs } from "../api.js";
import { messageSlot, pageHeading, section, fmtDate, fmtBytes, breakable } from "../ui.js";
import { listView } from "../list.js";

// rfc3339 turns a datetime-local value into RFC 3339 (or "").
function rfc3339(v) {
  if (!v) return "";
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString();
}

// actionLabel names an audit action in words; the code stays in the
// title (the filter takes codes).
function actionLabel(code) {
  const key = `audit.action.${code}`;
  return h("span", { class: "audit-action", title: code, "data-action": code }, has(key) ? t(key) : code);
}

// sourceLabel names where a change came from.
function sourceLabel(source) {
  const key = `audit.source.${source}`;
  return has(key) ? t(key) : source;
}

// detailValue renders one value of an entry's details.
function detailValue(key, v) {
  if (v === null || v === undefined) return t("audit.default");
  if (typeof v === "boolean") return t(v ? "audit.yes" : "audit.no");
  if (typeof v === "number" && key.endsWith("_bytes")) return v === 0 ? "0" : fmtBytes(v);
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return fmtDate(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// details shows an entry's details (a JSON object) as labelled values.
function details(text) {
  if (!text) return "";
  let obj;
  try {
    obj = JSON.parse(text);
  } catch {
    return h("span", { class: "details" }, text);
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return h("span", { class: "details" }, detailValue("", obj));
  const entries = Object.entries(obj);
  if (!entries.length) return "";
  return h("dl", { class: "details" }, entries.map(([k, v]) => {
    const key = `audit.detail.${k}`;
    return h("div", {}, h("dt", {}, has(key) ? t(key) : k.replace(/_/g, " ")), h("dd", {}, breakable(detailValue(k, v))));
  }));
}

export async function auditPage(ctx) {
  const slot = messageSlot();
  const list = listView(ctx, {
    caption: t("nav.audit"),
    filters: [
      { name: "actor", label: t("audit.actor"), type: "search" },
      { name: "action", label: t("audit.action"), type: "search", hint: t("audit.actionHint"), attrs: { placeholder: "domain.create" } },
      { name: "target", label: t("audit.target"), type: "search" },
      { name: "since", label: t("audit.since"), type: "datetime-local" },
      { name: "until", label: t("audit.until"), type: "datetime-local" },
    ],
    load: (q) => api("GET", `/audit${qs({ ...q, since: rfc3339(q.since), until: rfc3339(q.until) })}`),
    columns: [
      { label: t("audit.time"), cell: (e) => h("span", { class: "audit-time" }, fmtDate(e.time)) },
      { label: t("audit.actor"), cell: (e) => breakable(e.actor) },
      { label: t("audit.source"), cell: (e) => sourceLabel(e.source) },
      { label: t("audit.action"), cell: (e) => actionLabel(e.action) },
      { label: t("audit.target"), cell: (e) => breakable(e.target) },
      { label: t("audit.details"), cell: (e) => details(e.details) },
      { label: t("audit.ip"), cell: (e) => h("span", { class: "audit-ip" }, e.remote_ip || "") },
    ],
    empty: t("audit.none"),
    tableClass: "audit-table",
  });
  add(ctx.main, pageHeading(t("nav.audit")), slot, section(t("audit.entries"), list.wrap));
  await list.refresh();
}
