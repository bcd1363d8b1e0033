// Securing one's own mail account on the "My account" page: two-factor
// sign-in with an authenticator app (recovery codes shown once) and app
// passwords for mail clients (made by the server, shown once, each
// revocable).

import { h, clear, fill } from "../dom.js";
import { t } from "../i18n.js";
import { api, adoptSession, signOut } from "../api.js";
import { showSecretOnce } from "./tokens.js";
import { passkeysSupported, createPasskey } from "../webauthn.js";
import {
  field, validate, busy, markServerErrors, showError, showNotice, messageSlot, confirmDialog,
  section, fmtDate, table, copyButton,
} from "../ui.js";

// MAIL_PROTOCOLS are the protocols an app password may be limited to.
export const MAIL_PROTOCOLS = ["imap", "pop3", "submission", "managesieve"];

// appPasswordTable lists app passwords; revoke(ap) ends one.
export function appPasswordTable(items, revoke) {
  return table(t("apppw.list"), [
    { label: t("field.name"), cell: (k) => k.name },
    { label: t("apppw.protocols"), cell: (k) => k.protocols.map((p) => t(`apppw.proto.${p}`)).join(", ") },
    { label: t("field.created"), cell: (k) => fmtDate(k.created_at) },
    { label: t("tokens.expires"), cell: (k) => (k.expires_at ? fmtDate(k.expires_at) : t("tokens.never")) },
    {
      label: t("tokens.lastUsed"),
      cell: (k) => (k.last_used_at
        ? t("apppw.lastUse", { when: fmtDate(k.last_used_at), from: k.last_used_from || "—", protocol: t(`apppw.proto.${k.last_used_protocol || "imap"}`) })
        : t("tokens.unused")),
    },
    {
      label: t("field.actions"),
      cell: (k) => h("button", {
        type: "button", class: "danger", "aria-label": t("tokens.revokeWhat", { name: k.name }),
        onclick: () => revoke(k),
      }, t("tokens.revoke")),
    },
  ], items, t("apppw.none"));
}

