// The viewer page (/s/{show}): the program video, chat, reactions, pinned products, the cart
// and checkout, all over the public API and the live room (docs/protocol.md). Hooks that tests
// rely on are listed in docs/web-hooks.md.
//
// Identity: anyone watches. A guest who has not picked a name watches with a silent viewer
// token (`watch:{show}`, display name "Guest"), used only for WHEP, because the server lets
// viewers (not guests) play the program; the live room stays a guest connection. Picking a
// name re-joins with that token (the server keeps the same viewer id) and the named token
// (`viewer:{show}`, also accepted from a `#token=` link) is used for the room, chat and cart.

import { api, ApiError, tokenFromLink, store, formatMoney, newKey, deviceId } from './api.js';
import { h, fill, $, $$, toast, showError, busy, clock, startsIn, userText } from './dom.js';
import { LiveRoom } from './live.js';
import { whepPlay, Keeper } from './media.js';
import { ChatList, chatErrorText } from './chat.js';

const root = $('#viewer');
const showId = root.dataset.showId;
const TOKEN_KEY = `viewer:${showId}`;
const WATCH_KEY = `watch:${showId}`;
const NAME_KEY = `viewer-name:${showId}`;

const S = {
  token: tokenFromLink(TOKEN_KEY),
  name: store.get(NAME_KEY),
  status: root.dataset.status,
  scheduledAt: root.dataset.scheduledAt,
  program: null,
  programKnown: false,
  pins: [],
  cart: null,
  role: 'guest',
  checkoutKey: null,
  playing: false,
};

const el = {
  conn: $('#conn-status'),
  state: $('#show-state'),
  stage: $('.stage'),
  stageState: $('#stage-state'),
  headline: $('#stage-headline'),
  detail: $('#stage-detail'),
  video: $('#program'),
  unmute: $('#unmute'),
  viewers: $('#viewer-count'),
  pins: $('#pins'),
  bursts: $('#bursts'),
  chatList: $('#chat-list'),
  chatForm: $('#chat-form'),
  chatInput: $('#chat-input'),
  chatError: $('#chat-error'),
  chatNote: $('#chat-note'),
  joinForm: $('#join-form'),
  joinLabel: $('#join-label'),
  joinName: $('#display-name'),
  joinError: $('#join-error'),
  cartButton: $('#cart-button'),
  cartCount: $('#cart-count'),
  drawer: $('#cart-drawer'),
  cartItems: $('#cart-items'),
  cartEmpty: $('#cart-empty'),
  cartTotal: $('#cart-total'),
  cartError: $('#cart-error'),
  checkout: $('#checkout'),
  confirmation: $('#order-confirmation'),
};

// ---- the live room ----------------------------------------------------------------------------

const room = new LiveRoom(showId, () => S.token);
const chat = new ChatList(el.chatList, { max: 150, empty: 'No messages yet. Say hello!' });

room.on('state', ({ state, message, code }) => {
  document.body.dataset.conn = state;
  if (state === 'reconnecting') {
    fill(el.conn, 'Connection lost. Reconnecting…');
    el.conn.hidden = false;
  } else if (state === 'closed' && message) {
    if (code === 4001 && S.token) {
      // An expired or revoked viewer token: forget it and carry on as a guest.
      forgetIdentity();
      toast('Your session expired. Pick your name again to chat and shop.', 'error', 6000);
      room.reauthenticate();
      return;
    }
    fill(el.conn, message);
    el.conn.hidden = false;
  } else if (state === 'open') {
    el.conn.hidden = true;
  }
});

