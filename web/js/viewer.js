// The viewer page (/s/{show}): the program video, chat, reactions, pinned products, the cart
// and checkout, all over the public API and the live room (docs/protocol.md). This file wires
// the features (feature/*.js) to the page; hooks that tests rely on are listed in
// docs/web-hooks.md. An ended show's page is its replay instead (feature/replay.js, imported
// only then; docs/viewer.md, "Replay").
//
// Identity: anyone watches. A guest who has not picked a name watches with a silent viewer
// token (`watch:{show}`, display name "Guest"), used only for WHEP, because the server lets
// viewers (not guests) play the program; the live room stays a guest connection. Picking a
// name re-joins with that token (the server keeps the same viewer id) and the named token
// (`viewer:{show}`, also accepted from a `#token=` link) is used for the room, chat and cart.

import { tokenFromLink, store } from './api.js';
import { $, fill, toast } from './dom.js';
import { LiveRoom } from './live.js';
import { Frame, Code, Close, Conn, Role, Notice, ShowStatus } from './protocol.js';
import { ChatList } from './feature/chat.js';
import { chatErrorText } from './feature/errors.js';
import { connectionBanner } from './feature/banner.js';
import { everyTick, tickCountdowns } from './feature/deals.js';
import { programVideo } from './feature/program.js';
import { viewerStage } from './feature/stage.js';
import { guestIdentity } from './feature/guest.js';
import { chatBox } from './feature/chatbox.js';
import { reactions } from './feature/reactions.js';
import { pinStrip } from './feature/pins.js';
import { shopCart, purchaseToast } from './feature/cart.js';
import { InTime, ServerClock } from './feature/intime.js';
import { replayOffer } from './feature/replaylink.js';
import { auctionCard } from './feature/auctioncard.js';

const root = $('#viewer');

// An ended show's page is its replay (feature/replay.js, loaded only then): no live room.
if (root.dataset.status === ShowStatus.ENDED) {
  import('./feature/replay.js')
    .then(({ replayPage }) => replayPage(root))
    .catch((e) => { console.error('replay', e); toast('The replay could not start. Please reload the page.', 'error', 8000); });
} else {
  live();
}

