// Domains: the list (search, paging), adding, enabling and disabling,
// deleting with confirmation, and a domain's page with its DNS records.

import { h, clear, add, fill } from "../dom.js";
import { t, has } from "../i18n.js";
import { api, enc, qs, session } from "../api.js";
import {
  field, validate, busy, markServerErrors, showError, showNotice, messageSlot, confirmDialog,
  pageHeading, section, addSection, stateBadge, usageBar, fmtDate, fmtBytes, copyButton, quotaField, table, link,
  breakable, longValue, languageOptions,
} from "../ui.js";
import { listView } from "../list.js";
import { showSecretOnce } from "./tokens.js";

const isAdmin = () => session.role === "admin";

// toggleDomain enables or disables a domain.
async function toggleDomain(d, slot, done) {
  try {
    await api("PATCH", `/domains/${enc(d.name)}`, { enabled: !d.enabled });
    showNotice(slot, t(d.enabled ? "domains.disabled" : "domains.enabled", { name: d.name }));
    done();
  } catch (err) {
    showError(slot, err);
  }
}

// deleteDomain asks, then removes a domain (with its users and aliases
// when the cascade box is ticked).
async function deleteDomain(name, slot, done) {
  const cascade = field({ label: t("domains.cascade"), name: "cascade", type: "checkbox" });
  if (!(await confirmDialog(t("domains.deleteConfirm", { name }), t("action.delete"), cascade.wrap))) return;
  try {
    await api("DELETE", `/domains/${enc(name)}${cascade.input.checked ? "?cascade=true" : ""}`);
    showNotice(slot, t("domains.deleted", { name }));
    done();
  } catch (err) {
    showError(slot, err);
  }
}