room.on('welcome', (w) => {
  S.role = w.role;
  if (w.you && w.you.name && S.token) {
    S.name = w.you.name;
    store.set(NAME_KEY, S.name);
  }
  setStatus(w.show.status, w.show);
  S.programKnown = true;
  S.program = w.program ?? null;
  setViewers(w.viewers);
  chat.reset(w.chat || []);
  setPins(w.pins || []);
  setChatMode(w.chat_mode);
  renderIdentity();
  renderStage();
});
room.on('chat.message', (m) => chat.add(m));
room.on('chat.deleted', (m) => chat.remove(m.id));
room.on('chat.cleared', () => chat.clear());
room.on('chat.mode', (m) => setChatMode(m));
room.on('chat.pending', () => showChatError('Your message is waiting for a moderator’s review.'));
room.on('presence', (m) => setViewers(m.viewers));
room.on('pin.updated', (m) => setPins(m.pins || []));
room.on('purchase', (m) => purchaseToast(m));
room.on('reactions', (m) => burst(m.counts || {}));
room.on('show.status', (m) => { setStatus(m.status); renderStage(); });
room.on('program.changed', (m) => { S.programKnown = true; S.program = m.camera ?? null; renderStage(); });
room.on('error', (f) => {
  if (f.code === 'join_required') {
    askName('Pick a name to chat');
    return;
  }
  showChatError(chatErrorText(f));
});
room.on('mod.notice', (m) => {
  if (m.action === 'timeout') showChatError('A moderator timed you out for a while.');
  if (m.action === 'ban') showChatError('A moderator removed you from this chat.');
});

// ---- show state -------------------------------------------------------------------------------

const STATE_LABEL = { scheduled: 'Upcoming', live: 'Live', ended: 'Ended' };

function setStatus(status, show) {
  if (show && show.scheduled_at) S.scheduledAt = show.scheduled_at;
  const was = S.status;
  S.status = status;
  root.dataset.status = status;
  el.state.dataset.state = status;
  el.state.classList.toggle('badge-live', status === 'live');
  el.state.classList.toggle('badge-ended', status === 'ended');
  renderStateLabel();
  if (status === 'live') startVideo();
  if (status === 'ended') stopVideo();
  if (was && was !== status && status === 'live') toast('The show is live!', 'info');
}

function renderStateLabel() {
  if (S.status === 'scheduled') fill(el.state, `Starts ${startsIn(S.scheduledAt)}`);
  else fill(el.state, STATE_LABEL[S.status] || S.status);
}

function renderStage() {
  let headline = '';
  let detail = '';
  let mode = 'waiting';
  if (S.status === 'scheduled') {
    mode = 'scheduled';
    headline = `Starts ${startsIn(S.scheduledAt)}`;
    const when = new Date(S.scheduledAt);
    detail = Number.isNaN(when.getTime()) ? '' : when.toLocaleString(undefined, {
      weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
    });
  } else if (S.status === 'ended') {
    mode = 'ended';
    headline = 'This show has ended';
    detail = 'Thanks for watching!';
  } else if (S.programKnown && S.program === null) {
    mode = 'right-back';
    headline = 'We’ll be right back';
    detail = 'The host is getting the next shot ready.';
  } else if (!S.playing) {
    mode = 'loading';
    headline = 'Connecting to the video…';
  } else {
    mode = 'playing';
  }
  el.stage.dataset.mode = mode;
  el.stageState.dataset.mode = mode;
  el.stageState.hidden = mode === 'playing';
  fill(el.headline, headline);
  fill(el.detail, detail);
  el.unmute.hidden = mode !== 'playing';
}

setInterval(() => {
  if (S.status === 'scheduled') { renderStateLabel(); renderStage(); }
  tickCountdowns();
}, 1000);

function setViewers(n) {
  if (typeof n !== 'number') return;
  fill(el.viewers, String(n));
}

// ---- video ------------------------------------------------------------------------------------

let keeper = null;
let watchTokenPromise = null;

/** A viewer token for WHEP: the named one, else a silent "Guest" identity kept per show. */
function watchToken() {
  if (S.token) return Promise.resolve(S.token);
  const kept = store.get(WATCH_KEY);
  if (kept) return Promise.resolve(kept);
  if (!watchTokenPromise) {
    watchTokenPromise = api('POST', `/api/shows/${showId}/viewers`, { body: { display_name: 'Guest', device_id: deviceId() } })
      .then((r) => { store.set(WATCH_KEY, r.token); return r.token; })
      .finally(() => { watchTokenPromise = null; });
  }
  return watchTokenPromise;
}

