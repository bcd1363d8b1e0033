// Passkeys in the browser (WebAuthn): the server's options arrive as JSON
// with binary members in unpadded base64url; navigator.credentials wants
// ArrayBuffers, and its answer goes back as JSON the same way.

// passkeysSupported reports whether this browser can use passkeys.
export function passkeysSupported() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials && window.isSecureContext;
}

function fromB64u(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

function toB64u(buf) {
  const bytes = new Uint8Array(buf);
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function descriptors(list) {
  return (list || []).map((d) => ({ ...d, id: fromB64u(d.id) }));
}

// credentialJSON is a PublicKeyCredential as the API takes it.
function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: toB64u(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64u(r.attestationObject);
    if (typeof r.getTransports === "function") response.transports = r.getTransports();
  } else {
    response.authenticatorData = toB64u(r.authenticatorData);
    response.signature = toB64u(r.signature);
    if (r.userHandle) response.userHandle = toB64u(r.userHandle);
  }
  const out = {
    id: cred.id,
    rawId: toB64u(cred.rawId),
    type: cred.type,
    response,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
  if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
  return out;
}

// createPasskey runs navigator.credentials.create() with the options of
// POST /me/passkeys/begin and returns the new credential as JSON.
export async function createPasskey(options) {
  const pk = options.publicKey;
  const publicKey = {
    ...pk,
    challenge: fromB64u(pk.challenge),
    user: { ...pk.user, id: fromB64u(pk.user.id) },
    excludeCredentials: descriptors(pk.excludeCredentials),
  };
  const cred = await navigator.credentials.create({ publicKey });
  return credentialJSON(cred);
}

// getPasskey runs navigator.credentials.get() with the options of a
// sign-in and returns the assertion as JSON.
export async function getPasskey(options) {
  const pk = options.publicKey;
  const publicKey = { ...pk, challenge: fromB64u(pk.challenge) };
  if (pk.allowCredentials) publicKey.allowCredentials = descriptors(pk.allowCredentials);
  const cred = await navigator.credentials.get({ publicKey });
  return credentialJSON(cred);
}
