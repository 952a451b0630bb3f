// The viewer page of an ended show: the replay (docs/viewer.md, "Replay"). The recording plays
// with hls.js (feature/replayplayer.js) and the page around it follows the picture: the
// chapters (`GET …/chapters`, the one playing highlighted, a click seeks), the products pinned
// at that moment (the last `pin.updated` of `GET …/replay/events` at or before it, as pinned
// then, "deal ended" when that deal is over now) that go into the cart at today's price (the
// live page's cart and checkout, feature/cart.js), the chat as it read then (read-only, rebuilt
// on a seek), the highlights (`GET …/highlights`) with links to share, a shared clip
// (`?t=&end=`) that stops at its end, and view beacons (`POST …/replay/views`). Every route but
// the playlist may be missing (404): the page does without it. There is no live room here.

import { api, tokenFromLink, store, formatMoney } from '../api.js';
import { $, $$, h, fill, toast, clock, userText } from '../dom.js';
import { ChatList } from './chat.js';
import { guestIdentity } from './guest.js';
import { shopCart, purchaseToast } from './cart.js';
import { pinStrip } from './pins.js';
import { dealOpen, tickCountdowns } from './deals.js';
import { fetchReplay, replayPlayer } from './replayplayer.js';
import {
  lastAtOrBefore, chatAt, clipOf, replayPins, priceDiffers, pinsFromChapters, WatchMeter,
} from './replaytime.js';

/** How often a playing view reports its time watched. */
export const BEACON_EVERY_MS = 10000;
/** How long after the end a missing replay is waited for (its last segment closes within 15 s). */
const SETTLE_MS = 25000;

const KIND_TEXT = { pin: 'Pinned', deal: 'Deal', sold_out: 'Sold out', cut: 'Camera', marker: 'Marker' };

/** A random UUID (v4), also where `crypto.randomUUID` is missing (not a secure context). */
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** GET of a route the replay can do without: its JSON, or null (logged) when it failed. */
async function optional(path) {
  try {
    return await api('GET', path);
  } catch (e) {
    console.info(`replay: ${path} answered ${e.status || e.message}; the page does without it`);
    return null;
  }
}

/** The tabs of the replay's side (Chapters, Chat, Highlights): arrow keys move between them. */
function tabs(list) {
  const all = $$('[role="tab"]', list);
  const select = (tab, focus) => {
    for (const t of all) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(`#${t.getAttribute('aria-controls')}`).hidden = !on;
    }
    if (focus) tab.focus();
  };
  for (const t of all) {
    t.addEventListener('click', () => select(t, false));
    t.addEventListener('keydown', (e) => {
      const i = all.indexOf(t);
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      select(all[(to + all.length) % all.length], true);
    });
  }
}