// appPasswordsSection is the signed-in user's app passwords: a form that
// makes one (its password shown once) and the list with last use and
// revoke buttons. secondFactor says whether the account password still
// works on the mail protocols.
export function appPasswordsSection(secondFactor) {
  const slot = messageSlot();
  const secretSlot = h("div", { "aria-live": "polite" });
  const listBody = h("div");

  async function load() {
    let l;
    try {
      l = await api("GET", "/me/app-passwords");
    } catch (err) {
      showError(slot, err);
      return;
    }
    fill(listBody, appPasswordTable(l.items || [], async (k) => {
      if (!(await confirmDialog(t("apppw.revokeConfirm", { name: k.name }), t("tokens.revoke")))) return;
      try {
        await api("DELETE", `/me/app-passwords/${k.id}`);
        showNotice(slot, t("apppw.revoked", { name: k.name }));
        load();
      } catch (err) {
        showError(slot, err);
      }
    }));
  }

  const name = field({ label: t("field.name"), name: "name", required: true, autocomplete: "off", hint: t("apppw.nameHint"), attrs: { maxlength: 100 } });
  const protos = MAIL_PROTOCOLS.map((p) => field({ label: t(`apppw.proto.${p}`), name: `proto_${p}`, type: "checkbox", value: p !== "managesieve" }));
  const days = field({ label: t("tokens.days"), name: "expires_in_days", type: "number", value: 0, hint: t("tokens.daysHint"), attrs: { min: 0, max: 3650, step: 1 } });
  const current = field({ label: t("account.currentPassword"), name: "current_password", type: "password", autocomplete: "current-password", hint: t("apppw.currentPasswordHint") });
  const protoSet = h("fieldset", { class: "checks" }, h("legend", {}, t("apppw.protocols")), protos.map((f) => f.wrap));
  const form = h("form", { novalidate: true, class: "form-grid" }, name.wrap, protoSet, days.wrap, current.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("apppw.create"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const checkDays = (v) => (v === "" || (/^\d+$/.test(v) && Number(v) <= 3650) ? "" : t("valid.days"));
    const chosen = MAIL_PROTOCOLS.filter((p, i) => protos[i].input.checked);
    const checkProtos = () => (chosen.length ? "" : t("apppw.chooseProtocol"));
    if (!validate([{ input: name.input, required: true }, { input: protos[0].input, check: checkProtos }, { input: days.input, check: checkDays }])) return;
    const body = { name: name.input.value.trim(), protocols: chosen };
    if (current.input.value) body.current_password = current.input.value;
    const d = Number(days.input.value || 0);
    if (d > 0) body.expires_at = new Date(Date.now() + d * 86400000).toISOString();
    await busy(form, async () => {
      try {
        const created = await api("POST", "/me/app-passwords", body);
        form.reset();
        clear(slot);
        showSecretOnce(secretSlot, t("apppw.createdTitle", { name: created.app_password.name }), t("apppw.once"), created.password, t("apppw.password"));
        load();
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  load();
  return section(t("apppw.title"),
    h("p", { class: "hint" }, t("apppw.intro")),
    h("p", { class: secondFactor ? "notice" : "hint" }, t(secondFactor ? "apppw.required" : "apppw.optional")),
    slot, form, secretSlot, listBody);
}

// recoveryCodesBox shows recovery codes once, with a button that copies
// them and one that says they are saved (then done runs).
function recoveryCodesBox(title, codes, done) {
  return h("div", { class: "secret-box", role: "status" },
    h("h3", {}, title),
    h("p", {}, t("twofa.recoveryOnce")),
    h("ol", { class: "recovery-codes" }, codes.map((c) => h("li", {}, h("code", {}, c)))),
    h("div", { class: "actions" },
      copyButton(codes.join("\n"), t("twofa.recoveryCodes")),
      h("button", { type: "button", onclick: done }, t("twofa.saved"))));
}

// regenerateForm makes new recovery codes with the password and shows
// them in place of the form.
function regenerateForm(slot, done) {
  const pw = field({ label: t("field.password"), name: "recovery_password", type: "password", required: true, autocomplete: "current-password" });
  const box = h("div");
  const form = h("form", { novalidate: true, class: "form-grid" },
    h("p", { class: "hint" }, t("twofa.regenerateHint")), pw.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("twofa.regenerate"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: pw.input, required: true }])) return;
    await busy(form, async () => {
      try {
        const res = await api("POST", "/me/recovery-codes", { password: pw.input.value });
        clear(slot);
        form.replaceWith(recoveryCodesBox(t("twofa.regenerated"), res.recovery_codes, done));
      } catch (err) {
        showError(slot, err);
        markServerErrors(form, err);
      }
    });
  });
  fill(box, form);
  return box;
}

// twoFactorSection turns two-factor sign-in on (an authenticator app,
// confirmed with a code from it; the recovery codes are shown once) or off
// (with the password), and makes new recovery codes. status is /me's
// second_factor; done reloads the page; navigate goes to another page of
// the dashboard.
export function twoFactorSection(status, done, navigate) {
  const slot = messageSlot();
  const body = h("div");
  const start = h("button", { type: "button", class: status.enabled ? "" : "primary" }, t("twofa.setUp"));
  if (status.enabled) {
    const pw = field({ label: t("field.password"), name: "totp_password", type: "password", required: true, autocomplete: "current-password" });
    const off = h("form", { novalidate: true, class: "form-grid" }, pw.wrap,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, t("twofa.disable"))));
    off.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!validate([{ input: pw.input, required: true }])) return;
      await busy(off, async () => {
        try {
          await api("POST", "/me/totp/disable", { password: pw.input.value });
          // Every session of the account ended: sign in again.
          signOut();
          navigate("login", true);
        } catch (err) {
          showError(slot, err);
          markServerErrors(off, err);
        }
      });
    });
    fill(body,
      h("p", { class: "notice" }, t("twofa.on")),
      h("p", { class: "hint" }, t(status.totp ? "twofa.withApp" : "twofa.withoutApp", { n: status.passkeys })),
      status.totp ? null : h("div", { class: "actions" }, start),
      h("p", { class: "hint" }, t("twofa.codesLeft", { n: status.recovery_codes_left })),
      regenerateForm(slot, done),
      h("h3", {}, t("twofa.disable")),
      status.required ? h("p", { class: "hint" }, t("twofa.requiredNoOff")) : [h("p", { class: "hint" }, t("twofa.disableHint")), off]);
  }
  start.addEventListener("click", async () => {
    let en;
    try {
      en = await api("POST", "/me/totp");
    } catch (err) {
      showError(slot, err);
      return;
    }
    const code = field({ label: t("login.code"), name: "totp_code", required: true, autocomplete: "one-time-code", attrs: { inputmode: "numeric", maxlength: 6 } });
    const confirm = h("form", { novalidate: true, class: "form-grid" },
      h("p", {}, t("twofa.scan")),
      en.qr_code ? h("img", { class: "totp-qr", src: en.qr_code, alt: t("twofa.qrAlt"), width: 200, height: 200 }) : null,
      h("div", { class: "dns-value" }, h("code", { class: "totp-secret" }, en.secret), copyButton(en.secret, t("twofa.secret"))),
      h("div", { class: "dns-value" }, h("code", { class: "totp-uri" }, en.otpauth_uri), copyButton(en.otpauth_uri, t("twofa.uri"))),
      code.wrap,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("twofa.confirm"))));
    confirm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!validate([{ input: code.input, required: true }])) return;
      await busy(confirm, async () => {
        let res;
        try {
          res = await api("POST", "/me/totp/confirm", { code: code.input.value.trim() });
        } catch (err) {
          showError(slot, err);
          markServerErrors(confirm, err);
          return;
        }
        await adoptSession(res.session);
        fill(body, recoveryCodesBox(t("twofa.enabled"), res.recovery_codes, done));
      });
    });
    fill(body, confirm);
    code.input.focus();
  });
  if (!status.enabled) {
    fill(body,
      h("p", { class: status.required ? "notice warn" : "hint" }, t(status.required ? "twofa.required" : "twofa.intro")),
      h("div", { class: "actions" }, start));
  }
  return section(t("twofa.title"), slot, body);
}

