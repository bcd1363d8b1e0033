// The API client and the session. The access token lives only in this
// module's memory; the refresh token is kept in sessionStorage so that a
// reload of the tab can resume the session. Nothing outlives the tab.

import { getPasskey } from "./webauthn.js";

const REFRESH_KEY = "yubin.refresh";
const API = "/api/v1";

let access = null; // the access token
let refreshTimer = 0;
let refreshing = null; // the refresh in flight
let expiredHandler = () => {};

// session describes who is signed in (empty when nobody is).
export const session = { email: "", role: "", me: null };

// ApiError is a failed API call, with the problem document's fields.
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    // kind is the problem type's last part ("not-found"), for the
    // dashboard's own wording of the title.
    this.kind = (problem && typeof problem.type === "string") ? problem.type.replace(/^.*\/problems\//, "") : "";
    this.title = (problem && problem.title) || "";
    this.detail = (problem && problem.detail) || "";
    this.errors = (problem && Array.isArray(problem.errors)) ? problem.errors : [];
    // challenge comes with "second-factor-required": the sign-in's
    // second step takes it with a code.
    this.challenge = (problem && typeof problem.challenge === "string") ? problem.challenge : "";
    // methods lists the second factors the account has ("totp",
    // "passkey", "recovery_code").
    this.methods = (problem && Array.isArray(problem.methods)) ? problem.methods : [];
  }
}

// onExpired sets what happens when the session cannot be kept alive.
export function onExpired(fn) {
  expiredHandler = fn;
}

// signedIn reports whether there is a session to use.
export function signedIn() {
  return access !== null || storedRefresh() !== "";
}

function storedRefresh() {
  try {
    return sessionStorage.getItem(REFRESH_KEY) || "";
  } catch {
    return "";
  }
}

function storeRefresh(token) {
  try {
    if (token) sessionStorage.setItem(REFRESH_KEY, token);
    else sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    // storage may be unavailable: the session then lasts as long as the page
  }
}

let memoryRefresh = "";

// decode reads an answer: JSON, problem+json, text or nothing.
async function decode(resp) {
  if (resp.status === 204) return null;
  const ct = resp.headers.get("Content-Type") || "";
  if (ct.includes("json")) {
    try {
      return await resp.json();
    } catch {
      return null;
    }
  }
  return await resp.text();
}

// send makes a request and turns an error answer into an ApiError.
async function send(method, path, body, token, contentType) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = contentType || "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : contentType ? body : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    const err = new ApiError(0, { title: "network", detail: String(e && e.message ? e.message : e) });
    err.network = true;
    throw err;
  }
  const data = await decode(resp);
  if (!resp.ok) {
    const problem = data && typeof data === "object" ? data : { title: `HTTP ${resp.status}`, detail: typeof data === "string" ? data.slice(0, 500) : "" };
    throw new ApiError(resp.status, problem);
  }
  return data;
}

// adopt takes a token pair from a login or refresh.
function adopt(pair) {
  access = pair.token;
  memoryRefresh = pair.refresh_token;
  storeRefresh(pair.refresh_token);
  session.email = pair.email;
  session.role = pair.role;
  clearTimeout(refreshTimer);
  // Refresh a minute before the access token expires.
  const secs = Math.max(10, (Number(pair.expires_in) || 900) - 60);
  refreshTimer = setTimeout(() => {
    refresh().catch(() => {});
  }, secs * 1000);
}

// login signs in with an email address and password.
export async function login(email, password) {
  const pair = await send("POST", `${API}/auth/login`, { email, password });
  adopt(pair);
  await loadMe();
  return pair;
}

// loginSecondFactor finishes a sign-in whose password was right with the
// challenge and a code: six digits from the authenticator app, or else a
// recovery code.
export async function loginSecondFactor(challenge, code) {
  const c = code.replace(/\s+/g, "");
  const body = /^\d{6}$/.test(c) ? { challenge, code: c } : { challenge, recovery_code: c };
  const pair = await send("POST", `${API}/auth/login/second-factor`, body);
  adopt(pair);
  await loadMe();
  return pair;
}