function startVideo() {
  if (keeper) return;
  keeper = new Keeper(async () => whepPlay({ showId, token: await watchToken(), video: el.video }), ({ state, error }) => {
    video.state = state;
    if (error) {
      video.error = error.message;
      console.warn('video', error);
      if (error.status === 401 && !S.token) {
        // The silent watch token is no longer valid: get a fresh one and start again.
        store.set(WATCH_KEY, null);
        setTimeout(() => { stopVideo(); if (S.status === 'live') startVideo(); }, 1000);
      }
    }
    if (state === 'failed' || state === 'reconnecting' || state === 'error') { S.playing = false; renderStage(); }
  });
  keeper.run();
}

function stopVideo() {
  if (!keeper) return;
  const k = keeper;
  keeper = null;
  k.stop();
  el.video.srcObject = null;
  S.playing = false;
}

const video = { state: 'idle', error: null, frames: 0 };
el.video.addEventListener('playing', () => { S.playing = true; renderStage(); });
el.video.addEventListener('waiting', () => { /* a short stall keeps the last frame */ });
el.video.addEventListener('emptied', () => { S.playing = false; renderStage(); });
if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
  const count = () => { video.frames += 1; el.video.requestVideoFrameCallback(count); };
  el.video.requestVideoFrameCallback(count);
}

/** A small speaker icon (SVG through the DOM, never markup strings). */
function speaker(muted) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '20');
  svg.setAttribute('height', '20');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const body = document.createElementNS(NS, 'path');
  body.setAttribute('d', 'M3 9h4l5-4v14l-5-4H3z');
  body.setAttribute('fill', 'currentColor');
  const extra = document.createElementNS(NS, 'path');
  extra.setAttribute('d', muted ? 'M15.5 9l5 6M20.5 9l-5 6' : 'M15.5 8.5a5 5 0 0 1 0 7M18 6a8.5 8.5 0 0 1 0 12');
  extra.setAttribute('fill', 'none');
  extra.setAttribute('stroke', 'currentColor');
  extra.setAttribute('stroke-width', '2');
  extra.setAttribute('stroke-linecap', 'round');
  svg.append(body, extra);
  return svg;
}

function renderUnmute() {
  const muted = el.video.muted;
  el.unmute.classList.toggle('is-muted', muted);
  el.unmute.setAttribute('aria-pressed', String(!muted));
  fill(el.unmute, speaker(muted), h('span', { class: 'unmute-label' }, muted ? 'Tap to unmute' : 'Mute'));
}
el.unmute.addEventListener('click', () => {
  el.video.muted = !el.video.muted;
  if (!el.video.muted) el.video.play().catch(() => {});
  renderUnmute();
});
el.video.addEventListener('volumechange', renderUnmute);
renderUnmute();

// ---- identity: the guest's name ---------------------------------------------------------------

let pendingAfterJoin = null;

function forgetIdentity() {
  S.token = null;
  S.name = null;
  store.set(TOKEN_KEY, null);
  store.set(NAME_KEY, null);
  renderIdentity();
}

function renderIdentity() {
  el.chatInput.placeholder = S.token && S.name ? `Chat as ${S.name}…` : 'Say something…';
}

/** Shows the name form; `then` runs once the guest has joined. */
function askName(label, then = null) {
  pendingAfterJoin = then;
  fill(el.joinLabel, label);
  el.joinError.hidden = true;
  el.joinForm.hidden = false;
  el.chatForm.hidden = true;
  el.joinName.value = el.joinName.value || S.name || '';
  el.joinName.focus();
}

function closeJoin() {
  el.joinForm.hidden = true;
  el.chatForm.hidden = false;
}