// passkeysSection lists the user's passkeys (each removable) and adds new
// ones, named by the user. The first one of an account without a second
// factor turns two-factor sign-in on: its recovery codes are shown once
// and done reloads the page.
export function passkeysSection(done) {
  const slot = messageSlot();
  const listBody = h("div");
  const addBody = h("div");
  async function load() {
    let l;
    try {
      l = await api("GET", "/me/passkeys");
    } catch (err) {
      showError(slot, err);
      return;
    }
    fill(listBody, table(t("passkeys.list"), [
      { label: t("field.name"), cell: (k) => k.name },
      { label: t("field.created"), cell: (k) => fmtDate(k.created_at) },
      { label: t("tokens.lastUsed"), cell: (k) => (k.last_used_at ? t("passkeys.lastUse", { when: fmtDate(k.last_used_at), from: k.last_used_from || "—" }) : t("tokens.unused")) },
      { label: t("passkeys.synced"), cell: (k) => t(k.backed_up ? "passkeys.syncedYes" : "passkeys.syncedNo") },
      {
        label: t("field.actions"),
        cell: (k) => h("button", {
          type: "button", class: "danger", "aria-label": t("passkeys.removeWhat", { name: k.name }),
          onclick: async () => {
            if (!(await confirmDialog(t("passkeys.removeConfirm", { name: k.name }), t("passkeys.remove")))) return;
            try {
              await api("DELETE", `/me/passkeys/${k.id}`);
              showNotice(slot, t("passkeys.removed", { name: k.name }));
              load();
            } catch (err) {
              showError(slot, err);
            }
          },
        }, t("passkeys.remove")),
      },
    ], l.items || [], t("passkeys.none"), "passkeys-table"));
    if (!l.available) fill(addBody, h("p", { class: "hint" }, t("passkeys.unavailable")));
    else if (!passkeysSupported()) fill(addBody, h("p", { class: "hint" }, t("passkeys.unsupported")));
  }
  const name = field({ label: t("field.name"), name: "passkey_name", required: true, autocomplete: "off", hint: t("passkeys.nameHint"), attrs: { maxlength: 64 } });
  const form = h("form", { novalidate: true, class: "form-grid" }, name.wrap,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("passkeys.add"))));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!validate([{ input: name.input, required: true }])) return;
    await busy(form, async () => {
      let res;
      try {
        const options = await api("POST", "/me/passkeys/begin");
        const credential = await createPasskey(options);
        res = await api("POST", "/me/passkeys", { name: name.input.value.trim(), credential });
      } catch (err) {
        if (err && err.name === "NotAllowedError") showError(slot, { title: t("login.passkeyTitle"), detail: t("passkeys.cancelled") });
        else if (err && err.name === "InvalidStateError") showError(slot, { title: t("login.passkeyTitle"), detail: t("passkeys.already") });
        else showError(slot, err);
        markServerErrors(form, err);
        return;
      }
      form.reset();
      if (res.recovery_codes) {
        // Two-factor sign-in just turned on and the other sessions ended.
        await adoptSession(res.session);
        clear(slot);
        fill(addBody, recoveryCodesBox(t("passkeys.enabled"), res.recovery_codes, done));
        load();
        return;
      }
      showNotice(slot, t("passkeys.added", { name: res.passkey.name }));
      load();
    });
  });
  fill(addBody, form);
  load();
  return section(t("passkeys.title"), h("p", { class: "hint" }, t("passkeys.intro")), slot, listBody, addBody);
}

