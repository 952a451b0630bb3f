// The creator's studio (/studio/{show}): go live and end, the camera grid with live previews
// and the on-air switch, this computer's camera, phone cameras by link and QR code, the
// product lineup with pins and deals, live numbers, and the chat with inline moderation.
// It speaks only the public API (../shared API.md, docs/protocol.md); the hooks tests rely on
// are listed in docs/web-hooks.md.

import { api, listAll, tokenFromLink, store, formatMoney, parseMoney } from './api.js';
import { $, $$, h, fill, toast, busy, showError, clock } from './dom.js';
import { LiveRoom } from './live.js';
import { whipPublish, whepPlay, Keeper } from './media.js';
import { ChatList, chatErrorText } from './chat.js';

const root = $('#studio');
const showId = root.dataset.showId;
// The studio link carries the creator's token in its fragment; it is kept per show, and the
// last one seen is the fallback for the creator's other shows.
const token = tokenFromLink(`studio:${showId}`) || store.get('creator');
if (token) store.set('creator', token);
const base = `/api/shows/${showId}`;
const call = (method, path, body) => api(method, path, { token, body });

// ---- state ----------------------------------------------------------------------------------

const state = {
  status: root.dataset.status,
  products: new Map(), // product id → product (the lineup)
  pins: new Map(), // product id → pin view
  program: null, // camera id on air (as the room announced it)
  roomProgram: false, // the room told us the program (then GET /cameras does not override it)
  pending: null, // { camera, timer } while a Take waits for program.changed
  tiles: new Map(), // camera id → tile
  laptop: { stream: null, keeper: null, cameraId: null },
  orders: 0,
  revenue: null,
};

const errorBox = $('#studio-error');

// ---- the show's state -----------------------------------------------------------------------

const STATE_TEXT = { scheduled: 'Scheduled', live: 'Live', ended: 'Ended' };

function setStatus(status) {
  state.status = status;
  root.dataset.status = status;
  const badge = $('#show-state');
  badge.dataset.state = status;
  badge.textContent = STATE_TEXT[status] || status;
  badge.classList.toggle('badge-live', status === 'live');
  badge.classList.toggle('badge-ended', status === 'ended');
  $('#go-live').hidden = status !== 'scheduled';
  $('#end-show').hidden = status !== 'live';
  if (status === 'ended') {
    stopLaptop();
    for (const id of [...state.tiles.keys()]) removeTile(id);
    $('#program-status').textContent = 'The show has ended.';
    $('#laptop-camera').disabled = true;
    $('#add-phone').disabled = true;
  }
}

$('#go-live').addEventListener('click', (e) => busy(e.currentTarget, async () => {
  const show = await call('POST', `${base}/start`);
  setStatus(show.status);
  toast('You are live.', 'success');
}));

const endDialog = $('#end-dialog');
$('#end-show').addEventListener('click', () => {
  if (typeof endDialog.showModal === 'function') {
    endDialog.returnValue = '';
    endDialog.showModal();
  } else if (window.confirm('End the show? It cannot go live again.')) {
    endShow();
  }
});
endDialog.addEventListener('close', () => {
  if (endDialog.returnValue === 'end') endShow();
  else $('#end-show').focus();
});

function endShow() {
  return busy($('#end-show'), async () => {
    const show = await call('POST', `${base}/end`);
    setStatus(show.status);
    toast('The show has ended.', 'info');
  });
}

// ---- live numbers ---------------------------------------------------------------------------

function setViewers(n) {
  $('#stat-viewers').textContent = String(n ?? 0);
}

let ordersTimer = null;
async function loadOrders() {
  try {
    const o = await call('GET', `${base}/orders`);
    const paid = typeof o.paid === 'number' ? o.paid : o.orders.filter((x) => x.status === 'paid').length;
    state.orders = paid;
    state.revenue = o.total;
    $('#stat-orders').textContent = String(paid);
    $('#stat-revenue').textContent = formatMoney(o.total);
  } catch (e) {
    console.warn('orders', e);
  }
}
function ordersSoon() {
  clearTimeout(ordersTimer);
  ordersTimer = setTimeout(loadOrders, 250);
}

