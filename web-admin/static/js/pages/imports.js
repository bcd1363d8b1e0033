// Imports: a section of a user's page (and of one's own account) to bring
// in existing mail from another server (POST /users/{address}/imports) and
// follow the jobs' progress, refreshed while one runs.

import { h, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, enc, session } from "../api.js";
import { field, validate, busy, markServerErrors, showError, showNotice, confirmDialog, section, table, fmtDate, fmtNumber } from "../ui.js";

// refreshEvery is how often running jobs are polled (milliseconds).
const refreshEvery = 2000;

const active = (j) => j.state === "queued" || j.state === "running";

// jobProgress shows a job's folders and messages done, with a meter.
function jobProgress(j) {
  const total = Number(j.messages_total) || 0;
  const done = (Number(j.messages_done) || 0) + (Number(j.messages_skipped) || 0);
  return h("div", { class: "import-progress" },
    h("progress", { max: String(Math.max(total, 1)), value: String(j.state === "done" && total === 0 ? 1 : done), "aria-label": t("imports.progress") }),
    h("span", {}, t(j.dry_run ? "imports.progressDry" : "imports.progressText", {
      folders_done: fmtNumber(j.folders_done), folders_total: fmtNumber(j.folders_total),
      done: fmtNumber(j.messages_done), total: fmtNumber(total), skipped: fmtNumber(j.messages_skipped),
    })));
}

// importSection is the section for the user at address; ctx stops the
// polling when the page is left.
export async function importSection(address, slot, ctx) {
  const body = h("div");
  let timer = null;
  const source = field({
    label: t("imports.source"), name: "source", required: true, autocomplete: "off",
    hint: t(session.role === "admin" ? "imports.sourceHintAdmin" : "imports.sourceHint"),
    attrs: { placeholder: `imaps://${address.split("@")[0]}@mail.example.org:993`, maxlength: 1000 },
  });
  const password = field({ label: t("imports.password"), name: "password", type: "password", autocomplete: "off", attrs: { maxlength: 1000 } });
  const dry = field({ label: t("imports.dryRun"), name: "dry_run", type: "checkbox" });
  const form = h("form", { novalidate: true, class: "form-grid" }, source.wrap, password.wrap, dry.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("imports.start"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: source.input, required: true }])) return;
    const req = { source: source.input.value.trim(), dry_run: dry.input.checked };
    if (password.input.value !== "") req.password = password.input.value;
    await busy(form, async () => {
      try {
        const j = await api("POST", `/users/${enc(address)}/imports`, req);
        showNotice(slot, t("imports.started", { source: j.source }));
        password.input.value = "";
        await load();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  const cancel = async (j) => {
    if (!(await confirmDialog(t("imports.cancelConfirm", { source: j.source }), t("imports.cancel")))) return;
    try {
      await api("POST", `/users/${enc(address)}/imports/${j.id}/cancel`);
      showNotice(slot, t("imports.cancelled", { source: j.source }));
      await load();
    } catch (err) {
      showError(slot, err);
    }
  };
  const list = h("div", { "aria-live": "polite" });
  async function load() {
    clearTimeout(timer);
    let l;
    try {
      l = await api("GET", `/users/${enc(address)}/imports`);
    } catch (err) {
      showError(slot, err);
      return;
    }
    if (ctx && !ctx.alive()) return;
    fill(list, table(t("imports.list"), [
      { label: t("imports.source"), cell: (j) => h("span", {}, j.source, j.dry_run ? h("span", { class: "badge" }, ` ${t("imports.dry")}`) : null) },
      { label: t("imports.state"), cell: (j) => h("span", { class: `badge import-${j.state}` }, t(`imports.state.${j.state}`)) },
      { label: t("imports.progress"), cell: jobProgress },
      { label: t("field.created"), cell: (j) => fmtDate(j.created_at) },
      { label: t("imports.errors"), cell: (j) => (j.errors.length ? h("ul", { class: "import-errors" }, j.errors.map((e) => h("li", {}, e))) : "—") },
      { label: t("field.actions"), cell: (j) => (active(j) ? h("button", { type: "button", class: "danger", "aria-label": t("imports.cancelWhat", { source: j.source }), onclick: () => cancel(j) }, t("imports.cancel")) : "") },
    ], l.items, t("imports.none")));
    // Poll while a job runs and the section is shown (a reloaded page
    // makes a new section; this one then stops).
    if (l.items.some(active)) timer = setTimeout(() => { if (list.isConnected && (!ctx || ctx.alive())) load(); }, refreshEvery);
  }
  fill(body, h("p", { class: "hint" }, t("imports.intro")), form, list);
  await load();
  return section(t("imports.title"), body);
}