$('#join-cancel').addEventListener('click', () => {
  pendingAfterJoin = null;
  closeJoin();
  el.chatInput.focus();
});
el.joinForm.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') { e.preventDefault(); $('#join-cancel').click(); }
});

el.joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const button = el.joinForm.querySelector('button[type=submit]');
  busy(button, async () => {
    const name = el.joinName.value.trim();
    if (!name) throw new Error('Type the name others will see.');
    // Presenting the silent watch token keeps the same viewer identity.
    const watch = store.get(WATCH_KEY);
    const r = await api('POST', `/api/shows/${showId}/viewers`, { token: watch || undefined, body: { display_name: name, device_id: deviceId() } });
    S.token = r.token;
    S.name = name;
    store.set(TOKEN_KEY, r.token);
    store.set(NAME_KEY, name);
    room.reauthenticate();
    renderIdentity();
    const then = pendingAfterJoin;
    pendingAfterJoin = null;
    // The form goes first: what `then` focuses (the chat input, the add-to-cart button) must
    // be visible to take the keyboard, or the focus falls to the page's start.
    closeJoin();
    if (then) await then();
    else el.chatInput.focus();
  }, el.joinError);
});

function needName(label, then) {
  if (S.token) return false;
  askName(label, then);
  return true;
}

// ---- chat -------------------------------------------------------------------------------------

function showChatError(text) {
  fill(el.chatError, text);
  el.chatError.hidden = false;
  clearTimeout(showChatError.timer);
  showChatError.timer = setTimeout(() => { el.chatError.hidden = true; }, 8000);
}

function sendChat() {
  const text = el.chatInput.value.trim();
  if (!text) { showChatError('Type a message first.'); return; }
  el.chatError.hidden = true;
  room.send({ type: 'chat.send', text });
  el.chatInput.value = '';
}

el.chatForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!el.chatInput.value.trim()) { showChatError('Type a message first.'); return; }
  if (needName('Pick a name to chat', async () => { sendChat(); el.chatInput.focus(); })) return;
  sendChat();
});

function setChatMode(mode) {
  if (!mode) return;
  const notes = [];
  if (mode.paused) notes.push('Chat is paused by the moderators.');
  if (mode.slow_mode_s) notes.push(`Slow mode: one message every ${mode.slow_mode_s} s.`);
  fill(el.chatNote, notes.join(' '));
  el.chatNote.hidden = notes.length === 0;
}

// ---- reactions --------------------------------------------------------------------------------

const EMOJI = { heart: '❤️', fire: '🔥', clap: '👏', laugh: '😂', wow: '😮', cart: '🛍️' };
const MAX_BURSTS = 30; // elements on screen at once, whatever the crowd sends
const BURST_MS = 2400;
// The buttons' own SVG icons float up (no emoji font needed).
const ICONS = Object.fromEntries($$('.react-btn').map((b) => [b.dataset.kind, b.querySelector('svg')]).filter(([, i]) => i));
const reduceMotion = matchMedia('(prefers-reduced-motion: reduce)');

for (const b of $$('.react-btn')) {
  b.addEventListener('click', () => {
    room.send({ type: 'reaction.send', kind: b.dataset.kind });
    b.classList.remove('tapped');
    void b.offsetWidth; // restart the press animation
    b.classList.add('tapped');
  });
}

