// Overview (server admins): totals and today's counts as cards, the mail
// flow of the last 24 hours or 7 days as an SVG chart (with a legend,
// tooltips and a data table for screen readers), and why mail was
// rejected.

import { h, s, uid, add, fill, clear } from "../dom.js";
import { t, lang } from "../i18n.js";
import { api, qs } from "../api.js";
import { showError, messageSlot, pageHeading, section, link, fmtBytes, fmtNumber, fmtPercent, progress } from "../ui.js";

const RANGES = ["24h", "7d"];
const HOUR = 3600 * 1000;
const RANGE_MS = { "24h": 24 * HOUR, "7d": 7 * 24 * HOUR };

// STACK are the stacked bars, bottom up: together all mail that came in
// ("accepted" counts the junked and quarantined too, so the bar shows
// "inbox", the rest of it). LINES are drawn over them. COLUMNS are the
// figures of the tooltips and the table.
const STACK = ["inbox", "junked", "quarantined", "rejected"];
const LINES = ["delivered", "deferred"];
const COLUMNS = ["accepted", "junked", "quarantined", "rejected", "delivered", "deferred", "failed"];

// card is one figure: a label, a value (text or a link) and a hint.
function card(label, value, hint, extra) {
  return h("li", { class: `stat${extra ? ` ${extra}` : ""}` },
    h("span", { class: "stat-label" }, label),
    h("span", { class: "stat-value" }, value),
    hint ? h("span", { class: "stat-hint" }, hint) : null);
}

// cards shows the server's totals and today's counts.
function cards(st) {
  const tot = st.totals || {};
  const today = st.today || {};
  const received = Number(today.received) || 0;
  return [
    section(t("overview.server"), h("ul", { class: "stat-cards" },
      card(t("overview.domains"), link("domains", fmtNumber(tot.domains))),
      card(t("overview.users"), link("users", fmtNumber(tot.users))),
      card(t("overview.storage"), fmtBytes(tot.storage_bytes)),
      card(t("overview.queue"), link("queue", fmtNumber(tot.queue)), null, Number(tot.queue) > 0 ? "stat-attention" : ""),
      card(t("overview.quarantine"), link("quarantine", fmtNumber(tot.quarantine))))),
    section(t("overview.today"), h("ul", { class: "stat-cards" },
      card(t("overview.received"), fmtNumber(today.received)),
      card(t("overview.sent"), fmtNumber(today.sent)),
      card(t("overview.rejected"), fmtNumber(today.rejected)),
      card(t("overview.spamRate"), fmtPercent(today.spam, received), t("overview.ofReceived", { n: fmtNumber(today.spam), total: fmtNumber(received) })),
      card(t("overview.virusRate"), fmtPercent(today.virus, received), t("overview.ofReceived", { n: fmtNumber(today.virus), total: fmtNumber(received) })))),
  ];
}

// buckets lays the series on a full timeline of the range (buckets the
// API leaves out count zero).
function buckets(st, range) {
  const step = (Number(st.bucket_seconds) || 3600) * 1000;
  const series = Array.isArray(st.series) ? st.series : [];
  let start = Date.parse(st.since);
  if (Number.isNaN(start)) start = series.length ? Date.parse(series[0].start) : Date.now() - RANGE_MS[range];
  let n = Math.max(1, Math.round(RANGE_MS[range] / step));
  const idx = series.map((b) => Math.floor((Date.parse(b.start) - start) / step));
  for (const i of idx) if (i + 1 > n && i < n * 2) n = i + 1;
  const out = [];
  for (let i = 0; i < n; i += 1) {
    const b = { start: new Date(start + i * step), reasons: {} };
    for (const c of COLUMNS) b[c] = 0;
    out.push(b);
  }
  series.forEach((src, k) => {
    const b = out[idx[k]];
    if (!b) return;
    for (const c of COLUMNS) b[c] += Number(src[c]) || 0;
    for (const [r, v] of Object.entries(src.rejected_by_reason || {})) b.reasons[r] = (b.reasons[r] || 0) + (Number(v) || 0);
  });
  for (const b of out) b.inbox = Math.max(0, b.accepted - b.junked - b.quarantined);
  return out;
}

// niceScale picks a top for the y axis and the step between its ticks.
function niceScale(max) {
  if (max <= 0) return { top: 4, step: 1 };
  const rough = max / 4;
  const mag = 10 ** Math.floor(Math.log10(rough));
  let step = mag;
  for (const m of [1, 2, 5, 10]) {
    step = m * mag;
    if (step >= rough) break;
  }
  step = Math.max(1, step);
  return { top: Math.ceil(max / step) * step, step };
}