// ---- cameras --------------------------------------------------------------------------------

const grid = $('#camera-grid');

function tileText(tile, text) {
  tile.stateEl.textContent = text;
  tile.stateEl.hidden = !text;
}

function makeTile(cam) {
  const video = h('video', { muted: true, playsInline: true, autoplay: true, 'aria-hidden': 'true' });
  video.muted = true;
  const label = h('bdi', { class: 'camera-label', dir: 'auto' }, cam.label);
  const take = h('button', { type: 'button', class: 'take small' }, 'Take');
  const onAirLabel = h('span', { class: 'onair-label', hidden: true }, 'ON AIR');
  const stateEl = h('span', { class: 'tile-state' }, 'Connecting…');
  const li = h('li', { class: 'camera-tile', dataset: { cameraId: cam.id } },
    h('div', { class: 'tile-video' }, video, onAirLabel, stateEl),
    h('div', { class: 'tile-foot' }, label, h('span', { class: 'tile-kind muted' }), take));
  const tile = { id: cam.id, li, video, label, take, onAirLabel, stateEl, keeper: null, dead: false, local: false };
  take.addEventListener('click', () => takeCamera(tile));
  return tile;
}

function startPreview(tile) {
  if (tile.local) return;
  tile.dead = false;
  const keeper = new Keeper(
    () => whepPlay({ showId, token, video: tile.video, camera: tile.id }),
    ({ state: s, error }) => {
      if (s === 'connected') tileText(tile, '');
      else if (s === 'connecting') tileText(tile, 'Connecting…');
      else if (s === 'reconnecting' || s === 'disconnected' || s === 'failed') tileText(tile, 'Reconnecting…');
      else if (s === 'error') {
        tileText(tile, error ? error.message : 'No preview');
        if (error && [400, 401, 403, 404, 415].includes(error.status)) tile.dead = true;
      }
    },
  );
  tile.keeper = keeper;
  keeper.run();
}

function stopPreview(tile) {
  if (tile.keeper) tile.keeper.stop();
  tile.keeper = null;
}

function removeTile(id) {
  const tile = state.tiles.get(id);
  if (!tile) return;
  stopPreview(tile);
  tile.li.remove();
  state.tiles.delete(id);
  emptyGrid();
}

function emptyGrid() {
  const empty = $('.camera-empty', grid);
  if (empty) empty.hidden = state.tiles.size > 0;
}

/** Makes the tile show this computer's own stream instead of a WHEP preview. */
function makeLocal(tile) {
  if (tile.local) return;
  stopPreview(tile);
  tile.local = true;
  tile.li.classList.add('local');
  tile.li.querySelector('.tile-kind').textContent = 'this computer';
  tile.video.srcObject = state.laptop.stream;
  tile.video.play().catch(() => {});
  tileText(tile, '');
}

function syncCameras(list) {
  const seen = new Set();
  for (const cam of list) {
    seen.add(cam.id);
    let tile = state.tiles.get(cam.id);
    if (!tile) {
      tile = makeTile(cam);
      state.tiles.set(cam.id, tile);
      grid.appendChild(tile.li);
      if (cam.id === state.laptop.cameraId && state.laptop.stream) makeLocal(tile);
      else startPreview(tile);
    } else if (cam.id === state.laptop.cameraId && state.laptop.stream) {
      makeLocal(tile);
    } else if (tile.dead && !tile.local) {
      startPreview(tile);
    }
    if (tile.label.textContent !== cam.label) tile.label.textContent = cam.label;
    tile.take.setAttribute('aria-label', `Put ${cam.label} on air`);
    tile.li.classList.toggle('no-video', cam.video === false);
    if (!tile.local && cam.connected === false && !tile.stateEl.textContent) tileText(tile, 'Camera connecting…');
  }
  for (const id of [...state.tiles.keys()]) if (!seen.has(id)) removeTile(id);
  emptyGrid();
  markProgram();
}