/** Floating bursts for one `reactions` frame: one per counted tap, capped, spread over a window. */
function burst(counts) {
  const kinds = Object.entries(counts).filter(([k, n]) => EMOJI[k] && n > 0);
  const total = kinds.reduce((a, [, n]) => a + n, 0);
  if (!total) return;
  const room_ = Math.max(0, MAX_BURSTS - el.bursts.childElementCount);
  const wanted = Math.min(total, room_, 12);
  const bag = [];
  for (const [k, n] of kinds) {
    const share = Math.max(1, Math.round((n / total) * wanted));
    for (let i = 0; i < share; i += 1) bag.push(k);
  }
  bag.length = Math.min(bag.length, room_);
  bag.forEach((kind, i) => {
    setTimeout(() => {
      if (el.bursts.childElementCount >= MAX_BURSTS) return;
      const icon = ICONS[kind] ? ICONS[kind].cloneNode(true) : EMOJI[kind];
      const b = h('span', { class: `burst burst-${kind}`, dataset: { kind } }, icon);
      b.style.setProperty('--x', `${Math.round(Math.random() * 48)}px`);
      b.style.setProperty('--drift', `${Math.round((Math.random() - 0.5) * 80)}px`);
      el.bursts.appendChild(b);
      setTimeout(() => b.remove(), reduceMotion.matches ? 900 : BURST_MS);
    }, i * 60);
  });
}

// ---- pinned products --------------------------------------------------------------------------

function setPins(pins) {
  S.pins = pins;
  const keep = new Set(pins.map((p) => p.product_id));
  for (const card of $$('.pin-card', el.pins)) {
    if (!keep.has(card.dataset.productId)) card.remove();
  }
  pins.forEach((p, i) => {
    const fresh = renderPin(p);
    const old = el.pins.querySelector(`.pin-card[data-product-id="${CSS.escape(p.product_id)}"]`);
    if (old) {
      // Keep focus on the card's button across updates (stock changes often).
      const focused = old.contains(document.activeElement);
      old.replaceWith(fresh);
      if (focused) fresh.querySelector('.add-to-cart').focus();
    } else {
      el.pins.insertBefore(fresh, el.pins.children[i] || null);
    }
  });
  root.classList.toggle('has-pins', pins.length > 0);
  tickCountdowns();
}

function unitsLeft(p) {
  if (p.deal && p.deal.open) return Math.min(p.deal.remaining, p.stock_left);
  return p.stock_left;
}

function renderPin(p) {
  const left = unitsLeft(p);
  const soldOut = p.stock_left <= 0;
  const dealOpen = !!(p.deal && p.deal.open);
  const regular = p.regular_price || p.price;
  const prices = dealOpen
    ? [
      h('span', { class: 'pin-deal-price' }, h('span', { class: 'sr-only' }, 'Deal price '), formatMoney(p.deal.price)),
      ' ',
      h('s', { class: 'pin-price' }, h('span', { class: 'sr-only' }, 'regular price '), formatMoney(regular)),
    ]
    : [h('span', { class: 'pin-price' }, formatMoney(p.price))];
  let countdown = null;
  if (p.deal) {
    countdown = h('span', { class: 'pin-countdown', dataset: { endsAt: p.deal.ends_at, open: String(dealOpen) } });
  }
  const leftText = soldOut ? 'Sold out' : `${left} left`;
  const button = h('button', {
    type: 'button',
    class: 'add-to-cart primary',
    disabled: soldOut,
    'aria-label': soldOut ? `${p.title}: sold out` : `Add ${p.title} to cart`,
    onclick: (e) => addToCart(p.product_id, e.currentTarget),
  }, soldOut ? 'Sold out' : 'Add to cart');
  return h('article', {
    class: `pin-card${soldOut ? ' sold-out' : ''}${dealOpen ? ' has-deal' : ''}`,
    dataset: { productId: p.product_id },
    'aria-label': p.title,
  },
  p.image_url ? h('img', { class: 'pin-img', src: p.image_url, alt: '', width: 64, height: 64, loading: 'lazy' }) : h('span', { class: 'pin-img' }),
  h('div', { class: 'pin-body' },
    h('bdi', { class: 'pin-title', dir: 'auto' }, p.title),
    h('div', { class: 'pin-prices' }, ...prices)),
  h('div', { class: 'pin-meta' },
    countdown,
    h('span', { class: `pin-left${soldOut ? ' is-sold-out' : ''}`, dataset: { left: String(soldOut ? 0 : left) } }, leftText)),
  button);
}