const fmtHour = (d) => d.toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit" });
const fmtDay = (d) => d.toLocaleDateString(lang(), { month: "numeric", day: "numeric", weekday: "short" });
const fmtWhen = (d) => d.toLocaleString(lang(), { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

// tip is a bucket's tooltip: its time and every count.
function tip(b) {
  return [fmtWhen(b.start), ...COLUMNS.map((c) => `${t(`flow.${c}`)}: ${fmtNumber(b[c])}`)].join("\n");
}

// chart draws the buckets as an SVG width pixels wide: stacked bars for
// what came in, lines for what went out.
function chart(data, width, range, titleText) {
  const H = 260;
  const m = { left: 48, right: 12, top: 14, bottom: 44 };
  const W = Math.max(280, Math.round(width));
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const n = data.length;
  const band = pw / n;
  let max = 0;
  for (const b of data) max = Math.max(max, STACK.reduce((a, c) => a + b[c], 0), ...LINES.map((c) => b[c]));
  const { top, step } = niceScale(max);
  const y = (v) => m.top + ph - (v / top) * ph;
  const titleId = uid("chart-title");
  const descId = uid("chart-desc");
  const svg = s("svg", { class: "flow-chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${titleId} ${descId}` },
    s("title", { id: titleId }, titleText),
    s("desc", { id: descId }, t("chart.desc")));

  // The y axis: grid lines and counts.
  const yAxis = s("g", { class: "axis axis-y" });
  for (let v = 0; v <= top; v += step) {
    yAxis.append(
      s("line", { class: v === 0 ? "axis-line" : "grid", x1: m.left, x2: W - m.right, y1: y(v), y2: y(v) }),
      s("text", { class: "tick-label", x: m.left - 6, y: y(v), "text-anchor": "end", "dominant-baseline": "middle" }, fmtNumber(v)));
  }
  yAxis.append(s("text", { class: "axis-title", x: -(m.top + ph / 2), y: 12, transform: "rotate(-90)", "text-anchor": "middle" }, t("chart.yTitle")));
  svg.append(yAxis);

  // The x axis: a label every few hours, or at midnight every day or two.
  const need = Math.ceil((range === "24h" ? 56 : 76) / band);
  const every = [1, 2, 3, 6, 12, 24, 48, 96].find((k) => k >= need && (range === "24h" || k >= 24)) || 168;
  const xAxis = s("g", { class: "axis axis-x" });
  data.forEach((b, i) => {
    const hr = b.start.getHours();
    const days = Math.floor((b.start.getTime() - data[0].start.getTime()) / (24 * HOUR));
    const show = every < 24 ? hr % every === 0 : hr === 0 && days % (every / 24) === 0;
    if (!show) return;
    const x = m.left + i * band;
    if (x > W - (every < 24 ? 24 : 34)) return; // the label would stick out
    xAxis.append(
      s("line", { class: "tick", x1: x, x2: x, y1: m.top + ph, y2: m.top + ph + 5 }),
      s("text", { class: "tick-label", x, y: m.top + ph + 17, "text-anchor": "middle" }, every < 24 ? fmtHour(b.start) : fmtDay(b.start)));
  });
  xAxis.append(s("text", { class: "axis-title", x: m.left + pw / 2, y: H - 6, "text-anchor": "middle" }, t("chart.xTitle")));
  svg.append(xAxis);

  // The bars, each hour a group with its tooltip.
  const barW = Math.max(1, band * (band > 6 ? 0.72 : 0.9));
  const bars = s("g", { class: "bars" });
  data.forEach((b, i) => {
    const x = m.left + i * band + (band - barW) / 2;
    const g = s("g", { class: "bucket" }, s("title", {}, tip(b)),
      s("rect", { class: "hit", x: m.left + i * band, y: m.top, width: band, height: ph }));
    let acc = 0;
    for (const c of STACK) {
      if (b[c] <= 0) continue;
      const y0 = y(acc);
      acc += b[c];
      const y1 = y(acc);
      g.append(s("rect", { class: `bar bar-${c}`, x, y: y1, width: barW, height: Math.max(0.5, y0 - y1) }));
    }
    bars.append(g);
  });
  svg.append(bars);

  // The lines of delivered and deferred mail.
  for (const c of LINES) {
    const pts = data.map((b, i) => `${(m.left + (i + 0.5) * band).toFixed(1)},${y(b[c]).toFixed(1)}`).join(" ");
    const g = s("g", { class: `series series-${c}` }, s("polyline", { class: `line line-${c}`, points: pts }));
    if (band >= 10) {
      data.forEach((b, i) => {
        if (b[c] > 0) g.append(s("circle", { class: `dot dot-${c}`, cx: m.left + (i + 0.5) * band, cy: y(b[c]), r: 2.5 }, s("title", {}, tip(b))));
      });
    }
    svg.append(g);
  }
  return svg;
}

// legend names the colours, with the period's total of each.
function legend(data) {
  return h("ul", { class: "legend" }, [...STACK, ...LINES].map((c) => h("li", {},
    h("span", { class: `swatch swatch-${c}${LINES.includes(c) ? " swatch-line" : ""}`, "aria-hidden": "true" }),
    `${t(`flow.${c}`)} `,
    h("span", { class: "legend-total" }, fmtNumber(data.reduce((a, b) => a + b[c], 0))))));
}

// dataTable is the chart's data for screen readers: by hour for a day,
// by day for a week.
function dataTable(data, range) {
  let rows = data;
  if (range !== "24h") {
    const days = new Map();
    for (const b of data) {
      const key = b.start.toDateString();
      if (!days.has(key)) {
        const d = { start: b.start, day: true };
        for (const c of COLUMNS) d[c] = 0;
        days.set(key, d);
      }
      const d = days.get(key);
      for (const c of COLUMNS) d[c] += b[c];
    }
    rows = [...days.values()];
  }
  return h("table", { class: "visually-hidden flow-table" },
    h("caption", {}, t(range === "24h" ? "chart.tableHourly" : "chart.tableDaily")),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t(range === "24h" ? "chart.hour" : "chart.day")), COLUMNS.map((c) => h("th", { scope: "col" }, t(`flow.${c}`))))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("th", { scope: "row" }, r.day ? fmtDay(r.start) : fmtWhen(r.start)),
      COLUMNS.map((c) => h("td", {}, fmtNumber(r[c])))))));
}