let camerasBusy = false;
async function refreshCameras() {
  if (!token || camerasBusy || state.status === 'ended') return;
  camerasBusy = true;
  try {
    const data = await call('GET', `${base}/cameras`);
    syncCameras(data.cameras || []);
    // The room's program.changed is the truth; the list's program fills in before the first one.
    if (!state.roomProgram && !state.pending && data.program && data.program.camera !== state.program) {
      state.program = data.program.camera;
      markProgram();
    }
  } catch (e) {
    $('#program-status').textContent = `Cameras could not be listed: ${e.message}`;
  } finally {
    camerasBusy = false;
  }
}
setInterval(refreshCameras, 3000);

function markProgram() {
  const pending = state.pending && state.pending.camera;
  for (const tile of state.tiles.values()) {
    const isPending = tile.id === pending;
    tile.li.classList.toggle('on-air', tile.id === state.program);
    tile.li.classList.toggle('pending', isPending);
    if (tile.id === state.program) tile.li.setAttribute('aria-current', 'true');
    else tile.li.removeAttribute('aria-current');
    tile.onAirLabel.hidden = tile.id !== state.program;
    tile.take.textContent = isPending ? 'Switching…' : (tile.id === state.program ? 'On air' : 'Take');
    tile.take.disabled = isPending || (tile.id === state.program && !pending);
    tile.take.setAttribute('aria-busy', isPending ? 'true' : 'false');
  }
  const status = $('#program-status');
  const onAirTile = state.tiles.get(state.program);
  if (pending) {
    const t = state.tiles.get(pending);
    status.textContent = `Switching to ${t ? t.label.textContent : 'the camera'}…`;
  } else if (onAirTile) {
    status.textContent = `On air: ${onAirTile.label.textContent}`;
  } else if (state.program) {
    status.textContent = 'A camera is on air.';
  } else {
    status.textContent = state.tiles.size ? 'Nothing on air: press Take on a camera.' : 'Nothing on air yet.';
  }
}

async function takeCamera(tile) {
  await busy(tile.take, async () => {
    clearPending();
    await call('POST', `${base}/program`, { camera: tile.id });
    if (state.program === tile.id) return; // program.changed already came
    state.pending = {
      camera: tile.id,
      // No announcement within a while: show what the server says instead of a stuck button.
      timer: setTimeout(() => { clearPending(); state.roomProgram = false; refreshCameras(); }, 10000),
    };
  });
  markProgram();
}

function clearPending() {
  if (state.pending) clearTimeout(state.pending.timer);
  state.pending = null;
}

function programChanged(camera) {
  state.program = camera ?? null;
  state.roomProgram = true;
  if (state.pending && (state.pending.camera === camera)) clearPending();
  markProgram();
  refreshCameras();
}

// ---- this computer's camera -----------------------------------------------------------------

const laptopBtn = $('#laptop-camera');
const laptopStatus = $('#laptop-status');

async function getLaptopMedia() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error('This browser cannot open the camera here: the page needs a secure (https) address. Start livesale with --tls-self-signed, or open the studio on http://localhost.');
  }
  const video = { width: { ideal: 1280 }, height: { ideal: 720 } };
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio: true });
  } catch (e) {
    if (e.name === 'NotFoundError' || e.name === 'NotReadableError') {
      // No microphone (or it is busy): the camera alone.
      return navigator.mediaDevices.getUserMedia({ video, audio: false });
    }
    throw e;
  }
}

function mediaError(e) {
  switch (e && e.name) {
    case 'NotAllowedError': return new Error('Camera access was denied. Allow the camera and microphone for this site in the browser (the icon in the address bar), then try again.');
    case 'NotFoundError': return new Error('No camera was found on this computer.');
    case 'NotReadableError': return new Error('The camera is in use by another app. Close it and try again.');
    case 'SecurityError': return new Error('The browser blocked the camera: the page needs a secure (https) address. Start livesale with --tls-self-signed.');
    default: return e;
  }
}

