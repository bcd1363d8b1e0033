// The outbound queue: messages waiting for delivery to other servers,
// filtered by state and paged; a message's recipients with their
// attempts and last error; retry, hold and release, and delete (after a
// confirmation). Server admins see every message, domain admins what the
// API shows them.

import { h, add, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, qs } from "../api.js";
import { showError, showNotice, messageSlot, confirmDialog, pageHeading, section, fmtDate, fmtBytes, link, table, progress } from "../ui.js";
import { listView } from "../list.js";

const STATUSES = ["queued", "delivering", "delivered", "failed", "expired", "held"];

// flash is a notice for the list, left by a message's page on leaving.
let flash = "";

// sender names the envelope sender.
const sender = (m) => m.from || t("queue.nullSender");

// statusBadge shows a recipient's (or the message's) state.
function statusBadge(status) {
  const key = `queue.status.${status}`;
  return h("span", { class: `badge status status-${status}` }, t(key) === key ? status : t(key));
}

// recipientsCell lists the recipients with their states.
function recipientsCell(m) {
  return h("ul", { class: "plain recipients" }, (m.recipients || []).map((r) => h("li", {}, h("span", { class: "rcpt" }, r.address), " ", statusBadge(r.status))));
}

// act runs one action on a queued message and reports how it went.
// kind: retry, hold, release or delete (asked first).
async function act(kind, m, slot, done) {
  const what = t("queue.what", { id: m.id, from: sender(m) });
  if (kind === "delete" && !(await confirmDialog(t("queue.deleteConfirm", { what }), t("action.delete"), h("p", {}, t("queue.deleteHint"))))) return;
  try {
    if (kind === "delete") await api("DELETE", `/queue/${m.id}`);
    else await api("POST", `/queue/${m.id}/${kind}`);
    const notice = t(`queue.done.${kind}`, { id: m.id, from: sender(m) });
    showNotice(slot, notice);
    done(kind, notice);
  } catch (err) {
    showError(slot, err);
  }
}

// actionButtons are a message's actions.
function actionButtons(m, slot, done, compact) {
  const what = t("queue.what", { id: m.id, from: sender(m) });
  const btn = (kind, label, cls) => h("button", {
    type: "button",
    class: cls || null,
    "aria-label": compact ? t(`queue.${kind}What`, { what }) : null,
    onclick: () => act(kind, m, slot, done),
  }, label);
  const waiting = (m.recipients || []).some((r) => r.status === "queued");
  return h("div", { class: compact ? "row-actions" : "actions" },
    btn("retry", t("queue.retry"), compact ? null : "primary"),
    m.held ? btn("release", t("queue.release")) : btn("hold", t("queue.hold")),
    btn("delete", t("action.delete"), "danger"),
    !waiting && !compact ? h("p", { class: "hint" }, t("queue.nothingWaiting")) : null);
}

// queuePage lists the queue.
export async function queuePage(ctx) {
  const slot = messageSlot();
  const list = listView(ctx, {
    caption: t("nav.queue"),
    filters: [
      { name: "status", label: t("queue.status"), type: "select", options: [{ value: "", label: t("queue.allStates") }, ...STATUSES.map((s) => ({ value: s, label: t(`queue.status.${s}`) }))] },
      { name: "domain", label: t("queue.domain"), type: "search", attrs: { placeholder: "example.org" } },
    ],
    load: (q) => api("GET", `/queue${qs(q)}`),
    columns: [
      { label: t("queue.id"), cell: (m) => link(`queue/${m.id}`, h("span", { class: "nowrap" }, `#${m.id}`)) },
      { label: t("queue.created"), cell: (m) => fmtDate(m.created_at) },
      { label: t("queue.from"), cell: (m) => sender(m) },
      { label: t("queue.recipients"), cell: recipientsCell },
      { label: t("queue.size"), cell: (m) => h("span", { class: "nowrap" }, fmtBytes(m.size)) },
      { label: t("queue.state"), cell: (m) => (m.held ? statusBadge("held") : h("span", { class: "muted" }, t("queue.notHeld"))) },
      { label: t("field.actions"), cell: (m) => actionButtons(m, slot, () => list.refresh(), true) },
    ],
    empty: t("queue.none"),
  });
  add(ctx.main, pageHeading(t("nav.queue")), h("p", { class: "hint intro" }, t("queue.intro")), slot, section(t("queue.messages"), list.wrap));
  if (flash) {
    showNotice(slot, flash);
    flash = "";
  }
  await list.refresh();
}

// queueItemPage shows one queued message and its recipients.
export async function queueItemPage(ctx) {
  const slot = messageSlot();
  const body = h("div", {}, progress());
  add(ctx.main, h("p", { class: "crumbs" }, link("queue", t("nav.queue"))), pageHeading(t("queue.message", { id: ctx.params.id })), slot, body);
  async function load() {
    let m;
    try {
      m = await api("GET", `/queue/${encodeURIComponent(ctx.params.id)}`);
    } catch (err) {
      fill(body);
      showError(slot, err);
      return;
    }
    if (!ctx.alive()) return;
    const done = (kind, notice) => {
      if (kind !== "delete") return load();
      flash = notice;
      return ctx.navigate("queue");
    };
    fill(body,
      section(t("queue.details"), h("dl", { class: "facts" },
        h("dt", {}, t("queue.from")), h("dd", {}, sender(m)),
        h("dt", {}, t("queue.size")), h("dd", {}, fmtBytes(m.size)),
        h("dt", {}, t("queue.created")), h("dd", {}, fmtDate(m.created_at)),
        h("dt", {}, t("queue.expires")), h("dd", {}, fmtDate(m.expires_at)),
        h("dt", {}, t("queue.state")), h("dd", {}, m.held ? statusBadge("held") : t("queue.notHeld"))),
      actionButtons(m, slot, done, false)),
      section(t("queue.recipients"), table(t("queue.recipients"), [
        { label: t("queue.recipient"), cell: (r) => r.address },
        { label: t("queue.status"), cell: (r) => statusBadge(r.status) },
        { label: t("queue.attempts"), cell: (r) => String(r.attempts || 0) },
        { label: t("queue.lastAttempt"), cell: (r) => fmtDate(r.last_attempt_at) },
        { label: t("queue.nextAttempt"), cell: (r) => (r.status === "queued" ? fmtDate(r.next_attempt_at) : "—") },
        { label: t("queue.lastError"), cell: (r) => (r.last_error ? h("code", { class: "details" }, r.last_error) : "—") },
      ], m.recipients || [], t("queue.noRecipients"))));
  }
  await load();
}