// createForm adds a domain.
function createForm(slot, done) {
  const name = field({ label: t("field.domain"), name: "name", required: true, autocomplete: "off", hint: t("domains.nameHint") });
  const enabled = field({ label: t("field.enabled"), name: "enabled", type: "checkbox", value: true });
  const quota = quotaField(t("field.defaultQuota"), null, "default_quota_bytes", t("domains.defaultQuotaHint"));
  const form = h("form", { novalidate: true, class: "form-grid" },
    name.wrap, quota.wrap, enabled.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("domains.add"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: name.input, required: true, domain: true }, { input: quota.input, check: quota.check }])) return;
    const body = { name: name.input.value.trim(), enabled: enabled.input.checked };
    const q = quota.value();
    if (q !== null) body.default_quota_bytes = q;
    await busy(form, async () => {
      try {
        const d = await api("POST", "/domains", body);
        showNotice(slot, t("domains.created", { name: d.name }));
        form.reset();
        enabled.input.checked = true;
        done();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  return form;
}

// domainsPage lists the domains.
export async function domainsPage(ctx) {
  const slot = messageSlot();
  let list = null;
  const reload = () => list.refresh();
  const columns = [
    { label: t("field.domain"), cell: (d) => link(`domains/${enc(d.name)}`, d.name) },
    { label: t("field.state"), cell: (d) => stateBadge(d.enabled) },
    { label: t("field.usage"), cell: (d) => usageBar(d.used_bytes, d.quota_bytes) },
    { label: t("field.created"), cell: (d) => fmtDate(d.created_at) },
  ];
  if (isAdmin()) {
    columns.push({
      label: t("field.actions"),
      cell: (d) => h("div", { class: "row-actions" },
        h("button", { type: "button", "aria-label": t(d.enabled ? "domains.disableWhat" : "domains.enableWhat", { name: d.name }), onclick: () => toggleDomain(d, slot, reload) }, t(d.enabled ? "action.disable" : "action.enable")),
        h("button", { type: "button", class: "danger", "aria-label": t("action.deleteWhat", { what: d.name }), onclick: () => deleteDomain(d.name, slot, reload) }, t("action.delete"))),
    });
  }
  list = listView(ctx, {
    caption: t("nav.domains"),
    filters: [{ name: "search", label: t("field.search"), type: "search", attrs: { placeholder: "example.com" } }],
    load: (q) => api("GET", `/domains${qs(q)}`),
    columns,
    empty: t("domains.none"),
  });
  add(ctx.main, 
    pageHeading(t("nav.domains")),
    slot,
    isAdmin() ? addSection(t("domains.add"), createForm(slot, reload)) : null,
    section(t("domains.list"), list.wrap));
  await list.refresh();
}

// dnsKey identifies a DNS record across the records and their check.
const dnsKey = (r) => `${r.type} ${r.name} ${r.value}`;

// dnsStatuses are the statuses GET /domains/{name}/dns/check reports.
const dnsStatuses = ["ok", "missing", "different", "error", "unchecked"];

// dnsPurpose says what a record is for in the dashboard's language,
// from its type and name (the API's own text, in English, otherwise).
function dnsPurpose(r, domain, host) {
  const name = r.name || "";
  let key = "";
  const vars = { domain, host };
  if (r.type === "MX") key = "dns.purpose.mx";
  else if (r.type === "TXT" && name === domain && String(r.value).startsWith("v=spf1")) key = "dns.purpose.spf";
  else if (r.type === "TXT" && name.startsWith("_dmarc.")) key = "dns.purpose.dmarc";
  else if (r.type === "TXT" && name.includes("._domainkey.")) {
    vars.selector = name.split("._domainkey.")[0];
    const text = t("dns.purpose.dkim", vars);
    return String(r.value).length > 255 ? `${text} ${t("dns.purpose.dkimLong")}` : text;
  } else if (r.type === "CNAME" && name.startsWith("autoconfig.")) key = "dns.purpose.autoconfig";
  else if (r.type === "SRV" && name.includes("._tcp.")) key = `dns.purpose.${name.split("._tcp.")[0].replace(/^_/, "")}`;
  return key && has(key) ? t(key, vars) : r.purpose;
}

// dnsTable lists the records a domain should publish, each with copy
// buttons and a place for its DNS check status; badges maps each record
// (dnsKey) to that place. Names wrap only between their labels; values
// stay on one line in a box that scrolls sideways, copied whole.
function dnsTable(records, badges, domain) {
  const badge = (r) => {
    const b = h("span", { class: "badge dns-status", hidden: true });
    badges.set(dnsKey(r), b);
    return b;
  };
  const mx = records.find((r) => r.type === "MX");
  const host = mx ? String(mx.value).replace(/\.$/, "") : "";
  const shown = (r) => (r.priority !== undefined && r.priority !== null ? `${r.priority} ${r.value}` : r.value);
  const tbl = table(t("domains.dns"), [
    { label: t("dns.type"), cell: (r) => h("span", { class: "dns-type" }, r.type) },
    { label: t("dns.name"), cell: (r) => h("div", { class: "dns-name" }, h("code", {}, breakable(r.name)), copyButton(r.name, t("dns.copyName", { type: r.type }))) },
    { label: t("dns.value"), cell: (r) => h("div", { class: "dns-value" }, longValue(shown(r)), h("div", { class: "dns-value-actions" }, copyButton(r.value, `${r.type} ${r.name}`), badge(r))) },
    { label: t("dns.purpose"), cell: (r) => h("span", { class: "dns-purpose" }, dnsPurpose(r, domain, host)) },
  ], records, t("dns.none"), "dns-table");
  return tbl;
}

// checkDNS asks what DNS publishes now and shows each record's status.
async function checkDNS(name, badges, slot, button) {
  slot.hidden = true;
  button.disabled = true;
  let res;
  try {
    res = await api("GET", `/domains/${enc(name)}/dns/check`);
  } catch (err) {
    showError(slot, err);
    return;
  } finally {
    button.disabled = false;
  }
  for (const b of badges.values()) b.hidden = true;
  for (const r of res.records || []) {
    const b = badges.get(dnsKey(r));
    if (!b) continue;
    const status = dnsStatuses.includes(r.status) ? r.status : "error";
    b.className = `badge dns-status dns-${status}`;
    b.textContent = t(`dns.status.${status}`);
    const found = (r.found || []).join("\n");
    if (found) b.title = t("dns.found", { found });
    else b.removeAttribute("title");
    b.hidden = false;
  }
}

// settingsForm changes a domain's limits (server admins).
function settingsForm(d, slot, done) {
  const dq = quotaField(t("field.defaultQuota"), d.default_quota_bytes, "default_quota_bytes");
  const mq = quotaField(t("field.maxQuota"), d.max_quota_bytes, "max_quota_bytes");
  const q = quotaField(t("field.domainQuota"), d.quota_bytes, "quota_bytes");
  const mu = field({ label: t("field.maxUsers"), name: "max_users", type: "number", value: d.max_users, hint: t("domains.maxUsersHint"), attrs: { min: 0, step: 1 } });
  const tf = field({ label: t("field.requireTwoFactor"), name: "require_two_factor", type: "checkbox", value: d.require_two_factor, hint: t("domains.requireTwoFactorHint") });
  const form = h("form", { novalidate: true, class: "form-grid" }, dq.wrap, mq.wrap, q.wrap, mu.wrap, tf.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const intCheck = (v) => (v === "" || /^\d+$/.test(v) ? "" : t("valid.count"));
    if (!validate([{ input: dq.input, check: dq.check }, { input: mq.input, check: mq.check }, { input: q.input, check: q.check }, { input: mu.input, check: intCheck }])) return;
    const body = {};
    for (const [k, f] of [["default_quota_bytes", dq], ["max_quota_bytes", mq], ["quota_bytes", q]]) {
      const v = f.value();
      if (v !== null) body[k] = v;
    }
    if (mu.input.value.trim() !== "") body.max_users = Number(mu.input.value);
    body.require_two_factor = tf.input.checked;
    await busy(form, async () => {
      try {
        await api("PATCH", `/domains/${enc(d.name)}`, body);
        showNotice(slot, t("saved"));
        done();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  return form;
}

// warningForm changes a domain's quota warning levels and the language of
// the server's messages to its users (server admins).
function warningForm(d, slot, done) {
  const levels = field({ label: t("field.warningLevels"), name: "quota_warning_percents", value: (d.quota_warning_percents || []).join(", "), hint: t("domains.warningLevelsHint"), attrs: { inputmode: "numeric", placeholder: "80, 95" } });
  const language = field({ label: t("field.language"), name: "language", type: "select", value: d.language || "", hint: t("domains.languageHint"), options: languageOptions("lang.english") });
  const form = h("form", { novalidate: true, class: "form-grid" }, levels.wrap, language.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save"))));
  const parse = (v) => v.split(/[\s,、]+/).filter((x) => x !== "").map((x) => (/^\d+$/.test(x) ? Number(x) : NaN));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const levelCheck = (v) => {
      const l = parse(v);
      return l.length > 5 || l.some((x) => !(x >= 1 && x <= 100)) ? t("valid.levels") : "";
    };
    if (!validate([{ input: levels.input, check: levelCheck }])) return;
    await busy(form, async () => {
      try {
        await api("PATCH", `/domains/${enc(d.name)}`, { quota_warning_percents: parse(levels.input.value), language: language.input.value });
        showNotice(slot, t("saved"));
        done();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  return form;
}

// triState maps a nullable boolean filter setting to a select value and back.
const triState = { toValue: (b) => (b === true ? "true" : b === false ? "false" : ""), fromValue: (v) => (v === "true" ? true : v === "false" ? false : null) };

// filterForm changes a domain's mail filter settings (server admins); an
// empty score or "Server default" sends null, the server's setting.
function filterForm(d, slot, done) {
  const scoreAttrs = { min: 0, step: "any", placeholder: t("filter.default") };
  const junk = field({ label: t("field.spamJunkScore"), name: "spam_junk_score", type: "number", value: d.spam_junk_score, hint: t("domains.junkScoreHint"), attrs: scoreAttrs });
  const reject = field({ label: t("field.spamRejectScore"), name: "spam_reject_score", type: "number", value: d.spam_reject_score, hint: t("domains.rejectScoreHint"), attrs: scoreAttrs });
  const options = [{ value: "", label: t("filter.default") }, { value: "true", label: t("filter.on") }, { value: "false", label: t("filter.off") }];
  const toggles = [["spam_filter", "field.spamFilter"], ["virus_scan", "field.virusScan"], ["dmarc_enforce", "field.dmarcEnforce"]]
    .map(([name, label]) => [name, field({ label: t(label), name, type: "select", options, value: triState.toValue(d[name]) })]);
  const form = h("form", { novalidate: true, class: "form-grid filter-form" }, junk.wrap, reject.wrap, toggles.map(([, f]) => f.wrap),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const scoreCheck = (input) => (v) => (input.validity.badInput || (v !== "" && !(Number(v) > 0 && Number.isFinite(Number(v)))) ? t("valid.score") : "");
    if (!validate([{ input: junk.input, check: scoreCheck(junk.input) }, { input: reject.input, check: scoreCheck(reject.input) }])) return;
    const score = (f) => (f.input.value.trim() === "" ? null : Number(f.input.value));
    const body = { spam_junk_score: score(junk), spam_reject_score: score(reject) };
    for (const [name, f] of toggles) body[name] = triState.fromValue(f.input.value);
    await busy(form, async () => {
      try {
        await api("PATCH", `/domains/${enc(d.name)}`, body);
        showNotice(slot, t("saved"));
        done();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  return form;
}

// dnsSection shows the DNS records with a button to check them.
function dnsSection(name, records) {
  const badges = new Map();
  const slot = messageSlot();
  const check = h("button", { type: "button", class: "dns-check" }, t("dns.check"));
  check.addEventListener("click", () => checkDNS(name, badges, slot, check));
  return section(t("domains.dns"), h("p", { class: "hint" }, t("domains.dnsHint")),
    records.length ? h("div", { class: "actions" }, check) : null, slot, dnsTable(records, badges, name));
}

// adminsSection lists who manages a domain, appoints and withdraws them
// (server admins): PUT and DELETE /domains/{name}/admins/{address}.
function adminsSection(name, admins, slot, done) {
  const address = field({ label: t("domainAdmins.address"), name: "admin_address", type: "email", required: true, autocomplete: "off", hint: t("domainAdmins.addressHint") });
  const form = h("form", { novalidate: true, class: "inline-form admins-form" }, address.wrap, h("button", { type: "submit", class: "primary" }, t("domainAdmins.add")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: address.input, required: true, email: true }])) return;
    const a = address.input.value.trim().toLowerCase();
    await busy(form, async () => {
      try {
        await api("PUT", `/domains/${enc(name)}/admins/${enc(a)}`);
        showNotice(slot, t("domainAdmins.added", { address: a, domain: name }));
        form.reset();
        done();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  const withdraw = async (a) => {
    if (!(await confirmDialog(t("domainAdmins.removeConfirm", { address: a, domain: name }), t("domainAdmins.remove")))) return;
    try {
      await api("DELETE", `/domains/${enc(name)}/admins/${enc(a)}`);
      showNotice(slot, t("domainAdmins.removed", { address: a, domain: name }));
      done();
    } catch (err) {
      showError(slot, err);
    }
  };
  const list = admins.length
    ? h("ul", { class: "plain admins-list" }, admins.map((a) => h("li", {},
      h("span", { class: "admin-address" }, breakable(a)),
      h("button", { type: "button", class: "danger", "aria-label": t("domainAdmins.removeWhat", { address: a }), onclick: () => withdraw(a) }, t("domainAdmins.remove")))))
    : h("p", { class: "empty" }, t("domainAdmins.none"));
  return section(t("domainAdmins.title"), h("p", { class: "hint" }, t("domainAdmins.intro")), list, form);
}

// domainPage shows one domain: state, usage, settings and DNS records.
export async function domainPage(ctx) {
  const name = ctx.params.name;
  const slot = messageSlot();
  const body = h("div");
  add(ctx.main, h("p", { class: "crumbs" }, link("domains", t("nav.domains"))), pageHeading(name), slot, body);
  async function load() {
    let d;
    let usage;
    let dns;
    let admins;
    try {
      [d, usage, dns, admins] = await Promise.all([
        api("GET", `/domains/${enc(name)}`),
        api("GET", `/domains/${enc(name)}/usage`),
        api("GET", `/domains/${enc(name)}/dns`),
        isAdmin() ? api("GET", `/domains/${enc(name)}/admins`) : Promise.resolve({ items: [] }),
      ]);
    } catch (err) {
      clear(body);
      showError(slot, err);
      return;
    }
    if (!ctx.alive()) return;
    const summary = h("dl", { class: "facts" },
      h("dt", {}, t("field.state")), h("dd", {}, stateBadge(d.enabled)),
      h("dt", {}, t("field.users")), h("dd", {}, String(usage.users)),
      h("dt", {}, t("field.usage")), h("dd", {}, usageBar(usage.used_bytes, usage.quota_bytes)),
      h("dt", {}, t("field.messages")), h("dd", {}, String(usage.used_messages)),
      h("dt", {}, t("field.defaultQuota")), h("dd", {}, d.default_quota_bytes ? fmtBytes(d.default_quota_bytes) : t("quota.unlimited")),
      h("dt", {}, t("field.maxQuota")), h("dd", {}, d.max_quota_bytes ? fmtBytes(d.max_quota_bytes) : t("quota.nolimit")),
      h("dt", {}, t("field.maxUsers")), h("dd", {}, d.max_users ? String(d.max_users) : t("quota.nolimit")),
      h("dt", {}, t("field.requireTwoFactor")), h("dd", {}, t(d.require_two_factor ? "audit.yes" : "audit.no")),
      h("dt", {}, t("field.created")), h("dd", {}, fmtDate(d.created_at)));
    const actions = isAdmin() ? h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => toggleDomain(d, slot, load) }, t(d.enabled ? "action.disable" : "action.enable")),
      h("button", { type: "button", class: "danger", onclick: () => deleteDomain(d.name, slot, () => ctx.navigate("domains")) }, t("action.delete"))) : null;
    fill(body, 
      section(t("domains.overview"), summary, actions),
      h("p", {}, link(`users?domain=${enc(d.name)}`, t("domains.showUsers")), " · ", link(`aliases?domain=${enc(d.name)}`, t("domains.showAliases"))),
      dnsSection(d.name, dns.records || []),
      isAdmin() ? adminsSection(d.name, admins.items || [], slot, load) : null,
      isAdmin() ? section(t("domains.settings"), settingsForm(d, slot, load)) : null,
      isAdmin() ? section(t("domains.filters"), filterForm(d, slot, load)) : null,
      isAdmin() ? section(t("domains.warnings"), warningForm(d, slot, load)) : null,
      encryptionSection(d, slot, load));
    const sieve = await sieveSection(d, slot);
    if (ctx.alive() && sieve) body.append(sieve);
  }
  await load();
}

// sieveSection edits the domain's Sieve script, which runs at every
// delivery to its users before their own (GET/PUT/DELETE
// /domains/{name}/sieve): saved as typed, checked by the server, an error
// shown with its line and column; an empty script removes it.
async function sieveSection(d, slot) {
  let script = "";
  try {
    script = (await api("GET", `/domains/${enc(d.name)}/sieve`)) || "";
  } catch (err) {
    if (err.status !== 404) {
      showError(slot, err);
      return null;
    }
  }
  let stored = script !== "";
  const text = field({ label: t("domains.sieveScript"), name: "script", type: "textarea", rows: 12, value: script, hint: t("domains.sieveHint"), attrs: { spellcheck: "false", autocapitalize: "off", class: "code" } });
  const form = h("form", { novalidate: true, class: "form-grid sieve-form" }, text.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = text.input.value;
    await busy(form, async () => {
      try {
        if (value.trim() === "") {
          if (stored) await api("DELETE", `/domains/${enc(d.name)}/sieve`);
          stored = false;
          showNotice(slot, t("domains.sieveRemoved"));
        } else {
          await api("PUT", `/domains/${enc(d.name)}/sieve`, value, "application/sieve");
          stored = true;
          showNotice(slot, t("saved"));
        }
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  return section(t("domains.sieve"), h("p", { class: "hint" }, t("domains.sieveIntro")), form);
}

// encryptionSection shows how a domain's mail is encrypted at rest: the
// mode (server admins change it) and the recovery key of its user-key
// accounts (the domain's admins make or remove it; the private key is
// shown once and not stored).
function encryptionSection(d, slot, done) {
  const parts = [h("p", { class: "hint" }, t("encryption.intro"))];
  if (isAdmin()) {
    const mode = field({ label: t("field.encryptionMode"), name: "encryption_mode", type: "select", value: d.encryption_mode || "", hint: t("encryption.modeHint"),
      options: [{ value: "", label: t("encryption.mode.default") }, { value: "server", label: t("encryption.mode.server") }, { value: "user", label: t("encryption.mode.user") }] });
    const form = h("form", { novalidate: true, class: "inline-form" }, mode.wrap, h("button", { type: "submit" }, t("action.save")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await busy(form, async () => {
        try {
          await api("PATCH", `/domains/${enc(d.name)}`, { encryption_mode: mode.input.value });
          showNotice(slot, t("saved"));
          done();
        } catch (err) {
          showError(slot, err);
          markServerErrors(form, err);
        }
      });
    });
    parts.push(form);
  }
  const state = h("p", { class: "recovery-state" });
  const secretSlot = h("div", { "aria-live": "polite" });
  const make = h("button", { type: "button" });
  const remove = h("button", { type: "button", class: "danger" }, t("encryption.removeRecovery"));
  const show = () => {
    fill(state, d.recovery_public_key ? t("encryption.hasRecovery", { key: d.recovery_public_key }) : t("encryption.noRecovery"));
    fill(make, t(d.recovery_public_key ? "encryption.replaceRecovery" : "encryption.makeRecovery"));
    remove.hidden = !d.recovery_public_key;
  };
  make.addEventListener("click", async () => {
    if (d.recovery_public_key && !(await confirmDialog(t("encryption.replaceConfirm"), t("encryption.replaceRecovery")))) return;
    try {
      const r = await api("POST", `/domains/${enc(d.name)}/recovery-key`);
      d.recovery_public_key = r.public_key;
      show();
      showSecretOnce(secretSlot, t("encryption.recoveryTitle"), t("encryption.recoveryOnce"), r.private_key, t("encryption.recoveryKey"));
    } catch (err) {
      showError(slot, err);
    }
  });
  remove.addEventListener("click", async () => {
    if (!(await confirmDialog(t("encryption.removeConfirm"), t("encryption.removeRecovery")))) return;
    try {
      await api("DELETE", `/domains/${enc(d.name)}/recovery-key`);
      d.recovery_public_key = "";
      clear(secretSlot);
      show();
      showNotice(slot, t("encryption.recoveryRemoved"));
    } catch (err) {
      showError(slot, err);
    }
  });
  show();
  parts.push(h("h3", {}, t("encryption.recoveryHeading")), h("p", { class: "hint" }, t("encryption.recoveryIntro")), state, h("div", { class: "actions" }, make, remove), secretSlot);
  return section(t("encryption.title"), ...parts);
}