// loginSecondFactorPasskey finishes a sign-in whose password was right
// with one of the account's passkeys.
export async function loginSecondFactorPasskey(challenge) {
  const options = await send("POST", `${API}/auth/login/second-factor/passkey`, { challenge });
  const passkey = await getPasskey(options);
  const pair = await send("POST", `${API}/auth/login/second-factor`, { challenge, passkey });
  adopt(pair);
  await loadMe();
  return pair;
}

// loginPasskey signs in with a passkey alone (one the device keeps with
// the account, checked by its PIN or biometrics).
export async function loginPasskey() {
  const options = await send("POST", `${API}/auth/passkey/begin`);
  const credential = await getPasskey(options);
  const pair = await send("POST", `${API}/auth/passkey/finish`, { credential });
  adopt(pair);
  await loadMe();
  return pair;
}

// adoptSession takes over a new token pair (as turning on two-factor
// sign-in answers, having ended the other sessions).
export async function adoptSession(pair) {
  adopt(pair);
  await loadMe();
}

// loadMe fetches the caller's identity into session.me.
export async function loadMe() {
  session.me = await api("GET", "/me");
  session.role = session.me.role;
  session.email = session.me.email;
  return session.me;
}

// refresh exchanges the refresh token for a new pair. When the refresh
// token is refused the session ends (expired).
export function refresh() {
  if (refreshing) return refreshing;
  const token = memoryRefresh || storedRefresh();
  if (!token) return Promise.reject(new ApiError(401, { title: "expired" }));
  refreshing = send("POST", `${API}/auth/refresh`, { refresh_token: token })
    .then((pair) => {
      adopt(pair);
      return pair;
    })
    .catch((err) => {
      if (err.status === 401 || err.status === 422 || err.status === 400) expire();
      else if (err.network) {
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => refresh().catch(() => {}), 30000);
      }
      throw err;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

// resume restores a session after a reload from the stored refresh token.
export async function resume() {
  if (!storedRefresh()) return false;
  await refresh();
  await loadMe();
  return true;
}

// forget ends the session locally.
function forget() {
  access = null;
  memoryRefresh = "";
  storeRefresh("");
  clearTimeout(refreshTimer);
  session.email = "";
  session.role = "";
  session.me = null;
}

// signOut ends the session, on the server too (its refresh tokens stop
// working).
export function signOut() {
  const token = memoryRefresh || storedRefresh();
  forget();
  if (token) send("POST", `${API}/auth/logout`, { refresh_token: token }).catch(() => {});
}

// expire ends the session because it can no longer be used.
function expire() {
  const had = access !== null || memoryRefresh !== "" || storedRefresh() !== "";
  forget();
  if (had) expiredHandler();
}

// api calls /api/v1 + path with the session's access token, refreshing it
// once if it was refused.
export async function api(method, path, body, contentType) {
  if (!access) await refresh();
  try {
    return await send(method, API + path, body, access, contentType);
  } catch (err) {
    if (err.status !== 401) throw err;
  }
  await refresh();
  try {
    return await send(method, API + path, body, access, contentType);
  } catch (err) {
    if (err.status === 401) expire();
    throw err;
  }
}

// apiBlob fetches /api/v1 + path as a Blob with the access token.
export async function apiBlob(path) {
  if (!access) await refresh();
  const resp = await fetch(API + path, { headers: { Authorization: `Bearer ${access}` }, credentials: "omit", cache: "no-store" });
  if (!resp.ok) throw new ApiError(resp.status, await decode(resp));
  return resp.blob();
}

// publicText fetches a public path (no credentials) as text.
export async function publicText(path) {
  const resp = await fetch(path, { credentials: "omit", cache: "no-store" });
  if (!resp.ok) throw new ApiError(resp.status, await decode(resp));
  return resp.text();
}

// qs builds a query string from the non-empty values of params.
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== "" && v !== null && v !== undefined) u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}

// enc escapes a path segment.
export const enc = encodeURIComponent;