// shortAgent names a browser from its User-Agent, roughly.
function shortAgent(ua) {
  if (!ua) return "—";
  const m = ua.match(/(Firefox|Edg|OPR|Chrome|Safari|curl|python-requests|Go-http-client)\/[\d.]+/);
  const os = ua.match(/\((Windows|Macintosh|iPhone|iPad|Android|Linux|X11)[^)]*\)/);
  return [m ? m[0] : ua.slice(0, 40), os ? os[1] : ""].filter(Boolean).join(", ");
}

// sessionsSection lists the signed-in person's dashboard and API sessions
// (signing out any but this one ends it at once) and their API tokens.
export function sessionsSection() {
  const slot = messageSlot();
  const body = h("div");
  async function load() {
    let l;
    try {
      l = await api("GET", "/me/sessions");
    } catch (err) {
      showError(slot, err);
      return;
    }
    fill(body,
      table(t("sessions.list"), [
        { label: t("sessions.started"), cell: (s) => fmtDate(s.created_at) },
        { label: t("sessions.lastActive"), cell: (s) => fmtDate(s.last_seen_at) },
        { label: t("sessions.from"), cell: (s) => s.remote_ip || "—" },
        { label: t("sessions.browser"), cell: (s) => h("span", { title: s.user_agent }, shortAgent(s.user_agent)) },
        {
          label: t("field.actions"),
          cell: (s) => (s.current ? h("span", { class: "badge" }, t("sessions.current")) : h("button", {
            type: "button", class: "danger", "aria-label": t("sessions.endWhat", { from: s.remote_ip }),
            onclick: async () => {
              if (!(await confirmDialog(t("sessions.endConfirm", { from: s.remote_ip }), t("sessions.end")))) return;
              try {
                await api("DELETE", `/me/sessions/${s.id}`);
                showNotice(slot, t("sessions.ended"));
                load();
              } catch (err) {
                showError(slot, err);
              }
            },
          }, t("sessions.end"))),
        },
      ], l.sessions || [], t("sessions.none")),
      h("h3", {}, t("nav.tokens")),
      table(t("nav.tokens"), [
        { label: t("field.name"), cell: (k) => k.name },
        { label: t("tokens.scope"), cell: (k) => t(`tokens.scope.${k.scope}`) },
        { label: t("tokens.lastUsed"), cell: (k) => (k.last_used_at ? fmtDate(k.last_used_at) : t("tokens.unused")) },
      ], l.tokens || [], t("tokens.none")));
  }
  load();
  return section(t("sessions.title"), h("p", { class: "hint" }, t("sessions.intro")), slot, body);
}