/** The page of the ended show in `root` (#viewer). */
export async function replayPage(root) {
  const showId = root.dataset.showId;
  const keys = { token: `viewer:${showId}`, watch: `watch:${showId}`, name: `viewer-name:${showId}` };
  const S = {
    token: tokenFromLink(keys.token), name: store.get(keys.name), status: root.dataset.status,
    cart: null, checkoutKey: null, buying: false, pins: [], at: 0,
  };
  const el = Object.fromEntries(Object.entries({
    stage: '.stage', stageState: '#stage-state', headline: '#stage-headline', detail: '#stage-detail',
    video: '#program', unmute: '#unmute', badge: '#playback-badge', pins: '#pins', chatList: '#chat-list',
    joinForm: '#join-form', joinLabel: '#join-label', joinName: '#display-name', joinError: '#join-error',
    joinCancel: '#join-cancel', cartButton: '#cart-button', cartCount: '#cart-count', drawer: '#cart-drawer',
    cartItems: '#cart-items', cartEmpty: '#cart-empty', cartTotal: '#cart-total', cartError: '#cart-error',
    checkout: '#checkout', confirmation: '#order-confirmation', box: '#replay-box',
    chapterList: '#chapter-list', chaptersEmpty: '#chapters-empty', highlightList: '#highlight-list',
    highlightsEmpty: '#highlights-empty', clipBar: '#clip-bar', clipText: '#clip-text', watchAll: '#watch-all',
  }).map(([name, sel]) => [name, $(sel)]));
  // A replay's chat is read-only: the name form (asked for when buying) has no chat box to go
  // back to, so it returns to these stand-ins.
  el.chatForm = h('form');
  el.chatInput = h('input');

  const replay = {
    state: 'loading', stats: null, chapters: [], events: [], highlights: [], products: {}, origin: null,
    beacons: [], watchedMs: 0, at: () => S.at, atOf: () => null, seek: () => {},
  };
  window.livesale = { ready: true, page: 'viewer', mode: 'replay', state: S, replay, video: { mode: 'replay', engine: null } };

  // No live room: joining (to buy) and a refused token need no connection to renew.
  const room = { reauthenticate() {} };
  const identity = guestIdentity({ showId, S, el, room, keys });
  const cart = shopCart({ showId, S, el, root, room, identity });
  const chat = new ChatList(el.chatList, { max: 150, empty: 'No chat at this point of the show.' });
  // A chat replayed (and rebuilt on every seek) is not news to announce.
  el.chatList.setAttribute('aria-live', 'off');
  cart.render();
  if (S.token) cart.load().catch(() => { /* shown when the cart opens */ });

  const say = (mode, headline, detail = '') => {
    root.dataset.replay = mode;
    replay.state = mode;
    el.stage.dataset.mode = mode === 'ready' ? 'playing' : mode;
    el.stageState.dataset.mode = mode;
    el.stageState.hidden = mode === 'ready';
    fill(el.headline, headline);
    fill(el.detail, detail);
  };
  el.unmute.hidden = true;
  say('loading', 'Loading the replay…');

  // ---- the playlist (waited for a little right after the end) --------------------------------
  const endedAt = Date.parse(root.dataset.endedAt || '');
  let first = await fetchReplay(showId);
  while (!first.ok && first.code === 'replay_not_ready' && Number.isFinite(endedAt) && Date.now() - endedAt < SETTLE_MS) {
    say('loading', 'The replay is being prepared…', 'It will start in a moment.');
    await new Promise((r) => setTimeout(r, 2000));
    first = await fetchReplay(showId);
  }
  if (!first.ok) {
    if (first.code === 'replay_not_ready' || first.status === 404) say('none', 'This show has ended; no replay', 'Thanks for watching!');
    else say('error', 'The replay could not be loaded', 'Please try again in a moment.');
    return;
  }

  // ---- what goes with it --------------------------------------------------------------------
  const base = `/api/shows/${showId}`;
  const [chaptersGot, eventsGot, highlightsGot, lineupGot] = await Promise.all([
    optional(`${base}/chapters`), optional(`${base}/replay/events`), optional(`${base}/highlights`),
    optional(`${base}/lineup`),
  ]);
  const chapters = (chaptersGot && chaptersGot.chapters) || [];
  const events = (eventsGot && eventsGot.events) || [];
  const products = (eventsGot && eventsGot.products) || {};
  const highlights = (highlightsGot && highlightsGot.highlights) || [];
  Object.assign(replay, { chapters, events, products, highlights });
  const of = (type) => events.filter((e) => e.type === type);
  const pinEvents = of('pin.updated');
  const chatEvents = events.filter((e) => e.type === 'chat.message' || e.type === 'chat.cleared');
  const cuts = of('program.changed');
  const purchases = of('purchase');
  // Without a transcript (a show recorded before it was kept), pins come from the chapters.
  const pinChapters = pinEvents.length ? [] : chapters.filter((c) => (c.kind === 'pin' || c.kind === 'deal') && c.product_id);
  const lineup = (lineupGot && lineupGot.products) || [];

  const clip = clipOf(location.search);
  const video = el.video;
  const player = replayPlayer({ showId, video, hlsSrc: root.dataset.hlsSrc || '/static/vendor/hls/hls.mjs', text: first.text, startMs: clip ? clip.startMs : 0 });
  replay.origin = player.origin;
  replay.stats = player.stats;
  replay.atOf = player.atOf;
  replay.timeOf = player.timeOf;
  replay.seek = (atMs) => player.seek(atMs);
  window.livesale.video = player.stats;

  // ---- the pins, chat, camera and chapter at the playhead ------------------------------------
  const setPins = pinStrip({ root, S, container: el.pins, onAdd: cart.add, now: () => player.origin + S.at });
  const showPins = (pins) => {
    const list = replayPins(pins, products);
    setPins(list.map((x) => x.pin));
    for (const x of list) {
      const card = el.pins.querySelector(`.pin-card[data-product-id="${CSS.escape(x.pin.product_id)}"]`);
      if (!card) continue;
      const countdown = card.querySelector('.pin-countdown');
      if (x.dealEnded) {
        card.dataset.dealEnded = 'true';
        if (countdown) countdown.dataset.open = 'false';
      }
      const then = dealOpen(x.pin) ? x.pin.deal.price : x.pin.price;
      // (The countdown says "Deal ended"; this says what it costs today.)
      if (x.nowPrice && (x.dealEnded || priceDiffers(x.nowPrice, then))) {
        card.querySelector('.pin-meta').append(h('span', { class: 'pin-now' }, `now ${formatMoney(x.nowPrice)}`));
      }
    }
    tickCountdowns(el.pins, player.origin + S.at);
  };

  const chapterButtons = [];
  const at = { pins: -2, chat: -2, cut: -2, purchase: -2, chapter: -2 };
  let jumped = true;
  let clipEnd = clip ? clip.endMs : null;
  const meter = new WatchMeter();

  function update() {
    const now = player.at();
    S.at = now;
    const pinIdx = pinEvents.length ? lastAtOrBefore(pinEvents, now) : lastAtOrBefore(pinChapters, now);
    if (pinIdx !== at.pins) {
      at.pins = pinIdx;
      showPins(pinEvents.length ? (pinIdx >= 0 ? pinEvents[pinIdx].pins || [] : []) : pinsFromChapters(pinChapters, lineup, now));
    }
    const chatIdx = lastAtOrBefore(chatEvents, now);
    if (chatIdx !== at.chat) {
      if (!jumped && chatIdx > at.chat) {
        for (let i = at.chat + 1; i <= chatIdx; i += 1) {
          if (chatEvents[i].type === 'chat.cleared') chat.clear();
          else chat.add(chatEvents[i]);
        }
      } else {
        chat.reset(chatAt(chatEvents, now));
      }
      at.chat = chatIdx;
    }
    const cutIdx = lastAtOrBefore(cuts, now);
    if (cutIdx !== at.cut) {
      at.cut = cutIdx;
      root.dataset.program = cutIdx >= 0 ? (cuts[cutIdx].camera ?? '') : '';
    }
    const buyIdx = lastAtOrBefore(purchases, now);
    if (buyIdx !== at.purchase) {
      // "Dana just bought …" as it happened, while the replay plays on (not on a seek).
      if (!jumped && !video.paused && buyIdx > at.purchase) {
        for (let i = at.purchase + 1; i <= buyIdx; i += 1) purchaseToast(purchases[i]);
      }
      at.purchase = buyIdx;
    }
    const chapterIdx = lastAtOrBefore(chapters, now);
    if (chapterIdx !== at.chapter) {
      if (chapterButtons[at.chapter]) chapterButtons[at.chapter].removeAttribute('aria-current');
      if (chapterButtons[chapterIdx]) chapterButtons[chapterIdx].setAttribute('aria-current', 'true');
      at.chapter = chapterIdx;
    }
    tickCountdowns(el.pins, player.origin + now);
    replay.watchedMs = meter.tick(video.currentTime, !video.paused && !video.seeking, video.playbackRate);
    if (clipEnd !== null && now >= clipEnd) {
      // Played to its end: it stops there. Sought past it: the viewer left the clip.
      if (!jumped) {
        video.pause();
        fill(el.clipText, 'End of the clip.');
        el.watchAll.focus();
      }
      clipEnd = null;
    }
    jumped = false;
  }

  // ---- chapters -----------------------------------------------------------------------------
  const seekAndPlay = (atMs) => {
    player.seek(atMs);
    video.play().catch(() => { /* the controls' play button is there */ });
  };
  fill(el.chapterList, chapters.map((c, i) => {
    const button = h('button', { type: 'button', class: 'chapter-seek', onclick: () => seekAndPlay(c.at_ms) },
      h('span', { class: 'chapter-kind badge' }, KIND_TEXT[c.kind] || c.kind), ' ',
      userText(c.title, 'chapter-title'), h('span', { class: 'chapter-at' }, ` · ${clock(c.at_ms / 1000)}`));
    chapterButtons[i] = button;
    return h('li', { class: 'chapter', dataset: { chapterId: c.id || '', kind: c.kind, atMs: String(c.at_ms), productId: c.product_id || '' } }, button);
  }));
  el.chaptersEmpty.hidden = chapters.length > 0;

  // ---- highlights ---------------------------------------------------------------------------
  const copy = async (url) => {
    try {
      await navigator.clipboard.writeText(url);
      toast('Link copied.', 'success');
    } catch {
      toast(`Copy this link: ${url}`, 'info', 10000);
    }
  };
  fill(el.highlightList, highlights.map((x) => h('li', {
    class: 'highlight', dataset: { productId: x.product_id, startMs: String(x.start_ms), endMs: String(x.end_ms) },
  },
  userText(x.title, 'highlight-title'),
  h('span', { class: 'highlight-at muted' }, `${clock(x.start_ms / 1000)}–${clock(x.end_ms / 1000)}`),
  h('span', { class: 'highlight-actions' },
    h('button', {
      type: 'button', class: 'small highlight-watch', 'aria-label': `Watch the clip of ${x.title}`,
      onclick: () => { clipEnd = x.end_ms; clipBar(x.start_ms, x.end_ms); seekAndPlay(x.start_ms); },
    }, 'Watch'),
    h('button', {
      type: 'button', class: 'small highlight-copy', 'aria-label': `Copy the link to the clip of ${x.title}`,
      onclick: () => copy(x.url),
    }, 'Copy link'),
    h('a', { class: 'highlight-link', href: x.url }, h('span', { class: 'sr-only' }, `The clip of ${x.title}: `), 'Link')))));
  el.highlightsEmpty.hidden = highlights.length > 0;

  // ---- a shared clip ------------------------------------------------------------------------
  function clipBar(startMs, endMs) {
    el.clipBar.hidden = false;
    fill(el.clipText, endMs !== null && endMs !== undefined
      ? `A clip: ${clock(startMs / 1000)}–${clock(endMs / 1000)}.` : `From ${clock(startMs / 1000)}.`);
  }
  if (clip) clipBar(clip.startMs, clip.endMs);
  el.watchAll.addEventListener('click', () => {
    clipEnd = null;
    el.clipBar.hidden = true;
    history.replaceState(null, '', location.pathname + location.hash);
    video.play().catch(() => {});
  });

  // ---- view beacons -------------------------------------------------------------------------
  const viewId = uuid();
  let sent = 0;
  const beacon = () => {
    const watched = replay.watchedMs;
    if (watched <= sent) return;
    sent = watched;
    fetch(`${base}/replay/views`, {
      method: 'POST', keepalive: true, headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ view_id: viewId, watched_ms: watched }),
    }).then((r) => replay.beacons.push({ watched_ms: watched, status: r.status }))
      .catch(() => replay.beacons.push({ watched_ms: watched, status: 0 }));
  };
  setInterval(() => { if (!video.paused) beacon(); }, BEACON_EVERY_MS);
  addEventListener('pagehide', beacon);
  video.addEventListener('ended', beacon);

  // ---- play ---------------------------------------------------------------------------------
  video.muted = false;
  video.controls = true;
  video.autoplay = false;
  video.setAttribute('aria-label', 'The show’s replay');
  for (const ev of ['seeking', 'emptied']) video.addEventListener(ev, () => { jumped = true; meter.jump(); });
  for (const ev of ['seeked', 'timeupdate', 'loadeddata', 'play', 'pause']) video.addEventListener(ev, update);
  if (typeof video.requestVideoFrameCallback === 'function') {
    // Every frame shown: the pins, the camera and the chapter change with their picture.
    const frame = () => { update(); video.requestVideoFrameCallback(frame); };
    video.requestVideoFrameCallback(frame);
  }
  el.badge.hidden = false;
  el.badge.dataset.mode = 'replay';
  fill(el.badge, 'Replay');
  el.box.hidden = false;
  tabs($('#replay-tabs'));
  if (!(await player.attach())) {
    say('error', 'This browser cannot play the replay.');
    return;
  }
  say('ready', '');
  update();
  // Sound if the browser allows it without a tap; else muted (the controls unmute).
  video.play().catch(() => {
    video.muted = true;
    return video.play();
  }).catch(() => { /* the controls' play button is there */ });
}
