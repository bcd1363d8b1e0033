// The mail rules of "My account": a simple editor ("when From/To/Subject
// contains … move to folder / mark as read / forward to / delete", and an
// away reply between two dates). The server writes the Sieve script from
// the rules (PUT /users/{address}/sieve/yubin-rules/rules: one
// implementation, sieve/rules) and the page shows it. A script written by
// hand (in Thunderbird, Roundcube or over the API) is shown as text, never
// rewritten unless the user asks to start over with simple rules.

import { h, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc } from "../api.js";
import { field, validate, busy, showError, showNotice, messageSlot, confirmDialog } from "../ui.js";

// RULES_SCRIPT is the script the editor writes (service.SieveRulesScriptName).
const RULES_SCRIPT = "yubin-rules";

const FIELDS = ["from", "to", "subject", "detail"];
const ACTIONS = ["move", "mark_read", "forward", "delete"];

// simpleRule reports whether the editor can show a rule: one condition and
// one action, as it writes them.
function simpleRule(r) {
  return r && Array.isArray(r.conditions) && r.conditions.length === 1 && Array.isArray(r.actions) && r.actions.length === 1;
}

// ruleRow is the form row of one rule; value() reads it back.
function ruleRow(rule, onRemove) {
  const c = (rule && rule.conditions[0]) || { field: "from", value: "" };
  const a = (rule && rule.actions[0]) || { kind: "move" };
  const fieldSel = field({ label: t("rules.field"), name: "rule_field", type: "select", value: c.field,
    options: FIELDS.map((f) => ({ value: f, label: t(`rules.field.${f}`) })) });
  const value = field({ label: t("rules.contains"), name: "rule_value", value: c.value, required: true });
  const kind = field({ label: t("rules.action"), name: "rule_action", type: "select", value: a.kind,
    options: ACTIONS.map((k) => ({ value: k, label: t(`rules.action.${k}`) })) });
  const arg = field({ label: t("rules.target"), name: "rule_target", value: a.folder || a.address || "" });
  const keep = field({ label: t("rules.keepCopy"), name: "rule_keep", type: "checkbox", value: !!a.keep_copy });
  const stop = field({ label: t("rules.stop"), name: "rule_stop", type: "checkbox", value: !!(rule && rule.stop) });
  const remove = h("button", { type: "button", class: "danger" }, t("rules.remove"));
  const row = h("fieldset", { class: "rule form-grid" },
    h("legend", {}, t("rules.when")),
    fieldSel.wrap, value.wrap, kind.wrap, arg.wrap, keep.wrap, stop.wrap,
    h("div", { class: "actions" }, remove));
  const sync = () => {
    const k = kind.input.value;
    arg.wrap.hidden = k !== "move" && k !== "forward";
    keep.wrap.hidden = k !== "forward";
    arg.input.dataset.label = t(k === "forward" ? "rules.address" : "rules.folder");
    const label = arg.wrap.querySelector("label");
    if (label) label.firstChild.textContent = arg.input.dataset.label;
  };
  // For "detail" (mail to name+detail@, RFC 5233) the value is the exact
  // detail, not a text the field contains.
  const syncField = () => {
    const label = value.wrap.querySelector("label");
    if (label) label.firstChild.textContent = t(fieldSel.input.value === "detail" ? "rules.detailIs" : "rules.contains");
  };
  fieldSel.input.addEventListener("change", syncField);
  syncField();
  kind.input.addEventListener("change", sync);
  sync();
  remove.addEventListener("click", () => onRemove(row));
  return {
    row,
    checks() {
      const k = kind.input.value;
      const out = [{ input: value.input, required: true }];
      if (k === "move") out.push({ input: arg.input, required: true });
      if (k === "forward") out.push({ input: arg.input, required: true, email: true });
      return out;
    },
    value() {
      const k = kind.input.value;
      const action = { kind: k };
      if (k === "move") action.folder = arg.input.value.trim();
      if (k === "forward") {
        action.address = arg.input.value.trim();
        if (keep.input.checked) action.keep_copy = true;
      }
      const r = { conditions: [{ field: fieldSel.input.value, value: value.input.value.trim() }], actions: [action] };
      if (stop.input.checked) r.stop = true;
      return r;
    },
  };
}

// awayForm is the away reply's part of the editor.
function awayForm(away) {
  const on = field({ label: t("rules.away.on"), name: "away_on", type: "checkbox", value: !!away });
  const subject = field({ label: t("rules.away.subject"), name: "away_subject", value: (away && away.subject) || "" });
  const message = field({ label: t("rules.away.message"), name: "away_message", type: "textarea", value: (away && away.message) || "", required: true });
  const start = field({ label: t("rules.away.from"), name: "away_start", type: "date", value: (away && away.start) || "" });
  const end = field({ label: t("rules.away.until"), name: "away_end", type: "date", value: (away && away.end) || "" });
  const details = h("div", { class: "form-grid" }, subject.wrap, message.wrap, start.wrap, end.wrap);
  const sync = () => { details.hidden = !on.input.checked; };
  on.input.addEventListener("change", sync);
  sync();
  return {
    el: h("fieldset", { class: "away" }, h("legend", {}, t("rules.away.title")), on.wrap, h("p", { class: "hint" }, t("rules.away.hint")), details),
    checks() {
      if (!on.input.checked) return [];
      return [{ input: message.input, required: true },
        { input: end.input, check: () => (start.input.value && end.input.value && end.input.value < start.input.value ? t("rules.away.order") : "") }];
    },
    value() {
      if (!on.input.checked) return null;
      const a = { message: message.input.value };
      if (subject.input.value.trim()) a.subject = subject.input.value.trim();
      if (start.input.value) a.start = start.input.value;
      if (end.input.value) a.end = end.input.value;
      return a;
    },
  };
}

