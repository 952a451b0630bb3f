// The creator's studio (/studio/{show}): go live and end, the camera grid with live previews
// and the on-air switch, this computer's camera, phone cameras by link and QR code, the
// product lineup with pins and deals, live numbers, the order list with refunds, and the chat
// with inline moderation.
// It speaks only the public API (../shared API.md, docs/protocol.md); this file wires the
// features (feature/*.js) to the page, and the hooks tests rely on are listed in
// docs/web-hooks.md.

import { api, tokenFromLink, store } from './api.js';
import { $, $$, toast, showError } from './dom.js';
import { LiveRoom } from './live.js';
import { Frame, Command, Conn, Role, ShowStatus } from './protocol.js';
import { ChatList } from './feature/chat.js';
import { chatErrorText } from './feature/errors.js';
import { connectionBanner } from './feature/banner.js';
import { showControls } from './feature/showcontrols.js';
import { liveStats } from './feature/stats.js';
import { orderList } from './feature/orders.js';
import { cameraGrid } from './feature/cameras.js';
import { laptopCamera } from './feature/laptop.js';
import { phoneInvite } from './feature/invite.js';
import { lineup } from './feature/lineup.js';
import { inlineModeration } from './feature/inlinemod.js';
import { chapters as chapterList } from './feature/chapters.js';
import { auctionDesk } from './feature/auctiondesk.js';
import { everyTick } from './feature/deals.js';

const root = $('#studio');
const showId = root.dataset.showId;
// The studio link carries the creator's token in its fragment; it is kept per show, and the
// last one seen is the fallback for the creator's other shows.
const token = tokenFromLink(`studio:${showId}`) || store.get('creator');
if (token) store.set('creator', token);
const base = `/api/shows/${showId}`;
const call = (method, path, body) => api(method, path, { token, body });

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

// ---- features -------------------------------------------------------------------------------

const room = new LiveRoom(showId, () => token);
// The order list and the numbers read the same answer; a refund asks for it again.
const stats = liveStats({ state, base, call, orders: orderList({ base, call, refreshed: () => stats.loadOrders() }) });
const cameras = cameraGrid({ showId, token, base, call, state });
const stopLaptop = laptopCamera({ showId, token, state, cameras });
const chapters = chapterList({ base, call });
// Commerce news and cuts make chapters: read the list again shortly after.
let chaptersTimer = null;
const chaptersSoon = () => {
  clearTimeout(chaptersTimer);
  chaptersTimer = setTimeout(() => chapters.load().catch(() => {}), 400);
};
const setShowStatus = showControls({
  root, state, base, call,
  onEnded() {
    stopLaptop();
    for (const id of [...state.tiles.keys()]) cameras.removeTile(id);
    $('#program-status').textContent = 'The show has ended.';
    $('#laptop-camera').disabled = true;
    $('#add-phone').disabled = true;
  },
});
const setStatus = (status) => {
  setShowStatus(status);
  chapters.setLive(status === ShowStatus.LIVE);
};
phoneInvite({ base, call });
const products = lineup({ base, call, token, state });
const chat = new ChatList($('#chat-list'), { actions: inlineModeration({ room, base, call }), empty: 'No messages yet.' });
const auction = auctionDesk({ showId, token });

$('#chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('#chat-input');
  const text = input.value.trim();
  if (!text) return;
  room.send({ type: Command.CHAT_SEND, text });
  input.value = '';
});

// ---- the live room --------------------------------------------------------------------------

connectionBanner(room, $('#conn-status'), {
  [Conn.OPEN]: () => null,
  [Conn.CONNECTING]: () => null,
  [Conn.RECONNECTING]: ({ inMs }) => (inMs ? `Connection lost. Reconnecting in ${Math.ceil(inMs / 1000)} s…` : 'Reconnecting…'),
  [Conn.CLOSED]: ({ message }) => message || 'Disconnected.',
});

room.on(Frame.WELCOME, (w) => {
  if (w.role !== Role.CREATOR) {
    showError(new Error('This link is not the creator\'s studio link: the studio needs the show owner\'s token.'), errorBox);
  }
  setStatus(w.show.status);
  stats.setViewers(w.viewers);
  products.applyPins(w.pins);
  chat.reset(w.chat || []);
  if (!state.pending) state.program = w.program ?? null;
  state.roomProgram = true;
  cameras.markProgram();
  auction.welcome(w);
});
room.on(Frame.SHOW_STATUS, (f) => setStatus(f.status));
room.on(Frame.PRESENCE, (f) => stats.setViewers(f.viewers));
room.on(Frame.PIN_UPDATED, (f) => {
  products.applyPins(f.pins);
  chaptersSoon();
});
room.on(Frame.PURCHASE, (f) => {
  toast(`${f.buyer} just bought ${f.quantity > 1 ? `${f.quantity} × ` : ''}${f.title}`, 'purchase');
  stats.ordersSoon();
  chaptersSoon();
});
room.on(Frame.CHAT_MESSAGE, (m) => chat.add(m));
room.on(Frame.CHAT_DELETED, (f) => chat.remove(f.id));
room.on(Frame.CHAT_CLEARED, () => chat.reset([]));
room.on(Frame.PROGRAM_CHANGED, (f) => {
  cameras.programChanged(f.camera);
  chaptersSoon();
});
room.on(Frame.ERROR, (f) => toast(chatErrorText(f), 'error', 6000));
room.on(Frame.AUCTION_SCHEDULED, auction.lot);
room.on(Frame.AUCTION_STARTED, auction.lot);
room.on(Frame.AUCTION_BID, auction.lot);
room.on(Frame.AUCTION_ENDED, (f) => { auction.ended(f); stats.ordersSoon(); });
room.on(Frame.AUCTION_LOG, auction.log);
room.on(Frame.AUCTION_ALERT, auction.alert);

// ---- start ----------------------------------------------------------------------------------

window.livesale = {
  ready: true,
  page: 'studio',
  room,
  state,
  refreshCameras: cameras.refresh,
  refreshOrders: stats.loadOrders,
  refreshChapters: chapters.load,
  auction: auction.state,
};

if (!token) {
  showError(new Error('This studio needs its link with the creator token (…/studio/<show>#token=…). Open the studio link the server printed or your dashboard gave you.'), errorBox);
  document.body.dataset.conn = Conn.CLOSED;
  for (const b of $$('button', root)) b.disabled = true;
} else {
  room.connect();
  products.load().catch((e) => showError(e, errorBox));
  stats.loadOrders();
  cameras.refresh();
  chapters.setLive(state.status === ShowStatus.LIVE);
  chapters.load().catch((e) => showError(e, errorBox));
  auction.load().catch((e) => showError(e, $('#auction-panel-error')));
  everyTick(auction.tick);
}

addEventListener('pagehide', () => {
  if (state.laptop.keeper) state.laptop.keeper.stop();
  cameras.stopPreviews();
});
