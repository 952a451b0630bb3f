// Passkeys (WebAuthn) in the browser: adding one to the signed-in creator's account and
// signing in with one. The server sends each ceremony's options in their JSON form (binary
// fields base64url) with a ceremony id, and takes the browser's answer back in the JSON form of
// `PublicKeyCredential.toJSON()`. Browsers that have the JSON helpers use them; others get the
// same conversion done here.

import { api, store } from '../api.js';

/** Whether this browser can use passkeys at all (a secure origin with WebAuthn). */
export function passkeysSupported() {
  return typeof window.PublicKeyCredential === 'function' && !!navigator.credentials
    && window.isSecureContext !== false;
}

function fromB64url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function creationOptions(json) {
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromB64url(json.challenge),
    user: { ...json.user, id: fromB64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}

function requestOptions(json) {
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: fromB64url(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}

/** The JSON form of a credential (`PublicKeyCredential.toJSON()`, or the same made here). */
function credentialJSON(cred) {
  if (typeof cred.toJSON === 'function') return cred.toJSON();
  const r = cred.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    if (typeof r.getAuthenticatorData === 'function') response.authenticatorData = toB64url(r.getAuthenticatorData());
    if (typeof r.getPublicKey === 'function' && r.getPublicKey()) response.publicKey = toB64url(r.getPublicKey());
    if (typeof r.getPublicKeyAlgorithm === 'function') response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
  }
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || null,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    response,
  };
}

/** What a cancelled or refused browser prompt becomes: an Error fit to show a person. */
function promptError(e) {
  console.warn('passkey prompt:', e && e.name, e && e.message);
  if (e && e.name === 'NotAllowedError') {
    return new Error('The passkey prompt was closed or timed out. Nothing changed.');
  }
  if (e && e.name === 'InvalidStateError') {
    return new Error('This device already holds a passkey for your account.');
  }
  if (e && e.name === 'SecurityError') {
    return new Error('Passkeys do not work on this address; open the site by its name.');
  }
  return e;
}

/**
 * Adds a passkey to the signed-in creator's account (`token`: their creator token) under
 * `label`. Resolves with the new passkey `{id, label, created_at}`; rejects with an ApiError or
 * an Error whose message is fit to show.
 */
export async function registerPasskey({ token, label } = {}) {
  if (!passkeysSupported()) throw new Error('This browser cannot use passkeys here.');
  const { ceremony, publicKey } = await api('POST', '/api/me/passkeys/options', { token });
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey: creationOptions(publicKey) });
  } catch (e) {
    throw promptError(e);
  }
  const body = { ceremony, credential: credentialJSON(cred) };
  if (label) body.label = label;
  return api('POST', '/api/me/passkeys', { token, body });
}

/**
 * Signs in with a passkey the browser offers (no name typed). On success the creator token
 * is kept as `livesale:creator` and `{token, creator_id}` is returned.
 */
export async function signInWithPasskey() {
  if (!passkeysSupported()) throw new Error('This browser cannot use passkeys here.');
  const { ceremony, publicKey } = await api('POST', '/api/signin/passkey/options');
  let cred;
  try {
    cred = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
  } catch (e) {
    throw promptError(e);
  }
  const signedIn = await api('POST', '/api/signin/passkey', {
    body: { ceremony, credential: credentialJSON(cred) },
  });
  store.set('creator', signedIn.token);
  return signedIn;
}