// reasonsList breaks the period's rejections down by reason.
function reasonsList(data) {
  const sums = {};
  for (const b of data) for (const [r, v] of Object.entries(b.reasons)) sums[r] = (sums[r] || 0) + v;
  const rows = Object.entries(sums).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (!rows.length) return h("p", { class: "empty" }, t("overview.noRejections"));
  const total = rows.reduce((a, [, v]) => a + v, 0);
  return h("ol", { class: "reasons" }, rows.map(([r, v]) => {
    const key = `reason.${r}`;
    const name = t(key) === key ? r : t(key);
    return h("li", {},
      h("span", { class: "reason-name" }, name),
      h("meter", { class: "reason-bar", min: 0, max: total, value: v, "aria-hidden": "true" }),
      h("span", { class: "reason-count" }, t("overview.reasonCount", { n: fmtNumber(v), pct: fmtPercent(v, total) })));
  }));
}

// overviewPage is the server admin's start page.
export async function overviewPage(ctx) {
  let range = RANGES.includes(ctx.query.get("range")) ? ctx.query.get("range") : "24h";
  const slot = messageSlot();
  const top = h("div", { class: "overview-cards" }, progress());
  const buttons = RANGES.map((r) => h("button", { type: "button", class: "range", "data-range": r }, t(`overview.range.${r}`)));
  const toggle = h("div", { class: "range-toggle", role: "group", "aria-label": t("overview.range") }, buttons);
  const flowTitle = h("h2", { id: uid("flow") });
  const chartBody = h("div", { class: "chart-body", "aria-live": "polite" });
  const reasonsTitle = h("h2", { id: uid("reasons") });
  const reasonsBody = h("div", { class: "reasons-body" });
  add(ctx.main,
    pageHeading(t("nav.overview")),
    slot,
    top,
    h("section", { class: "card flow", "aria-labelledby": flowTitle.id }, h("div", { class: "flow-head" }, flowTitle, toggle), chartBody),
    h("section", { class: "card", "aria-labelledby": reasonsTitle.id }, reasonsTitle, reasonsBody));

  let shown = null; // {data, range} drawn in chartBody
  let plot = null; // the chart's holder, redrawn when its width changes
  let lastWidth = 0;
  const draw = () => {
    if (!shown || !plot) return;
    lastWidth = plot.clientWidth || 640;
    fill(plot, chart(shown.data, lastWidth, shown.range, flowTitle.textContent));
  };
  const ro = typeof ResizeObserver === "function" ? new ResizeObserver(() => {
    if (!ctx.alive()) {
      ro.disconnect();
      return;
    }
    if (plot && Math.abs((plot.clientWidth || 0) - lastWidth) > 1) draw();
  }) : null;

  let seq = 0;
  async function load() {
    const mine = ++seq;
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.range === range));
    flowTitle.textContent = t(`overview.flow.${range}`);
    reasonsTitle.textContent = t(`overview.reasons.${range}`);
    chartBody.setAttribute("aria-busy", "true");
    fill(chartBody, progress());
    clear(reasonsBody);
    let st;
    try {
      st = await api("GET", `/stats${qs({ range })}`);
    } catch (err) {
      if (mine !== seq || !ctx.alive()) return;
      chartBody.removeAttribute("aria-busy");
      clear(chartBody);
      clear(top);
      showError(slot, err);
      return;
    }
    if (mine !== seq || !ctx.alive()) return;
    clear(slot);
    fill(top, cards(st));
    const data = buckets(st, range);
    const empty = data.every((b) => COLUMNS.every((c) => b[c] === 0));
    plot = h("div", { class: "chart-plot" });
    shown = { data, range };
    fill(chartBody,
      empty ? h("p", { class: "empty chart-empty" }, t("overview.noMail")) : null,
      legend(data),
      plot,
      dataTable(data, range));
    draw();
    if (ro) {
      ro.disconnect();
      ro.observe(plot);
    }
    chartBody.removeAttribute("aria-busy");
    fill(reasonsBody, reasonsList(data));
  }
  for (const b of buttons) {
    b.addEventListener("click", () => {
      if (b.dataset.range === range) return;
      range = b.dataset.range;
      ctx.setQuery({ range: range === "24h" ? "" : range });
      load();
    });
  }
  await load();
}