// securityPolicySection lets server admins require two-factor sign-in of
// every user and have users told of sign-ins from new places.
export function securityPolicySection() {
  const slot = messageSlot();
  const body = h("div");
  (async () => {
    let p;
    try {
      p = await api("GET", "/settings/security");
    } catch (err) {
      showError(slot, err);
      return;
    }
    const req = field({ label: t("policy.requireTwoFactor"), name: "require_two_factor", type: "checkbox", value: p.require_two_factor, hint: t("policy.requireTwoFactorHint") });
    const notify = field({ label: t("policy.notifyNewSignIn"), name: "notify_new_sign_in", type: "checkbox", value: p.notify_new_sign_in, hint: t("policy.notifyNewSignInHint") });
    const form = h("form", { novalidate: true, class: "form-grid" }, req.wrap, notify.wrap,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save"))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      await busy(form, async () => {
        try {
          await api("PATCH", "/settings/security", { require_two_factor: req.input.checked, notify_new_sign_in: notify.input.checked });
          showNotice(slot, t("saved"));
        } catch (err) {
          showError(slot, err);
        }
      });
    });
    fill(body, form);
  })();
  return section(t("policy.title"), slot, body);
}

// userSecuritySection is an admin's view of a user's sign-in: their second
// factor (reset for a lost authenticator), app passwords and sessions,
// each revocable.
export function userSecuritySection(u) {
  const slot = messageSlot();
  const body = h("div");
  const base = `/users/${encodeURIComponent(u.address)}`;
  async function load() {
    let aps;
    let ses;
    try {
      [aps, ses] = await Promise.all([api("GET", `${base}/app-passwords`), api("GET", `${base}/sessions`)]);
    } catch (err) {
      showError(slot, err);
      return;
    }
    const reset = h("button", {
      type: "button", class: "danger",
      onclick: async () => {
        if (!(await confirmDialog(t("usersec.resetConfirm", { address: u.address }), t("usersec.reset")))) return;
        try {
          await api("DELETE", `${base}/second-factor`);
          showNotice(slot, t("usersec.resetDone", { address: u.address }));
          load();
        } catch (err) {
          showError(slot, err);
        }
      },
    }, t("usersec.reset"));
    fill(body,
      h("p", {}, t(u.second_factor ? "usersec.on" : "usersec.off")),
      u.second_factor ? h("div", { class: "actions" }, reset) : null,
      h("h3", {}, t("apppw.title")),
      appPasswordTable(aps.items || [], async (k) => {
        if (!(await confirmDialog(t("apppw.revokeConfirm", { name: k.name }), t("tokens.revoke")))) return;
        try {
          await api("DELETE", `${base}/app-passwords/${k.id}`);
          showNotice(slot, t("apppw.revoked", { name: k.name }));
          load();
        } catch (err) {
          showError(slot, err);
        }
      }),
      h("h3", {}, t("sessions.list")),
      table(t("sessions.list"), [
        { label: t("sessions.started"), cell: (s) => fmtDate(s.created_at) },
        { label: t("sessions.lastActive"), cell: (s) => fmtDate(s.last_seen_at) },
        { label: t("sessions.from"), cell: (s) => s.remote_ip || "—" },
        { label: t("sessions.browser"), cell: (s) => h("span", { title: s.user_agent }, shortAgent(s.user_agent)) },
        {
          label: t("field.actions"),
          cell: (s) => h("button", {
            type: "button", class: "danger", "aria-label": t("sessions.endWhat", { from: s.remote_ip }),
            onclick: async () => {
              try {
                await api("DELETE", `${base}/sessions/${s.id}`);
                showNotice(slot, t("sessions.ended"));
                load();
              } catch (err) {
                showError(slot, err);
              }
            },
          }, t("sessions.end")),
        },
      ], ses.sessions || [], t("sessions.none")));
  }
  load();
  return section(t("usersec.title"), slot, body);
}
