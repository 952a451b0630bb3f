// The viewer's name: a guest watches without one and is asked for it (the join form) when
// chatting or buying needs it. Joining presents the silent watch token, so the server keeps the
// same viewer identity; the named token (`viewer:{show}`) then carries the room, chat and cart.

import { api, store, deviceId } from '../api.js';
import { fill, busy } from '../dom.js';

/**
 * The guest's identity for page state `S` (`token`, `name`) with the join form's elements
 * `el`; `room` re-joins with the new token. Returns `{need, ask, forget, render}`.
 */
export function guestIdentity({ showId, S, el, room, keys }) {
  let pendingAfterJoin = null;

  function render() {
    el.chatInput.placeholder = S.token && S.name ? `Chat as ${S.name}…` : 'Say something…';
  }

  function forget() {
    S.token = null;
    S.name = null;
    store.set(keys.token, null);
    store.set(keys.name, null);
    render();
  }

  /** Shows the name form; `then` runs once the guest has joined. */
  function ask(label, then = null) {
    pendingAfterJoin = then;
    fill(el.joinLabel, label);
    el.joinError.hidden = true;
    el.joinForm.hidden = false;
    el.chatForm.hidden = true;
    el.joinName.value = el.joinName.value || S.name || '';
    el.joinName.focus();
  }

  function close() {
    el.joinForm.hidden = true;
    el.chatForm.hidden = false;
  }

  /** Asks for a name when there is none (true: asked, `then` runs after joining). */
  function need(label, then) {
    if (S.token) return false;
    ask(label, then);
    return true;
  }

  async function join() {
    const name = el.joinName.value.trim();
    if (!name) throw new Error('Type the name others will see.');
    // Presenting the silent watch token keeps the same viewer identity.
    const watch = store.get(keys.watch);
    const r = await api('POST', `/api/shows/${showId}/viewers`, { token: watch || undefined, body: { display_name: name, device_id: deviceId() } });
    S.token = r.token;
    S.name = name;
    store.set(keys.token, r.token);
    store.set(keys.name, name);
    room.reauthenticate();
    render();
    const then = pendingAfterJoin;
    pendingAfterJoin = null;
    // The form goes first: what `then` focuses (the chat input, the add-to-cart button) must
    // be visible to take the keyboard, or the focus falls to the page's start.
    close();
    if (then) await then();
    else el.chatInput.focus();
  }

  el.joinCancel.addEventListener('click', () => {
    pendingAfterJoin = null;
    close();
    el.chatInput.focus();
  });
  el.joinForm.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); el.joinCancel.click(); }
  });
  el.joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(el.joinForm.querySelector('button[type=submit]'), join, el.joinError);
  });

  return { need, ask, forget, render };
}