function tickCountdowns() {
  for (const c of $$('.pin-countdown', el.pins)) {
    const ends = new Date(c.dataset.endsAt).getTime();
    const secs = Math.max(0, Math.round((ends - Date.now()) / 1000));
    c.dataset.seconds = String(secs);
    const open = c.dataset.open === 'true' && secs > 0;
    const text = open ? `Ends in ${clock(secs)}` : 'Deal ended';
    if (c.textContent !== text) fill(c, text);
    c.classList.toggle('ending', open && secs <= 30);
  }
}

// ---- cart and checkout ------------------------------------------------------------------------

const CART_MESSAGES = {
  sold_out: (p) => (p.detail ? `Sorry, ${p.detail}.` : 'Sorry, that just sold out.'),
  insufficient_stock: (p) => p.detail || 'There are not that many left.',
  over_limit: (p) => p.detail || 'That is more than this deal allows per buyer.',
  deal_ended: () => 'The deal has ended; the regular price applies now.',
  show_ended: () => 'This show has ended, so the cart is closed.',
  empty_cart: () => 'Your cart is empty.',
  cart_full: (p) => p.detail || 'Your cart is full.',
  payment_declined: () => 'The payment was declined. Nothing was charged.',
  payment_failed: () => 'The payment did not go through. Please try again.',
  reservation_expired: () => 'Your reservation expired. Please try again.',
  currency_mismatch: (p) => p.detail || 'That product is priced in another currency than your cart.',
  product_not_found: () => 'That product is no longer sold in this show.',
  banned: () => 'You cannot shop in this show.',
};

/** An ApiError with a message a shopper understands. */
function shopError(e) {
  if (!(e instanceof ApiError)) return e;
  if (e.status === 401) {
    forgetIdentity();
    room.reauthenticate();
    return new ApiError(401, e.code, 'Your session expired. Pick your name again to continue.');
  }
  const f = CART_MESSAGES[e.code];
  return f ? new ApiError(e.status, e.code, f(e.problem || {}), e.problem) : e;
}

async function cartCall(method, path, body, headers) {
  try {
    return await api(method, `/api/shows/${showId}${path}`, { token: S.token, body, headers });
  } catch (e) {
    throw shopError(e);
  }
}

function setCart(cart) {
  const before = S.cart ? JSON.stringify(S.cart.items.map((i) => [i.product_id, i.quantity])) : '';
  S.cart = cart;
  const after = JSON.stringify(cart.items.map((i) => [i.product_id, i.quantity]));
  if (before !== after) S.checkoutKey = null; // a new cart is a new purchase attempt
  const count = cart.items.reduce((a, i) => a + i.quantity, 0);
  fill(el.cartCount, String(count));
  el.cartButton.classList.toggle('has-items', count > 0);
  renderCart();
}

function qtyOf(productId) {
  const line = S.cart && S.cart.items.find((i) => i.product_id === productId);
  return line ? line.quantity : 0;
}

async function loadCart() {
  if (!S.token) return;
  setCart(await cartCall('GET', '/cart'));
}

function addToCart(productId, button) {
  const go = async () => {
    if (!S.cart) await loadCart();
    const cart = await cartCall('PUT', `/cart/items/${productId}`, { quantity: qtyOf(productId) + 1 });
    setCart(cart);
    const line = cart.items.find((i) => i.product_id === productId);
    const t = h('div', { class: 'toast toast-success' }, 'Added ', userText(line ? line.title : 'it'), ' to your cart');
    $('#toasts').appendChild(t);
    setTimeout(() => t.remove(), 3000);
    el.cartButton.classList.remove('bump');
    void el.cartButton.offsetWidth;
    el.cartButton.classList.add('bump');
  };
  const again = async () => {
    await busy(button, go);
    // Back on the button that asked (its pin card may have been drawn anew meanwhile).
    const target = document.contains(button) ? button
      : el.pins.querySelector(`.pin-card[data-product-id="${CSS.escape(productId)}"] .add-to-cart`);
    if (target) target.focus();
  };
  if (needName('Pick a name to shop', again)) return;
  busy(button, go);
}