async function startLaptop() {
  let stream;
  try {
    stream = await getLaptopMedia();
  } catch (e) {
    throw mediaError(e);
  }
  state.laptop.stream = stream;
  laptopBtn.textContent = "Stop this computer's camera";
  laptopBtn.setAttribute('aria-pressed', 'true');
  const keeper = new Keeper(async () => {
    const session = await whipPublish({ showId, token, stream, label: 'Laptop' });
    if (state.laptop.cameraId && state.laptop.cameraId !== session.cameraId) removeTile(state.laptop.cameraId);
    state.laptop.cameraId = session.cameraId;
    await refreshCameras();
    const tile = state.tiles.get(session.cameraId);
    if (tile) makeLocal(tile);
    return session;
  }, ({ state: s, error }) => {
    const words = {
      connecting: 'Connecting…',
      reconnecting: 'Connection lost; reconnecting…',
      connected: 'Sending to the studio.',
      disconnected: 'Connection unstable; waiting…',
      failed: 'Connection failed; trying again…',
      closed: 'Stopped.',
    };
    laptopStatus.textContent = s === 'error' ? `Could not send: ${error.message}` : (words[s] || s);
  });
  state.laptop.keeper = keeper;
  await keeper.run();
}

function stopLaptop() {
  const { keeper, stream, cameraId } = state.laptop;
  if (keeper) keeper.stop();
  if (stream) for (const t of stream.getTracks()) t.stop();
  state.laptop = { stream: null, keeper: null, cameraId: null };
  if (cameraId) removeTile(cameraId);
  laptopBtn.textContent = "Start this computer's camera";
  laptopBtn.setAttribute('aria-pressed', 'false');
  laptopStatus.textContent = keeper ? 'Stopped.' : '';
  refreshCameras();
}

laptopBtn.addEventListener('click', () => busy(laptopBtn, async () => {
  if (state.laptop.stream) stopLaptop();
  else await startLaptop();
}, laptopStatus));

// ---- a phone as a camera --------------------------------------------------------------------

const phoneForm = $('#phone-form');
let inviteUrl = null;
let qrUrl = null;

phoneForm.addEventListener('submit', (e) => {
  e.preventDefault();
  busy($('#add-phone'), async () => {
    const label = $('#phone-label').value.trim() || 'Phone';
    const invite = await call('POST', `${base}/invites`, { role: 'camera', label });
    inviteUrl = invite.url;
    const link = $('#camera-link');
    link.href = invite.url;
    link.textContent = invite.url;
    $('#phone-invite').hidden = false;
    const img = $('#camera-qr');
    const note = $('#qr-note');
    note.hidden = true;
    try {
      const svg = await api('POST', '/api/qr', { body: { text: invite.url } });
      if (qrUrl) URL.revokeObjectURL(qrUrl);
      qrUrl = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
      img.src = qrUrl;
      img.hidden = false;
    } catch (err) {
      img.hidden = true;
      note.textContent = `The QR code could not be made (${err.message}). Send the link to the phone instead.`;
      note.hidden = false;
    }
    link.focus();
  }, $('#studio-error'));
});

$('#copy-camera-link').addEventListener('click', async () => {
  if (!inviteUrl) return;
  try {
    await navigator.clipboard.writeText(inviteUrl);
    toast('Link copied.', 'success');
  } catch {
    // No clipboard API (an http address): select the link so the person can copy it.
    const range = document.createRange();
    range.selectNodeContents($('#camera-link'));
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    toast('Press Ctrl+C (or ⌘C) to copy the selected link.', 'info');
  }
});

// ---- the lineup, pins and deals -------------------------------------------------------------

const lineupEl = $('#lineup');

function priceText(money) {
  return formatMoney(money);
}

function pinSummary(pin) {
  if (!pin) return '';
  const parts = ['Pinned'];
  const d = pin.deal;
  if (d) {
    if (d.open) {
      const left = Math.max(0, (new Date(d.ends_at).getTime() - Date.now()) / 1000);
      parts.push(`deal ${formatMoney(d.price)}`, `${d.remaining} of ${d.quantity} left`, `ends in ${clock(left)}`);
    } else {
      parts.push('deal over');
    }
  }
  return parts.join(' · ');
}

