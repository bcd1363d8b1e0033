// The TLS certificates the listeners serve: where they come from (ACME,
// files or self-signed), their names and expiry (server admins).

import { h, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api } from "../api.js";
import { showError, messageSlot, pageHeading, section, fmtDate, table, breakable } from "../ui.js";

// statusBadge shows a certificate's state; the last ACME failure is its
// title and is shown below.
function statusBadge(c) {
  const cls = c.status === "valid" ? "badge on" : "badge off";
  return h("span", { class: cls, "data-status": c.status }, t(`certs.status.${c.status}`));
}

// words keeps each word of a message whole (a name such as mta-sts.example.com
// is not split at its hyphen), breaking lines between words only.
function words(text) {
  const out = [];
  String(text).split(" ").forEach((w, i) => {
    if (i > 0) out.push(" ");
    out.push(h("span", { class: "nowrap" }, w));
  });
  return out;
}

export async function certificatesPage(ctx) {
  const slot = messageSlot();
  const intro = h("p", { class: "hint" });
  const listBody = h("div");
  const reportsBody = h("div");
  add(ctx.main, pageHeading(t("nav.certificates")), intro, slot, section(t("certs.list"), listBody),
    section(t("tlsrpt.title"), h("p", { class: "hint" }, t("tlsrpt.intro")), reportsBody));
  let st;
  try {
    st = await api("GET", "/tls/certificates");
  } catch (err) {
    showError(slot, err);
    return;
  }
  if (!ctx.alive()) return;
  fill(intro, t(`certs.mode.${st.mode}`, { directory: st.directory || "" }));
  fill(listBody, table(t("certs.list"), [
    {
      label: t("certs.name"),
      cell: (c) => {
        const others = (c.names || []).filter((n) => n !== c.name);
        return h("div", {}, breakable(c.name), others.length ? h("p", { class: "hint" }, t("certs.alsoFor", { names: others.join(", ") })) : "");
      },
    },
    { label: t("certs.source"), cell: (c) => t(`certs.source.${c.source}`) },
    { label: t("certs.status"), cell: (c) => h("div", {}, statusBadge(c), c.error ? h("p", { class: "hint cert-error" }, words(c.error)) : "") },
    {
      label: t("certs.expires"),
      cell: (c) => (c.not_after
        ? h("div", {}, h("span", { class: "cert-expiry" }, fmtDate(c.not_after)), c.issuer ? h("p", { class: "hint" }, t("certs.issuedBy", { issuer: c.issuer })) : "")
        : ""),
    },
  ], st.certificates, t("certs.none"), "certs-table"));
  let reports;
  try {
    reports = await api("GET", "/tls-reports");
  } catch (err) {
    showError(slot, err);
    return;
  }
  if (!ctx.alive()) return;
  fill(reportsBody, table(t("tlsrpt.title"), [
    { label: t("tlsrpt.received"), cell: (r) => fmtDate(r.received_at) },
    { label: t("tlsrpt.from"), cell: (r) => h("div", {}, breakable(r.organization), h("p", { class: "hint" }, breakable((r.domains || []).join(", ")))) },
    { label: t("tlsrpt.sessions"), cell: (r) => h("span", { class: r.failed_sessions > 0 ? "tlsrpt-failed" : "" }, t("tlsrpt.counts", { ok: r.successful_sessions, failed: r.failed_sessions })) },
  ], reports.reports, t("tlsrpt.none"), "tlsrpt-table"));
}
