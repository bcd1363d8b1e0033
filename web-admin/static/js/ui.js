// Shared pieces of the pages: error boxes, form fields with validation,
// confirmation dialogs, tables, paging, usage bars and copy buttons.

import { h, uid, add, fill } from "./dom.js";
import { t, has, lang } from "./i18n.js";

export const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;
export const DOMAIN = /^[^\s@.]+(\.[^\s@.]+)+\.?$/;
export const MIN_PASSWORD = 8;
export const PAGE_SIZE = 50;

// errorBox shows a failed call: the problem's title, detail and each
// field error, all as text.
export function errorBox(err) {
  const box = h("div", { class: "problem", role: "alert" });
  if (err && err.network) {
    box.append(h("strong", {}, t("error.network")), h("p", {}, err.detail || ""));
    return box;
  }
  // The title in the dashboard's language when the problem's kind is
  // known; the server's detail (English) stays as it is.
  const kindKey = err && err.kind ? `problem.${err.kind}` : "";
  const title = (kindKey && has(kindKey) ? t(kindKey) : "") || (err && err.title) || t("error.generic");
  box.append(h("strong", { class: "problem-title" }, title));
  if (err && err.status) box.append(" ", h("span", { class: "problem-status" }, `(${err.status})`));
  const detail = err && (err.detail !== undefined ? err.detail : err.message);
  if (detail) box.append(h("p", { class: "problem-detail" }, detail));
  if (err && err.errors && err.errors.length) {
    box.append(h("ul", { class: "problem-errors" }, err.errors.map((e) => h("li", {}, e.field ? `${e.field}: ${e.message}` : e.message))));
  }
  return box;
}

// showError replaces slot's content with an error box.
export function showError(slot, err) {
  fill(slot, errorBox(err));
  slot.hidden = false;
}

// showNotice replaces slot's content with a success message.
export function showNotice(slot, text) {
  fill(slot, h("p", { class: "notice", role: "status" }, text));
  slot.hidden = false;
}

let flashed = "";

// flash keeps a notice for the next page: the page's first message slot
// shows it (a deletion that leaves the page it was made on).
export function flash(text) {
  flashed = text;
}

// messageSlot is a place for errors and notices; the first one made after
// a flash shows it.
export function messageSlot() {
  const slot = h("div", { class: "messages", "aria-live": "polite" });
  if (flashed) {
    showNotice(slot, flashed);
    flashed = "";
  }
  return slot;
}

// breakable shows an address or domain name as text that may wrap only
// after its "@" and dots, never inside a label.
export function breakable(text) {
  const parts = String(text ?? "").split(/(?<=[@.])/);
  const out = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(h("wbr", {}));
    out.push(h("span", { class: "nowrap" }, p));
  });
  return h("span", { class: "breakable" }, out);
}

// longValue shows a value on one line in a box that scrolls sideways, so
// that it is never broken and can be selected (or copied) whole.
export function longValue(text, cls) {
  return h("code", { class: `long-value${cls ? ` ${cls}` : ""}`, tabindex: "0" }, text);
}

// field is a labelled form control with a place for its error.
// opts: label, name, type ("text", "email", "password", "number",
// "textarea", "select", "checkbox"), value, required, autocomplete,
// hint, options ([{value, label}]), attrs (more attributes).
export function field(opts) {
  const id = uid(`f-${opts.name}`);
  const errId = `${id}-err`;
  const hintId = opts.hint ? `${id}-hint` : null;
  const describedBy = [hintId, errId].filter(Boolean).join(" ");
  const common = { id, name: opts.name, "aria-describedby": describedBy, required: !!opts.required, ...(opts.attrs || {}) };
  let input;
  if (opts.type === "textarea") {
    input = h("textarea", { ...common, rows: opts.rows || 4 });
    input.value = opts.value || "";
  } else if (opts.type === "select") {
    input = h("select", common, (opts.options || []).map((o) => h("option", { value: o.value }, o.label)));
    if (opts.value !== undefined) input.value = opts.value;
  } else if (opts.type === "checkbox") {
    input = h("input", { ...common, type: "checkbox" });
    input.checked = !!opts.value;
  } else {
    input = h("input", { ...common, type: opts.type || "text", autocomplete: opts.autocomplete || null });
    if (opts.value !== undefined && opts.value !== null) input.value = String(opts.value);
  }
  const label = h("label", { for: id }, opts.label, opts.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null);
  const wrap = h("div", { class: `field field-${opts.type || "text"}` },
    opts.type === "checkbox" ? [input, label] : [label, input],
    hintId ? h("p", { class: "hint", id: hintId }, opts.hint) : null,
    h("p", { class: "field-error", id: errId, hidden: true }));
  input.dataset.label = opts.label;
  return { wrap, input };
}