function field(form, name, labelText, attrs) {
  const id = `${name}-${form}`;
  return h('div', { class: 'field' },
    h('label', { for: id }, labelText),
    h('input', { id, name, required: true, ...attrs }));
}

function renderProduct(p) {
  const key = p.id;
  const cur = p.price.currency;
  const error = h('p', { class: 'form-error error-text', id: `deal-error-${key}`, role: 'alert', hidden: true });
  const form = h('form', { class: 'deal-form', novalidate: true, 'aria-label': `Deal for ${p.title}`, 'aria-describedby': error.id },
    h('p', { class: 'deal-head' }, 'Flash deal'),
    h('div', { class: 'deal-fields' },
      field(key, 'price', `Deal price (${cur})`, { inputmode: 'decimal', autocomplete: 'off', placeholder: 'e.g. 9.99' }),
      field(key, 'quantity', 'Quantity', { type: 'number', min: '1', step: '1', value: String(Math.min(10, Math.max(1, p.stock))) }),
      field(key, 'per_buyer_limit', 'Per buyer', { type: 'number', min: '1', step: '1', value: '1' }),
      field(key, 'duration_s', 'Duration (s)', { type: 'number', min: '10', max: '86400', step: '1', value: '300' })),
    error,
    h('button', { type: 'submit', class: 'primary small deal-submit' }, 'Pin with this deal'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submitDeal(p, form, error);
  });
  const pinBtn = h('button', { type: 'button', class: 'pin small', 'aria-label': `Pin ${p.title}` }, 'Pin');
  const unpinBtn = h('button', { type: 'button', class: 'unpin small', 'aria-label': `Unpin ${p.title}`, hidden: true }, 'Unpin');
  const itemError = h('p', { class: 'item-error error-text', role: 'alert', hidden: true });
  pinBtn.addEventListener('click', () => busy(pinBtn, async () => {
    itemError.hidden = true;
    const res = await call('POST', `${base}/pins`, { product_id: p.id });
    applyPins(res.pins);
    toast(`Pinned ${p.title}.`, 'success');
  }, itemError));
  unpinBtn.addEventListener('click', () => busy(unpinBtn, async () => {
    itemError.hidden = true;
    await call('DELETE', `${base}/pins/${p.id}`);
    state.pins.delete(p.id);
    renderPins();
  }, itemError));
  const li = h('li', { class: 'lineup-item', dataset: { productId: p.id } },
    h('div', { class: 'item-main' },
      p.image_url ? h('img', { class: 'thumb', src: p.image_url, alt: '', width: 56, height: 56, loading: 'lazy' }) : h('span', { class: 'thumb' }),
      h('div', { class: 'item-text' },
        h('bdi', { class: 'lineup-title', dir: 'auto' }, p.title),
        h('span', { class: 'price' }, priceText(p.price)),
        h('span', { class: 'stock muted' }, `${p.stock} in stock`),
        h('span', { class: 'pin-state', 'aria-live': 'polite' })),
      h('div', { class: 'item-actions' }, pinBtn, unpinBtn)),
    itemError,
    h('div', { class: 'deal' }, form));
  return li;
}

function fieldError(form, error, input, message) {
  for (const i of $$('input', form)) i.removeAttribute('aria-invalid');
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
  fill(error, message);
  error.hidden = false;
}