function renderCart() {
  const cart = S.cart;
  const items = cart ? cart.items : [];
  // Drawing the lines anew (the cart was read again, a purchase elsewhere) must not drop the
  // keyboard's place: the focused control of a line is focused again in the new line.
  const focused = el.cartItems.contains(document.activeElement) ? document.activeElement : null;
  const focusedLine = focused && focused.closest('.cart-item');
  const focusedKind = focused && ['qty-minus', 'qty-plus', 'remove'].find((c) => focused.classList.contains(c));
  el.cartItems.replaceChildren(...items.map((i) => h('li', { class: 'cart-item', dataset: { productId: i.product_id } },
    i.image_url ? h('img', { src: i.image_url, alt: '', width: 48, height: 48 }) : h('span', { class: 'cart-img' }),
    h('div', { class: 'cart-line' },
      h('bdi', { class: 'cart-title', dir: 'auto' }, i.title),
      h('span', { class: 'cart-unit muted' }, formatMoney(i.unit_price), i.deal ? h('span', { class: 'badge deal-badge' }, 'Deal') : null),
      h('div', { class: 'qty', role: 'group', 'aria-label': `Quantity of ${i.title}` },
        h('button', { type: 'button', class: 'small qty-minus', 'aria-label': `One fewer ${i.title}`, onclick: (e) => changeQty(i, i.quantity - 1, e.currentTarget) }, '−'),
        h('output', { class: 'qty-value', 'aria-live': 'polite' }, String(i.quantity)),
        h('button', { type: 'button', class: 'small qty-plus', 'aria-label': `One more ${i.title}`, onclick: (e) => changeQty(i, i.quantity + 1, e.currentTarget) }, '+'),
        h('button', { type: 'button', class: 'small ghost remove', 'aria-label': `Remove ${i.title}`, onclick: (e) => changeQty(i, 0, e.currentTarget) }, 'Remove'))),
    h('span', { class: 'line-total' }, formatMoney(i.line_total)))));
  el.cartEmpty.hidden = items.length > 0;
  fill(el.cartTotal, cart ? formatMoney(cart.total) : '—');
  el.checkout.disabled = items.length === 0;
  if (focused && !document.contains(focused)) {
    const again = focusedLine && focusedKind && el.cartItems.querySelector(
      `.cart-item[data-product-id="${CSS.escape(focusedLine.dataset.productId)}"] .${focusedKind}`);
    (again || (el.checkout.disabled ? $('#cart-close') : el.checkout)).focus();
  }
}

function changeQty(item, quantity, button) {
  busy(button, async () => {
    el.cartError.hidden = true;
    const cart = quantity <= 0
      ? await cartCall('DELETE', `/cart/items/${item.product_id}`)
      : await cartCall('PUT', `/cart/items/${item.product_id}`, { quantity });
    setCart(cart);
    // Keep the keyboard in the drawer after its list re-rendered: on the same button of the
    // same line, else on the checkout (or the close button of an empty cart).
    const which = ['qty-minus', 'qty-plus'].find((c) => button.classList.contains(c));
    const again = which && el.cartItems.querySelector(`.cart-item[data-product-id="${CSS.escape(item.product_id)}"] .${which}`);
    if (again) again.focus();
    else (el.checkout.disabled ? $('#cart-close') : el.checkout).focus();
  }, el.cartError);
}