/** The page of a scheduled, live or cancelled show. */
function live() {
  const showId = root.dataset.showId;
  const keys = { token: `viewer:${showId}`, watch: `watch:${showId}`, name: `viewer-name:${showId}` };

  const S = {
    token: tokenFromLink(keys.token),
    name: store.get(keys.name),
    status: root.dataset.status,
    scheduledAt: root.dataset.scheduledAt,
    program: null,
    programKnown: false,
    pins: [],
    cart: null,
    role: Role.GUEST,
    me: null, // this viewer's id (welcome.you.viewer_id): whose bid leads
    checkoutKey: null,
    buying: false,
    playing: false,
  };

  const el = Object.fromEntries(Object.entries({
    conn: '#conn-status', state: '#show-state', stage: '.stage', stageState: '#stage-state',
    headline: '#stage-headline', detail: '#stage-detail', video: '#program', unmute: '#unmute', badge: '#playback-badge',
    viewers: '#viewer-count', pins: '#pins', bursts: '#bursts', chatList: '#chat-list',
    chatForm: '#chat-form', chatInput: '#chat-input', chatError: '#chat-error', chatNote: '#chat-note',
    joinForm: '#join-form', joinLabel: '#join-label', joinName: '#display-name', joinError: '#join-error',
    joinCancel: '#join-cancel', cartButton: '#cart-button', cartCount: '#cart-count', drawer: '#cart-drawer',
    cartItems: '#cart-items', cartEmpty: '#cart-empty', cartTotal: '#cart-total', cartError: '#cart-error',
    checkout: '#checkout', confirmation: '#order-confirmation',
  }).map(([name, sel]) => [name, $(sel)]));

  // ---- features ---------------------------------------------------------------------------------

  const room = new LiveRoom(showId, () => S.token);
  const chat = new ChatList(el.chatList, { max: 150, empty: 'No messages yet. Say hello!' });
  const identity = guestIdentity({ showId, S, el, room, keys });
  // The video redraws the stage (only on its events, after both exist); the stage starts the video.
  // The server's clock (from each welcome) and the picture's place on it: commerce news waits
  // until the picture gets there (feature/intime.js).
  const clock = new ServerClock();
  const program = programVideo({
    showId, S, video: el.video, unmute: el.unmute, badge: el.badge, watchKey: keys.watch, render: () => stage.render(),
    playback: root.dataset.playback, hlsSrc: root.dataset.hlsSrc || '/static/vendor/hls/hls.mjs', clock,
  });
  const intime = new InTime({ playhead: () => program.playhead() });
  /** Applies `frame` with `fn` once the picture on screen reaches its `pts`. */
  const inStep = (fn) => (frame) => intime.offer(frame, fn);
  const stage = viewerStage({ root, S, el, program });
  // The show ending under a live viewer: its replay is offered once it is ready.
  const offerReplay = replayOffer({ showId, link: $('#replay-link') });
  const offerReplayIfEnded = () => { if (S.status === ShowStatus.ENDED) offerReplay(); };
  const chatbox = chatBox({ el, room, identity });
  const burst = reactions({ room, bursts: el.bursts });
  const cart = shopCart({ showId, S, el, root, room, identity });
  const setPins = pinStrip({ root, S, container: el.pins, onAdd: cart.add, now: () => program.playhead() });
  // The auction's countdown runs on the server's clock now (a bid counts when the server gets it).
  const auction = auctionCard({ showId, S, root, room, clock, identity });

  const setViewers = (n) => { if (typeof n === 'number') fill(el.viewers, String(n)); };

  // ---- the live room ----------------------------------------------------------------------------

  connectionBanner(room, el.conn, {
    [Conn.RECONNECTING]: () => 'Connection lost. Reconnecting…',
    [Conn.OPEN]: () => null,
    [Conn.CLOSED]: ({ code, message }) => {
      if (!message) return undefined;
      if (code === Close.INVALID_TOKEN && S.token) {
        // An expired or revoked viewer token: forget it and carry on as a guest.
        identity.forget();
        toast('Your session expired. Pick your name again to chat and shop.', 'error', 6000);
        room.reauthenticate();
        return undefined;
      }
      return message;
    },
  });

  room.on(Frame.WELCOME, (w) => {
    clock.sync(w.now_ms);
    // The welcome is the room as it is now: what still waited for the picture is in it.
    intime.clear();
    S.role = w.role;
    if (w.you && w.you.name && S.token) {
      S.name = w.you.name;
      store.set(keys.name, S.name);
    }
    stage.setStatus(w.show.status, w.show);
    offerReplayIfEnded();
    S.programKnown = true;
    S.program = w.program ?? null;
    setViewers(w.viewers);
    chat.reset(w.chat || []);
    setPins(w.pins || []);
    auction.welcome(w);
    chatbox.setMode(w.chat_mode);
    identity.render();
    stage.render();
  });
  room.on(Frame.CHAT_MESSAGE, (m) => chat.add(m));
  room.on(Frame.CHAT_DELETED, (m) => chat.remove(m.id));
  room.on(Frame.CHAT_CLEARED, () => chat.clear());
  room.on(Frame.CHAT_MODE, (m) => chatbox.setMode(m));
  room.on(Frame.CHAT_PENDING, () => chatbox.showError('Your message is waiting for a moderator’s review.'));
  room.on(Frame.PRESENCE, (m) => setViewers(m.viewers));
  room.on(Frame.PIN_UPDATED, inStep((m) => setPins(m.pins || [])));
  room.on(Frame.PURCHASE, inStep((m) => purchaseToast(m)));
  room.on(Frame.ORDER_UPDATED, (m) => { cart.orderUpdated(m.order); auction.orderUpdated(m.order); });
  // Auctions are never held for the picture: bids count on the server's clock now.
  room.on(Frame.AUCTION_SCHEDULED, auction.lot);
  room.on(Frame.AUCTION_STARTED, auction.lot);
  room.on(Frame.AUCTION_BID, auction.bid);
  room.on(Frame.AUCTION_ENDED, auction.ended);
  room.on(Frame.AUCTION_OUTBID, auction.outbid);
  room.on(Frame.AUCTION_PAYMENT, auction.payment);
  room.on(Frame.AUCTION_OFFER, auction.offer);
  room.on(Frame.AUCTION_ACK, auction.ack);
  room.on(Frame.REACTIONS, (m) => burst(m.counts || {}));
  room.on(Frame.SHOW_STATUS, (m) => { stage.setStatus(m.status); stage.render(); offerReplayIfEnded(); });
  room.on(Frame.PROGRAM_CHANGED, inStep((m) => { S.programKnown = true; S.program = m.camera ?? null; root.dataset.program = S.program ?? ''; stage.render(); }));
  room.on(Frame.ERROR, (f) => {
    // A refused bid is the auction card's to say, not the chat's.
    if (auction.error(f)) return;
    if (f.code === Code.JOIN_REQUIRED) {
      identity.ask('Pick a name to chat');
      return;
    }
    chatbox.showError(chatErrorText(f));
  });
  room.on(Frame.MOD_NOTICE, (m) => {
    if (m.action === Notice.TIMEOUT) chatbox.showError('A moderator timed you out for a while.');
    if (m.action === Notice.BAN) chatbox.showError('A moderator removed you from this chat.');
  });

  // ---- start ------------------------------------------------------------------------------------

  everyTick(() => { stage.tick(); tickCountdowns(el.pins, program.playhead()); auction.tick(); });
  // Often enough that a cut or a pin shows within a frame or two of its picture.
  setInterval(() => intime.release(), 50);
  document.body.dataset.conn = Conn.CONNECTING;
  identity.render();
  stage.renderStateLabel();
  stage.render();
  cart.render();
  if (S.status === ShowStatus.LIVE) program.start();
  room.connect();
  if (S.token) cart.load().catch(() => { /* shown when the cart opens */ });

  window.livesale = {
    ready: true,
    page: 'viewer',
    room,
    chat,
    video: program.stats,
    state: S,
    intime,
    clock,
    auction: auction.state,
    playhead: () => program.playhead(),
    get keeper() { return program.keeper; },
  };
}