function submitDeal(p, form, error) {
  const btn = $('.deal-submit', form);
  const inputs = Object.fromEntries($$('input', form).map((i) => [i.name, i]));
  const int = (name) => {
    const t = inputs[name].value.trim();
    return /^\d+$/.test(t) ? Number(t) : null;
  };
  error.hidden = true;
  const price = parseMoney(inputs.price.value, p.price.currency);
  if (price === null) {
    return fieldError(form, error, inputs.price, `Enter the deal price as a number, like ${formatMoney({ amount: Math.round(p.price.amount * 0.8), currency: p.price.currency }).replace(/[^\d.,]/g, '')}.`);
  }
  if (price >= p.price.amount) {
    return fieldError(form, error, inputs.price, `The deal price must be below the regular price (${formatMoney(p.price)}).`);
  }
  const quantity = int('quantity');
  if (!quantity || quantity < 1 || quantity > 1000000) {
    return fieldError(form, error, inputs.quantity, 'Quantity must be a whole number from 1 to 1,000,000.');
  }
  const limit = int('per_buyer_limit');
  if (!limit || limit < 1 || limit > quantity) {
    return fieldError(form, error, inputs.per_buyer_limit, `The per-buyer limit must be a whole number from 1 to the quantity (${quantity}).`);
  }
  const duration = int('duration_s');
  if (!duration || duration < 10 || duration > 86400) {
    return fieldError(form, error, inputs.duration_s, 'Duration must be from 10 to 86400 seconds (24 hours).');
  }
  for (const i of $$('input', form)) i.removeAttribute('aria-invalid');
  return busy(btn, async () => {
    const res = await call('POST', `${base}/pins`, {
      product_id: p.id,
      deal: { price, quantity, per_buyer_limit: limit, duration_s: duration },
    });
    applyPins(res.pins);
    toast(`Pinned ${p.title} at ${formatMoney({ amount: price, currency: p.price.currency })}.`, 'success');
  }, error);
}

function renderLineup(products) {
  state.products = new Map(products.map((p) => [p.id, p]));
  lineupEl.replaceChildren(...products.map(renderProduct));
  if (!products.length) lineupEl.appendChild(h('li', { class: 'muted' }, 'No products in this show yet.'));
  renderPins();
}

function applyPins(pins) {
  state.pins = new Map((pins || []).map((p) => [p.product_id, p]));
  renderPins();
}

function renderPins() {
  for (const li of $$('.lineup-item', lineupEl)) {
    // The server-rendered items have no buttons yet: the room's welcome can come before the
    // lineup is loaded, and renderLineup() renders the pins again once it is.
    if (!$('.pin', li)) continue;
    const pin = state.pins.get(li.dataset.productId);
    li.classList.toggle('pinned', !!pin);
    li.classList.toggle('has-deal', !!(pin && pin.deal && pin.deal.open));
    $('.pin', li).hidden = !!pin;
    $('.unpin', li).hidden = !pin;
    const text = pinSummary(pin);
    const el = $('.pin-state', li);
    if (el.textContent !== text) el.textContent = text;
    if (pin) $('.stock', li).textContent = `${pin.stock_left} in stock`;
  }
}
// Deal countdowns.
setInterval(() => { if ([...state.pins.values()].some((p) => p.deal && p.deal.open)) renderPins(); }, 1000);

async function loadLineup() {
  const res = await call('GET', `${base}/lineup`);
  renderLineup(res.products || []);
  loadCatalog();
}

async function loadCatalog() {
  const form = $('#add-product-form');
  try {
    const catalog = await listAll('/api/products', { token });
    const others = catalog.filter((p) => !state.products.has(p.id));
    const select = $('#add-product');
    fill(select, ...others.map((p) => h('option', { value: p.id }, `${p.title} · ${formatMoney(p.price)}`)));
    form.hidden = others.length === 0;
  } catch (e) {
    form.hidden = true;
    console.warn('catalog', e);
  }
}

$('#add-product-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('#add-product').value;
  if (!id) return;
  busy($('#add-product-btn'), async () => {
    const res = await call('POST', `${base}/lineup`, { product_id: id });
    renderLineup(res.products || []);
    loadCatalog();
    toast('Added to the lineup.', 'success');
  });
});

// ---- chat and moderation --------------------------------------------------------------------

function modButton(cls, text, label, fn) {
  const b = h('button', { type: 'button', class: `${cls} small`, 'aria-label': label }, text);
  b.addEventListener('click', () => fn(b));
  return b;
}

