// listView: a list page's filters, table and paging, kept in the URL.

import { h, clear, fill } from "./dom.js";
import { t } from "./i18n.js";
import { field, showError, table, pager, progress, PAGE_SIZE } from "./ui.js";

// listView builds a filtered, paged list. opts:
//   caption: the table's name
//   filters: [{name, label, type, options, value}] (first is focused by "/")
//   load(q): fetches {items, total} for q (the filters, limit and offset)
//   columns: see table()
//   empty: the text for no items
//   tableClass: another class of the table (its layout)
// It returns {wrap, refresh}.
export function listView(ctx, opts) {
  const state = { offset: Math.max(0, Number(ctx.query.get("offset")) || 0) };
  const fields = (opts.filters || []).map((f) => {
    const fl = field({ ...f, value: ctx.query.get(f.name) ?? f.value ?? "" });
    return { spec: f, ...fl };
  });
  const slot = h("div", { class: "messages", "aria-live": "polite" });
  const body = h("div", { class: "list-body", "aria-live": "polite", "aria-busy": "false" });
  let form = null;
  if (fields.length) {
    form = h("form", { class: "filters", role: "search", novalidate: true, "aria-label": t("list.filters") },
      fields.map((f) => f.wrap),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("action.search"))));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      state.offset = 0;
      refresh();
    });
    let timer = 0;
    for (const f of fields) {
      const ev = f.input.tagName === "SELECT" || f.spec.type === "datetime-local" ? "change" : "input";
      f.input.addEventListener(ev, () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          state.offset = 0;
          refresh();
        }, ev === "change" ? 0 : 350);
      });
    }
  }
  let seq = 0;
  async function refresh() {
    const mine = ++seq;
    const q = { limit: PAGE_SIZE, offset: state.offset };
    for (const f of fields) q[f.spec.name] = f.input.value.trim();
    const shown = {};
    for (const f of fields) shown[f.spec.name] = q[f.spec.name];
    shown.offset = state.offset;
    ctx.setQuery(shown);
    body.setAttribute("aria-busy", "true");
    if (!body.firstChild) fill(body, progress());
    let data;
    try {
      data = await opts.load(q);
    } catch (err) {
      if (mine !== seq || !ctx.alive()) return;
      body.setAttribute("aria-busy", "false");
      clear(body);
      showError(slot, err);
      return;
    }
    if (mine !== seq || !ctx.alive()) return;
    clear(slot);
    body.setAttribute("aria-busy", "false");
    const items = data.items || [];
    const total = data.total ?? items.length;
    fill(body, 
      h("p", { class: "count" }, t("list.count", { n: total })),
      table(opts.caption, opts.columns, items, opts.empty, opts.tableClass),
      data.total !== undefined && total > PAGE_SIZE ? pager(total, PAGE_SIZE, state.offset, (off) => {
        state.offset = off;
        refresh().then(() => {
          const first = body.querySelector("table a, table button");
          if (first) first.focus();
        });
      }) : null);
  }
  const wrap = h("div", { class: "list-view" }, form, slot, body);
  return { wrap, refresh, fields };
}