el.checkout.addEventListener('click', () => {
  busy(el.checkout, async () => {
    el.cartError.hidden = true;
    el.confirmation.hidden = true;
    // One key per purchase attempt: a retry after a network failure reuses it, so the order
    // is placed at most once.
    if (!S.checkoutKey) S.checkoutKey = newKey();
    let placed;
    try {
      placed = await cartCall('POST', '/checkout', {}, { 'Idempotency-Key': S.checkoutKey });
    } catch (e) {
      if (e.status >= 400 && e.status < 500) S.checkoutKey = null; // answered: a new attempt next time
      throw e;
    }
    S.checkoutKey = null;
    const order = placed.order;
    const n = order.items ? order.items.reduce((a, i) => a + (i.quantity || 0), 0) : 0;
    fill(el.confirmation,
      h('strong', {}, 'Thank you! Your order is placed.'), h('br'),
      `Order ${String(order.id).slice(-8)} · ${n} item${n === 1 ? '' : 's'} · ${formatMoney(order.total)}`,
      order.status && order.status !== 'paid' ? ` (${order.status.replace(/_/g, ' ')})` : '');
    el.confirmation.dataset.orderId = order.id;
    el.confirmation.hidden = false;
    el.confirmation.focus();
    await loadCart().catch(() => setCart({ items: [], total: order.total && { ...order.total, amount: 0 } }));
  }, el.cartError);
});

// The drawer: a modal dialog. Focus moves in, Tab stays in, Esc and the backdrop close it, and
// focus returns to what opened it.
let returnFocus = null;
function openCart() {
  returnFocus = document.activeElement;
  el.drawer.hidden = false;
  el.cartButton.setAttribute('aria-expanded', 'true');
  root.inert = true;
  el.confirmation.hidden = true;
  $('#cart-heading').focus();
  if (S.token) loadCart().catch((e) => showError(e, el.cartError));
  else renderCart();
}
function closeCart() {
  if (el.drawer.hidden) return;
  el.drawer.hidden = true;
  el.cartButton.setAttribute('aria-expanded', 'false');
  root.inert = false;
  (returnFocus && document.contains(returnFocus) ? returnFocus : el.cartButton).focus();
}
el.cartButton.addEventListener('click', openCart);
$('#cart-close').addEventListener('click', closeCart);
el.drawer.addEventListener('click', (e) => { if (e.target.hasAttribute('data-close')) closeCart(); });
document.addEventListener('keydown', (e) => {
  if (el.drawer.hidden) return;
  if (e.key === 'Escape') { e.preventDefault(); closeCart(); return; }
  if (e.key !== 'Tab') return;
  const focusable = $$('button:not([disabled]), [href], input, [tabindex]:not([tabindex="-1"])', el.drawer)
    .filter((x) => x.offsetParent !== null);
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (e.shiftKey && (document.activeElement === first || !el.drawer.contains(document.activeElement))) {
    e.preventDefault(); last.focus();
  } else if (!e.shiftKey && (document.activeElement === last || !el.drawer.contains(document.activeElement))) {
    e.preventDefault(); first.focus();
  }
});

// The lineup list's buttons (server-rendered) add to the cart too.
for (const b of $$('#lineup .add-to-cart')) {
  b.addEventListener('click', () => addToCart(b.dataset.productId, b));
}

// ---- purchases --------------------------------------------------------------------------------

function purchaseToast(m) {
  const area = $('#toasts');
  const t = h('div', { class: 'toast toast-purchase' },
    userText(m.buyer || 'Someone', 'buyer'), ' just bought ',
    m.quantity > 1 ? `${m.quantity} × ` : '',
    userText(m.title || 'something', 'item'));
  area.appendChild(t);
  while (area.querySelectorAll('.toast-purchase').length > 4) area.querySelector('.toast-purchase').remove();
  setTimeout(() => t.classList.add('toast-out'), 7000);
  setTimeout(() => t.remove(), 7400);
}

// ---- start ------------------------------------------------------------------------------------

document.body.dataset.conn = 'connecting';
renderIdentity();
renderStateLabel();
renderStage();
renderCart();
if (S.status === 'live') startVideo();
room.connect();
if (S.token) loadCart().catch(() => { /* shown when the cart opens */ });

window.livesale = {
  ready: true,
  page: 'viewer',
  room,
  chat,
  video,
  state: S,
  get keeper() { return keeper; },
};