function modActions(m) {
  const who = (m.author && m.author.name) || 'someone';
  const del = modButton('mod-delete', 'Delete', `Delete the message from ${who}`, (b) => {
    b.disabled = true;
    room.send({ type: 'mod.delete', message_id: m.id });
    // The room answers with chat.deleted (or an error frame): never a dead button.
    setTimeout(() => { b.disabled = false; }, 5000);
  });
  if (m.role !== 'viewer' || !m.author || !m.author.id) return [del];
  const timeout = modButton('mod-timeout', 'Time out', `Time out ${who} for 10 minutes`, (b) => busy(b, async () => {
    await call('POST', `${base}/moderation`, { type: 'mod.timeout', viewer_id: m.author.id, seconds: 600 });
    toast(`${who} cannot chat for 10 minutes.`, 'info');
  }));
  const ban = modButton('mod-ban', 'Ban', `Ban ${who} from this show`, (b) => {
    if (!window.confirm(`Ban ${who} from this show?`)) return undefined;
    return busy(b, async () => {
      await call('POST', `${base}/moderation`, { type: 'mod.ban', viewer_id: m.author.id });
      toast(`${who} is banned from this show.`, 'info');
    });
  });
  return [del, timeout, ban];
}

const chat = new ChatList($('#chat-list'), { actions: modActions, empty: 'No messages yet.' });

$('#chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('#chat-input');
  const text = input.value.trim();
  if (!text) return;
  room.send({ type: 'chat.send', text });
  input.value = '';
});

// ---- the live room --------------------------------------------------------------------------

const room = new LiveRoom(showId, () => token);
const connBanner = $('#conn-status');

room.on('state', ({ state: s, message, inMs }) => {
  document.body.dataset.conn = s;
  if (s === 'open' || s === 'connecting') {
    connBanner.hidden = true;
  } else if (s === 'reconnecting') {
    connBanner.textContent = inMs ? `Connection lost. Reconnecting in ${Math.ceil(inMs / 1000)} s…` : 'Reconnecting…';
    connBanner.hidden = false;
  } else if (s === 'closed') {
    connBanner.textContent = message || 'Disconnected.';
    connBanner.hidden = false;
  }
});

room.on('welcome', (w) => {
  if (w.role !== 'creator') {
    showError(new Error('This link is not the creator\'s studio link: the studio needs the show owner\'s token.'), errorBox);
  }
  setStatus(w.show.status);
  setViewers(w.viewers);
  applyPins(w.pins);
  chat.reset(w.chat || []);
  if (!state.pending) state.program = w.program ?? null;
  state.roomProgram = true;
  markProgram();
});
room.on('show.status', (f) => setStatus(f.status));
room.on('presence', (f) => setViewers(f.viewers));
room.on('pin.updated', (f) => applyPins(f.pins));
room.on('purchase', (f) => {
  toast(`${f.buyer} just bought ${f.quantity > 1 ? `${f.quantity} × ` : ''}${f.title}`, 'purchase');
  ordersSoon();
});
room.on('chat.message', (m) => chat.add(m));
room.on('chat.deleted', (f) => chat.remove(f.id));
room.on('chat.cleared', () => chat.reset([]));
room.on('program.changed', (f) => programChanged(f.camera));
room.on('error', (f) => toast(chatErrorText(f), 'error', 6000));

// ---- start ----------------------------------------------------------------------------------

window.livesale = {
  ready: true,
  page: 'studio',
  room,
  state,
  refreshCameras,
};

if (!token) {
  showError(new Error('This studio needs its link with the creator token (…/studio/<show>#token=…). Open the studio link the server printed or your dashboard gave you.'), errorBox);
  document.body.dataset.conn = 'closed';
  for (const b of $$('button', root)) b.disabled = true;
} else {
  room.connect();
  loadLineup().catch((e) => showError(e, errorBox));
  loadOrders();
  refreshCameras();
}

addEventListener('pagehide', () => {
  if (state.laptop.keeper) state.laptop.keeper.stop();
  for (const tile of state.tiles.values()) stopPreview(tile);
});