// scriptView shows a script's text.
function scriptView(title, script) {
  return h("details", { class: "script-view", open: true },
    h("summary", {}, title),
    h("pre", { class: "preview", "data-testid": "sieve-script" }, script));
}

// loadRules reads the user's scripts: the active one's name, and the
// editor's script (its rules if it is still the editor's own).
async function loadRules(address) {
  const list = await api("GET", `/users/${enc(address)}/sieve`);
  const items = (list && list.items) || [];
  const active = items.find((s) => s.active) || null;
  let mine = null;
  if (items.some((s) => s.name === RULES_SCRIPT)) {
    mine = await api("GET", `/users/${enc(address)}/sieve/${enc(RULES_SCRIPT)}/rules`);
  }
  let other = null;
  if (active && active.name !== RULES_SCRIPT) {
    other = { name: active.name, script: await api("GET", `/users/${enc(address)}/sieve/${enc(active.name)}/rules`).then((r) => r.script) };
  }
  return { active, mine, other };
}

// mailRules is the rule editor of one mailbox.
export async function mailRules(address) {
  const slot = messageSlot();
  const body = h("div");
  const root = h("div", { class: "mail-rules" }, h("p", { class: "hint" }, t("rules.intro")), slot, body);

  async function show(startOver) {
    let state;
    try {
      state = await loadRules(address);
    } catch (err) {
      showError(slot, err);
      return;
    }
    const { active, mine, other } = state;
    const rulesOK = mine && mine.editable && (mine.rules && (mine.rules.rules || []).every(simpleRule));
    if (!startOver && other) {
      // A script written by hand is active: show it, leave it alone.
      const replace = h("button", { type: "button", class: "start-over" }, t("rules.startOver"));
      replace.addEventListener("click", async () => {
        if (await confirmDialog(t("rules.startOverConfirm", { name: other.name }), t("rules.startOver"))) show(true);
      });
      fill(body,
        h("p", { class: "notice warn" }, t("rules.handWritten", { name: other.name })),
        scriptView(t("rules.activeScript", { name: other.name }), other.script),
        h("div", { class: "actions" }, replace));
      return;
    }
    if (!startOver && mine && !rulesOK) {
      // The editor's script was edited by hand since.
      const replace = h("button", { type: "button", class: "start-over" }, t("rules.startOver"));
      replace.addEventListener("click", async () => {
        if (await confirmDialog(t("rules.startOverConfirm", { name: RULES_SCRIPT }), t("rules.startOver"))) show(true);
      });
      fill(body,
        h("p", { class: "notice warn" }, t("rules.editedByHand")),
        scriptView(t("rules.activeScript", { name: RULES_SCRIPT }), mine.script),
        h("div", { class: "actions" }, replace));
      return;
    }
    const set = (rulesOK && !startOver) ? mine.rules : { rules: [] };
    editor(set, rulesOK && !startOver && active && active.name === RULES_SCRIPT ? mine.script : "");
  }

  function editor(set, script) {
    const rows = [];
    const list = h("div", { class: "rules-list" });
    const removeRow = (row) => {
      const i = rows.findIndex((r) => r.row === row);
      if (i >= 0) rows.splice(i, 1);
      row.remove();
    };
    const addRow = (rule) => {
      const r = ruleRow(rule, removeRow);
      rows.push(r);
      list.append(r.row);
      return r;
    };
    for (const r of set.rules || []) addRow(r);
    const addBtn = h("button", { type: "button", class: "add-rule" }, t("rules.add"));
    addBtn.addEventListener("click", () => {
      const r = addRow(null);
      r.row.querySelector("input").focus();
    });
    const away = awayForm(set.away);
    const out = h("div", {}, script ? scriptView(t("rules.script"), script) : null);
    const form = h("form", { novalidate: true, class: "rules-form" },
      list,
      h("div", { class: "actions" }, addBtn),
      away.el,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary save-rules" }, t("rules.save"))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const checks = rows.flatMap((r) => r.checks()).concat(away.checks());
      if (!validate(checks)) return;
      const payload = { rules: rows.map((r) => r.value()) };
      const a = away.value();
      if (a) payload.away = a;
      await busy(form, async () => {
        try {
          const res = await api("PUT", `/users/${enc(address)}/sieve/${enc(RULES_SCRIPT)}/rules`, payload);
          const empty = payload.rules.length === 0 && !payload.away;
          await api("POST", `/users/${enc(address)}/sieve/${enc(RULES_SCRIPT)}/${empty ? "deactivate" : "activate"}`);
          fill(out, empty ? null : scriptView(t("rules.script"), res.script));
          showNotice(slot, empty ? t("rules.off") : t("rules.saved"));
        } catch (err) {
          showError(slot, err);
        }
      });
    });
    fill(body, form, out);
  }

  await show(false);
  return root;
}