// setFieldError marks a control invalid with message (or clears it).
export function setFieldError(input, message) {
  const errEl = document.getElementById(`${input.id}-err`);
  if (message) {
    input.setAttribute("aria-invalid", "true");
    if (errEl) {
      errEl.textContent = message;
      errEl.hidden = false;
    }
  } else {
    input.removeAttribute("aria-invalid");
    if (errEl) {
      errEl.textContent = "";
      errEl.hidden = true;
    }
  }
}

// validate checks form controls before a request is sent. rules: a list
// of {input, required, email, domain, minLength, match, check} (check
// returns a message or ""). It marks each invalid control, focuses the
// first, and reports whether all are valid.
export function validate(rules) {
  let first = null;
  for (const r of rules) {
    const v = r.input.type === "checkbox" ? "" : r.input.value.trim();
    let msg = "";
    if (r.required && v === "") msg = t("valid.required", { field: r.input.dataset.label });
    else if (v !== "" && r.email && !EMAIL.test(v)) msg = t("valid.email");
    else if (v !== "" && r.domain && !DOMAIN.test(v)) msg = t("valid.domain");
    else if (r.input.value !== "" && r.minLength && [...r.input.value].length < r.minLength) msg = t("valid.minLength", { n: r.minLength });
    else if (r.match && r.input.value !== r.match.value) msg = t("valid.match");
    else if (r.check) msg = r.check(v) || "";
    setFieldError(r.input, msg);
    if (msg && !first) first = r.input;
  }
  if (first) first.focus();
  return first === null;
}

// markServerErrors marks the controls a validation problem names.
export function markServerErrors(form, err) {
  if (!err || !err.errors) return;
  for (const e of err.errors) {
    const input = form.querySelector(`[name="${CSS.escape(e.field || "")}"]`);
    if (input) setFieldError(input, e.message);
  }
}

// busy disables a form's buttons while fn runs.
export async function busy(form, fn) {
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => { b.disabled = true; });
  form.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
    form.removeAttribute("aria-busy");
  }
}

// confirmDialog asks a question in a modal dialog; it resolves to true
// when confirmed.
export function confirmDialog(message, confirmLabel, extra) {
  return new Promise((resolve) => {
    const titleId = uid("dlg");
    const ok = h("button", { type: "submit", class: "danger", value: "ok" }, confirmLabel || t("action.confirm"));
    const cancel = h("button", { type: "button", value: "cancel" }, t("action.cancel"));
    const form = h("form", { method: "dialog" },
      h("h2", { id: titleId }, message),
      extra || null,
      h("div", { class: "actions" }, cancel, ok));
    const dlg = h("dialog", { "aria-labelledby": titleId, class: "confirm" }, form);
    let answer = false;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      answer = true;
      dlg.close();
    });
    cancel.addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(answer);
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// table builds a table; columns: [{label, cell(row) → node or text}];
// cls is another class of the table, for its layout.
export function table(caption, columns, rows, empty, cls) {
  if (!rows.length) return h("p", { class: "empty" }, empty || t("list.empty"));
  return h("div", { class: "table-wrap" },
    h("table", { class: cls ? `list ${cls}` : "list" },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { "data-label": c.label }, c.cell(r))))))));
}

// pager shows where a page is in a list, with previous and next buttons.
export function pager(total, limit, offset, onPage) {
  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(total, offset + limit);
  const prev = h("button", { type: "button", disabled: offset <= 0, onclick: () => onPage(Math.max(0, offset - limit)) }, t("page.prev"));
  const next = h("button", { type: "button", disabled: offset + limit >= total, onclick: () => onPage(offset + limit) }, t("page.next"));
  const pages = Math.max(1, Math.ceil(total / limit));
  const pageNo = Math.floor(offset / limit) + 1;
  return h("nav", { class: "pager", "aria-label": t("page.label") },
    prev,
    h("span", { class: "pager-info" }, t("page.info", { from, to, total, page: pageNo, pages })),
    next);
}

// fmtBytes formats a byte count (binary units).
export function fmtBytes(n) {
  n = Number(n) || 0;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  const digits = i === 0 || n >= 100 ? 0 : 1;
  return `${n.toLocaleString(lang(), { maximumFractionDigits: digits })} ${units[i]}`;
}

// fmtDate formats an RFC 3339 time in the user's locale.
export function fmtDate(s) {
  if (!s) return "—";
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toLocaleString(lang());
}

