// /signin: a sign-in link (`/signin#token=<creator token>`) signs this browser in. The token
// is kept as `livesale:creator`, taken out of the address bar, checked with GET /api/me and then
// the dashboard opens. Without a token, or with one the server refuses, the page says so and
// offers to sign in with a passkey instead.

import { $ } from './dom.js';
import { api, store } from './api.js';
import { passkeysSupported, signInWithPasskey } from './feature/passkey.js';

const status = $('#signin-status');
const help = $('#signin-help');
const passkeyButton = $('#passkey-signin');
const passkeyError = $('#passkey-error');

function takeTokenFromLink() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const token = frag.get('token');
  if (!token) return null;
  // Out of the address bar (and the history entry) at once.
  history.replaceState(null, '', location.pathname + location.search);
  return token;
}

function explain(text) {
  status.textContent = text;
  help.hidden = false;
  if (!passkeysSupported()) {
    passkeyButton.disabled = true;
    passkeyError.textContent = 'Passkeys do not work in this browser or on this address.';
    passkeyError.hidden = false;
  }
}

function goToDashboard() {
  status.textContent = 'Signed in. Opening your dashboard…';
  window.livesale.signedIn = true;
  location.assign('/dashboard');
}

async function check(token, fromLink) {
  try {
    const me = await api('GET', '/api/me', { token });
    if (me.role !== 'creator') {
      if (fromLink) store.set('creator', null);
      explain('This link is not a creator sign-in link.');
      return;
    }
    store.set('creator', token);
    goToDashboard();
  } catch (e) {
    if (e.status === 401) {
      store.set('creator', null);
      const why = e.code === 'token_revoked'
        ? 'This sign-in link no longer works: you signed out everywhere since it was made.'
        : e.code === 'token_expired'
          ? 'This sign-in link has expired.'
          : 'This sign-in link is not valid.';
      explain(`${why} Ask the operator for a new one, or use a passkey.`);
    } else {
      explain(e.message || 'The server could not be reached. Try again in a moment.');
    }
  }
}

passkeyButton.addEventListener('click', async () => {
  passkeyError.hidden = true;
  passkeyButton.disabled = true;
  passkeyButton.setAttribute('aria-busy', 'true');
  status.textContent = 'Waiting for your passkey…';
  try {
    await signInWithPasskey();
    goToDashboard();
  } catch (e) {
    status.textContent = 'Not signed in.';
    passkeyError.textContent = e.message || String(e);
    passkeyError.hidden = false;
  } finally {
    passkeyButton.disabled = false;
    passkeyButton.removeAttribute('aria-busy');
  }
});

window.livesale = { ready: false, page: 'signin' };
const fromLink = takeTokenFromLink();
const token = fromLink || store.get('creator');
if (token) {
  await check(token, !!fromLink);
} else {
  explain('You are not signed in on this device.');
}
window.livesale.ready = true;