// usageBar shows used against quota (0: unlimited) as a meter with text;
// warned (a user's quota_warning_percent) is the quota warning level the
// user was warned of: the bar turns amber (red from 95%) and says so.
export function usageBar(used, quota, warned) {
  used = Number(used) || 0;
  quota = Number(quota) || 0;
  warned = Number(warned) || 0;
  const wrap = h("div", { class: "usage" });
  if (quota > 0) {
    const pct = Math.min(100, (used / quota) * 100);
    const label = t("usage.of", { used: fmtBytes(used), quota: fmtBytes(quota), pct: pct.toLocaleString(lang(), { maximumFractionDigits: 1 }) });
    // With optimum 0: a value above high shows red, between low and high amber.
    const [low, high] = warned >= 95 ? [0, 0] : warned > 0 ? [0, quota] : [quota * 0.75, quota * 0.9];
    const meter = h("meter", { class: "usage-bar", min: 0, max: quota, low, high, optimum: 0, value: Math.min(used, quota), "aria-label": label });
    wrap.append(meter, h("span", { class: "usage-text" }, label));
    if (pct >= 90) wrap.classList.add("usage-high");
  } else {
    wrap.append(h("span", { class: "usage-text" }, t("usage.unlimited", { used: fmtBytes(used) })));
  }
  if (warned > 0) {
    wrap.classList.add("usage-warned");
    wrap.append(h("span", { class: "usage-warning", role: "status" }, t("usage.warned", { pct: warned })));
  }
  return wrap;
}

// languageOptions are the languages the server writes its messages in,
// after the default (named by the key none).
export function languageOptions(none) {
  return [{ value: "", label: t(none) }, { value: "en", label: "English" }, { value: "ja", label: "日本語" }];
}

// copyText puts text on the clipboard.
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const ta = h("textarea", { class: "visually-hidden", readonly: true, "aria-hidden": "true" });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  try {
    document.execCommand("copy");
  } finally {
    ta.remove();
  }
}

// copyButton copies text when pressed; what names the copied thing for
// screen readers.
export function copyButton(text, what) {
  const b = h("button", { type: "button", class: "copy", "aria-label": t("action.copyWhat", { what }) }, t("action.copy"));
  b.addEventListener("click", async () => {
    try {
      await copyText(text);
      b.textContent = t("action.copied");
    } catch {
      b.textContent = t("action.copyFailed");
    }
    setTimeout(() => { b.textContent = t("action.copy"); }, 2000);
  });
  return b;
}

// quotaField is a quota in MiB or GiB (0: unlimited). value() returns bytes.
// A null bytes leaves the amount empty: value() is then null (not set).
export function quotaField(label, bytes, name, hint) {
  const GiB = 1024 * 1024 * 1024;
  const MiB = 1024 * 1024;
  const unset = bytes === null || bytes === undefined;
  bytes = Number(bytes) || 0;
  const inGiB = bytes > 0 && bytes % GiB === 0;
  const shown = unset ? "" : bytes === 0 ? 0 : (inGiB ? bytes / GiB : Math.round((bytes / MiB) * 100) / 100);
  const amount = field({ label, name: name || "quota_bytes", type: "number", value: shown, hint: hint || t("quota.hint"), attrs: { min: 0, step: "any", inputmode: "decimal" } });
  const unit = field({ label: t("quota.unit"), name: `${name || "quota_bytes"}_unit`, type: "select", value: inGiB || bytes === 0 ? "GiB" : "MiB", options: [{ value: "MiB", label: "MiB" }, { value: "GiB", label: "GiB" }] });
  const wrap = h("div", { class: "quota-field" }, amount.wrap, unit.wrap);
  return {
    wrap,
    input: amount.input,
    check: (v) => (v === "" || (Number.isFinite(Number(v)) && Number(v) >= 0) ? "" : t("valid.quota")),
    value: () => (amount.input.value.trim() === "" ? null : Math.round((Number(amount.input.value) || 0) * (unit.input.value === "GiB" ? GiB : MiB))),
  };
}

// pageHeading is a page's h1, focused when the page is shown.
export function pageHeading(text) {
  return h("h1", { tabindex: "-1", class: "page-title" }, text);
}

// section is a titled part of a page.
export function section(title, ...children) {
  const id = uid("sec");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}

// badge shows an enabled/disabled state.
export function stateBadge(enabled) {
  return h("span", { class: enabled ? "badge on" : "badge off" }, enabled ? t("state.enabled") : t("state.disabled"));
}

// link is a link to a dashboard page ("users/ann@example.com").
export function link(path, ...children) {
  return h("a", { href: `/admin/${path}` }, children);
}

// addSection is a form to add something, folded away until opened.
export function addSection(title, form) {
  return h("details", { class: "card add" }, h("summary", {}, h("h2", {}, title)), form);
}

// progress is a busy indicator with text, for loads that take a while.
export function progress(text) {
  return h("div", { class: "progress", role: "status" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    h("span", { class: "progress-text" }, text || t("loading")));
}

// fmtNumber formats a count in the user's locale.
export function fmtNumber(n) {
  return (Number(n) || 0).toLocaleString(lang());
}

// fmtPercent formats part of whole as a percentage ("—" when whole is 0).
export function fmtPercent(part, whole) {
  part = Number(part) || 0;
  whole = Number(whole) || 0;
  if (whole <= 0) return "—";
  const pct = (part / whole) * 100;
  return `${pct.toLocaleString(lang(), { maximumFractionDigits: 1 })}%`;
}
